import { describe, expect, it } from 'vitest';
import { readCommittedAs, readMeminfo } from '../../lib/kernel/meminfo.js';
import { committedFromReads, measureCommittedSteps } from '../../lib/measure/committed.js';
import { GiB } from '../../lib/units.js';

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
