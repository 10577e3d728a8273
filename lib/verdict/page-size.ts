/**
 * The page size a rule reasons with: the one the evidence was measured with, never the judging
 * machine's (a run from an arm64 guest with 64 KiB pages is judged on an x86 laptop). The same
 * for the transparent huge page's size, which follows the page (2 MiB on 4 KiB pages, 32 MiB on
 * arm64's 16 KiB, 512 MiB on its 64 KiB; ppc64's depends on its MMU), so it is read, and assumed
 * only for an older x86-64 run that did not record it.
 * Nothing here, and no rule, may import the addon's live `pageSize`.
 */
import { formatBytes, MiB } from '../units.js';

/** Runs saved before the page size was recorded came from x86 machines, whose pages are 4 KiB. */
export const ASSUMED_PAGE_SIZE = 4096;

/**
 * The THP size assumed for a run that recorded none: 2 MiB on 4 KiB pages (those runs were
 * x86-64's). On larger pages it depends on the architecture and its MMU (64 KiB pages: 512 MiB
 * on arm64, 2 MiB on ppc64 with the radix MMU, 16 MiB with the hash one), so none is assumed.
 */
export function assumedThpSize(pageSize: number): number | null {
  return pageSize === ASSUMED_PAGE_SIZE ? 2 * MiB : null;
}

/** The evidence's page size, or ASSUMED_PAGE_SIZE when it records none. */
export function evidencePageSize(e: { pageSize?: number }): number {
  return e.pageSize ?? ASSUMED_PAGE_SIZE;
}

/** The caveat a verdict carries when the page size was assumed, else null. */
export function pageSizeNote(e: { pageSize?: number }): string | null {
  return e.pageSize === undefined
    ? `the evidence records no page size: ${ASSUMED_PAGE_SIZE} B assumed (older runs were on x86, 4 KiB pages)`
    : null;
}

/** Evidence that may record the THP size: a number, null (no THP on that kernel), or absent (an older run). */
export interface ThpSized {
  pageSize?: number;
  thpSizeBytes?: number | null;
}

const THP_ASSUMED = '(assumed: the run recorded no THP size; x86-64 runs had these)';
const THP_UNRECORDED = 'of a size the run did not record';

/** The evidence's THP size (null: no THP on that kernel), or the one assumed for an older run (null: none can be). */
function thpSizeOf(e: ThpSized): { bytes: number | null; assumed: boolean } {
  return e.thpSizeBytes === undefined
    ? { bytes: assumedThpSize(evidencePageSize(e)), assumed: true }
    : { bytes: e.thpSizeBytes, assumed: false };
}

/** '32 MiB', 'none' (no THP on that kernel), '2 MiB (assumed: ...)' or 'of a size ...' for a run that recorded nothing. */
export function thpSizeText(e: ThpSized): string {
  const t = thpSizeOf(e);
  if (t.bytes === null) return t.assumed ? THP_UNRECORDED : 'none';
  return `${formatBytes(t.bytes)}${t.assumed ? ` ${THP_ASSUMED}` : ''}`;
}

/** 'a 32 MiB page' in words (the size assumed, or unknown, said as such). */
export function thpSizeWords(e: ThpSized): string {
  const t = thpSizeOf(e);
  if (t.bytes === null) return t.assumed ? `a huge page ${THP_UNRECORDED}` : 'a huge page';
  return `a ${formatBytes(t.bytes)} page${t.assumed ? ` ${THP_ASSUMED}` : ''}`;
}

/** '4096 pages of 16 KiB': a page count with the size of the pages counted. */
export function pagesOf(pages: number, pageSize: number): string {
  return `${pages} page${pages === 1 ? '' : 's'} of ${formatBytes(pageSize)}`;
}

/**
 * What 004's one-write-per-`strideBytes` loop over `bytes` means on pages of `pageSize`: the
 * document reasons in 4096-byte pages, so its "Touched N pages" counts writes, and on larger
 * pages each page takes several of them.
 */
export function strideOnPages(
  bytes: number,
  strideBytes: number,
  pageSize: number,
): { writes: number; pages: number; writesPerPage: number } {
  const writes = Math.ceil(bytes / strideBytes);
  const pages = Math.ceil(bytes / pageSize);
  return { writes, pages, writesPerPage: pageSize / strideBytes };
}

/**
 * The loop in words: "262144 writes (one per 4096 bytes), 65536 pages of 16 KiB: 4 writes to each
 * page". `writes` is what the program printed as its 'Touched N pages', when it did.
 */
export function strideWords(bytes: number, strideBytes: number, pageSize: number, writes: number | null = null): string {
  const s = strideOnPages(bytes, strideBytes, pageSize);
  const perPage = s.writesPerPage === 1 ? 'one write per page' : `${s.writesPerPage} writes to each page`;
  return `${writes ?? s.writes} writes (one per ${strideBytes} bytes), ${pagesOf(s.pages, pageSize)}: ${perPage}`;
}
