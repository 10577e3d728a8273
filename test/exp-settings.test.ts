import { describe, expect, it } from 'vitest';
import type { OvercommitMode } from '../lib/experiments/model.js';
import { readSettings, settings, settingsClaims } from '../lib/experiments/settings.js';
import { pageSize } from '../lib/native/mapping.js';
import { withSettingsLock } from '../lib/safety/lock.js';
import { guardAvailability, withOvercommitSettings } from '../lib/safety/settings-guard.js';
import { KiB, MiB } from '../lib/units.js';
import { currentMode, runFindings } from './helpers.js';

const guard = guardAvailability();

describe('settings experiment', () => {
  it('reports the settings in force and a computed verdict per claim', async () => {
    await withSettingsLock('shared', async () => {
      const mode = currentMode();
      const findings = await runFindings(settings, { mode, progress: () => {} });
      expect(findings.map((f) => f.claim)).toEqual(Object.values(settingsClaims).map((c) => c.id));
      const ev = findings[0]!.evidence;
      expect(ev.mode).toBe(mode);
      expect(ev.programOutput).toEqual([
        `overcommit_memory = ${mode}`,
        `overcommit_ratio = ${String(ev.ratio)}%`,
        `Mode: ${String(ev.modeDescription)}`,
      ]);
      const byId = new Map(findings.map((f) => [f.claim, f]));
      // The program read the mode the runner says is in force.
      const program = byId.get('settings-program-reads-mode')!;
      expect(program.evidence.runnerMode).toBe(mode);
      expect(program.holds).toBe(true);
      // 64 MiB private read-write moved Committed_AS by 64 MiB, within the sampled noise.
      const counters = byId.get('commit-counters-in-meminfo')!;
      const p = counters.evidence.committedProbe as {
        mappedBytes: number;
        mmapCode: string | null;
        committedDeltaBytes: number;
        toleranceBytes: number;
      };
      expect(p.mmapCode).toBeNull();
      expect(p.mappedBytes).toBe(64 * MiB);
      expect(Math.abs(p.committedDeltaBytes - p.mappedBytes)).toBeLessThanOrEqual(p.toleranceBytes);
      expect(p.toleranceBytes).toBeLessThan(p.mappedBytes / 4);
      expect(counters.evidence.commitLimitBytes).toBe(counters.evidence.kernelFormulaBytes);
      expect(counters.holds).toBe(true);
      // The verdicts follow the numbers they are computed from.
      const r = readSettings();
      expect(byId.get('commit-limit-ratio-or-kbytes')!.holds).toBe(r.kernelFormulaBytes === r.commitLimitBytes);
      // With overcommit_kbytes set the ratio formula is not in force: no verdict, and why.
      for (const id of ['commit-limit-swap-plus-ratio-of-ram', 'strict-total-swap-plus-ram-ratio']) {
        const f = byId.get(id)!;
        expect(f.holds).toBe(r.kbytes === 0 ? r.documentedFormulaBytes === r.commitLimitBytes : null);
        if (r.kbytes !== 0) expect(f.reason).toMatch(/overcommit_kbytes is \d+ here/);
      }
      // The compiled-in default is never observable: no verdict, the value in force said instead.
      const def = byId.get('default-ratio-50')!;
      expect(def.holds).toBeNull();
      expect(def.reason).toMatch(/cannot be observed/);
      expect(def.observed).toContain(`in force is ${r.ratio}, which ${r.ratio === 50 ? 'equals' : 'does not equal'} 50`);
    });
  });

  it('says the program does not read the mode in force when the runner claims another', async () => {
    await withSettingsLock('shared', async () => {
      const mode = currentMode();
      const other = ((mode + 1) % 3) as OvercommitMode;
      const findings = await runFindings(settings, { mode: other, progress: () => {} });
      const program = findings.find((f) => f.claim === 'settings-program-reads-mode')!;
      expect(program.evidence.mode).toBe(mode);
      expect(program.holds).toBe(false);
    });
  });

  it.skipIf(!guard.available)(
    `gives the ratio formula no verdict while overcommit_kbytes is in force${guard.available ? '' : ` (skipped: ${guard.reason})`}`,
    async () => {
      // 40% of RAM in whole pages: an amount no ratio gives, written in a guard window.
      const kbytes = Math.floor((readSettings().memTotalBytes * 0.4) / pageSize) * (pageSize / KiB);
      await withOvercommitSettings({ kbytes }, async () => {
        const r = readSettings();
        expect(r.kbytes).not.toBe(0);
        const findings = await runFindings(settings, { mode: currentMode(), progress: () => {} });
        const byId = new Map(findings.map((f) => [f.claim, f]));
        for (const id of ['commit-limit-swap-plus-ratio-of-ram', 'strict-total-swap-plus-ram-ratio']) {
          expect(byId.get(id)!.holds).toBeNull();
          expect(byId.get(id)!.reason).toBe(
            `overcommit_kbytes is ${r.kbytes} here, so the kernel computes CommitLimit from kbytes + swap and the ratio formula does not apply`,
          );
        }
        // The kbytes formula is judged by its own claim.
        expect(byId.get('commit-limit-ratio-or-kbytes')!.holds).toBe(r.kernelFormulaBytes === r.commitLimitBytes);
      });
    },
  );

  it('agrees with the kernel formula when the settings are stable, and names hugetlb when it mattered', () => {
    const r = readSettings();
    // CommitLimit is recomputed by the kernel only when the settings or RAM change.
    expect(r.commitLimitBytes).toBe(r.kernelFormulaBytes);
    if (r.kbytes === 0 && r.hugetlbBytes === 0) expect(r.documentedFormulaBytes).toBe(r.commitLimitBytes);
  });
});
