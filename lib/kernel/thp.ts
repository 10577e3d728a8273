/**
 * Transparent huge pages: whether a fault may map a huge page, and whether a read fault of an
 * untouched huge page may map the huge zero page. Both change what touching or reading memory
 * costs, so experiments record them as evidence.
 */
import { readOptional } from './read.js';

const THP = '/sys/kernel/mm/transparent_hugepage';

export interface ThpSettings {
  /** The bracketed word of `enabled` ('always', 'madvise', 'never'); null where THP is absent. */
  enabled: string | null;
  /** `use_zero_page` (1: read faults may map the huge zero page); null where absent. */
  useZeroPage: number | null;
}

/** The bracketed choice of a sysfs multiple-choice file: 'always [madvise] never' → 'madvise'. */
function parseBracketed(text: string): string | null {
  return /\[([\w-]+)\]/.exec(text)?.[1] ?? null;
}

export function readThpSettings(): ThpSettings {
  const enabled = readOptional(`${THP}/enabled`);
  const zero = readOptional(`${THP}/use_zero_page`);
  return { enabled: enabled === null ? null : parseBracketed(enabled), useZeroPage: zero === null ? null : Number(zero.trim()) };
}
