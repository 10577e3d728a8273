/** The verdict layer's bound decision and its one encoding of "not measured" (pure). */
import { describe, expect, it } from 'vitest';
import { MiB } from '../../lib/units.js';
import { compareToBound, distinguishable, judgeAbove } from '../../lib/verdict/decide.js';
import { measured, notMeasured, type Part, partRule } from '../../lib/verdict/part.js';

const bound = { label: 'RAM + swap', bytes: 100 * MiB };

describe('compareToBound / judgeAbove', () => {
  it('decides only outside the tolerance, on either side', () => {
    expect(compareToBound({ changeBytes: 111 * MiB, toleranceBytes: 10 * MiB }, bound).side).toBe('above');
    expect(compareToBound({ changeBytes: 89 * MiB, toleranceBytes: 10 * MiB }, bound).side).toBe('below');
    const close = compareToBound({ changeBytes: 109 * MiB, toleranceBytes: 10 * MiB }, bound);
    expect(close.side).toBeNull();
    expect(close.reason).toMatch(/within the tolerance of RAM \+ swap \(100\.0 MiB\)/);
    expect(judgeAbove({ changeBytes: 111 * MiB, toleranceBytes: 10 * MiB }, bound)).toEqual({ holds: true });
    expect(judgeAbove({ changeBytes: 89 * MiB, toleranceBytes: 10 * MiB }, bound)).toEqual({ holds: false });
    expect(judgeAbove({ changeBytes: 91 * MiB, toleranceBytes: 10 * MiB }, bound).holds).toBeNull();
  });

  it('noise within the tolerance never carries a value from one side to the other', () => {
    for (const v of [80, 95, 105, 120]) {
      const t = 10 * MiB;
      const base = judgeAbove({ changeBytes: v * MiB, toleranceBytes: t }, bound).holds;
      for (const shift of [-t, -t / 2, 0, t / 2, t]) {
        const moved = judgeAbove({ changeBytes: v * MiB + shift, toleranceBytes: t }, bound).holds;
        if (base !== null && moved !== null) expect(moved).toBe(base);
      }
    }
  });

  it('tells hypotheses apart only when every pair is more than twice the tolerance apart', () => {
    const hs = [
      { label: 'a', bytes: 0 },
      { label: 'b', bytes: 64 * MiB },
    ];
    expect(distinguishable(hs, 31 * MiB)).toBe(true);
    expect(distinguishable(hs, 32 * MiB)).toBe(false);
  });
});

describe('partRule', () => {
  type E = { x: number | null };
  const part = (e: E): Part<number> => (e.x === null ? notMeasured('x was not read') : measured(e.x));
  const rule = partRule(part, {
    claim: { id: 'c', text: 't', source: 's' },
    judge: (x) => ({ holds: x > 0 }),
    observe: (x) => `x is ${x}`,
    evidence: (x) => ({ x }),
  });

  it('judges the narrowed part, and null with the reason where it is missing', () => {
    expect(rule.missing?.({ x: 2 })).toBeUndefined();
    expect(rule.judge({ x: 2 })).toEqual({ holds: true });
    expect(rule.observe({ x: 2 }, { holds: true })).toBe('x is 2');
    expect(rule.missing?.({ x: null })).toBe('x was not read');
    expect(rule.judge({ x: null })).toEqual({ holds: null, reason: 'x was not read' });
    expect(rule.evidence?.({ x: null })).toEqual({ x: null });
  });
});
