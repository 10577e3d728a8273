import { describe, expect, it } from 'vitest';
import { readCommittedAs, readMeminfo } from '../../lib/kernel/meminfo.js';
import { committedFromReads, measureCommittedSteps } from '../../lib/measure/committed.js';
import { GiB } from '../../lib/units.js';
import { classifyCharge, judgeCharge } from '../../lib/verdict/decide.js';
import { changeFromDeltas } from '../../lib/verdict/tolerance.js';

const charged = { label: 'charged', bytes: GiB };
const none = { label: 'not charged', bytes: 0 };

describe('classifyCharge: the exact per-mapping side and Committed_AS', () => {
  const quiet = changeFromDeltas([GiB, GiB, GiB], [0, 0, 0]);
  const noisy = changeFromDeltas([GiB, 0, 2 * GiB], [0, 0, 0]);

  it('decides by both when they agree', () => {
    expect(classifyCharge(quiet, GiB, [charged, none], 8192)).toEqual({ match: charged, basis: 'both' });
  });

  it('decides by VmFlags when Committed_AS is too noisy, saying why', () => {
    const c = classifyCharge(noisy, GiB, [charged, none], 8192);
    expect(c).toMatchObject({ match: charged, basis: 'VmFlags' });
    expect(c.reason).toMatch(/^decided by VmFlags; Committed_AS cannot: other processes moved/);
  });

  it('decides nothing when the two clearly disagree, or the flags match no hypothesis', () => {
    expect(classifyCharge(quiet, 0, [charged, none], 8192)).toMatchObject({ match: null, basis: null });
    expect(classifyCharge(quiet, GiB / 2, [charged, none], 8192).reason).toMatch(/'ac' changed by 512\.0 MiB, which is none of/);
  });

  it('falls back on Committed_AS alone without the exact side', () => {
    expect(classifyCharge(quiet, null, [charged, none], 8192)).toEqual({ match: charged, basis: 'Committed_AS' });
    expect(classifyCharge(noisy, null, [charged, none], 8192).match).toBeNull();
    expect(judgeCharge(noisy, null, charged, none, 8192).holds).toBeNull();
    expect(judgeCharge(quiet, 0, charged, none, 8192).holds).toBeNull();
    expect(judgeCharge(changeFromDeltas([0, 0, 0], [0]), 0, charged, none, 8192)).toEqual({ holds: false });
  });
});

describe('measureCommittedSteps', () => {
  it('measures each named step over the trials, with a control per step', () => {
    const seen: string[] = [];
    const r = measureCommittedSteps(
      ['a', 'b'] as const,
      (step, trial) => {
        step('a', () => seen.push(`a${trial}`));
        step('b', () => seen.push(`b${trial}`));
      },
      { trials: 3, reads: 1 },
    );
    expect(seen).toEqual(['a0', 'b0', 'a1', 'b1', 'a2', 'b2']);
    expect(r.a.actionDeltasBytes).toHaveLength(3);
    expect(r.b.controlDeltasBytes).toHaveLength(6);
  });

  it('refuses a trial that skips or repeats a step', () => {
    expect(() => measureCommittedSteps(['a', 'b'] as const, (step) => step('a', () => {}), { trials: 1 })).toThrow(/ran a of a, b/);
    expect(() =>
      measureCommittedSteps(['a'] as const, (step) => {
        step('a', () => {});
        step('a', () => {});
      }),
    ).toThrow(/run twice/);
  });
});

describe('Committed_AS readers', () => {
  it('readCommittedAs reads the field readMeminfo parses', () => {
    // Both are the same counter; other processes move it between the two reads.
    expect(Math.abs(readCommittedAs() - readMeminfo().committedAs)).toBeLessThan(GiB);
    expect(readCommittedAs() % 1024).toBe(0);
  });

  it('committedFromReads is the median of the texts', () => {
    const text = (kb: number) => `MemTotal: 1 kB\nCommitted_AS: ${kb} kB\n`;
    expect(() => committedFromReads([text(1)])).toThrow(/required field/);
    const full = (kb: number) =>
      ['MemTotal', 'MemFree', 'MemAvailable', 'SwapTotal', 'SwapFree', 'CommitLimit', 'Hugepagesize'].map((k) => `${k}: 1 kB`).join('\n') +
      `\nHugePages_Total: 0\nCommitted_AS: ${kb} kB\n`;
    expect(committedFromReads([full(3), full(1), full(2)])).toBe(2 * 1024);
  });
});
