import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { oomLateFailure, runLateKill, runRlimitAsPath } from '../lib/experiments/oom-late-failure.js';
import { findMemoryCgroup } from '../lib/kernel/cgroup.js';
import { pageSize } from '../lib/native/mapping.js';
import { withSettingsLock } from '../lib/safety/lock.js';
import { memoryCgroupAvailability } from '../lib/safety/memory-cgroup.js';
import { MiB } from '../lib/units.js';
import { canSwitchModes, currentMode, isRoot, runFindings } from './helpers.js';

const root = join(import.meta.dirname, '..');
const cgroup = findMemoryCgroup();
const cgroups = memoryCgroupAvailability();
const usable = cgroups.available;
const skipped = usable ? '' : ` (skipped: ${cgroups.reason})`;

/** Our own groups left under our memory cgroup (there must be none). */
function ourGroups(): string[] {
  if (!cgroup.available) return [];
  return readdirSync(cgroup.ownDir).filter((n) => n.startsWith(`overcommit-lab-${process.pid}-`));
}

describe('oom-late-failure', () => {
  it('declares that it needs root and a memory cgroup, and states its claims', () => {
    expect(oomLateFailure.id).toBe('oom-late-failure');
    expect(oomLateFailure.requires).toMatchObject({ root: true, memoryCgroup: true });
    expect(oomLateFailure.claims.map((c) => c.id)).toEqual([
      'overcommit-late-sigkill',
      'mode2-allocations-fail-immediately',
      'oom-killer-relieves-exhaustion',
      'q2-overcommit-works-until-all-touch',
    ]);
  });

  it('is skipped by the runner for a process without root, with the reason', () => {
    // The fixture imports the compiled package, which test/global-setup.ts builds.
    // As root, the fixture drops to nobody; otherwise it already runs without root.
    const drop = isRoot ? { uid: 65534, gid: 65534 } : {};
    const out = execFileSync(process.execPath, [join(root, 'test/fixtures/cgroup-skip.mjs')], { ...drop, encoding: 'utf8' });
    const { uid, reason } = JSON.parse(out) as { uid: number; reason: string | null };
    expect(uid).not.toBe(0);
    expect(reason).toMatch(/root/);
  });

  describe.skipIf(!usable)(`in a memory cgroup${skipped}`, () => {
    beforeAll(() => {
      expect(ourGroups()).toEqual([]);
    });

    it('reports the late failure as a SIGKILL after about limit / pageSize pages, and removes the group', async () => {
      const limitBytes = 32 * MiB;
      // The mapping's commit charge depends on the mode: hold the lock so it does not change under us.
      const late = await withSettingsLock('shared', () => runLateKill({ limitBytes, mapBytes: 4 * limitBytes }));
      expect(late.mmapOk).toBe(true);
      expect(late.timedOut).toBe(false);
      expect(late.signal).toBe('SIGKILL');
      expect(late.exitCode).toBeNull();
      const limitPages = limitBytes / pageSize;
      // Every touched page is charged, so at most the limit; the child's other charges are small.
      expect(late.pagesTouchedBeforeKill).toBeLessThanOrEqual(limitPages);
      expect(late.pagesTouchedBeforeKill).toBeGreaterThan(limitPages * 0.75);
      expect(late.touchedBytesBeforeKill).toBe(late.pagesTouchedBeforeKill * pageSize);
      expect(late.cgroupOomKillsAfter).toBe(late.cgroupOomKillsBefore + 1);
      expect(late.cgroupLimitFileBytes).toBe(limitBytes);
      expect(late.msFromFirstTouchToKill).not.toBeNull();
      expect(existsSync(late.cgroupPath)).toBe(false);
      expect(ourGroups()).toEqual([]);
    });

    it('removes the group when the work fails after creating it', async () => {
      await expect(runLateKill({ failAfterCgroupCreated: true })).rejects.toThrow(/injected/);
      expect(ourGroups()).toEqual([]);
    });

    it('the same request under RLIMIT_AS fails at the mmap call with ENOMEM', async () => {
      const p = await runRlimitAsPath(128 * MiB);
      expect(p).toMatchObject({
        path: 'rlimit-as',
        site: 'at-call',
        code: 'ENOMEM',
        mmapOk: false,
        signal: null,
        pagesTouched: 0,
        requestBytes: 128 * MiB,
      });
    });

    it('run(): the late kill and both fail-fast paths, with numbers, and no group left', async () => {
      const findings = await withSettingsLock('shared', () => runFindings(oomLateFailure, { mode: currentMode(), progress: () => {} }));
      expect(findings.map((f) => f.claim)).toEqual(oomLateFailure.claims.map((c) => c.id));
      const late = findings[0]!;
      expect(late.holds).toBe(true);
      expect(late.evidence.signal).toBe('SIGKILL');
      expect(late.evidence.mmapOk).toBe(true);
      expect(late.evidence.pagesTouchedBeforeKill).toBeGreaterThan(0);
      expect(late.evidence.cgroupLimitBytes).toBe(32 * MiB);
      const paths = late.evidence.failurePaths as { path: string; site: string; code: string | null }[];
      expect(paths.map((p) => [p.path, p.site])).toEqual([
        ['cgroup-oom', 'signal'],
        ['rlimit-as', 'at-call'],
        ['mode-2', currentMode() === 2 || canSwitchModes ? 'at-call' : 'not-run'],
      ]);
      const mode2 = findings[1]!;
      expect(mode2.holds).toBe(currentMode() === 2 || canSwitchModes ? true : null);
      expect(findings[2]!.holds).toBe(true);
      expect(findings[3]!.holds).toBe(true);
      expect(existsSync(String(late.evidence.cgroupPath))).toBe(false);
      expect(ourGroups()).toEqual([]);
    });
  });
});
