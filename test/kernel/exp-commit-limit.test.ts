import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  commitLimitClaims as C,
  type CommitLimitEvidence,
  commitLimit,
  measureCommitLimit,
} from '../../lib/experiments/commit-limit/index.js';
import { judgeEvidence, rejudge } from '../../lib/experiments/judge.js';
import type { Finding, OvercommitMode, RunReport } from '../../lib/experiments/model.js';
import { commitLimitFormula } from '../../lib/kernel/admission.js';
import { readOvercommitSettings } from '../../lib/kernel/sysctl.js';
import { withSettingsLock } from '../../lib/safety/lock.js';
import { guardAvailability, withMode } from '../../lib/safety/settings-guard.js';
import { currentMode } from '../helpers.js';

const avail = guardAvailability();
const why = avail.available ? '' : ` (skipped: ${avail.reason})`;

/** Evidence captured on this project's 6.18 VM (24 GiB, no swap), in mode 0. */
const captured = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', 'fixtures/evidence/6.18/commit-limit.json'), 'utf8'),
) as CommitLimitEvidence;

function judge(e: CommitLimitEvidence): Map<string, Finding> {
  return new Map(judgeEvidence(commitLimit, e, e.mode).map((f) => [f.claim, f]));
}

describe('commit-limit rules', () => {
  it('needs root and a writable sysctl', () => {
    expect(commitLimit.requires).toEqual({ root: true, writableSysctl: true });
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

function checkEvidence(e: CommitLimitEvidence, mode: OvercommitMode): void {
  expect(e.mode).toBe(mode);
  expect(e.steps.map((s) => `${s.wrote}=${s.value}`)).toEqual([
    'ratio=50',
    'ratio=30',
    'ratio=80',
    `kbytes=${e.kbytesWritten}`,
    'ratio=50',
  ]);
  for (const s of e.steps) {
    // The formula recorded is the one recomputed from the step's own readings.
    const f = commitLimitFormula({ memTotal: s.memTotalBytes, swapTotal: s.swapTotalBytes, hugetlb: s.hugetlbBytes }, s.after, e.pageSize);
    expect(s.formulaBytes).toBe(f.bytes);
    expect(s.formula).toBe(f.formula);
    // The guard kept the mode of the run in every window.
    expect(s.after.mode).toBe(mode);
  }
  // The nested step was written inside the kbytes window: its "before" is what that window read back.
  expect(e.steps[4]!.before).toEqual(e.steps[3]!.after);
  const findings = judgeEvidence(commitLimit, e, mode);
  const report = {
    runs: [{ experiment: 'commit-limit', mode, status: 'ran', durationMs: 0, findings, evidence: e }],
  } as unknown as RunReport;
  expect(rejudge(JSON.parse(JSON.stringify(report)) as RunReport, [commitLimit])).toEqual([]);
}

describe('commit-limit on this kernel', () => {
  for (const mode of [null, 2] as const) {
    it.skipIf(!avail.available)(
      `writes ratio 50, 30, 80 and kbytes, each in a guard window, ${mode === null ? 'in the mode in force' : 'under mode 2'}${why}`,
      async () => {
        const start = readOvercommitSettings();
        // In the mode in force, the shared lock keeps others from switching between the windows.
        const e =
          mode === null
            ? await withSettingsLock('shared', () => measureCommitLimit(currentMode()))
            : await withMode(mode, () => measureCommitLimit(mode));
        checkEvidence(e, mode ?? e.mode);
        expect(readOvercommitSettings()).toEqual(start);
      },
      300_000,
    );
  }
});
