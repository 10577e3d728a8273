import { describe, expect, it } from 'vitest';
import {
  childProblem,
  type ForkInheritanceEvidence,
  forkInheritance,
  forkInheritanceClaims,
  forkInheritanceFindings,
  measureForkInheritance,
} from '../lib/experiments/fork-inheritance.js';
import type { ChildResult, ChildStepResult } from '../lib/native/child.js';
import { withSettingsLock } from '../lib/safety/lock.js';
import { currentMode, runFindings } from './helpers.js';

describe('fork-inheritance experiment', () => {
  it("reads the child's flags for both regions and what the fork charged", async () => {
    await withSettingsLock('shared', async () => {
      const mode = currentMode();
      const { evidence: e, problem } = await measureForkInheritance();
      expect(problem).toBeNull();
      // The child's flags are the parent's: fork copies the VMA flags.
      expect(e.childNoreserveFlags).toEqual(e.parentNoreserveFlags);
      expect(e.childOrdinaryFlags).toEqual(e.parentOrdinaryFlags);
      expect(e.childOrdinaryFlags).toContain('ac');
      expect(e.parentNoreserveFlags.includes('nr')).toBe(mode !== 2);
      expect(e.parentNoreserveFlags.includes('ac')).toBe(mode === 2);
      // The prediction counts the ordinary region, and the NORESERVE one only where it is charged.
      expect(e.parentAccountedBytes).toBeGreaterThanOrEqual(e.regionBytes * (mode === 2 ? 2 : 1));
      // runChild's result area is MAP_NORESERVE: charged only in mode 2, where the flag is ignored.
      if (mode === 2) expect(e.resultAreaBytes).toBeGreaterThan(0);
      else expect(e.resultAreaBytes).toBe(0);
      // The child holds a copy of every accountable VMA; Node may map or unmap between the reads.
      expect(e.childAccountedBytes).toBeGreaterThanOrEqual(e.regionBytes);
      // The ordinary region is charged again for the child; outside mode 2 the NORESERVE one is not.
      expect(e.forkChargeBytes).toBeGreaterThanOrEqual(e.regionBytes - e.toleranceBytes);
      if (mode !== 2) expect(e.forkChargeBytes).toBeLessThan(e.parentAccountedBytes + e.resultAreaBytes + e.regionBytes - e.toleranceBytes);
    });
  });

  it('computes the verdicts from that evidence', async () => {
    await withSettingsLock('shared', async () => {
      const mode = currentMode();
      const findings = await runFindings(forkInheritance, { mode, progress: () => {} });
      expect(findings.map((f) => f.claim)).toEqual(Object.values(forkInheritanceClaims).map((c) => c.id));
      const byId = new Map(findings.map((f) => [f.claim, f]));
      const e = findings[0]!.evidence;
      const inherits = byId.get('child-inherits-noreserve')!;
      if (mode === 2) expect(inherits.holds).toBeNull();
      else expect(inherits.holds).toBe((e.childNoreserveFlags as string[]).includes('nr'));
      const accounted = byId.get('fork-accounted')!.holds;
      if (e.chargeMatches) expect(accounted).toBe((e.childOrdinaryFlags as string[]).includes('ac'));
      else {
        const off = Math.abs((e.forkChargeBytes as number) - (e.predictedChargeBytes as number));
        expect(accounted).toBe(off < (e.regionBytes as number) / 2 ? null : false);
      }
      expect(e.attempts).toHaveLength(3);

      // The same evidence with the ordinary region left uncharged must give a false verdict.
      const missing = {
        ...(e as unknown as ForkInheritanceEvidence),
        forkChargeBytes: (e.forkChargeBytes as number) - (e.regionBytes as number),
        chargeMatches: false,
      };
      const verdicts = forkInheritanceFindings(missing, null, mode);
      expect(verdicts.find((f) => f.claim === 'fork-accounted')!.holds).toBe(false);
    });
  });

  it('treats a failed vmflags step as no measurement, and gives no verdict then', async () => {
    const step = (op: ChildStepResult['op'], extra: Partial<ChildStepResult>): ChildStepResult => ({
      op,
      status: 'ok',
      code: null,
      errno: 0,
      startMs: 0,
      endMs: 0,
      progress: 0,
      ...extra,
    });
    const result = (nrFlags: ChildStepResult): ChildResult => ({
      pid: 1,
      exitCode: 0,
      signal: null,
      timedOut: false,
      stepsStarted: 4,
      reapedMs: 1,
      steps: [
        nrFlags,
        step('vmflags', { vmFlags: ['rd', 'wr', 'ac'] }),
        step('readfile', { data: '' }),
        step('readfile', { data: '', truncated: false }),
      ],
    });
    expect(childProblem(result(step('vmflags', { vmFlags: ['rd', 'wr', 'nr'] })))).toBeNull();
    const problem = childProblem(result(step('vmflags', { status: 'failed', code: 'ERR_NO_VMA' })));
    expect(problem).toMatch(/MAP_NORESERVE region failed \(ERR_NO_VMA\)/);

    await withSettingsLock('shared', async () => {
      const { evidence } = await measureForkInheritance();
      const findings = forkInheritanceFindings({ ...evidence, childNoreserveFlags: [] }, problem, currentMode());
      expect(findings.map((f) => f.holds)).toEqual([null, null, null, null]);
      expect(findings.every((f) => f.reason === problem)).toBe(true);
    });
  });
});
