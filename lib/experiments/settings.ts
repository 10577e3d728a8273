/**
 * settings: 004's settings program (mode, ratio, the mode's name) and the commit counters of
 * /proc/meminfo, with CommitLimit checked against the formulas the documents give for it.
 * It reads the sysctls and meminfo, recomputes CommitLimit, and maps (untouched) 64 MiB once to
 * see Committed_AS count it.
 */

import { commitLimitFormula } from '../kernel/admission.js';
import { type Meminfo, readMeminfo, sampleCommitted } from '../kernel/meminfo.js';
import { modeDescription, modeName, type OvercommitSettings, readOvercommitSettings } from '../kernel/sysctl.js';
import { isSystemCallError } from '../native/errors.js';
import { mmap, pageSize } from '../native/mapping.js';
import { bytesToPages, MiB, mib, OWN_JITTER_BYTES } from '../units.js';
import { DOC_001, DOC_003, DOC_004 } from './documents.js';
import { legacyExperiment } from './legacy.js';
import { type Claim, type ExperimentContext, type Finding, finding } from './model.js';

export const settingsClaims = {
  program: {
    id: 'settings-program-reads-mode',
    text: "004's settings program reads /proc/sys/vm/overcommit_memory and overcommit_ratio and names the mode: 0 'Heuristic (deny obvious overcommits)', 1 'Always allow overcommits', 2 'Strict (ratio-based accounting)'.",
    source: DOC_004,
  },
  counters: {
    id: 'commit-counters-in-meminfo',
    text: 'The current overcommit limit and amount committed are viewable in /proc/meminfo as CommitLimit and Committed_AS respectively.',
    source: DOC_001,
  },
  formula003: {
    id: 'commit-limit-swap-plus-ratio-of-ram',
    text: 'Strict overcommit limits the system-wide total of all allocations to [swap size] + [RAM size] * overcommit_ratio / 100.',
    source: DOC_003,
  },
  formula004: {
    id: 'strict-total-swap-plus-ram-ratio',
    text: 'In mode 2 (strict) the total must stay within swap + RAM * overcommit_ratio/100.',
    source: DOC_004,
  },
  ratioOrKbytes: {
    id: 'commit-limit-ratio-or-kbytes',
    text: 'The overcommit amount can be set via vm.overcommit_ratio (percentage) or vm.overcommit_kbytes (absolute value); the limit is swap + that amount of physical RAM.',
    source: DOC_001,
  },
  defaultRatio: {
    id: 'default-ratio-50',
    text: 'The default value of overcommit_ratio is 50.',
    source: DOC_004,
  },
} satisfies Record<string, Claim>;

/** What the settings experiment read: the evidence of every finding it returns. */
export interface SettingsReading {
  mode: number;
  modeName: string;
  modeDescription: string;
  ratio: number;
  kbytes: number;
  commitLimitBytes: number;
  committedAsBytes: number;
  memTotalBytes: number;
  swapTotalBytes: number;
  hugetlbBytes: number;
  /** The kernel's formula (mm/util.c vm_commit_limit), with hugetlb pages and kbytes. */
  kernelFormulaBytes: number;
  kernelFormula: string;
  /** The documents' formula taken literally: swap + RAM * ratio / 100, in whole pages. */
  documentedFormulaBytes: number;
  /** The lines 004's settings program prints. */
  programOutput: string[];
}

/** The documents' formula, literally: no hugetlb subtraction, no overcommit_kbytes. */
function documentedCommitLimit(m: Meminfo, ratio: number): number {
  return (Math.floor((bytesToPages(m.memTotal, pageSize) * ratio) / 100) + bytesToPages(m.swapTotal, pageSize)) * pageSize;
}

export function readSettings(): SettingsReading {
  const s: OvercommitSettings = readOvercommitSettings();
  const m = readMeminfo();
  const kernel = commitLimitFormula(m, s, pageSize);
  return {
    mode: s.mode,
    modeName: modeName(s.mode),
    modeDescription: modeDescription(s.mode),
    ratio: s.ratio,
    kbytes: s.kbytes,
    commitLimitBytes: m.commitLimit,
    committedAsBytes: m.committedAs,
    memTotalBytes: m.memTotal,
    swapTotalBytes: m.swapTotal,
    hugetlbBytes: m.hugetlb,
    kernelFormulaBytes: kernel.bytes,
    kernelFormula: kernel.formula,
    documentedFormulaBytes: documentedCommitLimit(m, s.ratio),
    programOutput: [`overcommit_memory = ${s.mode}`, `overcommit_ratio = ${s.ratio}%`, `Mode: ${modeDescription(s.mode)}`],
  };
}

/**
 * Why the documented formula and the measured CommitLimit differ, or that they agree. With
 * overcommit_kbytes set (by anyone, the settings guard's mode-2 window included) the kernel uses
 * kbytes + swap and the ratio formula is not in force: no verdict (the kbytes formula is
 * ratioOrKbytes's claim).
 */
function documentedVerdict(r: SettingsReading): { holds: boolean | null; observed: string; reason?: string } {
  const diff = r.commitLimitBytes - r.documentedFormulaBytes;
  const head = `CommitLimit ${r.commitLimitBytes} B; swap ${r.swapTotalBytes} + RAM ${r.memTotalBytes} * ${r.ratio}/100 = ${r.documentedFormulaBytes} B`;
  if (r.kbytes !== 0) {
    return {
      holds: null,
      observed: `${head}; overcommit_kbytes is ${r.kbytes}, which replaces the ratio: ${r.kernelFormula}.`,
      reason: `overcommit_kbytes is ${r.kbytes} here, so the kernel computes CommitLimit from kbytes + swap and the ratio formula does not apply`,
    };
  }
  if (diff === 0) {
    const huge =
      r.hugetlbBytes === 0
        ? "hugetlb is 0 here, so the kernel's subtraction of hugetlb pages did not matter"
        : `hugetlb is ${r.hugetlbBytes} B yet the values agree`;
    return { holds: true, observed: `${head}: equal (overcommit_kbytes 0; ${huge}).` };
  }
  const cause =
    r.hugetlbBytes !== 0
      ? `the kernel subtracts hugetlb pages (${r.hugetlbBytes} B) from RAM before applying the ratio, which the document leaves out`
      : 'no documented cause';
  const explained =
    r.kernelFormulaBytes === r.commitLimitBytes
      ? `the kernel's formula gives exactly it: ${r.kernelFormula}`
      : `even the kernel's formula (${r.kernelFormulaBytes} B) does not match`;
  return { holds: false, observed: `${head}: off by ${diff} B: ${cause}; ${explained}.` };
}

/** The private writable mapping whose charge shows Committed_AS is "the amount committed". */
const PROBE_BYTES = 64 * MiB;

/** Committed_AS around mapping PROBE_BYTES private read-write (charged at mmap, never touched). */
interface CommittedProbe {
  mappedBytes: number;
  /** null when mmap succeeded; the errno code otherwise. */
  mmapCode: string | null;
  committedBeforeBytes: number;
  committedAfterBytes: number;
  committedDeltaBytes: number;
  /** The spreads of both samplings plus OWN_JITTER_BYTES. */
  toleranceBytes: number;
}

function measureCommitted(): CommittedProbe {
  const before = sampleCommitted();
  let code: string | null = null;
  let after = before;
  try {
    const m = mmap(PROBE_BYTES);
    try {
      after = sampleCommitted();
    } finally {
      m.unmap();
    }
  } catch (e) {
    // Mode 2 near its limit may refuse even this: then nothing was charged, nothing to judge.
    if (!isSystemCallError(e)) throw e;
    code = e.code;
  }
  return {
    mappedBytes: PROBE_BYTES,
    mmapCode: code,
    committedBeforeBytes: before.median,
    committedAfterBytes: after.median,
    committedDeltaBytes: after.median - before.median,
    toleranceBytes: before.spreadBytes + after.spreadBytes + OWN_JITTER_BYTES,
  };
}

export async function runSettings(ctx: ExperimentContext): Promise<Finding[]> {
  const r = readSettings();
  const evidence = { ...r };
  const c = settingsClaims;
  const out: Finding[] = [];

  // The mode read from the file must be the one the runner put in force (with --mode: the switch took effect).
  const sameMode = r.mode === ctx.mode;
  out.push(
    finding(
      c.program,
      sameMode,
      `${r.programOutput.join(' / ')}; the runner says mode ${ctx.mode} is in force: ${sameMode ? 'the program reads the mode in force' : 'the file says otherwise'}.`,
      { ...evidence, runnerMode: ctx.mode },
    ),
  );

  // Committed_AS must move by what was committed; CommitLimit must be the kernel's limit.
  const p = measureCommitted();
  const limitOk = r.commitLimitBytes === r.kernelFormulaBytes;
  const counted = p.mmapCode === null && Math.abs(p.committedDeltaBytes - p.mappedBytes) <= p.toleranceBytes;
  const limitWords = `CommitLimit ${r.commitLimitBytes} B ${limitOk ? 'equals' : `is off by ${r.commitLimitBytes - r.kernelFormulaBytes} B from`} ${r.kernelFormula}`;
  out.push(
    finding(
      c.counters,
      p.mmapCode === null ? counted && limitOk : null,
      p.mmapCode === null
        ? `Mapping ${mib(p.mappedBytes)} private read-write (untouched) moved Committed_AS by ${p.committedDeltaBytes} B (${mib(p.committedDeltaBytes)}; tolerance ±${mib(p.toleranceBytes)}): ` +
            `${counted ? 'the amount committed' : 'not the amount committed'}. ${limitWords}.`
        : `mmap of ${mib(p.mappedBytes)} private read-write failed with ${p.mmapCode} in mode ${ctx.mode}. ${limitWords}.`,
      { ...evidence, committedProbe: { ...p } },
      p.mmapCode === null
        ? undefined
        : `the ${mib(p.mappedBytes)} mapping was refused (${p.mmapCode}), so Committed_AS could not be seen counting it`,
    ),
  );

  const doc = documentedVerdict(r);
  out.push(finding(c.formula003, doc.holds, doc.observed, evidence, doc.reason));
  out.push(
    finding(
      c.formula004,
      doc.holds,
      `${doc.observed} CommitLimit is computed and shown in every mode; this run is in mode ${ctx.mode}.`,
      evidence,
      doc.reason,
    ),
  );

  const kernelMatch = r.kernelFormulaBytes === r.commitLimitBytes;
  const branch =
    r.kbytes !== 0
      ? `overcommit_kbytes ${r.kbytes} is set, so it replaces the ratio`
      : `overcommit_kbytes is 0, so the ratio ${r.ratio}% applies`;
  out.push(
    finding(
      c.ratioOrKbytes,
      kernelMatch,
      `${branch}: ${r.kernelFormula}; /proc/meminfo says ${r.commitLimitBytes} B (${kernelMatch ? 'equal' : `off by ${r.commitLimitBytes - r.kernelFormulaBytes} B`}).`,
      evidence,
    ),
  );

  // A running kernel shows only the value in force, never the compiled-in default it started from.
  out.push(
    finding(
      c.defaultRatio,
      null,
      `overcommit_ratio in force is ${r.ratio}, which ${r.ratio === 50 ? 'equals' : 'does not equal'} 50.`,
      evidence,
      `the compiled-in default cannot be observed on a running kernel: only the value in force (${r.ratio}) can, and it may have been set by anyone`,
    ),
  );
  return out;
}

export const settings = legacyExperiment({
  id: 'settings',
  title: "004's settings program: the overcommit mode, ratio, kbytes, CommitLimit and Committed_AS, and the CommitLimit formula",
  claims: Object.values(settingsClaims),
  requires: {},
  run: runSettings,
});
