import { describe, expect, it } from 'vitest';
import { commitLimit, commitLimitClaims } from '../lib/experiments/commit-limit.js';
import { commitLimitFormula, type readMeminfo } from '../lib/kernel/meminfo.js';
import { readOvercommitSettings } from '../lib/kernel/sysctl.js';
import { pageSize } from '../lib/native/mapping.js';
import { withSettingsLock } from '../lib/safety/lock.js';
import { guardAvailability, withMode } from '../lib/safety/settings-guard.js';
import { KiB } from '../lib/units.js';
import { currentMode, runFindings } from './helpers.js';

const avail = guardAvailability();
const why = avail.available ? '' : ` (skipped: ${avail.reason})`;

interface Step {
  wrote: string;
  value: number;
  before: { mode: number; ratio: number; kbytes: number };
  after: { mode: number; ratio: number; kbytes: number };
  commitLimitBytes: number;
  formulaBytes: number;
  memTotalBytes: number;
  swapTotalBytes: number;
  hugetlbBytes: number;
  headroomRaised: boolean;
}

describe('commit-limit experiment', () => {
  it('needs root and a writable sysctl', () => {
    expect(commitLimit.requires).toEqual({ root: true, writableSysctl: true });
  });

  for (const mode of [null, 2] as const) {
    it.skipIf(!avail.available)(
      `writes ratio 50, 30, 80 and kbytes, each in a guard window, ${mode === null ? 'in the mode in force' : 'under mode 2'}${why}`,
      async () => {
        const start = readOvercommitSettings();
        const run = async (): Promise<void> => {
          const m = mode ?? currentMode();
          const findings = await runFindings(commitLimit, { mode: m, progress: () => {} });
          expect(findings.map((f) => f.claim)).toEqual(Object.values(commitLimitClaims).map((c) => c.id));
          const steps = findings[0]!.evidence.steps as unknown as Step[];
          expect(steps.map((s) => `${s.wrote}=${s.value}`).slice(0, 3)).toEqual(['ratio=50', 'ratio=30', 'ratio=80']);
          for (const s of steps) {
            // Each step's verdict input is recomputed here from its own readings.
            const f = commitLimitFormula(
              { memTotal: s.memTotalBytes, swapTotal: s.swapTotalBytes, hugetlb: s.hugetlbBytes } as ReturnType<typeof readMeminfo>,
              s.after,
              pageSize,
            );
            expect(s.formulaBytes).toBe(f.bytes);
            expect(s.after.mode).toBe(m);
            if (!s.headroomRaised && s.wrote === 'ratio') expect(s.after).toMatchObject({ ratio: s.value, kbytes: 0 });
          }
          const byId = new Map(findings.map((f) => [f.claim, f]));
          const exact = steps.slice(0, 3).filter((s) => !s.headroomRaised);
          expect(byId.get('limit-follows-ratio')!.holds).toBe(
            exact.length >= 2 ? exact.every((s) => s.commitLimitBytes === s.formulaBytes) : null,
          );
          const kb = steps[3]!;
          if (!kb.headroomRaised)
            expect(byId.get('ratio-or-kbytes')!.holds).toBe(
              kb.after.ratio === 0 && steps[4]!.after.kbytes === 0 && steps[4]!.before.kbytes === kb.value,
            );
          if (!kb.headroomRaised) {
            // CommitLimit is exactly swap + the kbytes written (a whole number of pages).
            expect(kb.after).toMatchObject({ kbytes: kb.value, ratio: 0 });
            expect(kb.commitLimitBytes).toBe(kb.value * KiB + kb.swapTotalBytes);
            expect(byId.get('limit-follows-kbytes')!.holds).toBe(true);
          } else {
            expect(byId.get('limit-follows-kbytes')!.holds).toBeNull();
          }
          // Ratio 50 gives swap + half of (MemTotal - Hugetlb), in whole pages, for the 001 default claim.
          const r50 = steps[0]!;
          if (!r50.headroomRaised) {
            const halfRam = Math.floor((Math.floor((r50.memTotalBytes - r50.hugetlbBytes) / pageSize) * 50) / 100) * pageSize;
            expect(r50.commitLimitBytes).toBe(halfRam + Math.floor(r50.swapTotalBytes / pageSize) * pageSize);
          }
          // Judged on the ratio-50 step, with the default itself said to be unobservable.
          const def = byId.get('default-50-percent-of-ram')!;
          expect(def.holds).toBe(r50.headroomRaised ? null : true);
          expect(def.reason).toMatch(r50.headroomRaised ? /guard raised/ : /cannot be observed on a running kernel/);
          // Inside the outer window the settings were the step's; outside they are back.
          expect(readOvercommitSettings()).toMatchObject({ mode: m });
        };
        // In the mode in force, the shared lock keeps others from switching between the windows.
        if (mode === null) await withSettingsLock('shared', run);
        else await withMode(mode, run);
        expect(readOvercommitSettings()).toEqual(start);
      },
    );
  }
});
