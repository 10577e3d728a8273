import type { ChildStepResult } from '../../native/child.js';
import type { Measured, OvercommitMode } from '../model.js';

/** What one child saw (JSON evidence; the keys are those of the finding). */
export interface ForkAttempt {
  regionBytes: number;
  datasetBytes: number;
  cgroupLimitBytes: number;
  mmapStatus: ChildStepResult['status'];
  mmapCode: string | null;
  touchStatus: ChildStepResult['status'];
  touchedPages: number;
  forkStatus: ChildStepResult['status'];
  forkCode: string | null;
  /** /proc/meminfo read by the child just before the fork (null: not read). */
  memAvailable: number | null;
  memFree: number | null;
  memTotal: number | null;
  swapTotal: number | null;
  commitLimit: number | null;
  committedAs: number | null;
  /** MemAvailable read by the child just after the fork: with the one before, how much free RAM moved meanwhile. */
  memAvailableAfter: number | null;
  /** Committed_AS read just after the fork: with the one before, how much others moved it meanwhile. */
  committedAsAfter: number | null;
  oomKills: number;
  exitCode: number | null;
  signal: string | null;
}

export interface RedisForkEvidence extends Measured {
  mode: OvercommitMode;
  /** 'written': the FAQ's own scenario (a throwaway VM); 'mapped': a region larger than free RAM, a small part written. */
  scenario: 'written' | 'mapped';
  /** The attempt the claim is judged on. */
  attempt: ForkAttempt;
  /** Mode 2: the first attempt, when its mmap was refused and a smaller region was tried. */
  first: ForkAttempt | null;
  /** Mode 2: CommitLimit - Committed_AS when the smaller region was chosen. */
  headroomBytes: number | null;
}
