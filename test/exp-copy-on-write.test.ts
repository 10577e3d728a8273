import { describe, expect, it } from 'vitest';
import { copyOnWrite, copyOnWriteFindings, measureCopyOnWrite } from '../lib/experiments/copy-on-write.js';
import { pageSize } from '../lib/native/mapping.js';
import { KiB, MiB } from '../lib/units.js';

describe('copy-on-write experiment', () => {
  it("counts, in the child's smaps, the pages it shares and the ones it copied", async () => {
    const { evidence: e, problem } = await measureCopyOnWrite();
    expect(problem).toBeNull();
    expect(e.exitCode).toBe(0);
    const n = e.regionPages;
    expect(e.partialWrittenPages).toBe(n / 4);
    expect(e.afterFork).toEqual({ sharedPages: n, privatePages: 0 });
    expect(e.afterPartialWrite).toEqual({ sharedPages: n - n / 4, privatePages: n / 4 });
    expect(e.afterFullWrite).toEqual({ sharedPages: 0, privatePages: n });
    // The child holds a copy of every mapping of the parent except those marked 'dc' (MADV_DONTFORK).
    const copyable = Math.min(e.parentCopyableBeforeBytes, e.parentCopyableAfterBytes);
    expect(copyable).toBeGreaterThan(e.regionBytes);
    expect(e.childVmSizeBytes).toBeGreaterThanOrEqual(copyable - e.vmSizeToleranceBytes);
    // ...and no more than that besides runChild's result area: the room for the reads (the steps'
    // maxBytes), a page for the step results, and Node's threads' own maps around the fork.
    expect(e.resultReadBytes).toBe(64 * KiB + 64 * KiB + 3 * 4 * MiB);
    const resultArea = e.resultReadBytes + pageSize;
    expect(e.childVmSizeBytes).toBeLessThanOrEqual(
      Math.max(e.parentCopyableBeforeBytes, e.parentCopyableAfterBytes) + resultArea + e.vmSizeToleranceBytes,
    );
    const findings = copyOnWriteFindings(e, problem);
    expect(findings.map((f) => f.holds)).toEqual([true, true, true]);
  });

  it('says so when more pages were copied than written, or the child had less virtual memory', async () => {
    const { evidence: e } = await measureCopyOnWrite();
    const wrong = { ...e, afterPartialWrite: { sharedPages: 0, privatePages: e.regionPages } };
    expect(copyOnWriteFindings(wrong, null)[0]!.holds).toBe(false);
    const small = {
      ...e,
      childVmSizeBytes: Math.min(e.parentCopyableBeforeBytes, e.parentCopyableAfterBytes) - e.vmSizeToleranceBytes - 4096,
    };
    expect(copyOnWriteFindings(small, null)[1]!.holds).toBe(false);
    const copied = { ...e, afterFork: { sharedPages: 0, privatePages: e.regionPages } };
    expect(copyOnWriteFindings(copied, null)[1]!.holds).toBe(false);
    expect(copyOnWrite.claims.map((c) => c.source.slice(0, 3))).toEqual(['000', '000', '000']);
  });

  it('gives no verdict when a read of the child failed', async () => {
    const { evidence: e } = await measureCopyOnWrite();
    const findings = copyOnWriteFindings({ ...e, afterFork: null }, 'smaps afterFork missing');
    expect(findings.map((f) => f.holds)).toEqual([null, null, null]);
    expect(findings.every((f) => f.reason === 'smaps afterFork missing')).toBe(true);
  });
});
