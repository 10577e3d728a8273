/**
 * The rules on evidence captured on several kernels (under `overcommit-lab vm`, and this
 * project's 6.18 VM): every finding is well formed whatever the kernel did, and where the
 * kernels really differ the same rules give each kernel its own verdict. These judge saved
 * evidence only: they pass on any kernel the suite runs on.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { judgeEvidence } from '../../lib/experiments/judge.js';
import type { Finding, Measured, OvercommitMode } from '../../lib/experiments/model.js';
import { ruleSets as experiments } from '../../lib/experiments/rules.js';

const dir = join(import.meta.dirname, '..', 'fixtures/evidence');
const kernels = readdirSync(dir);

function findings(kernel: string, id: string, mode: OvercommitMode): Finding[] | undefined {
  const file = join(dir, kernel, `${id}.json`);
  let byMode: Record<string, Measured>;
  try {
    byMode = JSON.parse(readFileSync(file, 'utf8')) as Record<string, Measured>;
  } catch {
    return undefined;
  }
  // A file holds evidence by mode ('0', '1', '2'), or one run's evidence, which names its mode.
  if (!['0', '1', '2'].some((m) => m in byMode)) {
    const one = byMode as unknown as { mode?: number; runnerMode?: number };
    byMode = { [String(one.mode ?? one.runnerMode ?? 0)]: byMode as unknown as Measured };
  }
  const evidence = byMode[String(mode)];
  const experiment = experiments.find((e) => e.id === id)!;
  return evidence === undefined ? undefined : judgeEvidence(experiment, evidence, mode);
}

const verdict = (kernel: string, id: string, mode: OvercommitMode, claim: string) =>
  findings(kernel, id, mode)?.find((f) => f.claim === claim)?.holds;

describe('rules on evidence from several kernels', () => {
  for (const kernel of kernels) {
    it(`${kernel}: every captured run judges to well-formed findings, one per claim of its mode`, () => {
      let judged = 0;
      for (const file of readdirSync(join(dir, kernel))) {
        const id = file.replace(/\.json$/, '');
        for (const mode of [0, 1, 2] as const) {
          const fs = findings(kernel, id, mode);
          if (fs === undefined) continue;
          const experiment = experiments.find((e) => e.id === id)!;
          const claims = experiment.claims.filter((c) => c.modes === undefined || c.modes.includes(mode)).map((c) => c.id);
          expect(fs.map((f) => f.claim)).toEqual(claims);
          for (const f of fs) {
            expect(f.observed.length, `${kernel} ${id} ${f.claim}`).toBeGreaterThan(0);
            if (f.holds === null) expect(f.reason, `${kernel} ${id} ${f.claim}`).toBeTruthy();
          }
          judged++;
        }
      }
      expect(judged).toBeGreaterThan(0);
    });
  }

  it("003's free-memory rule: holds on 5.1's evidence (before the 5.2 change), not on the later kernels'", () => {
    expect(verdict('5.1', 'mode-matrix', 0, 'heuristic-limit-is-free-memory')).toBe(true);
    for (const k of ['5.10', '6.1', '6.12', '6.18']) expect(verdict(k, 'mode-matrix', 0, 'heuristic-limit-is-free-memory'), k).toBe(false);
    for (const k of ['5.1', '5.10', '6.1', '6.12', '6.18']) expect(verdict(k, 'mode-matrix', 0, 'mode0-rule-in-force'), k).toBe(true);
  });

  it("the Redis FAQ's fork failure in mode 0: holds on 5.1's evidence (a written dataset over free memory), not since 5.2", () => {
    expect(verdict('5.1', 'redis-fork', 0, 'mode0-fork-fails-without-free-ram')).toBe(true);
    for (const k of ['5.10', '6.1', '6.12', '6.18'])
      expect(verdict(k, 'redis-fork', 0, 'mode0-fork-fails-without-free-ram'), k).toBe(false);
  });

  it('zero pages: reads cost nothing on the kernels that map the zero page', () => {
    for (const k of ['5.1', '5.10', '6.1', '6.12'])
      expect(verdict(k, 'zero-pages', 0, 'sparse-virtual-memory-is-zero-pages'), k).toBe(true);
  });

  it("004's RLIMIT_AS program, run as a process, holds on every kernel it ran on", () => {
    for (const k of ['5.1', '6.1', '6.18']) expect(verdict(k, 'rlimit-as', 0, 'rlimit-program-64mb'), k).toBe(true);
  });
});
