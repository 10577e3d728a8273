/**
 * The page size a rule reasons with: the one the evidence was measured with, never the judging
 * machine's (a run from an arm64 guest with 64 KiB pages is judged on an x86 laptop).
 */

/** Runs saved before the page size was recorded came from x86 machines, whose pages are 4 KiB. */
export const ASSUMED_PAGE_SIZE = 4096;

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
