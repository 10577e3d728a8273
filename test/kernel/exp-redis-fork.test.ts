import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { judgeEvidence } from '../../lib/experiments/judge.js';
import type { OvercommitMode } from '../../lib/experiments/model.js';
import { type ForkAttempt, type RedisForkEvidence, redisFork } from '../../lib/experiments/redis-fork/index.js';
import { findMemoryCgroup } from '../../lib/kernel/cgroup.js';
import { pageSize } from '../../lib/native/mapping.js';
import { withSettingsLock } from '../../lib/safety/lock.js';
import { memoryCgroupAvailability } from '../../lib/safety/memory-cgroup.js';
import { guardAvailability, withMode } from '../../lib/safety/settings-guard.js';
import { GiB, MiB } from '../../lib/units.js';
import { currentMode } from '../helpers.js';

/** Evidence measured on this project's 6.18 VM (24 GiB, no swap), in modes 0, 1 and 2. */
const captured = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures/evidence/6.18/redis-fork.json'), 'utf8')) as Record<
  string,
  RedisForkEvidence
>;

const judge = (e: RedisForkEvidence) => judgeEvidence(redisFork, e, e.mode)[0]!;

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

const cg = findMemoryCgroup();
const cgroupReason = memoryCgroupAvailability().reason ?? '';
const guard = guardAvailability();
const switchReason = cgroupReason || (guard.available ? '' : (guard.reason ?? 'cannot switch modes'));
const skipped = (reason: string): string => (reason ? ` (skipped: ${reason})` : '');

/** Our groups under this process's memory cgroup (the experiment must remove its own). */
function ourGroups(): string[] {
  if (!cg.available) return [];
  return readdirSync(cg.ownDir).filter((n) => n.startsWith(`overcommit-lab-${process.pid}-`));
}

/** The evidence agrees with itself, whatever the kernel decided. */
function checkEvidence(e: RedisForkEvidence, mode: OvercommitMode): void {
  expect(e.mode).toBe(mode);
  expect(e.problem).toBeUndefined();
  expect(ourGroups()).toEqual([]);
  const a = e.attempt;
  expect(a.oomKills).toBe(0);
  expect(a.signal).toBeNull();
  if (a.mmapStatus !== 'ok') {
    expect(a.mmapCode).toMatch(/^E[A-Z]+$/);
    expect(a.forkStatus).not.toBe('ok');
    return;
  }
  expect(a.touchStatus).toBe('ok');
  expect(a.touchedPages).toBe(a.datasetBytes / pageSize);
  expect(a.regionBytes).toBeGreaterThanOrEqual(a.datasetBytes);
  // A failed fork reports its errno; a successful one none.
  expect(a.forkCode === null).toBe(a.forkStatus === 'ok');
  if (e.scenario === 'mapped' && mode !== 2) expect(a.regionBytes).toBeGreaterThan(a.memAvailable!);
  if (e.first !== null) {
    // Mode 2 retried with a smaller region only after the first was refused at mmap.
    expect(e.first.mmapStatus).toBe('failed');
    expect(a.regionBytes).toBeLessThan(e.first.regionBytes);
  }
  const f = judgeEvidence(redisFork, e, mode)[0]!;
  if (f.holds !== null && a.forkCode !== null) expect(f.observed).toContain(a.forkCode);
}

/** On a throwaway VM the child writes the FAQ's dataset, most of the guest's memory: minutes under TCG. */
const LIVE_TIMEOUT_MS = 300_000;

describe('redis-fork on this kernel', () => {
  it.skipIf(cgroupReason !== '')(
    `forks a child holding more than free RAM, in the mode in force${skipped(cgroupReason)}`,
    async () => {
      await withSettingsLock('shared', async () => {
        const mode = currentMode();
        checkEvidence(await redisFork.measure({ mode, progress: () => {} }), mode);
      });
    },
    LIVE_TIMEOUT_MS,
  );

  for (const mode of [1, 2] as const) {
    it.skipIf(switchReason !== '')(
      `in mode ${mode}, switched by the settings guard${skipped(switchReason)}`,
      async () => {
        await withMode(mode, async () => checkEvidence(await redisFork.measure({ mode, progress: () => {} }), mode));
      },
      LIVE_TIMEOUT_MS,
    );
  }
});
