import type { FreeEstimateInputs, PredictionSpread } from '../../kernel/admission.js';
import { MiB } from '../../units.js';
import type { Evidence, Measured, OvercommitMode } from '../model.js';

/**
 * What one thread may map between a reading of the free address space and the probe: glibc
 * reserves 64 MiB of address space for each thread's malloc arena (HEAP_MAX_SIZE on 64-bit).
 */
export const THREAD_ARENA_BYTES = 64 * MiB;

/** The uid/gid the unprivileged child switches to (nobody). */
export const UNPRIVILEGED_UID = 65534;

/** One probe of the matrix: the evidence of its (mode, noreserve) finding. */
export interface MatrixCell {
  mode: OvercommitMode;
  noreserve: boolean;
  largestBytes: number;
  predictedBytes: number;
  /**
   * Readings of the prediction around the probe (the free gap, Committed_AS, RAM + swap's
   * prediction): their spread is what moved it while it was measured. The rules build the cell's
   * tolerance from them; older saved evidence has none, only the toleranceBytes it computed.
   */
  readingsBytes?: number[];
  /** What the prediction cannot resolve on top of that noise (the strict rule's batch slack, a thread's arena). */
  slackBytes?: number;
  /** Older saved evidence only: the tolerance its measurement computed. */
  toleranceBytes?: number;
  probes: number;
  refusedCode: string | null;
  /** The bounds of the search that found largestBytes: a result at either end is no threshold. */
  searchLoBytes: number;
  searchHiBytes: number;
  /** How the prediction was computed, with this machine's numbers. */
  prediction: string;
  inputs: Evidence;
}

/** One reading of both mode-0 rules' inputs. */
export interface Mode0Reading {
  free: FreeEstimateInputs;
  memTotalBytes: number;
  swapTotalBytes: number;
  /** MemAvailable, beside the estimate (reported, not a rule's input; absent from older saved evidence). */
  memAvailableBytes?: number;
}

/** Mode 0 only: the two known heuristics, and what the document's scenarios did. */
export interface Mode0Evidence {
  /** MODE0_READINGS before the probe, then as many after it. */
  readings: Mode0Reading[];
  freeEstimate: PredictionSpread;
  ramSwap: PredictionSpread;
  /** A single request one page larger than RAM + swap: more than the machine could ever back. */
  obvious: { sizeBytes: number; accepted: boolean; code: string | null };
  /** Two mappings just below the largest accepted size (by twice the tolerance), the first held while the second is asked for. */
  pair: { sizeBytes: number; firstAccepted: boolean; firstCode: string | null; secondAccepted: boolean; secondCode: string | null };
  /** Twice the tolerance (at least a page) above the largest accepted size, without and with MAP_NORESERVE: 'accepted' or the errno. */
  q3: { sizeBytes: number; withoutNoreserve: string; withNoreserve: string };
}

/** One child: a probe as root, setuid to nobody, the same probe again. */
export interface RootTrial {
  rootBytes: number | null;
  userBytes: number | null;
  setuid: string;
  /** How the child failed to give both numbers (a measurement problem), or null. */
  problem: string | null;
}

export interface RootEvidence {
  mode: OvercommitMode;
  searchHiBytes: number;
  trials: RootTrial[];
  adminReserveBytes: number;
}

export interface ModeMatrixEvidence extends Measured {
  mode: OvercommitMode;
  pageSize: number;
  capSysAdmin: boolean;
  memTotalBytes: number;
  swapTotalBytes: number;
  /** The largest gap of this process's address space at the end: what an unchecked mapping may get. */
  addressGapBytes: number;
  no: MatrixCell;
  yes: MatrixCell;
  mode0: Mode0Evidence | null;
  /** Root vs nobody (modes 0 and 2, as root); null with `rootSkipped` otherwise. */
  root: RootEvidence | null;
  rootSkipped: string | null;
}
