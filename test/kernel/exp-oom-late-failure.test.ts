import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { judgeEvidence } from '../../lib/experiments/judge.js';
import { oomLateFailure, runLateKill, runRlimitAsPath } from '../../lib/experiments/oom-late-failure/index.js';
import { findMemoryCgroup } from '../../lib/kernel/cgroup.js';
import { pageSize } from '../../lib/native/mapping.js';
import { withSettingsLock } from '../../lib/safety/lock.js';
import { memoryCgroupAvailability } from '../../lib/safety/memory-cgroup.js';
import { MiB } from '../../lib/units.js';
import { canSwitchModes, currentMode, isRoot, nobodyCannotRead } from '../helpers.js';

const root = join(import.meta.dirname, '..', '..');
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

  // The fixture imports the compiled package, which test/global-setup.ts builds.
  // As root, the fixture drops to nobody; otherwise it already runs without root.
  const notAsNobody = isRoot ? nobodyCannotRead('test/fixtures/cgroup-skip.mjs', 'dist/index.js') : '';
  it.skipIf(notAsNobody !== '')(
    `is skipped by the runner for a process without root, with the reason${notAsNobody === '' ? '' : ` (skipped: ${notAsNobody})`}`,
    () => {
      const drop = isRoot ? { uid: 65534, gid: 65534 } : {};
      const out = execFileSync(process.execPath, [join(root, 'test/fixtures/cgroup-skip.mjs')], { ...drop, encoding: 'utf8' });
      const { uid, reason } = JSON.parse(out) as { uid: number; reason: string | null };
      expect(uid).not.toBe(0);
      expect(reason).toMatch(/root/);
    },
  );

  describe.skipIf(!usable)(`in a memory cgroup${skipped}`, () => {
    beforeAll(() => {
      expect(ourGroups()).toEqual([]);
    });

    it("the late kill's numbers agree with each other (pages, bytes, peak, timing), and the group is removed", async () => {
      const limitBytes = 32 * MiB;
      // The mapping's commit charge depends on the mode: hold the lock so it does not change under us.
      const late = await withSettingsLock('shared', () => runLateKill({ limitBytes, mapBytes: 4 * limitBytes }));
      expect(late.mapBytes).toBe(4 * limitBytes);
      expect(late.cgroupLimitFileBytes).toBe(limitBytes);
      // Whatever ended the child, every page it touched was charged to the group: at most the limit.
      expect(late.pagesTouchedBeforeKill).toBeLessThanOrEqual(limitBytes / pageSize);
      expect(late.touchedBytesBeforeKill).toBe(late.pagesTouchedBeforeKill * pageSize);
      expect(late.touchedToLimitRatio).toBeCloseTo(late.touchedBytesBeforeKill / limitBytes, 9);
      // The group's peak usage covers what was touched in it.
      if (late.cgroupPeakBytes !== null) expect(late.cgroupPeakBytes).toBeGreaterThanOrEqual(late.touchedBytesBeforeKill);
      // A kill is timed from the first touch; no kill, no time.
      expect(late.msFromFirstTouchToKill === null).toBe(late.signal === null || !late.mmapOk);
      expect(existsSync(late.cgroupPath)).toBe(false);
      expect(ourGroups()).toEqual([]);
    });

    it('removes the group when the work fails after creating it', async () => {
      await expect(runLateKill({ failAfterCgroupCreated: true })).rejects.toThrow(/injected/);
      expect(ourGroups()).toEqual([]);
    });

    it('the same request under RLIMIT_AS: where it failed, with the errno when at the call', async () => {
      const p = await runRlimitAsPath(128 * MiB);
      expect(p).toMatchObject({ path: 'rlimit-as', pagesTouched: 0, requestBytes: 128 * MiB });
      expect(p.mmapOk).toBe(p.site === 'none');
      expect(p.code !== null).toBe(p.site === 'at-call');
      if (p.site === 'at-call') expect(p.msToFailure).not.toBeNull();
    });

    it('measure(): the late kill and both fail-fast paths agree with their own records, and no group is left', async () => {
      const mode = currentMode();
      const e = await withSettingsLock('shared', () => oomLateFailure.measure({ mode, progress: () => {} }));
      expect(e.mode).toBe(mode);
      const l = e.late;
      // A kill is reported with the pages the child published before it, never more than it mapped.
      expect(l.touchedBytesBeforeKill).toBe(l.pagesTouchedBeforeKill * pageSize);
      expect(l.touchedBytesBeforeKill).toBeLessThanOrEqual(l.mapBytes);
      expect(l.signal === null).toBe(l.exitCode !== null);
      // The contrasts report an errno exactly when they failed at the call.
      for (const p of [e.rlimitAs, e.mode2]) expect(p.code !== null).toBe(p.site === 'at-call');
      expect(e.mode2.site === 'not-run').toBe(!(mode === 2 || canSwitchModes));
      const findings = judgeEvidence(oomLateFailure, e, mode);
      expect(findings.map((f) => f.claim)).toEqual(oomLateFailure.claims.map((c) => c.id));
      // The verdict cites what the child reported.
      if (l.signal !== null) expect(findings[0]!.observed).toContain(l.signal);
      if (e.mode2.code !== null) expect(findings[1]!.observed).toContain(e.mode2.code);
      expect(existsSync(l.cgroupPath)).toBe(false);
      expect(ourGroups()).toEqual([]);
    });
  });
});
