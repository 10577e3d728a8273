import { commitLimitFormula } from '../../kernel/admission.js';
import { readMeminfo } from '../../kernel/meminfo.js';
import { pageSize } from '../../native/mapping.js';
import { readSettingsSnapshot, type SettingsChange, type SettingsSnapshot, withOvercommitSettings } from '../../safety/settings-guard.js';
import type { OvercommitMode } from '../model.js';
import type { CommitLimitEvidence, CommitLimitStep } from './evidence.js';

function readStep(wrote: 'ratio' | 'kbytes', value: number, before: SettingsSnapshot, headroomRaised: boolean): CommitLimitStep {
  const after = readSettingsSnapshot();
  const m = readMeminfo();
  const f = commitLimitFormula(m, after, pageSize);
  return {
    wrote,
    value,
    before,
    after,
    commitLimitBytes: m.commitLimit,
    formulaBytes: f.bytes,
    formula: f.formula,
    memTotalBytes: m.memTotal,
    swapTotalBytes: m.swapTotal,
    hugetlbBytes: m.hugetlb,
    headroomRaised,
  };
}

/** One guard window: write `change`, read the result. */
async function step(change: SettingsChange): Promise<CommitLimitStep> {
  const wrote = change.kbytes !== undefined ? 'kbytes' : 'ratio';
  const value = change.kbytes ?? change.ratio!;
  return withOvercommitSettings(change, async (w) => readStep(wrote, value, w.original, w.headroom !== null));
}

export async function measureCommitLimit(
  mode: OvercommitMode,
  progress: (message: string) => void = () => {},
): Promise<CommitLimitEvidence> {
  const original = readSettingsSnapshot();
  const pageKb = pageSize / 1024;
  const kbytes = Math.floor((readMeminfo().memTotal * 0.4) / 1024 / pageKb) * pageKb;
  progress('commit-limit: ratio 50, 30, 80');
  const ratioSteps: CommitLimitStep[] = [];
  for (const ratio of [50, 30, 80]) ratioSteps.push(await step({ ratio }));
  progress('commit-limit: kbytes, then ratio over it');
  // One window: write kbytes, read; then (nested) write a ratio over it, read.
  const [kbStep, ratioOverKb] = await withOvercommitSettings({ kbytes }, async (w) => {
    const k = readStep('kbytes', kbytes, w.original, w.headroom !== null);
    const r = await step({ ratio: 50 });
    return [k, r] as const;
  });
  const steps = [...ratioSteps, kbStep, ratioOverKb].map((s) => ({ ...s, before: { ...s.before }, after: { ...s.after } }));
  return { mode, pageSize, original: { ...original }, kbytesWritten: kbytes, steps };
}
