import { describe, expect, it } from 'vitest';
import { judgeEvidence } from '../../lib/experiments/judge.js';
import type { Holder, OomVictimEvidence, RoundKind, VictimRound } from '../../lib/experiments/oom-victim/evidence.js';
import { oomVictimRules } from '../../lib/experiments/oom-victim/rules.js';
import { MiB } from '../../lib/units.js';

const SIZES = [16, 32, 64];

/** A round whose holders have these scores, and in which `killed` (an index, 'trigger', or none) died. */
function round(kind: RoundKind, o: { scores?: number[]; adj?: number[]; killed?: number[] | 'trigger'; kills?: number } = {}): VictimRound {
  const killed = o.killed ?? (kind === 'sizes' ? [2] : [0]);
  const holders: Holder[] = SIZES.map((s, i) => ({
    sizeBytes: s * MiB,
    pid: 100 + i,
    rssBytes: (s + 1) * MiB,
    oomScore: o.scores?.[i] ?? (kind === 'adjusted' && i === 0 ? 1333 : 666 + i),
    oomScoreAdj: o.adj?.[i] ?? (kind === 'adjusted' && i === 0 ? 1000 : 0),
    signal: Array.isArray(killed) && killed.includes(i) ? 'SIGKILL' : null,
    exitCode: Array.isArray(killed) && killed.includes(i) ? null : 0,
  }));
  const n = Array.isArray(killed) ? killed.length : 1;
  return {
    kind,
    cgroupVersion: 2,
    cgroupLimitBytes: 128 * MiB,
    holders,
    trigger: { pid: 200, sizeBytes: 20 * MiB, writtenBlocks: 20, blocks: 20, signal: killed === 'trigger' ? 'SIGKILL' : null, exitCode: 0 },
    oomKillsBefore: 0,
    oomKillsAfter: o.kills ?? n,
    kernelLogLines: ['Memory cgroup out of memory: Killed process 102 (ocl-malloc)'],
    kernelLogReason: null,
  };
}

const evidence = (...rounds: VictimRound[]): OomVictimEvidence => ({ pageSize: 4096, rounds });
const verdicts = (e: OomVictimEvidence) => Object.fromEntries(judgeEvidence(oomVictimRules, e, 0).map((f) => [f.claim, f]));

describe('oom-victim rules, on constructed evidence', () => {
  it('hold when the largest dies, and the smallest once it is at oom_score_adj 1000', () => {
    const v = verdicts(evidence(round('sizes'), round('adjusted')));
    expect(v['oom-victim-largest']!.holds).toBe(true);
    expect(v['oom-victim-best-by-factors']!.holds).toBe(true);
    expect(v['oom-victim-largest']!.observed).toContain('killed: the 64.0 MiB holder (pid 102)');
    expect(v['oom-victim-largest']!.observed).toContain('kernel log: "Memory cgroup out of memory: Killed process 102');
  });

  it('fail when another process than the largest, or than the highest score, is killed', () => {
    const v = verdicts(evidence(round('sizes', { killed: [1] }), round('adjusted')));
    expect(v['oom-victim-largest']!.holds).toBe(false);
    expect(v['oom-victim-best-by-factors']!.holds).toBe(false);
    expect(verdicts(evidence(round('sizes', { killed: 'trigger' }), round('adjusted')))['oom-victim-largest']!.holds).toBe(false);
    // oom_score_adj set, yet the largest died: the factor did not act.
    expect(verdicts(evidence(round('sizes'), round('adjusted', { killed: [2] })))['oom-victim-best-by-factors']!.holds).toBe(false);
  });

  it('is undecided without a single kill, with tied scores, or without the adjusted round', () => {
    const none = verdicts(evidence(round('sizes', { killed: [], kills: 0 }), round('adjusted')));
    expect(none['oom-victim-largest']!.holds).toBeNull();
    expect(none['oom-victim-largest']!.reason).toMatch(/killed nothing/);
    const two = verdicts(evidence(round('sizes', { killed: [1, 2] }), round('adjusted')));
    expect(two['oom-victim-largest']!.reason).toMatch(/2 OOM kills and 2 processes/);
    const tied = verdicts(evidence(round('sizes', { scores: [666, 668, 668] }), round('adjusted')));
    expect(tied['oom-victim-largest']!.holds).toBe(true);
    expect(tied['oom-victim-best-by-factors']!.holds).toBeNull();
    expect(tied['oom-victim-best-by-factors']!.reason).toMatch(/2 holders share the highest oom_score \(668\)/);
    expect(verdicts(evidence(round('sizes')))['oom-victim-best-by-factors']!.reason).toBe('no adjusted round was measured');
  });
});
