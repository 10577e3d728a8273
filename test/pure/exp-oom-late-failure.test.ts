import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { judgeEvidence } from '../../lib/experiments/judge.js';
import type { OomLateFailureEvidence } from '../../lib/experiments/oom-late-failure/evidence.js';
import { oomLateFailureRules } from '../../lib/experiments/oom-late-failure/rules.js';

/** Evidence measured on this project's 6.18 VM (cgroup v1, mode 0). */
const captured = (
  JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures/evidence/6.18/oom-late-failure.json'), 'utf8')) as Record<
    string,
    OomLateFailureEvidence
  >
)['0']!;
const verdicts = (e: OomLateFailureEvidence) => judgeEvidence(oomLateFailureRules, e, e.mode).map((f) => f.holds);
const withLate = (late: Partial<OomLateFailureEvidence['late']>): OomLateFailureEvidence => ({
  ...captured,
  late: { ...captured.late, ...late },
});

describe('oom-late-failure rules', () => {
  it('a SIGKILL the group counted as an OOM kill, after pages were touched: the late-failure claims hold', () => {
    expect(verdicts(captured)).toEqual([true, true, true, true]);
    expect(judgeEvidence(oomLateFailureRules, captured, 0)[0]!.observed).toMatch(/surfaced as SIGKILL, \d+ page writes after/);
  });

  it('a child that ended by itself does not hold, and its sentence says no signal came', () => {
    const e = withLate({ signal: null, exitCode: 0, cgroupOomKillsAfter: captured.late.cgroupOomKillsBefore });
    expect(verdicts(e)).toEqual([false, true, false, false]);
    expect(judgeEvidence(oomLateFailureRules, e, 0)[0]!.observed).not.toContain('surfaced as');
  });

  it('a SIGKILL nobody attributes to the OOM killer (counted 0, not in the log) does not hold', () => {
    const e = withLate({
      cgroupOomKillsAfter: captured.late.cgroupOomKillsBefore,
      kernelLog: { lines: [], source: '/dev/kmsg', reason: null },
    });
    expect(verdicts(e)[0]).toBe(false);
  });

  it('a kernel with no oom_kill count: the kernel log decides; without a readable log, undecided', () => {
    const { oom_kill: _dropped, ...events } = captured.late.memoryEventsAfter;
    const line = `Memory cgroup out of memory: Killed process ${captured.late.pid} (node) total-vm:1kB`;
    expect(verdicts(withLate({ memoryEventsAfter: events, kernelLog: { lines: [line], source: 'dmesg', reason: null } }))[0]).toBe(true);
    const f = judgeEvidence(
      oomLateFailureRules,
      withLate({ memoryEventsAfter: events, kernelLog: { lines: null, source: null, reason: 'EPERM' } }),
      0,
    )[0]!;
    expect(f.holds).toBeNull();
    expect(f.reason).toMatch(/who sent it/);
  });

  it('a mapping refused at the call: no overcommit to fail late, undecided', () => {
    const e = withLate({ mmapOk: false, mmapCode: 'ENOMEM', signal: null, exitCode: 1, pagesTouchedBeforeKill: 0 });
    expect(verdicts(e)).toEqual([null, true, null, null]);
  });

  it('mode 2 fails fast only with ENOMEM at the call; a request that went through does not hold; not run: undecided', () => {
    expect(verdicts({ ...captured, mode2: { ...captured.mode2, site: 'none', code: null, mmapOk: true } })[1]).toBe(false);
    expect(verdicts({ ...captured, mode2: { ...captured.mode2, site: 'not-run', code: null, reason: 'no root' } })[1]).toBeNull();
  });
});
