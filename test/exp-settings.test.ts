import { describe, expect, it } from 'vitest';
import { settings, settingsClaims, readSettings } from '../lib/experiments/settings.js';
import { withSettingsLock } from '../lib/lock.js';
import { currentMode } from './helpers.js';

describe('settings experiment', () => {
  it('reports the settings in force and a computed verdict per claim', async () => {
    await withSettingsLock('shared', async () => {
      const mode = currentMode();
      const findings = await settings.run({ mode, progress: () => {} });
      expect(findings.map((f) => f.claim)).toEqual(Object.values(settingsClaims).map((c) => c.id));
      const ev = findings[0]!.evidence;
      expect(ev.mode).toBe(mode);
      expect(ev.programOutput).toEqual([`overcommit_memory = ${mode}`, `overcommit_ratio = ${String(ev.ratio)}%`, `Mode: ${String(ev.modeDescription)}`]);
      const byId = new Map(findings.map((f) => [f.claim, f]));
      expect(byId.get('settings-program-reads-mode')!.holds).toBe(true);
      expect(byId.get('commit-counters-in-meminfo')!.holds).toBe(true);
      // The verdicts follow the numbers they are computed from.
      const r = readSettings();
      expect(byId.get('commit-limit-ratio-or-kbytes')!.holds).toBe(r.kernelFormulaBytes === r.commitLimitBytes);
      expect(byId.get('commit-limit-swap-plus-ratio-of-ram')!.holds).toBe(r.documentedFormulaBytes === r.commitLimitBytes);
      expect(byId.get('strict-total-swap-plus-ram-ratio')!.holds).toBe(r.documentedFormulaBytes === r.commitLimitBytes);
      expect(byId.get('default-ratio-50')!.holds).toBe(r.ratio === 50 ? true : null);
    });
  });

  it('agrees with the kernel formula when the settings are stable, and names hugetlb when it mattered', () => {
    const r = readSettings();
    // CommitLimit is recomputed by the kernel only when the settings or RAM change.
    expect(r.commitLimitBytes).toBe(r.kernelFormulaBytes);
    if (r.kbytes === 0 && r.hugetlbBytes === 0) expect(r.documentedFormulaBytes).toBe(r.commitLimitBytes);
  });
});
