import { describe, expect, it } from 'vitest';
import { judgeEvidence } from '../../lib/experiments/judge.js';
import type { Finding } from '../../lib/experiments/model.js';
import { measureSettings, readSettings, type SettingsEvidence, settings } from '../../lib/experiments/settings/index.js';
import { pageSize } from '../../lib/native/mapping.js';
import { withSettingsLock } from '../../lib/safety/lock.js';
import { guardAvailability, withOvercommitSettings } from '../../lib/safety/settings-guard.js';
import { KiB } from '../../lib/units.js';
import { currentMode } from '../helpers.js';

const guard = guardAvailability();

const judge = (e: SettingsEvidence): Map<string, Finding> => new Map(judgeEvidence(settings, e, e.runnerMode).map((f) => [f.claim, f]));

describe('settings on this kernel', () => {
  it("the program's printed values are the files read around it; the probe's trials and the readings agree", async () => {
    await withSettingsLock('shared', async () => {
      const e = await measureSettings(currentMode());
      const p = e.program;
      expect(p.unavailable).toBeNull();
      expect(p.before).toEqual(p.after);
      expect(p.lines).toEqual([
        `overcommit_memory = ${p.before.mode}`,
        `overcommit_ratio = ${p.before.ratio}%`,
        `Mode: ${e.reading.modeDescription}`,
      ]);
      expect(e.reading.mode).toBe(p.before.mode);
      const probe = e.committedProbe;
      if (probe.change !== null) {
        expect(probe.change.actionDeltasBytes).toHaveLength(5);
        expect(probe.committedDeltaBytes).toBe(probe.change.changeBytes);
      } else {
        expect(probe.skipped ?? probe.mmapCode).not.toBeNull();
      }
      expect(e.ratioSourcesRead.length).toBeGreaterThan(0);
      for (const s of e.ratioSetBy) expect(s.key).toBe('vm.overcommit_ratio');
      const f = judgeEvidence(settings, e, e.runnerMode);
      expect(f.find((x) => x.claim === 'settings-program-reads-mode')!.evidence.programOutput).toEqual(p.lines);
    });
  });

  it.skipIf(!guard.available)(
    `gives the ratio formula no verdict while overcommit_kbytes is in force${guard.available ? '' : ` (skipped: ${guard.reason})`}`,
    async () => {
      // 40% of RAM in whole pages: an amount no ratio gives, written in a guard window.
      const kbytes = Math.floor((readSettings().memTotalBytes * 0.4) / pageSize) * (pageSize / KiB);
      await withOvercommitSettings({ kbytes }, async () => {
        const e = await measureSettings(currentMode());
        expect(e.reading.kbytes).not.toBe(0);
        const f = judge(e);
        for (const id of ['commit-limit-swap-plus-ratio-of-ram', 'strict-total-swap-plus-ram-ratio', 'default-ratio-50']) {
          expect(f.get(id)!.holds, id).toBeNull();
        }
        // The kbytes formula is judged by its own claim.
        expect(f.get('commit-limit-ratio-or-kbytes')!.holds).toBe(e.reading.kernelFormulaBytes === e.reading.commitLimitBytes);
      });
    },
  );

  it('computes the kernel formula the kernel does when the settings are stable', () => {
    const r = readSettings();
    // CommitLimit is recomputed by the kernel only when the settings or RAM change.
    expect(r.commitLimitBytes).toBe(r.kernelFormulaBytes);
  });
});
