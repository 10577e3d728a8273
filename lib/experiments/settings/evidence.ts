import type { SysctlSetting } from '../../kernel/sysctl-config.js';
import type { CommittedChange } from '../../verdict/tolerance.js';
import type { Measured, OvercommitMode } from '../model.js';

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

/** The two files 004's settings program reads, as the tool read them. */
export interface SettingsFiles {
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
