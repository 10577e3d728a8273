/**
 * Whether a copy fits under CommitLimit: the room left (CommitLimit - Committed_AS, read before
 * the fork) against the copy, with what others moved Committed_AS by across the fork (its reads
 * before and after) as the tolerance. Pure: the rules of the fork experiments share it.
 */
import { type BoundClass, compareToBound } from './decide.js';
import { toleranceFromReadings } from './tolerance.js';

export interface CommitRoom {
  commitLimitBytes: number;
  committedAsBytes: number;
  /** Committed_AS read after the fork; null when not read (then no drift is known). */
  committedAsAfterBytes: number | null;
}

/** 'above': the room exceeds the copy (it fits); 'below': it does not; null within the noise, with the numbers. */
export function copyFits(r: CommitRoom, copy: { label: string; bytes: number }): BoundClass {
  const after = r.committedAsAfterBytes ?? r.committedAsBytes;
  return compareToBound(
    { changeBytes: r.commitLimitBytes - r.committedAsBytes, toleranceBytes: toleranceFromReadings([r.committedAsBytes, after]) },
    copy,
    { noise: 'others moved Committed_AS across the fork', value: 'CommitLimit - Committed_AS was' },
  );
}
