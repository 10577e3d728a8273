import { describe, expect, it } from 'vitest';
import { judgeEvidence } from '../../lib/experiments/judge.js';
import type { Finding } from '../../lib/experiments/model.js';
import { measureRlimitAs, type RlimitAsEvidence, rlimitAs } from '../../lib/experiments/rlimit-as/index.js';
import { withSettingsLock } from '../../lib/safety/lock.js';
import { MiB } from '../../lib/units.js';
import { currentMode } from '../helpers.js';

const judge = (e: RlimitAsEvidence): Map<string, Finding> => new Map(judgeEvidence(rlimitAs, e, e.mode).map((f) => [f.claim, f]));

describe('rlimit-as on this kernel', () => {
  it('cites the errno codes the child reported and the lines the program printed', async () => {
    await withSettingsLock('shared', async () => {
      const e = await measureRlimitAs(currentMode());
      expect(e.childProblem).toBeNull();
      expect(e.limitBytes).toBe(e.baseBytes + 64 * MiB);
      for (const o of [e.controlMmap128, e.mmap128, e.mmap8, e.noreserveMmap128, e.noreserveMmap8, e.sbrk128, e.sbrk8]) {
        expect(o === 'ok' || /^E[A-Z]+$/.test(o), o).toBe(true);
      }
      const f = judge(e);
      expect(f.get('rlimit-as-mmap-enomem')!.observed).toContain(`mmap(128 MiB) -> ${e.mmap128}, mmap(8 MiB) -> ${e.mmap8}`);
      expect(f.get('rlimit-as-brk-enomem')!.observed).toContain(`brk(+128 MiB) -> ${e.sbrk128}, brk(+8 MiB) -> ${e.sbrk8}`);
      // The program: its lines parsed into the evidence, cited verbatim, its limit read in /proc while it was stopped.
      const p = e.program;
      expect(p.unavailable).toBeNull();
      expect(p.exitCode).toBe(0);
      expect(p.limitSoftBytes).toBe(64 * MiB);
      expect(p.vmSizeBytes).toBeGreaterThan(0);
      expect([p.large!.line, p.small!.line]).toEqual(p.lines);
      if (!p.large!.succeeded) expect(p.large!.line).toBe(`mmap(128MB) failed as expected: ${p.large!.error}`);
      const literal = f.get('rlimit-program-64mb')!;
      for (const line of p.lines) expect(literal.observed).toContain(`'${line}'`);
    });
  });
});
