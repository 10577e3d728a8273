import { describe, expect, it } from 'vitest';
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
