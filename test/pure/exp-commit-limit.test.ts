import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CommitLimitEvidence } from '../../lib/experiments/commit-limit/evidence.js';
import { commitLimitClaims as C, commitLimitRules } from '../../lib/experiments/commit-limit/rules.js';
import { judgeEvidence } from '../../lib/experiments/judge.js';
import type { Finding } from '../../lib/experiments/model.js';

/** Evidence captured on this project's 6.18 VM (24 GiB, no swap), in mode 0. */
const captured = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', 'fixtures/evidence/6.18/commit-limit.json'), 'utf8'),
) as CommitLimitEvidence;

function judge(e: CommitLimitEvidence): Map<string, Finding> {
  return new Map(judgeEvidence(commitLimitRules, e, e.mode).map((f) => [f.claim, f]));
}

describe('commit-limit rules', () => {
  it('needs root and a writable sysctl', () => {
    expect(commitLimitRules.requires).toEqual({ root: true, writableSysctl: true });
  });

  it('hold on the captured evidence, the formula recomputed from each step', () => {
    const f = judge(captured);
    expect([...f.keys()]).toEqual(Object.values(C).map((c) => c.id));
    for (const x of f.values()) expect(x.holds, x.claim).toBe(true);
    expect(f.get(C.default001.id)!.reason).toMatch(/cannot be observed on a running kernel/);
    // The JSON contract: every finding records the mode, the original settings and the steps.
    expect(Object.keys(f.get(C.followsRatio.id)!.evidence)).toEqual(['mode', 'original', 'steps']);
  });

  it('a CommitLimit off the formula refutes the ratio claim; off swap + kbytes, the kbytes claim', () => {
    const e = structuredClone(captured);
    e.steps[1]!.commitLimitBytes += 4096;
    e.steps[3]!.commitLimitBytes -= 4096;
    const f = judge(e);
    expect(f.get(C.followsRatio.id)!.holds).toBe(false);
    expect(f.get(C.followsRatio.id)!.observed).toContain('off by 4096 B');
    expect(f.get(C.followsKbytes.id)!.holds).toBe(false);
  });

  it('a write that left the other sysctl in place refutes ratio-or-kbytes', () => {
    const e = structuredClone(captured);
    e.steps[3]!.after.ratio = 50;
    expect(judge(e).get(C.ratioOrKbytes.id)!.holds).toBe(false);
  });

  it('steps where the guard raised the limit for mode 2 decide nothing', () => {
    const e = structuredClone(captured);
    for (const s of e.steps) s.headroomRaised = true;
    for (const x of judge(e).values()) {
      expect(x.holds, x.claim).toBeNull();
      expect(x.reason, x.claim).toMatch(/guard raised the limit|fewer than two ratio steps/);
    }
  });
});
