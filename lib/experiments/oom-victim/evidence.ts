/** What oom-victim records: per round, the processes in one memory cgroup before an OOM, and which the kernel killed. */
import type { Measured } from '../model.js';

/** One process holding a written block in the group, read just before the trigger. */
export interface Holder {
  /** The block it malloc'ed and wrote. */
  sizeBytes: number;
  pid: number;
  /** VmRSS, /proc/<pid>/oom_score and oom_score_adj just before the trigger. */
  rssBytes: number;
  oomScore: number;
  oomScoreAdj: number;
  /** How it ended: SIGKILL when the OOM killer chose it. */
  signal: string | null;
  exitCode: number | null;
}

/** The process that pushes the group past its limit by allocating and writing in small steps. */
export interface Trigger {
  pid: number;
  sizeBytes: number;
  writtenBlocks: number;
  blocks: number;
  signal: string | null;
  exitCode: number | null;
}

export type RoundKind = 'sizes' | 'adjusted';

export interface VictimRound {
  /** 'sizes': every oom_score_adj left at its value; 'adjusted': the smallest holder raised to oom_score_adj 1000. */
  kind: RoundKind;
  cgroupVersion: 1 | 2;
  cgroupLimitBytes: number;
  holders: Holder[];
  trigger: Trigger;
  /** The group's OOM-kill count before the trigger and after it. */
  oomKillsBefore: number;
  oomKillsAfter: number;
  /** Kernel log lines naming the pid of a process of the round ("Killed process <pid>", "oom-kill:...pid=<pid>"); null when unreadable. */
  kernelLogLines: string[] | null;
  kernelLogReason: string | null;
}

export interface OomVictimEvidence extends Measured {
  pageSize: number;
  rounds: VictimRound[];
}
