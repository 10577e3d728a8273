import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type CopyOnWriteEvidence, copyOnWrite, measureCopyOnWrite } from '../../lib/experiments/copy-on-write/index.js';
import { judgeEvidence } from '../../lib/experiments/judge.js';
import { pageSize } from '../../lib/native/mapping.js';
import { MiB, OWN_JITTER_BYTES } from '../../lib/units.js';

const captured = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', 'fixtures/evidence/6.18/copy-on-write.json'), 'utf8'),
) as CopyOnWriteEvidence;

const verdicts = (e: CopyOnWriteEvidence) => judgeEvidence(copyOnWrite, e, 0).map((f) => f.holds);

describe('copy-on-write rules', () => {
  it('hold on the evidence captured here (6.18): shared at fork, exactly the written pages copied', () => {
    expect(verdicts(captured)).toEqual([true, true, true]);
    expect(judgeEvidence(copyOnWrite, captured, 0)[0]!.observed).toContain('Exactly the written pages were copied');
  });

  it('do not hold when more pages were copied than written, or the child had less virtual memory', () => {
    const n = captured.regionPages;
    expect(verdicts({ ...captured, afterPartialWrite: { sharedPages: 0, privatePages: n } })[0]).toBe(false);
    const small = {
      ...captured,
      childVmSizeBytes: Math.min(captured.parentCopyableBeforeBytes, captured.parentCopyableAfterBytes) - MiB - pageSize,
    };
    expect(verdicts(small)[1]).toBe(false);
    // Copied at fork: neither shared nor "not physical".
    expect(verdicts({ ...captured, afterFork: { sharedPages: 0, privatePages: n } }).slice(0, 2)).toEqual([false, false]);
    expect(verdicts({ ...captured, afterFullWrite: { sharedPages: n / 2, privatePages: n / 2 } })[2]).toBe(false);
    expect(copyOnWrite.claims.map((c) => c.source.slice(0, 3))).toEqual(['000', '000', '000']);
  });

  it('give no verdict when a read of the child failed', () => {
    const findings = judgeEvidence(copyOnWrite, { ...captured, afterFork: null, problem: 'smaps afterFork missing' }, 0);
    expect(findings.map((f) => f.holds)).toEqual([null, null, null]);
    expect(findings.every((f) => f.reason === 'smaps afterFork missing')).toBe(true);
  });
});

describe('copy-on-write on this kernel', () => {
  it("counts the child's pages consistently with what it wrote, and its VmSize with the parent's", async () => {
    const e = await measureCopyOnWrite();
    expect(e.problem).toBeUndefined();
    const n = e.regionPages;
    expect(n).toBe(e.regionBytes / pageSize);
    // The touch step reports the pages it wrote: one in four.
    expect(e.partialWrittenPages).toBe(n / 4);
    // Every page of the region is accounted for, shared or private, at each point.
    for (const p of [e.afterFork!, e.afterPartialWrite!, e.afterFullWrite!]) expect(p.sharedPages + p.privatePages).toBe(n);
    // Writing only adds private pages.
    expect(e.afterPartialWrite!.privatePages).toBeGreaterThanOrEqual(e.afterFork!.privatePages);
    expect(e.afterFullWrite!.privatePages).toBeGreaterThanOrEqual(e.afterPartialWrite!.privatePages);
    // The child holds no more than a copy of the parent plus runChild's result area (the reads'
    // room and a page of step results) and Node's threads' own maps around the fork.
    expect(e.resultReadBytes).toBe(64 * 1024 * 2 + 3 * 4 * MiB);
    expect(e.childVmSizeBytes).toBeLessThanOrEqual(
      Math.max(e.parentCopyableBeforeBytes, e.parentCopyableAfterBytes) + e.resultReadBytes + pageSize + OWN_JITTER_BYTES,
    );
    expect(e.exitCode).toBe(0);
    expect(JSON.parse(JSON.stringify(e))).toEqual(e);
  });
});
