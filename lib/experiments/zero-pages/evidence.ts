import type { Measured } from '../model.js';

/** The region read. */
export const REGION_BYTES = 64 * 1024 * 1024;

export interface ZeroPagesEvidence extends Measured {
  mappedBytes: number;
  /** The pages read, one int each: pages of `pageSize`. */
  readPages: number;
  /** The page size of the machine measured (absent from runs saved before it was recorded). */
  pageSize?: number;
  /** Every int read was 0. */
  allZero: boolean;
  /**
   * What the reads added to the VMA's Rss and Anonymous (smaps). A difference: the kernel may
   * merge the mapping with a neighbour of the same flags (V8 maps its heap NORESERVE too).
   */
  vmaRssDeltaBytes: number;
  vmaAnonymousDeltaBytes: number;
  rssDeltaBytes: number;
  /** mincore after the reads: a page mapped to a zero page counts as resident. */
  residentPages: number;
  committedDeltaBytes: number;
  committedToleranceBytes: number;
  vmFlags: string[];
  readMs: number;
  /** THP `enabled` and `use_zero_page`: what a read fault may map. */
  thpEnabled: string | null;
  thpUseZeroPage: number | null;
  /** The huge page's size (hpage_pmd_size); null without THP; absent from runs saved before it was recorded. */
  thpSizeBytes?: number | null;
  /** Where the reads happened. */
  confinement: string;
}
