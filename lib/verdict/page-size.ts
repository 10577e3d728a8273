/**
 * The page size a rule reasons with: the one the evidence was measured with, never the judging
 * machine's (a run from an arm64 guest with 64 KiB pages is judged on an x86 laptop). The same
 * for the transparent huge page's size, which follows the page (2 MiB on 4 KiB pages, 32 MiB on
 * arm64's 16 KiB, 512 MiB on its 64 KiB; ppc64's depends on its MMU), so it is read, not derived.
 * Nothing here, and no rule, may import the addon's live `pageSize`.
 */
import { formatBytes, MiB } from '../units.js';

/** Runs saved before the page size was recorded came from x86 machines, whose pages are 4 KiB. */
export const ASSUMED_PAGE_SIZE = 4096;

/** Runs saved before the THP size was recorded came from x86-64 machines, whose huge pages are 2 MiB. */
export const ASSUMED_THP_SIZE = 2 * MiB;

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
  thpSizeBytes?: number | null;
}

const THP_ASSUMED = '(assumed: the run recorded no THP size)';

/** '32 MiB', 'none' (no THP on that kernel), or '2 MiB (assumed: ...)' for a run that recorded nothing. */
export function thpSizeText(e: ThpSized): string {
  if (e.thpSizeBytes === undefined) return `${formatBytes(ASSUMED_THP_SIZE)} ${THP_ASSUMED}`;
  return e.thpSizeBytes === null ? 'none' : formatBytes(e.thpSizeBytes);
}

/** 'a 32 MiB page' in words (the size assumed, or unknown, said as such). */
export function thpSizeWords(e: ThpSized): string {
  if (e.thpSizeBytes === undefined) return `a ${formatBytes(ASSUMED_THP_SIZE)} page ${THP_ASSUMED}`;
  return e.thpSizeBytes === null ? 'a huge page' : `a ${formatBytes(e.thpSizeBytes)} page`;
}

/** '4096 pages of 16 KiB': a page count with the size of the pages counted. */
export function pagesOf(pages: number, pageSize: number): string {
  return `${pages} page${pages === 1 ? '' : 's'} of ${formatBytes(pageSize)}`;
}

/** pagesOf() with the evidence's page size, saying when it was assumed. */
export function pagesOfEvidence(pages: number, e: { pageSize?: number }): string {
  return `${pagesOf(pages, evidencePageSize(e))}${e.pageSize === undefined ? ' (assumed)' : ''}`;
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
