import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type ForkInheritanceEvidence,
  forkInheritance,
  forkInheritanceClaims,
  measureForkInheritance,
} from '../../lib/experiments/fork-inheritance/index.js';
import { judgeEvidence } from '../../lib/experiments/judge.js';
import { seededRandom, underLoad } from '../../lib/measure/load-model.js';
import { withSettingsLock } from '../../lib/safety/lock.js';
import { guardAvailability, withMode } from '../../lib/safety/settings-guard.js';
import { GiB, MiB } from '../../lib/units.js';
import { classifyChange } from '../../lib/verdict/decide.js';
import { changeFromDeltas } from '../../lib/verdict/tolerance.js';
import { currentMode } from '../helpers.js';

const guard = guardAvailability();
const guardSkip = guard.available ? '' : ` (skipped: ${guard.reason})`;

const captured = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', 'fixtures/evidence/6.18/fork-inheritance.json'), 'utf8'),
) as ForkInheritanceEvidence;

const judge = (e: ForkInheritanceEvidence) => new Map(judgeEvidence(forkInheritance, e, e.mode).map((f) => [f.claim, f]));
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

function checkEvidence(e: ForkInheritanceEvidence): void {
  expect(e.problem).toBeUndefined();
  expect(e.attempts).toHaveLength(5);
  // fork copies the VMA flags: the child's are the parent's.
  expect(e.childNoreserveFlags).toEqual(e.parentNoreserveFlags);
  expect(e.childOrdinaryFlags).toEqual(e.parentOrdinaryFlags);
  // 'ac' exactly where the child's smaps counts the region's bytes as accounted.
  expect(e.childOrdinaryAccountedBytes).toBe(e.childOrdinaryFlags.includes('ac') ? e.regionBytes : 0);
  expect(e.childNoreserveAccountedBytes).toBe(e.childNoreserveFlags.includes('ac') ? e.regionBytes : 0);
  // The prediction holds the accounted regions; the child's own sum holds its accounted copies.
  const accountedRegions = (e.childOrdinaryAccountedBytes ?? 0) + (e.childNoreserveAccountedBytes ?? 0);
  expect(e.parentAccountedBytes).toBeGreaterThanOrEqual(accountedRegions);
  expect(e.childAccountedBytes).toBeGreaterThanOrEqual(accountedRegions);
  // Where Committed_AS is clear of its noise, the charge is what the child's flags account.
  const exact = (e.childOrdinaryAccountedBytes ?? 0) - e.regionBytes;
  const c = classifyChange(e.residual, [
    { label: 'flags', bytes: exact },
    { label: 'other', bytes: exact === 0 ? -e.regionBytes : 0 },
  ]);
  if (c.match !== null) expect(c.match.label).toBe('flags');
  expect(JSON.parse(JSON.stringify(e))).toEqual(e);
}

describe('fork-inheritance on this kernel', () => {
  it("reads the child's flags and what each fork charged, consistently", async () => {
    await withSettingsLock('shared', async () => {
      const e = await measureForkInheritance(currentMode());
      checkEvidence(e);
      expect(judgeEvidence(forkInheritance, e, e.mode).map((f) => f.claim)).toEqual(Object.values(ids).map((c) => c.id));
    });
  });

  it.skipIf(!guard.available)(`in mode 2, switched by the settings guard${guardSkip}`, async () => {
    await withMode(2, async () => {
      const e = await measureForkInheritance(2);
      checkEvidence(e);
      expect(e.mode).toBe(2);
    });
  });
});
