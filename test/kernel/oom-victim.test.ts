import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { judgeEvidence } from '../../lib/experiments/judge.js';
import { oomVictim } from '../../lib/experiments/oom-victim/index.js';
import { HOLDER_BYTES, LIMIT_BYTES, measureOomVictim } from '../../lib/experiments/oom-victim/measure.js';
import { skipReason } from '../../lib/experiments/runner.js';
import { findMemoryCgroup } from '../../lib/kernel/cgroup.js';
import { readStat } from '../../lib/kernel/stat.js';
import { currentMode } from '../helpers.js';

const mode = currentMode();
const skip = skipReason(oomVictim, mode);

/** This process's own groups (overcommit-lab-<pid>-*) under its memory cgroup. */
function ownGroups(): string[] {
  const cg = findMemoryCgroup();
  if (!cg.available) return [];
  return readdirSync(cg.ownDir).filter((n) => n.startsWith(`overcommit-lab-${process.pid}-`));
}

describe.skipIf(skip !== undefined)(`oom-victim on this kernel${skip === undefined ? '' : ` (skipped: ${skip})`}`, () => {
  it('measures both rounds with consistent evidence, reaps every process and removes its groups', { timeout: 300_000 }, async () => {
    const e = await measureOomVictim({ mode, progress: () => {} });
    const findings = judgeEvidence(oomVictim, e, mode);
    for (const f of findings) expect([true, false, null]).toContain(f.holds);
    expect(ownGroups()).toEqual([]);
    if (e.problem !== undefined) {
      // A round that went wrong as a whole (a holder that could not hold its block) decides nothing.
      for (const f of findings) expect(f.holds).toBeNull();
      return;
    }
    expect(e.rounds.map((r) => r.kind)).toEqual(['sizes', 'adjusted']);
    for (const r of e.rounds) {
      expect(r.cgroupLimitBytes).toBe(LIMIT_BYTES);
      expect(r.holders.map((h) => h.sizeBytes)).toEqual([...HOLDER_BYTES]);
      expect(r.oomKillsAfter).toBeGreaterThanOrEqual(r.oomKillsBefore);
      for (const h of r.holders) {
        expect(h.oomScore).toBeGreaterThanOrEqual(0);
        // Every holder ended (killed or by itself) and was reaped.
        expect(h.signal !== null || h.exitCode !== null).toBe(true);
        expect(readStat(h.pid)).toBeUndefined();
      }
      expect(readStat(r.trigger.pid)).toBeUndefined();
      expect(r.trigger.writtenBlocks).toBeLessThanOrEqual(r.trigger.blocks);
    }
    expect(e.rounds[1]!.holders[0]!.oomScoreAdj).toBe(1000);
  });
});
