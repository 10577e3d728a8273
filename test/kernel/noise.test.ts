/**
 * Noise: Committed_AS is machine-wide, and any busy machine moves it. Under a load that maps and
 * unmaps 64–256 MiB of accounted memory in a loop, no verdict may flip between holds and does
 * not hold against a run without the load: noise may only make a verdict undecided.
 * Nothing here depends on what the kernel does: only on the tool giving the same answer.
 */
import { describe, expect, it } from 'vitest';
import type { RunReport } from '../../lib/experiments/model.js';
import { runExperiments } from '../../lib/experiments/runner.js';
import { startLoad } from '../../lib/measure/load.js';
import { withSettingsLock } from '../../lib/safety/lock.js';

/** The experiments whose verdicts read Committed_AS or memory counters other processes move. */
const SENSITIVE = ['settings', 'sparse-array', 'zero-pages', 'fork-inheritance', 'copy-on-write', 'accounting', 'redis-fork'];

type Verdicts = Map<string, boolean | null>;

function verdicts(report: RunReport): Verdicts {
  const out: Verdicts = new Map();
  for (const run of report.runs) for (const f of run.findings) out.set(`${run.experiment} · mode ${run.mode} · ${f.claim}`, f.holds);
  return out;
}

/** Claims decided both ways: true in one run, false in the other. */
function flips(a: Verdicts, b: Verdicts): string[] {
  return [...a].filter(([key, holds]) => holds !== null && b.has(key) && b.get(key) !== null && b.get(key) !== holds).map(([key]) => key);
}

describe('verdicts under a load that churns Committed_AS', () => {
  it('no verdict flips between holds and does not hold; noise only makes one undecided', async () => {
    // The load charges the commit: no other checkout may open a mode-2 window while it runs.
    await withSettingsLock('shared', async () => {
      const quiet = verdicts(await runExperiments({ experiments: SENSITIVE }));
      const load = await startLoad({ minBytes: 64 << 20, maxBytes: 256 << 20 });
      let loaded: Verdicts;
      try {
        loaded = verdicts(await runExperiments({ experiments: SENSITIVE }));
      } finally {
        const stats = await load.stop();
        // The load must really have churned while the experiments ran, or this test proves nothing.
        expect(stats.cycles).toBeGreaterThan(1);
      }
      // Some claims must be decided in both runs, or there would be nothing that could flip.
      const decidedInBoth = [...quiet].filter(([key, holds]) => holds !== null && loaded.get(key) != null);
      expect(decidedInBoth.length).toBeGreaterThan(0);
      expect(flips(quiet, loaded)).toEqual([]);
    });
  }, 600_000);
});
