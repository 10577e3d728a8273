import { describe, expect, it } from 'vitest';
import { judgeEvidence } from '../lib/experiments/judge.js';
import type { PtraceCase, PtracePagesEvidence, PtraceTrial } from '../lib/experiments/ptrace-pages/evidence.js';
import { ptracePages } from '../lib/experiments/ptrace-pages/index.js';
import { MAPPED_BYTES, measurePtracePages } from '../lib/experiments/ptrace-pages/measure.js';
import { disposableMachine } from '../lib/safety/disposable.js';
import { MiB } from '../lib/units.js';
import { changeFromDeltas } from '../lib/verdict/tolerance.js';

const PAGE = 4096;
const BYTES = 64 * MiB;

function trial(growth: number, accounted: number, written = BYTES / PAGE, errno = 0): PtraceTrial {
  return {
    before: { anonymousBytes: 0, accountedBytes: 0, vmFlags: ['rd', 'mr', 'mw', 'me'] },
    after: {
      anonymousBytes: growth,
      accountedBytes: accounted,
      vmFlags: accounted > 0 ? ['rd', 'mr', 'mw', 'me', 'ac'] : ['rd', 'mr', 'mw', 'me'],
    },
    writtenPages: written,
    writeErrno: errno,
  };
}

function evidence(
  c: { growth?: number; accounted?: number; charge?: number; noise?: number; written?: number; errno?: number } = {},
): PtracePagesEvidence {
  const one = (kind: PtraceCase['kind'], method: PtraceCase['method']): PtraceCase => ({
    kind,
    method,
    trials: Array.from({ length: 5 }, () => trial(c.growth ?? BYTES, c.accounted ?? 0, c.written, c.errno)),
    committed: changeFromDeltas(
      [0, 1, 2, 3, 4].map((i) => (c.charge ?? 0) + (i === 0 ? (c.noise ?? 0) : 0)),
      [0, 0, 0, 0, 0],
    ),
  });
  return {
    pageSize: PAGE,
    mappedBytes: BYTES,
    cases: [one('file-private-ro', 'mem'), one('file-private-ro', 'poke'), one('anon-private-ro', 'mem'), one('anon-private-ro', 'poke')],
  };
}

const verdict = (e: PtracePagesEvidence) => judgeEvidence(ptracePages, e, 0)[0]!;

describe('ptrace-pages rule, on constructed evidence', () => {
  it('holds when the writes made private pages and nothing was charged', () => {
    const f = verdict(evidence());
    expect(f.holds).toBe(true);
    expect(f.observed).toContain('Anonymous +64.0 MiB');
  });

  it('fails when the pages were charged (VmFlags and Committed_AS agree)', () => {
    const f = verdict(evidence({ accounted: BYTES, charge: BYTES }));
    expect(f.holds).toBe(false);
    expect(f.reason).toMatch(/^charged: file-private-ro through/);
  });

  it('is undecided when the writes made no private page, failed, or the two sides disagree', () => {
    expect(verdict(evidence({ growth: 0 })).holds).toBeNull();
    expect(verdict(evidence({ growth: 0 })).reason).toMatch(/made no private page/);
    const failed = verdict(evidence({ written: 3, errno: 1 }));
    expect(failed.holds).toBeNull();
    expect(failed.reason).toMatch(/wrote 3 pages \(errno 1\)/);
    const disagree = verdict(evidence({ accounted: 0, charge: BYTES }));
    expect(disagree.holds).toBeNull();
    expect(disagree.reason).toMatch(/VmFlags say not charged/);
  });

  it('decides by VmFlags when Committed_AS is too noisy, saying so', () => {
    const f = verdict(evidence({ noise: 200 * MiB }));
    expect(f.holds).toBe(true);
    expect(f.reason).toMatch(/decided by VmFlags; Committed_AS cannot/);
    expect(verdict(evidence()).reason).toBeUndefined();
  });
});

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
