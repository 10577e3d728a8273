/**
 * commit-limit: CommitLimit as overcommit_ratio and overcommit_kbytes change. Each step is one
 * settings-guard window (the mode is left as it is: CommitLimit is computed and shown in every
 * mode); inside it CommitLimit is read and compared exactly with the kernel's formula, and the
 * other sysctl is read to see what writing one did to it. Nothing is mapped.
 */

import { commitLimitFormula, readMeminfo } from '../kernel/meminfo.js';
import { pageSize } from '../native/mapping.js';
import { readSettingsSnapshot, type SettingsChange, type SettingsSnapshot, withOvercommitSettings } from '../safety/settings-guard.js';
import { DOC_001, DOC_003 } from './documents.js';
import { legacyExperiment } from './legacy.js';
import { type Claim, type ExperimentContext, type Finding, finding } from './model.js';

export const commitLimitClaims = {
  followsRatio: {
    id: 'limit-follows-ratio',
    text: 'Strict overcommit limits the system-wide total of all allocations to [swap size] + [RAM size] * overcommit_ratio / 100.',
    source: DOC_003,
  },
  followsKbytes: {
    id: 'limit-follows-kbytes',
    text: 'The overcommit amount can be set via vm.overcommit_kbytes (absolute value): the limit is then swap + that amount.',
    source: DOC_001,
  },
  ratioOrKbytes: {
    id: 'ratio-or-kbytes',
    text: "The overcommit amount can be set via `vm.overcommit_ratio' (percentage) or `vm.overcommit_kbytes' (absolute value).",
    source: DOC_001,
  },
  default001: {
    id: 'default-50-percent-of-ram',
    text: 'The total address space commit for the system is not permitted to exceed swap + a configurable amount (default is 50%) of physical RAM.',
    source: DOC_001,
  },
} satisfies Record<string, Claim>;

/** What one guard window wrote and read. */
export interface CommitLimitStep {
  /** What was written: 'ratio' or 'kbytes', and the value. */
  wrote: 'ratio' | 'kbytes';
  value: number;
  /** The settings before the write (inside the window, for a nested write). */
  before: SettingsSnapshot;
  /** The settings read back after the write. */
  after: SettingsSnapshot;
  commitLimitBytes: number;
  formulaBytes: number;
  formula: string;
  memTotalBytes: number;
  swapTotalBytes: number;
  hugetlbBytes: number;
  /** The guard raised the limit for a mode-2 window (then `after` is what it wrote instead). */
  headroomRaised: boolean;
}

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

function describeStep(s: CommitLimitStep): string {
  const eq = s.commitLimitBytes === s.formulaBytes ? 'equal' : `off by ${s.commitLimitBytes - s.formulaBytes} B`;
  return `wrote ${s.wrote}=${s.value}${s.headroomRaised ? ' (the guard raised the limit for mode 2 instead)' : ''}: CommitLimit ${s.commitLimitBytes} B vs ${s.formula} (${eq})`;
}

export async function runCommitLimit(ctx: ExperimentContext): Promise<Finding[]> {
  const c = commitLimitClaims;
  const original = readSettingsSnapshot();
  const m0 = readMeminfo();
  const pageKb = pageSize / 1024;
  // An absolute amount that no ratio of these three gives: 40% of RAM, rounded down to whole pages.
  const kbytes = Math.floor((m0.memTotal * 0.4) / 1024 / pageKb) * pageKb;

  ctx.progress('commit-limit: ratio 50, 30, 80');
  const ratioSteps: CommitLimitStep[] = [];
  for (const ratio of [50, 30, 80]) ratioSteps.push(await step({ ratio }));
  ctx.progress('commit-limit: kbytes, then ratio over it');
  // One window: write kbytes, read; then (nested) write a ratio over it, read.
  const [kbStep, ratioOverKb] = await withOvercommitSettings({ kbytes }, async (w) => {
    const k = readStep('kbytes', kbytes, w.original, w.headroom !== null);
    const r = await step({ ratio: 50 });
    return [k, r] as const;
  });
  const allSteps = [...ratioSteps, kbStep, ratioOverKb];
  const evidence = {
    mode: ctx.mode,
    original: { ...original },
    steps: allSteps.map((s) => ({ ...s, before: { ...s.before }, after: { ...s.after } })),
  };
  const out: Finding[] = [];

  const plainRatio = ratioSteps.filter((s) => !s.headroomRaised);
  const ratioExact = plainRatio.length >= 2 && plainRatio.every((s) => s.commitLimitBytes === s.formulaBytes);
  const hugeNote =
    m0.hugetlb === 0
      ? 'Hugetlb is 0 here, so RAM in the formula is all of MemTotal'
      : `the kernel subtracts Hugetlb (${m0.hugetlb} B) from MemTotal before the ratio`;
  out.push(
    finding(
      c.followsRatio,
      plainRatio.length >= 2 ? ratioExact : null,
      `${ratioSteps.map(describeStep).join('; ')}. ${hugeNote}; the limit is computed and shown in every mode (this run: mode ${ctx.mode}), enforced only in mode 2.`,
      evidence,
      plainRatio.length >= 2 ? undefined : 'fewer than two ratio steps ran as asked (the guard raised the limit for mode 2)',
    ),
  );

  out.push(
    finding(
      c.followsKbytes,
      kbStep.headroomRaised
        ? null
        : kbStep.commitLimitBytes === kbStep.formulaBytes && kbStep.commitLimitBytes === kbytes * 1024 + m0.swapTotal,
      `${describeStep(kbStep)}; swap ${m0.swapTotal} B + ${kbytes} kB = ${kbytes * 1024 + m0.swapTotal} B.`,
      evidence,
      kbStep.headroomRaised ? 'the guard raised the limit for mode 2, so the kbytes asked for was not in force' : undefined,
    ),
  );

  // Writing kbytes should zero the ratio and writing a ratio zero kbytes: one or the other is in force.
  const kbZeroesRatio = kbStep.after.kbytes === kbytes && kbStep.after.ratio === 0;
  const ratioZeroesKb = ratioOverKb.before.kbytes !== 0 && ratioOverKb.after.kbytes === 0 && ratioOverKb.after.ratio === 50;
  out.push(
    finding(
      c.ratioOrKbytes,
      kbStep.headroomRaised || ratioOverKb.headroomRaised ? null : kbZeroesRatio && ratioZeroesKb,
      `writing overcommit_kbytes=${kbytes} (ratio was ${kbStep.before.ratio}) left ratio=${kbStep.after.ratio}, kbytes=${kbStep.after.kbytes}; ` +
        `writing overcommit_ratio=50 over kbytes=${ratioOverKb.before.kbytes} left ratio=${ratioOverKb.after.ratio}, kbytes=${ratioOverKb.after.kbytes}: ` +
        `${kbZeroesRatio && ratioZeroesKb ? 'the kernel zeroes the other sysctl, so exactly one of them is in force' : 'the other sysctl was not zeroed'}.`,
      evidence,
      kbStep.headroomRaised || ratioOverKb.headroomRaised ? 'the guard raised the limit for mode 2 in one of these windows' : undefined,
    ),
  );

  // The verdict is on what is measured: at ratio 50, CommitLimit is swap + half of RAM. The
  // compiled-in default is not observable (as settings' default-ratio-50 says): only the value in force.
  const is50 = original.ratio === 50 && original.kbytes === 0;
  const step50 = ratioSteps[0]!;
  const half = commitLimitFormula(m0, { ratio: 50, kbytes: 0 }, pageSize);
  const halfHolds = step50.commitLimitBytes === half.bytes;
  const inForce = `This machine's value in force is overcommit_ratio=${original.ratio}, overcommit_kbytes=${original.kbytes}${is50 ? ' (50, as the document says)' : ' (not 50: someone set it)'}`;
  const withRatio50 = `with ratio 50, CommitLimit was ${step50.commitLimitBytes} B against swap + half of RAM: ${half.formula} (${halfHolds ? 'equal' : `off by ${step50.commitLimitBytes - half.bytes} B`})`;
  out.push(
    finding(
      c.default001,
      step50.headroomRaised ? null : halfHolds,
      `${inForce}; ${withRatio50}.`,
      evidence,
      step50.headroomRaised
        ? 'the guard raised the limit for mode 2, so ratio 50 was not in force'
        : 'the verdict is on what ratio 50 gives; the compiled-in default itself cannot be observed on a running kernel, only the value in force',
    ),
  );
  return out;
}

export const commitLimit = legacyExperiment({
  id: 'commit-limit',
  title:
    'CommitLimit as overcommit_ratio (50, 30, 80) and overcommit_kbytes are written, each in a settings-guard window, against the kernel formula',
  claims: Object.values(commitLimitClaims),
  requires: { root: true, writableSysctl: true },
  run: runCommitLimit,
});
