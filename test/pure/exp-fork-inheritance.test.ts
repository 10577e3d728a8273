import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ForkInheritanceEvidence } from '../../lib/experiments/fork-inheritance/evidence.js';
import { forkInheritanceClaims, forkInheritanceRules } from '../../lib/experiments/fork-inheritance/rules.js';
import { judgeEvidence } from '../../lib/experiments/judge.js';
import { seededRandom, underLoad } from '../../lib/measure/load-model.js';
import { GiB, MiB } from '../../lib/units.js';
import { changeFromDeltas } from '../../lib/verdict/tolerance.js';

const captured = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', 'fixtures/evidence/6.18/fork-inheritance.json'), 'utf8'),
) as ForkInheritanceEvidence;

const judge = (e: ForkInheritanceEvidence) => new Map(judgeEvidence(forkInheritanceRules, e, e.mode).map((f) => [f.claim, f]));
const ids = forkInheritanceClaims;

/** Constructed: a quiet run where the fork charged `residual` beyond the prediction. */
function quiet(residual: number, noise = 0): ForkInheritanceEvidence {
  return { ...captured, residual: changeFromDeltas([residual, residual, residual + noise, residual - noise, residual], [0, 0, 0, 0, 0]) };
}

describe('fork-inheritance rules', () => {
  it('hold on the evidence captured here (6.18, Committed_AS moved by up to 243 MiB during the forks)', () => {
    const f = judge(captured);
    expect([...f.values()].map((x) => x.holds)).toEqual([true, true, true, true]);
    expect(f.get(ids.perProcess.id)!.evidence).toMatchObject({ regionBytes: GiB, chargeMatches: true });
  });

  it("do not hold when the child's copy loses 'nr', or the ordinary region is neither 'ac' nor charged again", () => {
    expect(judge({ ...captured, childNoreserveFlags: ['rd', 'wr'] }).get(ids.inherits003.id)!.holds).toBe(false);
    const lost = { ...quiet(-GiB), childOrdinaryFlags: ['rd', 'wr'], childOrdinaryAccountedBytes: 0 };
    expect(judge(lost).get(ids.accounted.id)!.holds).toBe(false);
    expect(judge(lost).get(ids.perProcess.id)!.holds).toBe(false);
  });

  it('decide by the flags when Committed_AS is too noisy, and give no verdict when the two disagree', () => {
    const noisy = judge(quiet(100 * MiB, 600 * MiB)).get(ids.perProcess.id)!;
    expect(noisy.holds).toBe(true);
    expect(noisy.reason).toMatch(/^decided by VmFlags; Committed_AS cannot/);
    const disagree = judge(quiet(-GiB)).get(ids.accounted.id)!;
    expect(disagree.holds).toBeNull();
    expect(disagree.reason).toMatch(/VmFlags say as predicted .* but Committed_AS changed by -1024\.0 MiB/);
  });

  it('give no verdict on inheritance when the parent has no nr (mode 2), nor on anything when the fork was refused', () => {
    const m2 = judge({ ...captured, mode: 2, parentNoreserveFlags: ['rd', 'wr', 'ac'], childNoreserveFlags: ['rd', 'wr', 'ac'] });
    expect(m2.get(ids.inherits004.id)!.holds).toBeNull();
    const refused = judge({ ...captured, problem: 'the fork was refused (ENOMEM)' });
    expect([...refused.values()].every((f) => f.holds === null && f.reason === 'the fork was refused (ENOMEM)')).toBe(true);
  });
});

describe('fork-inheritance rules under a simulated load (64-256 MiB hits on the Committed_AS trials)', () => {
  it('never turn a verdict from holds to does not hold or back: only to undecided', () => {
    const random = seededRandom(10);
    const lost = { ...quiet(-GiB), childOrdinaryFlags: ['rd', 'wr'], childOrdinaryAccountedBytes: 0 };
    for (const e of [quiet(0), lost]) {
      const expected = judge(e);
      for (let i = 0; i < 200; i++) {
        for (const [id, f] of judge(underLoad(e, random, 0.6, 0.1)))
          if (f.holds !== null) expect(f.holds, id).toBe(expected.get(id)!.holds);
      }
    }
  });
});
