/**
 * The source documents in shared/seeds whose sentences the experiments test, by file name (a
 * finding's `source`). One place, so that no experiment spells a name differently.
 */

/** A French blog post on vm.overcommit_memory: virtual vs physical memory, Redis's fork and copy-on-write. */
export const DOC_000 = '000_702fed13d2efde5a.txt';
/** The kernel's overcommit-accounting document: the three modes, what each mapping costs, "Additional accounting". */
export const DOC_001 = '001_f08625d6d5509f52.txt';
/** An essay against overcommit: allocations succeed, failure comes late as an OOM kill. */
export const DOC_002 = '002_d5b4cbf62375c791.txt';
/** A book's "Memory Mappings" chapter (p. 1039): obvious overcommits, MAP_NORESERVE, overcommit_ratio, RLIMIT_AS. */
export const DOC_003 = '003_35ee4977a1beca93.txt';
/** A tutorial on lazy swap reservation: the sparse and RLIMIT_AS programs, the mode x MAP_NORESERVE table, Q1-Q8. */
export const DOC_004 = '004_5cb27e43744276b5.txt';
