import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { judgeEvidence } from '../../lib/experiments/judge.js';
import { type OomLateFailureEvidence, oomLateFailure, runLateKill, runRlimitAsPath } from '../../lib/experiments/oom-late-failure/index.js';
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

/** Evidence measured on this project's 6.18 VM (cgroup v1, mode 0). */
const captured = (
  JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures/evidence/6.18/oom-late-failure.json'), 'utf8')) as Record<
    string,
    OomLateFailureEvidence
  >
)['0']!;
const verdicts = (e: OomLateFailureEvidence) => judgeEvidence(oomLateFailure, e, e.mode).map((f) => f.holds);
const withLate = (late: Partial<OomLateFailureEvidence['late']>): OomLateFailureEvidence => ({
  ...captured,
  late: { ...captured.late, ...late },
});

describe('oom-late-failure rules', () => {
  it('a SIGKILL the group counted as an OOM kill, after pages were touched: the late-failure claims hold', () => {
    expect(verdicts(captured)).toEqual([true, true, true, true]);
    expect(judgeEvidence(oomLateFailure, captured, 0)[0]!.observed).toMatch(/surfaced as SIGKILL, \d+ page writes after/);
  });

  it('a child that ended by itself does not hold, and its sentence says no signal came', () => {
    const e = withLate({ signal: null, exitCode: 0, cgroupOomKillsAfter: captured.late.cgroupOomKillsBefore });
    expect(verdicts(e)).toEqual([false, true, false, false]);
    expect(judgeEvidence(oomLateFailure, e, 0)[0]!.observed).not.toContain('surfaced as');
  });

  it('a SIGKILL nobody attributes to the OOM killer (counted 0, not in the log) does not hold', () => {
    const e = withLate({
      cgroupOomKillsAfter: captured.late.cgroupOomKillsBefore,
      kernelLog: { lines: [], source: '/dev/kmsg', reason: null },
    });
    expect(verdicts(e)[0]).toBe(false);
  });

  it('a kernel with no oom_kill count: the kernel log decides; without a readable log, undecided', () => {
    const { oom_kill: _dropped, ...events } = captured.late.memoryEventsAfter;
    const line = `Memory cgroup out of memory: Killed process ${captured.late.pid} (node) total-vm:1kB`;
    expect(verdicts(withLate({ memoryEventsAfter: events, kernelLog: { lines: [line], source: 'dmesg', reason: null } }))[0]).toBe(true);
    const f = judgeEvidence(
      oomLateFailure,
      withLate({ memoryEventsAfter: events, kernelLog: { lines: null, source: null, reason: 'EPERM' } }),
      0,
    )[0]!;
    expect(f.holds).toBeNull();
    expect(f.reason).toMatch(/who sent it/);
  });

  it('a mapping refused at the call: no overcommit to fail late, undecided', () => {
    const e = withLate({ mmapOk: false, mmapCode: 'ENOMEM', signal: null, exitCode: 1, pagesTouchedBeforeKill: 0 });
    expect(verdicts(e)).toEqual([null, true, null, null]);
  });

  it('mode 2 fails fast only with ENOMEM at the call; a request that went through does not hold; not run: undecided', () => {
    expect(verdicts({ ...captured, mode2: { ...captured.mode2, site: 'none', code: null, mmapOk: true } })[1]).toBe(false);
    expect(verdicts({ ...captured, mode2: { ...captured.mode2, site: 'not-run', code: null, reason: 'no root' } })[1]).toBeNull();
  });
});

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
