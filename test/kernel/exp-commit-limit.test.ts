import { describe, expect, it } from 'vitest';
import { type CommitLimitEvidence, commitLimit, measureCommitLimit } from '../../lib/experiments/commit-limit/index.js';
import { judgeEvidence, rejudge } from '../../lib/experiments/judge.js';
import type { OvercommitMode, RunReport } from '../../lib/experiments/model.js';
import { commitLimitFormula } from '../../lib/kernel/admission.js';
import { readOvercommitSettings } from '../../lib/kernel/sysctl.js';
import { withSettingsLock } from '../../lib/safety/lock.js';
import { guardAvailability, withMode } from '../../lib/safety/settings-guard.js';
import { currentMode } from '../helpers.js';

const avail = guardAvailability();
const why = avail.available ? '' : ` (skipped: ${avail.reason})`;

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
