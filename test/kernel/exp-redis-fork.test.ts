import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { judgeEvidence } from '../../lib/experiments/judge.js';
import type { OvercommitMode } from '../../lib/experiments/model.js';
import { type RedisForkEvidence, redisFork } from '../../lib/experiments/redis-fork/index.js';
import { findMemoryCgroup } from '../../lib/kernel/cgroup.js';
import { pageSize } from '../../lib/native/mapping.js';
import { withSettingsLock } from '../../lib/safety/lock.js';
import { memoryCgroupAvailability } from '../../lib/safety/memory-cgroup.js';
import { guardAvailability, withMode } from '../../lib/safety/settings-guard.js';
import { currentMode } from '../helpers.js';

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
