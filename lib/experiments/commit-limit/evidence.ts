import type { SettingsSnapshot } from '../../safety/settings-guard.js';
import type { Measured, OvercommitMode } from '../model.js';

/** What one guard window wrote and read. */
export interface CommitLimitStep {
  /** What was written: 'ratio' or 'kbytes', and the value. */
  wrote: 'ratio' | 'kbytes';
  value: number;
  /** The settings before the write (inside the window, for a nested write). */
  before: SettingsSnapshot;
  /** The settings read back after the write. */
  after: SettingsSnapshot;
  commitLimitBytes: number;
  formulaBytes: number;
  formula: string;
  memTotalBytes: number;
  swapTotalBytes: number;
  hugetlbBytes: number;
  /** The guard raised the limit for a mode-2 window (then `after` is what it wrote instead). */
  headroomRaised: boolean;
}

export interface CommitLimitEvidence extends Measured {
  mode: OvercommitMode;
  pageSize: number;
  /** The settings before the experiment. */
  original: SettingsSnapshot;
  /** The overcommit_kbytes written: 40% of RAM in whole pages, which no ratio of the three gives. */
  kbytesWritten: number;
  /** ratio 50, 30, 80; kbytes; then ratio 50 written over the kbytes (nested window). */
  steps: CommitLimitStep[];
}
