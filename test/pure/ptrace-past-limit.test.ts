import { describe, expect, it } from 'vitest';
import { judgeEvidence } from '../../lib/experiments/judge.js';
import type { PtracePagesEvidence, PtracePastLimit } from '../../lib/experiments/ptrace-pages/evidence.js';
import { ptracePagesRules } from '../../lib/experiments/ptrace-pages/rules.js';
import { MiB } from '../../lib/units.js';

const PAGE = 4096;

function pastLimit(over: Partial<PtracePastLimit> = {}): PtracePastLimit {
  return {
    commitLimitBytes: 1000 * MiB,
    committedBeforeBytes: 744 * MiB,
    roomBytes: 256 * MiB,
    guardKbytes: 1024000,
    mappedBytes: 384 * MiB,
    writtenPages: (384 * MiB) / PAGE,
    writeErrno: 0,
    anonymousGrowthBytes: 384 * MiB,
    committedAfterBytes: 745 * MiB,
    commitLimitAfterBytes: 1000 * MiB,
    ...over,
  };
}

const evidence = (p: PtracePastLimit | null | undefined, reason: string | null = null): PtracePagesEvidence => ({
  pageSize: PAGE,
  mappedBytes: 64 * MiB,
  cases: [],
  ...(p === undefined ? {} : { pastLimit: p, pastLimitReason: reason }),
});

const verdict = (e: PtracePagesEvidence) =>
  judgeEvidence(ptracePagesRules, e, 2).find((f) => f.claim === 'ptrace-pages-pass-commit-limit')!;

describe('ptrace-pages past CommitLimit (mode 2, a throwaway VM), on constructed evidence', () => {
  it('holds when the tracer made more private pages than the room left', () => {
    const f = verdict(evidence(pastLimit()));
    expect(f.holds).toBe(true);
    expect(f.observed).toContain("the tracee's Anonymous grew by 384.0 MiB");
  });

  it('fails when the writes were refused with ENOMEM', () => {
    const f = verdict(evidence(pastLimit({ writtenPages: 1000, writeErrno: 12, anonymousGrowthBytes: 1000 * PAGE })));
    expect(f.holds).toBe(false);
    expect(f.reason).toMatch(/refused with ENOMEM/);
  });

  it('is undecided when fewer private pages than the room were made, another error stopped the writes, or it was not measured', () => {
    expect(verdict(evidence(pastLimit({ anonymousGrowthBytes: 100 * MiB }))).reason).toMatch(/not more than the 256.0 MiB room/);
    expect(verdict(evidence(pastLimit({ writtenPages: 3, writeErrno: 14 }))).holds).toBeNull();
    const off = verdict(evidence(null, 'needs a throwaway VM'));
    expect(off.holds).toBeNull();
    expect(off.reason).toBe('needs a throwaway VM');
    // A run saved before the part existed.
    expect(verdict(evidence(undefined)).reason).toBe('the mode-2 part was not measured in this run');
  });
});
