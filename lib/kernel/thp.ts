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
  /**
   * `hpage_pmd_size`: the bytes one transparent huge page maps, which follow the base page
   * (2 MiB on 4 KiB pages, 32 MiB on arm64's 16 KiB, 512 MiB on arm64's 64 KiB); null where absent.
   */
  sizeBytes: number | null;
}

/** The bracketed choice of a sysfs multiple-choice file: 'always [madvise] never' → 'madvise'. */
function parseBracketed(text: string): string | null {
  return /\[([\w-]+)\]/.exec(text)?.[1] ?? null;
}

export function readThpSettings(): ThpSettings {
  const enabled = readOptional(`${THP}/enabled`);
  const zero = readOptional(`${THP}/use_zero_page`);
  return {
    enabled: enabled === null ? null : parseBracketed(enabled),
    useZeroPage: zero === null ? null : Number(zero.trim()),
    sizeBytes: readThpSize(),
  };
}

/** The transparent huge page's size in bytes (hpage_pmd_size); null where THP is absent. */
export function readThpSize(): number | null {
  const size = readOptional(`${THP}/hpage_pmd_size`);
  const n = size === null ? Number.NaN : Number(size.trim());
  return Number.isSafeInteger(n) && n > 0 ? n : null;
}
