import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CopyOnWriteEvidence } from '../../lib/experiments/copy-on-write/evidence.js';
import { copyOnWriteRules } from '../../lib/experiments/copy-on-write/rules.js';
import { judgeEvidence } from '../../lib/experiments/judge.js';

/** The page size of the machine the evidence was captured on (x86_64). */
const pageSize = 4096;

import { MiB } from '../../lib/units.js';

const captured = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', 'fixtures/evidence/6.18/copy-on-write.json'), 'utf8'),
) as CopyOnWriteEvidence;

const verdicts = (e: CopyOnWriteEvidence) => judgeEvidence(copyOnWriteRules, e, 0).map((f) => f.holds);

describe('copy-on-write rules', () => {
  it('hold on the evidence captured here (6.18): shared at fork, exactly the written pages copied', () => {
    expect(verdicts(captured)).toEqual([true, true, true]);
    expect(judgeEvidence(copyOnWriteRules, captured, 0)[0]!.observed).toContain('Exactly the written pages were copied');
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
    expect(copyOnWriteRules.claims.map((c) => c.source.slice(0, 3))).toEqual(['000', '000', '000']);
  });

  it('give no verdict when a read of the child failed', () => {
    const findings = judgeEvidence(copyOnWriteRules, { ...captured, afterFork: null, problem: 'smaps afterFork missing' }, 0);
    expect(findings.map((f) => f.holds)).toEqual([null, null, null]);
    expect(findings.every((f) => f.reason === 'smaps afterFork missing')).toBe(true);
  });
});
