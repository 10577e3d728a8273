/**
 * settings: 004's settings program run as its own process (it prints the mode, the ratio and the
 * mode's name), with the files it reads read by the tool just before and after it; the commit
 * counters of /proc/meminfo, with CommitLimit checked against the formulas the documents give;
 * Committed_AS seen counting an untouched private writable mapping (interleaved trials against
 * the noise); and where the machine's overcommit_ratio comes from (its sysctl configuration).
 */

import { commitLimitFormula } from '../kernel/admission.js';
import { type Meminfo, readMeminfo } from '../kernel/meminfo.js';
import { modeDescription, modeName, type OvercommitSettings, parseOvercommitMode, readOvercommitSettings } from '../kernel/sysctl.js';
import { readSysctlSources, type SysctlSetting } from '../kernel/sysctl-config.js';
import { measureCommittedChange } from '../measure/committed.js';
import { isSystemCallError } from '../native/errors.js';
import { type Mapping, mmap, pageSize } from '../native/mapping.js';
import { parseSettingsOutput, programPath, runProgram } from '../native/programs.js';
import { bytesToPages, GiB, mib } from '../units.js';
import { judgeChange } from '../verdict/decide.js';
import { median } from '../verdict/stats.js';
import type { CommittedChange } from '../verdict/tolerance.js';
import { DOC_001, DOC_003, DOC_004 } from './documents.js';
import { type Claim, type ClaimRule, defineExperiment, type Evidence, type Measured, type OvercommitMode } from './model.js';

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

/** The private writable mapping whose charge shows Committed_AS is "the amount committed": untouched, it costs no memory. */
const PROBE_BYTES = GiB;
/** In mode 2 the probe is charged against CommitLimit: made only with this many times its size to spare. */
const MODE2_HEADROOM = 4;
const PROBE_TRIALS = 5;

/** The two files 004's settings program reads, as the tool read them. */
interface SettingsFiles {
  mode: number;
  ratio: number;
}

/** 004's settings program as a process, with its files read just before and after it. */
export interface SettingsProgramRun {
  /** Why the program could not be run (not built); null when it ran. */
  unavailable: string | null;
  lines: string[];
  stderr: string;
  exitCode: number | null;
  signal: string | null;
  /** What it printed, parsed; null when it printed no such lines. */
  printedMode: number | null;
  printedRatio: number | null;
  printedModeText: string | null;
  before: SettingsFiles;
  after: SettingsFiles;
}

/** Committed_AS around mapping PROBE_BYTES private read-write, untouched, over interleaved trials. */
export interface CommittedProbe {
  mappedBytes: number;
  /** null when mmap succeeded; the errno code otherwise. */
  mmapCode: string | null;
  /** Why the probe was not made (mode 2 without headroom); null when it was. */
  skipped: string | null;
  /** The mapping's VmFlags: 'ac' when the kernel charges it. */
  vmFlags: string[];
  change: CommittedChange | null;
  /** The change and its tolerance, as the finding recorded them before. */
  committedDeltaBytes: number | null;
  toleranceBytes: number | null;
  /** Committed_AS just before and just after the mmap of the trial whose change is the median one; null when not measured. */
  committedBeforeBytes: number | null;
  committedAfterBytes: number | null;
}

export interface SettingsEvidence extends Measured {
  /** The mode the runner put in force. */
  runnerMode: OvercommitMode;
  reading: SettingsReading;
  program: SettingsProgramRun;
  committedProbe: CommittedProbe;
  /** Where vm.overcommit_ratio is set on this machine (configuration files, boot command line). */
  ratioSetBy: SysctlSetting[];
  /** The configuration files and command line that were read. */
  ratioSourcesRead: string[];
}

function readSettingsFiles(): SettingsFiles {
  const s = readOvercommitSettings();
  return { mode: s.mode, ratio: s.ratio };
}

async function runSettingsProgram(): Promise<SettingsProgramRun> {
  const before = readSettingsFiles();
  const none = { lines: [], stderr: '', exitCode: null, signal: null, printedMode: null, printedRatio: null, printedModeText: null };
  try {
    programPath('settings');
  } catch (e) {
    return { unavailable: (e as Error).message, ...none, before, after: before };
  }
  const r = await runProgram('settings');
  const after = readSettingsFiles();
  let printed: { printedMode: number | null; printedRatio: number | null; printedModeText: string | null } = none;
  try {
    const p = parseSettingsOutput(r.stdout);
    printed = { printedMode: p.mode, printedRatio: p.ratio, printedModeText: p.modeText };
  } catch {
    // It printed something else: the rule says so with its lines.
  }
  return {
    unavailable: null,
    ...none,
    lines: r.stdout,
    stderr: r.stderr,
    exitCode: r.exitCode,
    signal: r.signal,
    ...printed,
    before,
    after,
  };
}

function measureProbe(mode: OvercommitMode): CommittedProbe {
  const base = {
    mappedBytes: PROBE_BYTES,
    mmapCode: null,
    skipped: null,
    vmFlags: [],
    change: null,
    committedDeltaBytes: null,
    toleranceBytes: null,
    committedBeforeBytes: null,
    committedAfterBytes: null,
  };
  if (mode === 2) {
    const m = readMeminfo();
    const spare = m.commitLimit - m.committedAs;
    if (spare < MODE2_HEADROOM * PROBE_BYTES) {
      return {
        ...base,
        skipped: `in mode 2 only ${mib(spare)} of CommitLimit is uncommitted; charging ${mib(PROBE_BYTES)} could refuse another process its memory`,
      };
    }
  }
  let vmFlags: string[] = [];
  const trials: { before: number; after: number }[] = [];
  try {
    const change = measureCommittedChange(
      () => {
        const m = mmap(PROBE_BYTES);
        if (vmFlags.length === 0) vmFlags = m.vmFlags();
        return m;
      },
      (m: Mapping) => m.unmap(),
      { trials: PROBE_TRIALS, onTrial: (before, after) => trials.push({ before, after }) },
    );
    const mid = median(change.actionDeltasBytes);
    const judged = trials.reduce((a, t) => (Math.abs(t.after - t.before - mid) < Math.abs(a.after - a.before - mid) ? t : a));
    return {
      ...base,
      vmFlags,
      change,
      committedDeltaBytes: change.changeBytes,
      toleranceBytes: change.toleranceBytes,
      committedBeforeBytes: judged.before,
      committedAfterBytes: judged.after,
    };
  } catch (e) {
    // Mode 2 near its limit may refuse even this: then nothing was charged, nothing to judge.
    if (!isSystemCallError(e)) throw e;
    return { ...base, mmapCode: e.code };
  }
}

export async function measureSettings(runnerMode: OvercommitMode): Promise<SettingsEvidence> {
  const program = await runSettingsProgram();
  const reading = readSettings();
  const committedProbe = measureProbe(parseOvercommitMode(reading.mode));
  const sources = readSysctlSources();
  return {
    runnerMode,
    reading,
    program,
    committedProbe,
    ratioSetBy: sources.settings.filter((s) => s.key === 'vm.overcommit_ratio'),
    ratioSourcesRead: sources.read,
  };
}

const c = settingsClaims;
const where = (s: SysctlSetting) =>
  s.line === 0 ? `${s.file} (sysctl.vm.overcommit_ratio=${s.value})` : `${s.file}:${s.line} (${s.value})`;

/** The keys the findings recorded before (flat reading, programOutput, runnerMode, committedProbe), then the rest. */
function findingEvidence(e: SettingsEvidence): Evidence {
  return {
    ...(e.reading as unknown as Evidence),
    programOutput: e.program.lines,
    runnerMode: e.runnerMode,
    program: e.program as unknown as Evidence,
    // Saved evidence from before the probe kept its readings has none (null).
    committedProbe: { committedBeforeBytes: null, committedAfterBytes: null, ...(e.committedProbe as unknown as Evidence) },
    ratioSetBy: e.ratioSetBy as unknown as Evidence,
    ratioSourcesRead: e.ratioSourcesRead,
  };
}

const rules: ClaimRule<SettingsEvidence>[] = [
  {
    claim: c.program,
    missing: (e) => {
      const p = e.program;
      if (p.unavailable !== null) return p.unavailable;
      if (p.exitCode !== 0)
        return `the program ${p.signal !== null ? `was ended by ${p.signal}` : `exited ${p.exitCode}`}: ${p.stderr.trim() || p.lines.join(' / ')}`;
      if (p.printedMode === null) return `the program printed no settings lines: ${JSON.stringify(p.lines)}`;
      if (p.before.mode !== p.after.mode || p.before.ratio !== p.after.ratio)
        return `the settings changed while the program ran (mode ${p.before.mode} -> ${p.after.mode}, ratio ${p.before.ratio} -> ${p.after.ratio})`;
      return undefined;
    },
    // It reads the files: what it printed is what the tool read around it, and it names that mode as 004 does.
    judge: (e) => {
      const p = e.program;
      const f = p.before;
      const name = f.mode === 0 || f.mode === 1 || f.mode === 2 ? modeDescription(f.mode) : 'Unknown';
      return { holds: p.printedMode === f.mode && p.printedRatio === f.ratio && p.printedModeText === name };
    },
    observe: (e, v) => {
      const p = e.program;
      return (
        `The program printed ${p.lines.map((l) => `'${l}'`).join(', ')}; the tool read overcommit_memory ${p.before.mode} and overcommit_ratio ${p.before.ratio} just before and after it` +
        `${v.holds ? ': the same values, and the mode named as 004 names it' : ': the program printed something else'}. The runner ran this in mode ${e.runnerMode}.`
      );
    },
  },
  {
    claim: c.counters,
    missing: (e) => {
      const p = e.committedProbe;
      if (p.skipped !== null) return p.skipped;
      if (p.mmapCode !== null)
        return `the ${mib(p.mappedBytes)} mapping was refused (${p.mmapCode}), so Committed_AS could not be seen counting it`;
      return undefined;
    },
    // Committed_AS moves by what the kernel commits for the mapping ('ac': its size), and CommitLimit is the kernel's limit.
    judge: (e) => {
      const p = e.committedProbe;
      const charged = p.vmFlags.includes('ac');
      const committed = { label: charged ? 'the mapping committed' : 'nothing committed', bytes: charged ? p.mappedBytes : 0 };
      const other = { label: charged ? 'nothing' : 'the mapping', bytes: charged ? 0 : p.mappedBytes };
      const v = judgeChange(p.change!, committed, other);
      if (v.holds === null) return v;
      return { holds: v.holds && e.reading.commitLimitBytes === e.reading.kernelFormulaBytes };
    },
    observe: (e) => {
      const p = e.committedProbe;
      const r = e.reading;
      const ch = p.change!;
      const limitOk = r.commitLimitBytes === r.kernelFormulaBytes;
      return (
        `Mapping ${mib(p.mappedBytes)} private read-write, untouched (VmFlags [${p.vmFlags.join(' ')}]), moved Committed_AS by ${mib(ch.changeBytes)} ` +
        `(median of ${ch.actionDeltasBytes.length} trials less interleaved controls; ±${mib(ch.toleranceBytes)}). ` +
        `CommitLimit ${r.commitLimitBytes} B ${limitOk ? 'equals' : `is off by ${r.commitLimitBytes - r.kernelFormulaBytes} B from`} ${r.kernelFormula}.`
      );
    },
  },
  {
    claim: c.formula003,
    judge: (e) => documentedVerdict(e.reading),
    observe: (e) => documentedVerdict(e.reading).observed,
  },
  {
    claim: c.formula004,
    judge: (e) => documentedVerdict(e.reading),
    observe: (e) =>
      `${documentedVerdict(e.reading).observed} CommitLimit is computed and shown in every mode; this run is in mode ${e.runnerMode}.`,
  },
  {
    claim: c.ratioOrKbytes,
    judge: (e) => ({ holds: e.reading.kernelFormulaBytes === e.reading.commitLimitBytes }),
    observe: (e) => {
      const r = e.reading;
      const match = r.kernelFormulaBytes === r.commitLimitBytes;
      const branch =
        r.kbytes !== 0
          ? `overcommit_kbytes ${r.kbytes} is set, so it replaces the ratio`
          : `overcommit_kbytes is 0, so the ratio ${r.ratio}% applies`;
      return `${branch}: ${r.kernelFormula}; /proc/meminfo says ${r.commitLimitBytes} B (${match ? 'equal' : `off by ${r.commitLimitBytes - r.kernelFormulaBytes} B`}).`;
    },
  },
  {
    claim: c.defaultRatio,
    // The kernel's default is what is in force when nothing on the machine sets the ratio.
    missing: (e) => {
      if (e.ratioSetBy.length > 0)
        return `the ratio in force (${e.reading.ratio}) is set by ${e.ratioSetBy.map(where).join(', ')}, not the kernel's default`;
      // Writing overcommit_kbytes zeroes the ratio (the settings guard's mode-2 window may have): not the default either.
      if (e.reading.kbytes !== 0)
        return `overcommit_kbytes is ${e.reading.kbytes}, and setting it replaced the ratio (${e.reading.ratio} in force)`;
      return undefined;
    },
    // 50 with nothing setting it is the default; another value with nothing setting it may be a
    // run-time write (another process's, a settings guard's window) as well as a default: undecided.
    judge: (e) =>
      e.reading.ratio === 50
        ? { holds: true, reason: RUN_TIME_WRITE_CAVEAT }
        : { holds: null, reason: `overcommit_ratio is ${e.reading.ratio} and no configuration sets it: ${RUN_TIME_WRITE_CAVEAT}` },
    observe: (e) =>
      `overcommit_ratio in force is ${e.reading.ratio}, which ${e.reading.ratio === 50 ? 'equals' : 'does not equal'} 50; ` +
      (e.ratioSetBy.length > 0
        ? `it is set by ${e.ratioSetBy.map(where).join(', ')}.`
        : `nothing sets it in ${e.ratioSourcesRead.length > 0 ? e.ratioSourcesRead.join(', ') : 'any sysctl configuration (none found)'}${e.reading.ratio === 50 ? ", so it is the kernel's default" : ''}.`),
  },
];

const RUN_TIME_WRITE_CAVEAT =
  'a value written to /proc/sys/vm/overcommit_ratio at run time, not from a configuration file, cannot be told from the default';

export const settings = defineExperiment<SettingsEvidence>({
  id: 'settings',
  title:
    "004's settings program as a process: the overcommit mode, ratio, kbytes, CommitLimit and Committed_AS, the CommitLimit formula, and where the ratio comes from",
  requires: {},
  measure: (ctx) => measureSettings(ctx.mode),
  rules: rules.map((r) => ({ ...r, evidence: findingEvidence })),
});
