import type { Measured, OvercommitMode } from '../model.js';

/** Where a failure surfaced: at the mmap call (errno, size in hand) or as a signal later. */
export type FailureSite = 'at-call' | 'signal' | 'none' | 'not-run';

export interface FailurePath {
  /** 'cgroup-oom' (late), 'rlimit-as' and 'mode-2' (fail-fast contrasts). */
  path: 'cgroup-oom' | 'rlimit-as' | 'mode-2';
  requestBytes: number;
  mmapOk: boolean;
  site: FailureSite;
  /** The mmap call's errno code ('ENOMEM') when it failed. */
  code: string | null;
  /** The terminating signal's name when the child was killed. */
  signal: string | null;
  /** Pages written before the failure (0 for a failure at the call). */
  pagesTouched: number;
  /** at-call: how long the failing mmap took; signal: ms from the first touch to the reaping. */
  msToFailure: number | null;
  /** Why the path did not run, when it did not. */
  reason: string | null;
}

export interface KernelLog {
  /** Kernel log lines that name the child's pid or its cgroup, or null when the log could not be read. */
  lines: string[] | null;
  source: '/dev/kmsg' | 'dmesg' | null;
  reason: string | null;
}

export interface LateKillResult {
  pid: number;
  cgroupPath: string;
  cgroupVersion: 1 | 2;
  cgroupLimitBytes: number;
  /** The limit file read back (page-rounded by the kernel). */
  cgroupLimitFileBytes: number;
  mapBytes: number;
  mmapOk: boolean;
  mmapCode: string | null;
  signal: string | null;
  exitCode: number | null;
  timedOut: boolean;
  pagesTouchedBeforeKill: number;
  touchedBytesBeforeKill: number;
  /** touched bytes / the limit read back: how close the kill came to the limit. */
  touchedToLimitRatio: number;
  /** The child's other charges (stack, page tables, copied pages): limit − touched bytes. */
  limitMinusTouchedBytes: number;
  msFromFirstTouchToKill: number | null;
  msFromMmapReturnToKill: number | null;
  cgroupOomKillsBefore: number;
  cgroupOomKillsAfter: number;
  /** The group's peak usage (v1 memory.max_usage_in_bytes, v2 memory.peak), or null. */
  cgroupPeakBytes: number | null;
  /** v1 memory.oom_control after the kill (under_oom, oom_kill_disable, oom_kill); v2 memory.events. */
  memoryEventsAfter: Record<string, number>;
  kernelLog: KernelLog;
}

/** The mode-2 path, with the commit numbers its request was sized from. */
export interface Mode2Path extends FailurePath {
  /** CommitLimit and Committed_AS read just before the request (null when it did not run). */
  commitLimitBytes: number | null;
  committedAsBytes: number | null;
  /** overcommit_kbytes the settings guard set to keep headroom for the machine, or null. */
  guardRaisedKbytes: number | null;
}

export interface OomLateFailureResult {
  late: LateKillResult;
  rlimitAs: FailurePath;
  mode2: Mode2Path;
}

/** Everything measured: the late kill and both fail-fast contrasts, in the mode in force. */
export interface OomLateFailureEvidence extends Measured, OomLateFailureResult {
  mode: OvercommitMode;
  pageSize: number;
}
