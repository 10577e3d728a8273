import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Finding, OvercommitMode } from '../lib/experiments/model.js';
import { redisFork } from '../lib/experiments/redis-fork.js';
import { findMemoryCgroup } from '../lib/kernel/cgroup.js';
import { pageSize } from '../lib/native/mapping.js';
import { withSettingsLock } from '../lib/safety/lock.js';
import { memoryCgroupAvailability } from '../lib/safety/memory-cgroup.js';
import { guardAvailability, withMode } from '../lib/safety/settings-guard.js';
import { currentMode, runFindings } from './helpers.js';

const cg = findMemoryCgroup();
const cgroupReason = memoryCgroupAvailability().reason ?? '';
const guard = guardAvailability();
const switchReason = cgroupReason || (guard.available ? '' : (guard.reason ?? 'cannot switch modes'));
const skipped = (reason: string): string => (reason ? ` (skipped: ${reason})` : '');

const num = (e: Finding['evidence'], key: string): number => e[key] as number;

/** Our groups under this process's memory cgroup (the experiment must remove its own). */
function ourGroups(): string[] {
  if (!cg.available) return [];
  return readdirSync(cg.ownDir).filter((n) => n.startsWith(`overcommit-lab-${process.pid}-`));
}

function check(findings: Finding[], mode: OvercommitMode): void {
  expect(findings).toHaveLength(1);
  const f = findings[0]!;
  expect(f.claim).toBe({ 0: 'mode0-fork-fails-without-free-ram', 1: 'mode1-fork-succeeds', 2: 'mode2-fork-checked' }[mode]);
  const e = f.evidence;
  for (const key of ['regionBytes', 'datasetBytes', 'memAvailable', 'memFree', 'commitLimit', 'committedAs', 'forkStatus'])
    expect(e).toHaveProperty(key);
  expect(e.oomKills).toBe(0);
  expect(ourGroups()).toEqual([]);
  if (mode === 2) {
    // The region larger than MemAvailable does not fit under CommitLimit: mmap is the fail-fast point.
    const first = e.first as Finding['evidence'];
    expect(first.mmapStatus).toBe('failed');
    expect(first.mmapCode).toBe('ENOMEM');
    // Then a region that fits, whose copy does not: the fork is refused.
    expect(e.mmapStatus).toBe('ok');
    expect(num(e, 'committedAs') + num(e, 'regionBytes')).toBeGreaterThan(num(e, 'commitLimit'));
    expect(e.forkCode).toBe('ENOMEM');
    expect(f.holds).toBe(true);
    return;
  }
  expect(e.mmapStatus).toBe('ok');
  expect(e.touchedPages).toBe(num(e, 'datasetBytes') / pageSize);
  // The parent's memory is larger than free RAM, but no larger than what one mapping may be in mode 0.
  expect(num(e, 'regionBytes')).toBeGreaterThan(num(e, 'memAvailable'));
  expect(num(e, 'regionBytes')).toBeLessThanOrEqual(num(e, 'memTotal') + num(e, 'swapTotal'));
  const forked = e.forkStatus === 'ok';
  // Mode 0: the FAQ predicts failure, so it holds iff the fork failed; mode 1: iff it succeeded.
  expect(f.holds).toBe(mode === 0 ? !forked : forked);
  // This kernel checks a fork in mode 0 per mapping against MemTotal + SwapTotal, not free RAM.
  expect(forked).toBe(true);
}

describe('redis-fork experiment', () => {
  it.skipIf(cgroupReason !== '')(
    `forks a child holding a region larger than MemAvailable, in the mode in force${skipped(cgroupReason)}`,
    async () => {
      await withSettingsLock('shared', async () => {
        const mode = currentMode();
        check(await runFindings(redisFork, { mode, progress: () => {} }), mode);
      });
    },
  );

  for (const mode of [1, 2] as const) {
    it.skipIf(switchReason !== '')(`in mode ${mode}, switched by the settings guard${skipped(switchReason)}`, async () => {
      await withMode(mode, async () => {
        check(await runFindings(redisFork, { mode, progress: () => {} }), mode);
      });
    });
  }
});
