/**
 * The experiment model: an experiment states the claims it tests (each with the source document
 * it comes from), runs against the real kernel, and returns one finding per claim. A finding's
 * `holds` is always computed from what this run observed.
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
}

/** Passed to every experiment's run(). */
export interface ExperimentContext {
  /** The overcommit mode in force while the experiment runs. */
  mode: OvercommitMode;
  /** Progress for long steps (the CLI shows it on a TTY; silent otherwise). */
  progress(message: string): void;
}

export interface Experiment {
  /** Stable id (a public contract), e.g. 'sparse-array'. */
  id: string;
  /** One line: what the experiment does. */
  title: string;
  claims: readonly Claim[];
  requires: Requirements;
  run(ctx: ExperimentContext): Promise<Finding[]>;
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
  memoryBytes: number;
  cpus: number;
  /** 'none', 'zram:<bytes>' or 'file:<bytes>'. */
  swap: string;
  cgroup: 'v1' | 'v2';
  accel: 'kvm' | 'tcg';
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

/** Builds a finding for `claim` from a verdict computed by the caller from its evidence. */
export function finding(claim: Claim, holds: boolean | null, observed: string, evidence: Evidence, reason?: string): Finding {
  const f: Finding = { claim: claim.id, text: claim.text, source: claim.source, holds, observed, evidence };
  if (reason !== undefined) f.reason = reason;
  return f;
}
