import { MiB } from '../../units.js';
import type { Measured } from '../model.js';

/**
 * The parent's dataset. The claims are about pages, counted exactly in smaps: a few MiB are as
 * exact as a gigabyte, and every page the child writes is a copy-on-write fault (dear in a VM).
 */
export const REGION_BYTES = 4 * MiB;
/** The child first writes one page in this many. */
export const PARTIAL_STRIDE_PAGES = 4;
/** Room for the child's /proc/self/smaps (Node's is well under 1 MiB). */
export const SMAPS_MAX_BYTES = 4 * MiB;

/** The region as the child's smaps shows it at one point. */
export interface RegionPages {
  /** Pages of the region the child shares with its parent (Shared_Dirty / page size). */
  sharedPages: number;
  /** Pages that are the child's own copies (Private_Dirty / page size). */
  privatePages: number;
}

export interface CopyOnWriteEvidence extends Measured {
  regionBytes: number;
  regionPages: number;
  /** Pages the child wrote in the partial step, then in all. */
  partialWrittenPages: number;
  /** null when that smaps read failed or did not show the region. */
  afterFork: RegionPages | null;
  afterPartialWrite: RegionPages | null;
  afterFullWrite: RegionPages | null;
  /** The parent's VmSize just before the fork, and its VMAs marked 'dc' (MADV_DONTFORK: fork does not copy them). */
  parentVmSizeBytes: number;
  parentDontCopyBytes: number;
  /** VmSize minus 'dc' VMAs, just before and just after the fork: what a full copy holds. */
  parentCopyableBeforeBytes: number;
  parentCopyableAfterBytes: number;
  /**
   * The room runChild's result area holds for the child's reads (the readfile steps' maxBytes):
   * the area is mapped before the fork, so the child's VmSize holds it on top of the parent's.
   */
  resultReadBytes: number;
  /** The child's VmSize right after the fork (null if not read). */
  childVmSizeBytes: number | null;
  /** Older saved evidence only: a fixed 1 MiB the measurement recorded (the rules now build the tolerance from the reads). */
  vmSizeToleranceBytes?: number;
  /** Committed_AS: the parent's reading before the fork, the child's right after it (evidence only). */
  committedBeforeForkBytes: number;
  committedInChildBytes: number | null;
  exitCode: number | null;
  signal: string | null;
}
