import { commitLimitFormula } from '../../kernel/admission.js';
import { defineRules } from '../../verdict/types.js';
import { DOC_001, DOC_003 } from '../documents.js';
import type { Claim, ClaimRule, Evidence } from '../model.js';
import type { CommitLimitEvidence, CommitLimitStep } from './evidence.js';

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

/** The kernel formula recomputed from what the step recorded. */
function recomputed(s: CommitLimitStep, page: number): { bytes: number; formula: string } {
  return commitLimitFormula({ memTotal: s.memTotalBytes, swapTotal: s.swapTotalBytes, hugetlb: s.hugetlbBytes }, s.after, page);
}

function describeStep(s: CommitLimitStep, page: number): string {
  const f = recomputed(s, page);
  const eq = s.commitLimitBytes === f.bytes ? 'equal' : `off by ${s.commitLimitBytes - f.bytes} B`;
  return `wrote ${s.wrote}=${s.value}${s.headroomRaised ? ' (the guard raised the limit for mode 2 instead)' : ''}: CommitLimit ${s.commitLimitBytes} B vs ${f.formula} (${eq})`;
}

const ratioSteps = (e: CommitLimitEvidence) => e.steps.slice(0, 3);

const kbStep = (e: CommitLimitEvidence) => e.steps[3]!;

const ratioOverKb = (e: CommitLimitEvidence) => e.steps[4]!;

const plainRatio = (e: CommitLimitEvidence) => ratioSteps(e).filter((s) => !s.headroomRaised);

const exact = (e: CommitLimitEvidence, s: CommitLimitStep) => s.commitLimitBytes === recomputed(s, e.pageSize).bytes;

/** The keys each finding recorded before the conversion (interfaces are not index signatures: spread them). */
const evidenceKeys = (e: CommitLimitEvidence): Evidence => ({
  mode: e.mode,
  original: { ...e.original },
  steps: e.steps.map((s) => ({ ...s, before: { ...s.before }, after: { ...s.after } })),
});

const c = commitLimitClaims;

const rules: ClaimRule<CommitLimitEvidence>[] = [
  {
    claim: c.followsRatio,
    missing: (e) =>
      plainRatio(e).length >= 2 ? undefined : 'fewer than two ratio steps ran as asked (the guard raised the limit for mode 2)',
    judge: (e) => ({ holds: plainRatio(e).every((s) => exact(e, s)) }),
    observe: (e) => {
      const huge = ratioSteps(e)[0]!.hugetlbBytes;
      const hugeNote =
        huge === 0
          ? 'Hugetlb is 0 here, so RAM in the formula is all of MemTotal'
          : `the kernel subtracts Hugetlb (${huge} B) from MemTotal before the ratio`;
      return `${ratioSteps(e)
        .map((s) => describeStep(s, e.pageSize))
        .join('; ')}. ${hugeNote}; the limit is computed and shown in every mode (this run: mode ${e.mode}), enforced only in mode 2.`;
    },
    evidence: evidenceKeys,
  },
  {
    claim: c.followsKbytes,
    missing: (e) =>
      kbStep(e).headroomRaised ? 'the guard raised the limit for mode 2, so the kbytes asked for was not in force' : undefined,
    judge: (e) => {
      const k = kbStep(e);
      return { holds: exact(e, k) && k.commitLimitBytes === k.value * 1024 + k.swapTotalBytes };
    },
    observe: (e) => {
      const k = kbStep(e);
      return `${describeStep(k, e.pageSize)}; swap ${k.swapTotalBytes} B + ${k.value} kB = ${k.value * 1024 + k.swapTotalBytes} B.`;
    },
    evidence: evidenceKeys,
  },
  {
    claim: c.ratioOrKbytes,
    missing: (e) =>
      kbStep(e).headroomRaised || ratioOverKb(e).headroomRaised
        ? 'the guard raised the limit for mode 2 in one of these windows'
        : undefined,
    judge: (e) => {
      const k = kbStep(e);
      const r = ratioOverKb(e);
      // Writing kbytes should zero the ratio and writing a ratio zero kbytes: one or the other is in force.
      const kbZeroesRatio = k.after.kbytes === k.value && k.after.ratio === 0;
      const ratioZeroesKb = r.before.kbytes !== 0 && r.after.kbytes === 0 && r.after.ratio === r.value;
      return { holds: kbZeroesRatio && ratioZeroesKb };
    },
    observe: (e, v) => {
      const k = kbStep(e);
      const r = ratioOverKb(e);
      return (
        `writing overcommit_kbytes=${k.value} (ratio was ${k.before.ratio}) left ratio=${k.after.ratio}, kbytes=${k.after.kbytes}; ` +
        `writing overcommit_ratio=${r.value} over kbytes=${r.before.kbytes} left ratio=${r.after.ratio}, kbytes=${r.after.kbytes}: ` +
        `${v.holds ? 'the kernel zeroes the other sysctl, so exactly one of them is in force' : 'the other sysctl was not zeroed'}.`
      );
    },
    evidence: evidenceKeys,
  },
  {
    claim: c.default001,
    missing: (e) => (ratioSteps(e)[0]!.headroomRaised ? 'the guard raised the limit for mode 2, so ratio 50 was not in force' : undefined),
    // The verdict is on what is measured: at ratio 50, CommitLimit is swap + half of RAM. The
    // compiled-in default is not observable (as settings' default-ratio-50 says): only the value in force.
    judge: (e) => {
      const s = ratioSteps(e)[0]!;
      const half = commitLimitFormula(
        { memTotal: s.memTotalBytes, swapTotal: s.swapTotalBytes, hugetlb: s.hugetlbBytes },
        { ratio: 50, kbytes: 0 },
        e.pageSize,
      );
      return {
        holds: s.commitLimitBytes === half.bytes,
        reason:
          'the verdict is on what ratio 50 gives; the compiled-in default itself cannot be observed on a running kernel, only the value in force',
      };
    },
    observe: (e) => {
      const s = ratioSteps(e)[0]!;
      const half = commitLimitFormula(
        { memTotal: s.memTotalBytes, swapTotal: s.swapTotalBytes, hugetlb: s.hugetlbBytes },
        { ratio: 50, kbytes: 0 },
        e.pageSize,
      );
      const o = e.original;
      const is50 = o.ratio === 50 && o.kbytes === 0;
      return (
        `This machine's value in force is overcommit_ratio=${o.ratio}, overcommit_kbytes=${o.kbytes}${is50 ? ' (50, as the document says)' : ' (not 50: someone set it)'}; ` +
        `with ratio 50, CommitLimit was ${s.commitLimitBytes} B against swap + half of RAM: ${half.formula} (${s.commitLimitBytes === half.bytes ? 'equal' : `off by ${s.commitLimitBytes - half.bytes} B`}).`
      );
    },
    evidence: evidenceKeys,
  },
];

export const commitLimitRules = defineRules<CommitLimitEvidence>({
  id: 'commit-limit',
  title:
    'CommitLimit as overcommit_ratio (50, 30, 80) and overcommit_kbytes are written, each in a settings-guard window, against the kernel formula',
  requires: { root: true, writableSysctl: true },
  rules,
});
