import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { judgeEvidence } from '../../lib/experiments/judge.js';
import type { OvercommitMode } from '../../lib/experiments/model.js';
import type { ForkAttempt, RedisForkEvidence } from '../../lib/experiments/redis-fork/evidence.js';
import { redisForkRules } from '../../lib/experiments/redis-fork/rules.js';

/** The page size of the machine the evidence was captured on (x86_64). */
const pageSize = 4096;

import { GiB, MiB } from '../../lib/units.js';

/** Evidence measured on this project's 6.18 VM (24 GiB, no swap), in modes 0, 1 and 2. */
const captured = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures/evidence/6.18/redis-fork.json'), 'utf8')) as Record<
  string,
  RedisForkEvidence
>;

const judge = (e: RedisForkEvidence) => judgeEvidence(redisForkRules, e, e.mode)[0]!;

/** A 4 GiB guest: the FAQ's own scenario, a written dataset of 60% of MemAvailable, then a fork. */
const written = (fork: Pick<ForkAttempt, 'forkStatus' | 'forkCode'>, mode: OvercommitMode = 0): RedisForkEvidence => ({
  mode,
  scenario: 'written',
  attempt: {
    regionBytes: 2 * GiB,
    datasetBytes: 2 * GiB,
    cgroupLimitBytes: 2 * GiB + 64 * MiB,
    mmapStatus: 'ok',
    mmapCode: null,
    touchStatus: 'ok',
    touchedPages: (2 * GiB) / pageSize,
    memAvailable: 1.3 * GiB,
    memAvailableAfter: 1.3 * GiB,
    memFree: 1.2 * GiB,
    memTotal: 4 * GiB,
    swapTotal: 0,
    commitLimit: 2 * GiB,
    committedAs: 2.4 * GiB,
    committedAsAfter: 2.4 * GiB,
    oomKills: 0,
    exitCode: 0,
    signal: null,
    ...fork,
  },
  first: null,
  headroomBytes: null,
});

describe('redis-fork rules', () => {
  it('mode 0: a fork refused while the parent holds more than is free holds (the pre-5.2 kernels)', () => {
    const f = judge(written({ forkStatus: 'failed', forkCode: 'ENOMEM' }));
    expect(f.holds).toBe(true);
    expect(f.observed).toContain('refused (ENOMEM)');
  });

  it('mode 0: a fork let through does not hold (6.x: the check is per mapping against RAM + swap)', () => {
    expect(judge(written({ forkStatus: 'ok', forkCode: null })).holds).toBe(false);
    expect(judge(captured['0']!).holds).toBe(false);
    expect(judge(captured['0']!).observed).toContain('let the fork through');
  });

  it('mode 0: a region refused at mmap never reaches the fork: undecided, saying so', () => {
    const e = written({ forkStatus: 'not-run', forkCode: null });
    e.attempt.mmapStatus = 'failed';
    e.attempt.mmapCode = 'ENOMEM';
    const f = judge(e);
    expect(f.holds).toBeNull();
    expect(f.reason).toMatch(/could not be mapped \(ENOMEM\), so the fork was never reached/);
  });

  it("mode 0: when free RAM moved past the parent's size around the fork, undecided", () => {
    const e = written({ forkStatus: 'ok', forkCode: null });
    e.attempt.memAvailableAfter = 2.5 * GiB;
    expect(judge(e).holds).toBeNull();
    expect(judge(e).reason).toMatch(/FAQ predicts nothing/);
  });

  it('mode 1: holds when the fork goes through, not when refused', () => {
    expect(judge(captured['1']!).holds).toBe(true);
    expect(judge(written({ forkStatus: 'failed', forkCode: 'ENOMEM' }, 1)).holds).toBe(false);
  });

  it('mode 2: a refused fork whose copy does not fit holds; one let through does not', () => {
    expect(judge(captured['2']!).holds).toBe(true);
    const let2 = structuredClone(captured['2']!);
    let2.attempt.forkStatus = 'ok';
    let2.attempt.forkCode = null;
    expect(judge(let2).holds).toBe(false);
    // A copy that would land within the noise of CommitLimit: no verdict.
    const close = structuredClone(captured['2']!);
    close.attempt.committedAs = close.attempt.commitLimit! - close.attempt.regionBytes - 1024;
    expect(judge(close).holds).toBeNull();
    expect(judge(close).reason).toMatch(/within the tolerance of a copy of the region/);
    const fits = structuredClone(captured['2']!);
    fits.attempt.committedAs = fits.attempt.commitLimit! - 2 * fits.attempt.regionBytes;
    expect(judge(fits).holds).toBe(false);
  });

  it('a child that died before the fork gives no verdict', () => {
    const e = written({ forkStatus: 'not-run', forkCode: null });
    e.attempt.touchStatus = 'not-run';
    e.attempt.signal = 'SIGKILL';
    expect(judge(e).holds).toBeNull();
    expect(judge(e).reason).toMatch(/dataset was not written.*SIGKILL/);
  });

  it('the finding records the attempt under the keys it always had', () => {
    const keys = ['regionBytes', 'datasetBytes', 'memAvailable', 'memFree', 'commitLimit', 'committedAs', 'forkStatus', 'forkCode'];
    for (const m of ['0', '1', '2']) for (const k of keys) expect(judge(captured[m]!).evidence).toHaveProperty(k);
    expect(judge(captured['2']!).evidence).toHaveProperty('first');
  });
});
