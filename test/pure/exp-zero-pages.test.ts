import { describe, expect, it } from 'vitest';
import { judgeEvidence } from '../../lib/experiments/judge.js';
import type { ZeroPagesEvidence } from '../../lib/experiments/zero-pages/evidence.js';
import { zeroPagesRules } from '../../lib/experiments/zero-pages/rules.js';
import { MiB } from '../../lib/units.js';

const REGION = 128 * MiB;
const PAGES = REGION / 4096;

/** Evidence as a kernel that maps the shared zero page gives it (6.18 here). */
const zeroPageKernel: ZeroPagesEvidence = {
  mappedBytes: REGION,
  readPages: PAGES,
  allZero: true,
  vmaRssDeltaBytes: 0,
  vmaAnonymousDeltaBytes: 0,
  rssDeltaBytes: 36_864,
  residentPages: PAGES,
  committedDeltaBytes: 0,
  committedToleranceBytes: 0,
  vmFlags: ['rd', 'wr', 'mr', 'mw', 'me', 'nr'],
  readMs: 40,
  thpEnabled: 'madvise',
  thpUseZeroPage: 1,
  confinement: 'this process, in memory cgroup /sys/fs/cgroup/memory/x limited to 671088640 B while reading',
};
/** Evidence as a build that never maps the zero page gives it: every read allocates. */
const noZeroPageKernel: ZeroPagesEvidence = {
  ...zeroPageKernel,
  vmaRssDeltaBytes: REGION,
  vmaAnonymousDeltaBytes: REGION,
  rssDeltaBytes: REGION + 65_536,
};

const verdict = (e: ZeroPagesEvidence) => judgeEvidence(zeroPagesRules, e, 1)[0]!;

describe('zero-pages rule', () => {
  it('holds when the reads cost no memory of the mapping', () => {
    const f = verdict(zeroPageKernel);
    expect(f.holds).toBe(true);
    expect(f.observed).toContain('backed by a zero page');
  });

  it('does not hold when every read allocated a page', () => {
    const f = verdict(noZeroPageKernel);
    expect(f.holds).toBe(false);
    expect(f.observed).not.toContain('backed by a zero page');
    expect(f.observed).toContain('memory of its own');
  });

  it('is undecided when part of the region grew', () => {
    const f = verdict({ ...zeroPageKernel, vmaAnonymousDeltaBytes: REGION / 2 });
    expect(f.holds).toBeNull();
    expect(f.reason).toMatch(/added Anonymous memory of 64\.0 MiB/);
  });

  it('does not hold when a never-written page read as non-zero, and says so', () => {
    expect(verdict({ ...zeroPageKernel, allZero: false }).holds).toBe(false);
    expect(verdict({ ...zeroPageKernel, allZero: false }).observed).toContain('did not all read as zero');
  });

  it('is not about mincore: resident zero pages alone decide nothing', () => {
    expect(verdict({ ...zeroPageKernel, residentPages: 0 }).holds).toBe(true);
    expect(verdict({ ...zeroPageKernel, residentPages: 0 }).observed).not.toContain('backed by a zero page');
  });
});
