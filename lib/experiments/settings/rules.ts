import type { SysctlSetting } from '../../kernel/sysctl-config.js';
import { mib } from '../../units.js';
import { judgeChange } from '../../verdict/decide.js';
import { modeDescription } from '../../verdict/modes.js';
import { defineRules } from '../../verdict/types.js';
import { DOC_001, DOC_003, DOC_004 } from '../documents.js';
import type { Claim, ClaimRule, Evidence } from '../model.js';
import type { SettingsEvidence, SettingsReading } from './evidence.js';

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

export const settingsRules = defineRules<SettingsEvidence>({
  id: 'settings',
  title:
    "004's settings program as a process: the overcommit mode, ratio, kbytes, CommitLimit and Committed_AS, the CommitLimit formula, and where the ratio comes from",
  requires: {},
  rules: rules.map((r) => ({ ...r, evidence: findingEvidence })),
});
