import { describe, expect, it } from 'vitest';
import {
  type ForkInheritanceEvidence,
  forkInheritance,
  forkInheritanceClaims,
  measureForkInheritance,
} from '../../lib/experiments/fork-inheritance/index.js';
import { judgeEvidence } from '../../lib/experiments/judge.js';
import { withSettingsLock } from '../../lib/safety/lock.js';
import { guardAvailability, withMode } from '../../lib/safety/settings-guard.js';
import { classifyChange } from '../../lib/verdict/decide.js';
import { currentMode } from '../helpers.js';

const guard = guardAvailability();
const guardSkip = guard.available ? '' : ` (skipped: ${guard.reason})`;

const ids = forkInheritanceClaims;

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
