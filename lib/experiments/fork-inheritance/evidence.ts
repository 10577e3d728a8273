import type { CommittedChange } from '../../verdict/tolerance.js';
import type { Measured, OvercommitMode } from '../model.js';

/** One fork. */
export interface ForkAttempt {
  /** Committed_AS read by the child while it lived, less the parent's reading just before the fork. */
  forkChargeBytes: number;
  /** The parent's accountable VMAs then, plus runChild's result area where it is charged. */
  predictedChargeBytes: number;
  /** The parent's Committed_AS reading just before the fork (median of its reads); absent from evidence saved before it was kept. */
  committedBeforeBytes?: number;
  /** The parent's reading just after the child was reaped. */
  committedAfterBytes?: number;
  /** The child's reading while it lived. */
  childCommittedBytes?: number;
}

export interface ForkInheritanceEvidence extends Measured {
  mode: OvercommitMode;
  /** The page size of the machine measured (absent from runs saved before it was recorded). */
  pageSize?: number;
  regionBytes: number;
  /** Why the regions are smaller than REGION_BYTES (mode 2), or null. */
  sizeNote: string | null;
  parentNoreserveFlags: string[];
  parentOrdinaryFlags: string[];
  /** The regions' VmFlags in the child's smaps (the last fork's). */
  childNoreserveFlags: string[];
  childOrdinaryFlags: string[];
  /** The bytes of each region in VMAs marked 'ac', in the child: exact, per mapping. */
  childNoreserveAccountedBytes: number | null;
  childOrdinaryAccountedBytes: number | null;
  /** Sum of the parent's VMAs with 'ac' (and without 'dc', which fork does not copy), before the last fork. */
  parentAccountedBytes: number;
  /** The same sum over the child's own smaps (the last fork's). */
  childAccountedBytes: number;
  /** runChild's result area (shared anonymous, MAP_NORESERVE) where it is charged (mode 2), in the last fork. */
  resultAreaBytes: number;
  attempts: ForkAttempt[];
  /** Each fork's charge less its prediction, over the trials, against the parent's control readings. */
  residual: CommittedChange;
}
