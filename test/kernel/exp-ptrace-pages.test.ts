import { describe, expect, it } from 'vitest';
import { judgeEvidence } from '../../lib/experiments/judge.js';
import type { PtracePagesEvidence } from '../../lib/experiments/ptrace-pages/evidence.js';
import { ptracePages } from '../../lib/experiments/ptrace-pages/index.js';
import { MAPPED_BYTES, measurePtracePages } from '../../lib/experiments/ptrace-pages/measure.js';
import { disposableMachine } from '../../lib/safety/disposable.js';

const verdict = (e: PtracePagesEvidence) => judgeEvidence(ptracePages, e, 0)[0]!;

describe('ptrace-pages on this kernel', () => {
  it('measures every kind and method with consistent evidence', { timeout: 300_000 }, async () => {
    const e = await measurePtracePages({ mode: 0, progress: () => {} });
    if (e.problem !== undefined) {
      // A kernel or policy that forbids ptrace (Yama scope 3, seccomp) gives a problem, not numbers.
      expect(e.cases).toEqual([]);
      expect(verdict(e).holds).toBeNull();
      return;
    }
    expect(e.mappedBytes).toBe(MAPPED_BYTES);
    // The mode-2 part runs on a throwaway VM only; elsewhere it says why it did not.
    if (!disposableMachine) {
      expect(e.pastLimit).toBeNull();
      expect(e.pastLimitReason).toMatch(/throwaway VM/);
    } else if (e.pastLimit != null) {
      expect(e.pastLimit.roomBytes).toBe(e.pastLimit.commitLimitBytes - e.pastLimit.committedBeforeBytes);
      expect(e.pastLimit.writtenPages).toBeLessThanOrEqual(e.pastLimit.mappedBytes / e.pageSize);
    }
    expect(e.cases.map((c) => `${c.kind}/${c.method}`)).toEqual([
      'file-private-ro/mem',
      'file-private-ro/poke',
      'anon-private-ro/mem',
      'anon-private-ro/poke',
    ]);
    for (const c of e.cases) {
      expect(c.trials).toHaveLength(5);
      expect(c.committed.actionDeltasBytes).toHaveLength(5);
      expect(c.committed.controlDeltasBytes).toHaveLength(5);
      for (const t of c.trials) {
        expect(t.writtenPages).toBeLessThanOrEqual(MAPPED_BYTES / e.pageSize);
        for (const v of [t.before, t.after]) {
          expect(v.anonymousBytes).toBeGreaterThanOrEqual(0);
          expect(v.anonymousBytes).toBeLessThanOrEqual(MAPPED_BYTES);
          expect(v.anonymousBytes % e.pageSize).toBe(0);
        }
      }
    }
    const f = verdict(e);
    expect(f.claim).toBe('ptrace-pages-not-accounted');
    expect([true, false, null]).toContain(f.holds);
    expect(f.evidence).toEqual(e);
  });
});
