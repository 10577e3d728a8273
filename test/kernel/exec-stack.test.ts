import { describe, expect, it } from 'vitest';
import { execStack } from '../../lib/experiments/exec-stack/index.js';
import { measureExecStack } from '../../lib/experiments/exec-stack/measure.js';
import { judgeEvidence } from '../../lib/experiments/judge.js';
import { runProgram } from '../../lib/native/programs.js';

describe('exec-stack on this kernel', () => {
  it('the exec program names its child and the stop after exec', async () => {
    const points: string[] = [];
    const r = await runProgram('exec', { onPause: ({ point }) => void points.push(point) });
    expect(points).toEqual(['forked', 'exec']);
    expect(r.stdout[0]).toMatch(/^child \d+$/);
    expect(r.stdout[1]).toMatch(/^stopped -?\d+$/);
  });

  it('measures execs and controls with consistent evidence', { timeout: 120_000 }, async () => {
    const e = await measureExecStack({ mode: 0, progress: () => {} });
    const f = judgeEvidence(execStack, e, 0)[0]!;
    expect([true, false, null]).toContain(f.holds);
    if (e.problem !== undefined) {
      // A policy that forbids ptrace gives a problem, not numbers.
      expect(f.holds).toBeNull();
      return;
    }
    expect(e.trials).toHaveLength(7);
    expect(e.committed.actionDeltasBytes).toHaveLength(7);
    expect(e.committed.controlDeltasBytes).toHaveLength(7);
    for (const t of e.trials) {
      if (t.stack === null) continue;
      expect(t.stack.sizeBytes % e.pageSize).toBe(0);
      expect(t.stack.rssBytes).toBeLessThanOrEqual(t.stack.sizeBytes);
      if (t.accountedAfterBytes !== null && t.stack.vmFlags.includes('ac'))
        expect(t.accountedAfterBytes).toBeGreaterThanOrEqual(t.stack.sizeBytes);
    }
  });
});
