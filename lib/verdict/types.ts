/**
 * The types every layer shares: claims, evidence, verdicts, findings and the run's JSON document
 * (whose keys are a public contract). Pure: this module imports nothing.
 */

/** The overcommit mode, as in /proc/sys/vm/overcommit_memory. */
export type OvercommitMode = 0 | 1 | 2;

/** A value recorded as evidence: numbers, flags, errno codes, durations. */
export type EvidenceValue = number | string | boolean | null | readonly EvidenceValue[] | { readonly [key: string]: EvidenceValue };

export type Evidence = Record<string, EvidenceValue>;

/** One sentence from one of the source documents that the tool tests. */
export interface Claim {
  /** Stable id, unique within its experiment (a public contract). */
  id: string;
  /** The sentence tested, quoted or closely paraphrased from the document. */
  text: string;
  /** The document's file name in shared/seeds, e.g. '004_5cb27e43744276b5.txt'. */
  source: string;
  /** The modes this claim is about; absent when it holds or fails whatever the mode. */
  modes?: readonly OvercommitMode[];
}

/** What one run measured for one claim. */
export interface Finding {
  /** The claim's id. */
  claim: string;
  /** The claim's sentence. */
  text: string;
  /** The claim's source document. */
  source: string;
  /** Computed from this run's evidence; null when the run could not decide (see `reason`). */
  holds: boolean | null;
  /** What was observed, in words, with the numbers. */
  observed: string;
  /** Why `holds` is null, or a caveat on the verdict. */
  reason?: string;
  evidence: Evidence;
}

/** What an experiment needs from the machine; the runner skips it, with the reason, otherwise. */
export interface Requirements {
  /** Needs root (CAP_SYS_ADMIN), e.g. to write /proc/sys/vm or create cgroups. */
  root?: boolean;
  /** Needs a writable /proc/sys/vm (switching modes). */
  writableSysctl?: boolean;
  /** Needs a memory cgroup controller (v1 or v2) it may create groups in. */
  memoryCgroup?: boolean;
  /** Runs only in these modes (others are skipped, saying so). */
  modes?: readonly OvercommitMode[];
  /** A program it runs: its name (listed), and (where the experiment is loaded to run) why it is missing here, the skip's sentence, or undefined. */
  program?: { name: string; missing?(): string | undefined };
}

/** A rule's judgement of one claim on the evidence: null when the evidence cannot decide. */
export interface Verdict {
  holds: boolean | null;
  /** Why `holds` is null (the numbers that made it undecidable), or a caveat on the verdict. */
  reason?: string;
}

/**
 * What every experiment's evidence may carry besides its numbers: a measurement that went wrong
 * as a whole (a child that died, a file that could not be read). The runner turns it into null
 * verdicts for every claim, with this as the reason; rules never see such evidence.
 */
export interface Measured {
  problem?: string;
}

/**
 * One claim and how it is judged. `judge` and `observe` are pure: they read only the evidence,
 * so a verdict can be recomputed from a saved run, and the text cannot contradict the numbers.
 */
export interface ClaimRule<E> {
  claim: Claim;
  /** A problem that leaves this claim (not the others) without evidence; judged null with it (observe is not called). */
  missing?(evidence: E): string | undefined;
  judge(evidence: E): Verdict;
  /** What was observed, in words, built from the evidence and the verdict. */
  observe(evidence: E, verdict: Verdict): string;
  /** The part of the evidence this finding records (default: all of it). */
  evidence?(evidence: E): Evidence;
}

/**
 * An experiment's pure half: its claims and how each is judged. Everything here reads only the
 * evidence, so a saved run can be judged again anywhere (no addon, no /proc, any OS).
 */
export interface RuleSet<E extends Measured = Measured> {
  /** Stable id (a public contract), e.g. 'sparse-array'. */
  id: string;
  /** One line: what the experiment does. */
  title: string;
  claims: readonly Claim[];
  requires: Requirements;
  /** One row per claim, in the order findings are reported. */
  rules: readonly ClaimRule<E>[];
}

/** Builds a rule set: its claims are the rules' claims, in order. */
export function defineRules<E extends Measured>(r: Omit<RuleSet<E>, 'claims'>): RuleSet<E> {
  return { ...r, claims: r.rules.map((rule) => rule.claim) };
}

export type RunStatus = 'ran' | 'skipped' | 'error';

/** One experiment run under one mode. */
export interface ExperimentRun {
  experiment: string;
  /** The overcommit mode in force while the experiment ran. */
  mode: OvercommitMode;
  status: RunStatus;
  /** Why it was skipped, or the error. */
  reason?: string;
  durationMs: number;
  findings: Finding[];
  /** Everything measure() returned, so that the verdicts can be recomputed from the report. */
  evidence?: Evidence;
}

export interface SystemInfo {
  kernel: string;
  pageSize: number;
  cpus: number;
  memTotalBytes: number;
  swapTotalBytes: number;
  root: boolean;
  /** Set when the run happened in a guest started by `overcommit-lab vm`: how that guest was made. */
  vm?: VmInfo;
}

/** The guest `overcommit-lab vm` booted (its kernel's release is SystemInfo.kernel). */
export interface VmInfo {
  /** The --kernel given: an image, an unpacked package or 'host'. */
  kernelSource: string;
  /** The guest kernel's release as the image or package names it. */
  kernel: string;
  /** The guest's architecture, from its image's header (Node's names: x64, arm64, ppc64). */
  arch?: string;
  memoryBytes: number;
  cpus: number;
  /** 'none', 'zram:<bytes>' or 'file:<bytes>'. */
  swap: string;
  cgroup: 'v1' | 'v2';
  accel: 'kvm' | 'tcg';
  /** What was asked for: --accel (or OVERCOMMIT_LAB_ACCEL), auto by default. */
  accelRequested?: 'auto' | 'kvm' | 'tcg';
  /** Why this accelerator ran (e.g. KVM's fallback to TCG and its cause). */
  accelReason?: string;
  /** From qemu's start to the guest's first script. */
  bootMs: number;
}

export interface SettingsInfo {
  overcommitMemory: OvercommitMode;
  overcommitRatio: number;
  overcommitKbytes: number;
  commitLimitBytes: number;
  committedAsBytes: number;
}

/** The JSON document of `overcommit-lab run --json` (keys are a public contract). */
export interface RunReport {
  tool: { name: string; version: string };
  system: SystemInfo;
  settings: SettingsInfo;
  runs: ExperimentRun[];
}
