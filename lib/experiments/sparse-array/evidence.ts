import type { CommittedChange } from '../../verdict/tolerance.js';
import type { Measured, OvercommitMode } from '../model.js';

/** 004's STRIDE: 4096 / sizeof(int) ints, one write per 4096 bytes. */
export const PROGRAM_STRIDE_BYTES = 4096;

/** The genuinely sparse variant writes one page in this many. */
export const SPARSE_PAGE_INTERVAL = 64;

/** What the tool read about the program and its mapping while the program was stopped at a point. */
export interface SparsePoint {
  /** The program's own mincore(2) count of its mapping; null when it could not count. */
  residentPages: number | null;
  /** The mapping's VMA in the program's /proc/<pid>/smaps. */
  vmaSizeBytes: number;
  vmaRssBytes: number;
  vmaAnonymousBytes: number;
  /** 'nr': MAP_NORESERVE honoured; 'ac': charged to Committed_AS. */
  vmFlags: string[];
  /** The sizes of the program's other accountable ('ac') VMAs: what its exec charged. */
  otherAccountableBytes: number;
  /** The program's VmRSS and RssAnon (/proc/<pid>/status). */
  rssBytes: number;
  rssAnonBytes: number;
  /** Committed_AS (median of a few readings) while the program was stopped here. */
  committedAsBytes: number;
  /** Milliseconds from spawn to the program's stop here. */
  atMs: number;
}

/** One run of 004's sparse program as a process, and what was measured around it. */
export interface SparseProgramRun {
  /** The array's size (the program's --bytes; 004's is 1 GiB) and its pages. */
  bytes: number;
  pages: number;
  args: string[];
  pid: number;
  /** The program's own lines (stdout), and its stderr (perror's line when mmap failed). */
  lines: string[];
  stderr: string;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  /** The tool ended the program (SIGKILL) at 'mapped': the claims of this run need only its mmap. */
  endedAfterMmap: boolean;
  /** The mapping's address as the program printed it; null when it printed none. */
  address: string | null;
  /** 'Touched N pages' as the program printed it; null when it did not get there. */
  printedTouchedPages: number | null;
  /** The program's read-back line: arr[0] and arr[STRIDE]; null when it did not get there. */
  readBack: { first: number; strideIndex: number; strideValue: number } | null;
  mapped: SparsePoint | null;
  touched: SparsePoint | null;
  /**
   * Committed_AS at 'mapped' less before the spawn, less the program's other accountable VMAs
   * (its exec's own charge); the controls were read while the program was stopped.
   */
  committedMmap: CommittedChange | null;
  /** Committed_AS at 'touched' less at 'mapped': the touch loop and nothing else of the program's. */
  committedTouch: CommittedChange | null;
  /** From the program's SIGCONT at 'mapped' to its stop at 'touched'. */
  touchMs: number | null;
  durationMs: number;
  /** Where it touched (null when it was ended before touching). */
  confinement: string | null;
  oomScoreAdj: number | null;
}

/** The one-page-in-64 pattern, in this process (the program cannot skip pages). */
export interface SparseVariantEvidence {
  variant: 'one-page-in-64';
  strideBytes: number;
  mappedBytes: number;
  mappedPages: number;
  /** null when mmap succeeded; the errno code otherwise (nothing else was measured then). */
  mmapCode: string | null;
  vmFlags: string[];
  residentPagesBeforeTouch: number;
  touchedPages: number;
  residentPages: number;
  rssDeltaBytes: number;
  rssAnonDeltaBytes: number;
  touchMs: number;
  /** The mapping's start, in hex as %p prints it; null when mmap failed. */
  address: string | null;
  /** Committed_AS across the mmap and across the touch, each against a control reading just after it; null when mmap failed. */
  committedDeltaBytes: number | null;
  committedToleranceBytes: number | null;
  committedTouchDeltaBytes: number | null;
  committedTouchToleranceBytes: number | null;
}

export interface SparseArrayEvidence extends Measured {
  mode: OvercommitMode;
  /** The page size of the machine measured: every page count here is in these pages. */
  pageSize: number;
  swapTotalBytes: number;
  swapFreeBytes: number;
  /** Transparent hugepages 'enabled' (a fault may map a huge page with 'always'); null without THP. */
  thpEnabled: string | null;
  /** The huge page's size (hpage_pmd_size); null without THP; absent from runs saved before it was recorded. */
  thpSizeBytes?: number | null;
  /** 004's program with its 1 GiB array, ended after its mmap. */
  mapping: SparseProgramRun;
  /** The program run to its end on TOUCH_BYTES; null when touching was not safe here (touchSkipped). */
  touch: SparseProgramRun | null;
  /**
   * The same run once more, in the same confinement: a second, independent measurement of the
   * touch's Committed_AS change, so that one load mapping during one touch cannot read as a
   * reservation (absent from older runs, which have the one).
   */
  touchAgain?: SparseProgramRun | null;
  touchSkipped: string | null;
  variant: SparseVariantEvidence | null;
}
