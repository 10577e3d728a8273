/**
 * sparse-array: 004's sparse program run as it is written (a 1 GiB private anonymous
 * MAP_NORESERVE mapping, one int written per 4096 bytes), printing what it prints, with what the
 * program cannot see: resident pages (mincore), the RSS and Committed_AS changes, the VMA's flags
 * and the time spent touching. A genuinely sparse variant (one page in 64) runs beside it.
 *
 * The touch runs in this process (a few seconds for 1 GiB here): it is the workload the
 * documents describe and the one the benchmark compares with the compiled C program.
 */
import { readFileSync } from 'node:fs';
import { readMeminfo, sampleCommitted } from '../kernel/meminfo.js';
import { readStatus } from '../kernel/status.js';
import { isSystemCallError } from '../native/errors.js';
import { type Mapping, mmap, pageSize } from '../native/mapping.js';
import { memoryCgroupAvailability, withProcessInMemoryCgroup } from '../safety/memory-cgroup.js';
import { GiB, MiB, mib, OWN_JITTER_BYTES } from '../units.js';
import { DOC_001, DOC_004 } from './documents.js';
import { legacyExperiment } from './legacy.js';
import { type Claim, type ExperimentContext, type Finding, finding, type OvercommitMode } from './model.js';

/** 004's ARRAY_SIZE * sizeof(int): 256M ints. */
const SPARSE_BYTES = GiB;
/** 004's STRIDE: 4096 / sizeof(int) ints, one write per 4096 bytes. */
const PROGRAM_STRIDE_BYTES = 4096;
/** The genuinely sparse variant writes one page in this many. */
const SPARSE_PAGE_INTERVAL = 64;
/** The process is confined to the mapping plus this much while it touches (V8 allocates little meanwhile). */
const CONFINE_SLACK_BYTES = 512 * MiB;
const COMMITTED_SAMPLES = 5;
const THP_ENABLED_PATH = '/sys/kernel/mm/transparent_hugepage/enabled';

export const sparseArrayClaims = {
  mmapWithoutSwap: {
    id: 'sparse-mmap-succeeds-without-swap',
    text: 'The 1 GB MAP_NORESERVE mmap() succeeds even if 1GB swap is unavailable.',
    source: DOC_004,
  },
  noReservation: {
    id: 'noreserve-no-swap-reservation',
    text: "Create a 1 GB sparse mapping with MAP_NORESERVE: no swap reservation (the program prints 'no swap reserved'; Q3: the kernel does not reserve swap space at mmap() time).",
    source: DOC_004,
  },
  ignoredInMode2: {
    id: 'noreserve-ignored-in-mode-2',
    text: 'In mode 2 the MAP_NORESERVE flag is ignored.',
    source: DOC_001,
    modes: [2],
  },
  allocatedOnTouch: {
    id: 'memory-taken-on-first-touch',
    text: 'Lazy reservation (Q1): memory for a mapped page is taken only when the page is first accessed (on page fault), not when mmap() is called.',
    source: DOC_004,
  },
  reservedOnAccess: {
    id: 'swap-reserved-on-access',
    text: 'Linux solves this with lazy swap reservation: swap space is reserved only when a page is actually accessed.',
    source: DOC_004,
  },
  onlyTouchedPages: {
    id: 'only-touched-pages-use-memory',
    text: "The program prints 'Touched N pages (only those pages use swap)': only the touched pages use swap/memory.",
    source: DOC_004,
  },
  programIsSparse: {
    id: 'program-is-sparse',
    text: "The program is a sparse array: a 1 GB array of which only a few scattered elements are accessed ('Only touch every 4096th element').",
    source: DOC_004,
  },
} satisfies Record<string, Claim>;

export type SparseVariantName = 'program' | 'one-page-in-64';

/** What one variant measured. Sizes in bytes; pages of `pageSize`. */
export interface SparseVariantEvidence {
  variant: SparseVariantName;
  strideBytes: number;
  mappedBytes: number;
  mappedPages: number;
  /** null when mmap succeeded; the errno code otherwise (nothing else was measured then). */
  mmapCode: string | null;
  /** The mapping's start, in hex as %p prints it. */
  address: string;
  /** The mapping's VmFlags ('nr': MAP_NORESERVE honoured; 'ac': charged to Committed_AS). */
  vmFlags: string[];
  residentPagesBeforeTouch: number;
  touchedPages: number;
  residentPages: number;
  /** VmRSS and RssAnon of this process, after the touch minus before it. */
  rssDeltaBytes: number;
  rssAnonDeltaBytes: number;
  /** Committed_AS median after mmap minus before mmap, and the sampled spread around it. */
  committedDeltaBytes: number;
  committedToleranceBytes: number;
  /** Committed_AS median after the touch minus after mmap (other processes move it meanwhile). */
  committedTouchDeltaBytes: number;
  committedTouchToleranceBytes: number;
  touchMs: number;
}

export interface SparseDemoResult {
  /** Exactly the lines 004's sparse program prints, with this run's address and values. */
  programOutput: string[];
  /** The program's pattern first, then one page in 64. */
  variants: SparseVariantEvidence[];
  swapTotalBytes: number;
  swapFreeBytes: number;
  /** Where the touching happened: the memory cgroup made for it. */
  confinement: string;
  /** Transparent hugepages ('always', 'madvise', 'never'; null without THP): with 'always' a fault may map 2 MiB. */
  thpEnabled: string | null;
}

export interface SparseDemoOptions {
  progress?: (message: string) => void;
}

function failedVariant(variant: SparseVariantName, strideBytes: number, code: string): SparseVariantEvidence {
  return {
    variant,
    strideBytes,
    mappedBytes: SPARSE_BYTES,
    mappedPages: SPARSE_BYTES / pageSize,
    mmapCode: code,
    address: '',
    vmFlags: [],
    residentPagesBeforeTouch: 0,
    touchedPages: 0,
    residentPages: 0,
    rssDeltaBytes: 0,
    rssAnonDeltaBytes: 0,
    committedDeltaBytes: 0,
    committedToleranceBytes: 0,
    committedTouchDeltaBytes: 0,
    committedTouchToleranceBytes: 0,
    touchMs: 0,
  };
}

/** Maps 1 GiB as 004 does, touches it every `strideBytes`, measures, and unmaps. */
function runVariant(
  variant: SparseVariantName,
  strideBytes: number,
  progress: (message: string) => void,
  readBack?: (m: Mapping, touched: number) => void,
): SparseVariantEvidence {
  const before = sampleCommitted(COMMITTED_SAMPLES);
  let m: Mapping;
  try {
    m = mmap(SPARSE_BYTES, { noreserve: true });
  } catch (e) {
    if (isSystemCallError(e)) return failedVariant(variant, strideBytes, e.code);
    throw e;
  }
  try {
    const afterMmap = sampleCommitted(COMMITTED_SAMPLES);
    const vmFlags = m.vmFlags();
    const residentPagesBeforeTouch = m.residentPages();
    const pages = SPARSE_BYTES / strideBytes;
    progress(`sparse-array (${variant}): writing ${pages} pages of a 1 GiB MAP_NORESERVE mapping`);
    const s0 = readStatus();
    const t0 = performance.now();
    const touchedPages = m.touch({ stride: strideBytes });
    const touchMs = performance.now() - t0;
    const s1 = readStatus();
    const afterTouch = sampleCommitted(COMMITTED_SAMPLES);
    const residentPages = m.residentPages();
    readBack?.(m, touchedPages);
    return {
      variant,
      strideBytes,
      mappedBytes: SPARSE_BYTES,
      mappedPages: SPARSE_BYTES / pageSize,
      mmapCode: null,
      address: `0x${m.address.toString(16)}`,
      vmFlags,
      residentPagesBeforeTouch,
      touchedPages,
      residentPages,
      rssDeltaBytes: s1.vmRss - s0.vmRss,
      rssAnonDeltaBytes: s1.rssAnon - s0.rssAnon,
      committedDeltaBytes: afterMmap.median - before.median,
      committedToleranceBytes: before.spreadBytes + afterMmap.spreadBytes,
      committedTouchDeltaBytes: afterTouch.median - afterMmap.median,
      committedTouchToleranceBytes: afterMmap.spreadBytes + afterTouch.spreadBytes,
      touchMs,
    };
  } finally {
    m.unmap();
  }
}

/**
 * Runs `fn` with this process in a memory cgroup limited to what it touches plus slack, so the
 * 1 GiB touch can never push the rest of the machine out of memory; without one, it is refused.
 */
async function confined<T>(fn: () => T): Promise<{ value: T; confinement: string }> {
  const cgroups = memoryCgroupAvailability();
  if (!cgroups.available) {
    throw new Error(`sparse-array touches 1 GiB, which it does only inside a memory cgroup: ${cgroups.reason}`);
  }
  const limit = SPARSE_BYTES + CONFINE_SLACK_BYTES;
  return withProcessInMemoryCgroup(limit, async (group) => ({
    value: fn(),
    confinement: `this process, in memory cgroup ${group.path} limited to ${limit} B while touching`,
  }));
}

/** The bracketed word of /sys/kernel/mm/transparent_hugepage/enabled, e.g. 'madvise'; null if absent. */
function readThpEnabled(): string | null {
  try {
    return /\[(\w+)\]/.exec(readFileSync(THP_ENABLED_PATH, 'utf8'))?.[1] ?? null;
  } catch {
    return null;
  }
}

/** 004's sparse program, then one page in 64; used by `overcommit-lab demo sparse` and by the experiment. */
export async function runSparseDemo(options: SparseDemoOptions = {}): Promise<SparseDemoResult> {
  const progress = options.progress ?? ((): void => {});
  const mem = readMeminfo();
  const programOutput: string[] = [];
  const { value: variants, confinement } = await confined(() => {
    const program = runVariant('program', PROGRAM_STRIDE_BYTES, progress, (m, touched) => {
      // printf("arr[0]=%d, arr[%ld]=%ld\n", arr[0], STRIDE, (long)arr[STRIDE]), read back from the mapping.
      const stride = PROGRAM_STRIDE_BYTES / Int32Array.BYTES_PER_ELEMENT;
      const arr = new Int32Array(m.view(0, PROGRAM_STRIDE_BYTES * 2));
      programOutput.push(`Mapped 1GB sparse array at 0x${m.address.toString(16)} (no swap reserved)`);
      programOutput.push(`Touched ${touched} pages (only those pages use swap)`);
      programOutput.push(`arr[0]=${arr[0]}, arr[${stride}]=${arr[stride]}`);
    });
    if (program.mmapCode !== null) programOutput.push(`mmap: ${program.mmapCode}`);
    return [program, runVariant('one-page-in-64', SPARSE_PAGE_INTERVAL * pageSize, progress)];
  });
  return { programOutput, variants, swapTotalBytes: mem.swapTotal, swapFreeBytes: mem.swapFree, confinement, thpEnabled: readThpEnabled() };
}

/** The sampled Committed_AS change set against what the VMA's flags say it must be. */
function committedWords(v: SparseVariantEvidence): string {
  const charged = v.vmFlags.includes('ac');
  const expected = charged ? v.mappedBytes : 0;
  const agrees = Math.abs(v.committedDeltaBytes - expected) <= v.committedToleranceBytes;
  return (
    `Committed_AS moved by ${v.committedDeltaBytes} B across the mmap (tolerance ±${v.committedToleranceBytes} B from the sampled spread; ` +
    `${charged ? `a charge of ${v.mappedBytes} B` : 'no charge'} expected from the flags: ` +
    `${agrees ? 'consistent' : 'other processes moved the counter beyond the sampled spread'})`
  );
}

export function sparseFindings(r: SparseDemoResult, mode: OvercommitMode): Finding[] {
  const c = sparseArrayClaims;
  const [program, sparse] = r.variants as [SparseVariantEvidence, SparseVariantEvidence];
  const evidence = {
    mode,
    ...program,
    programOutput: r.programOutput,
    swapTotalBytes: r.swapTotalBytes,
    swapFreeBytes: r.swapFreeBytes,
    confinement: r.confinement,
    thpEnabled: r.thpEnabled,
    sparseVariant: { ...sparse },
  };
  const out: Finding[] = [];

  const swapMissing = r.swapFreeBytes < SPARSE_BYTES;
  out.push(
    finding(
      c.mmapWithoutSwap,
      swapMissing ? program.mmapCode === null : null,
      `In mode ${mode}, with SwapTotal ${r.swapTotalBytes} B and SwapFree ${r.swapFreeBytes} B, the 1 GiB MAP_NORESERVE mmap ${program.mmapCode === null ? `succeeded at ${program.address}` : `failed with ${program.mmapCode}`}.`,
      evidence,
      swapMissing ? undefined : 'at least 1 GiB of swap is free here, so success does not test the claim',
    ),
  );

  const failed = r.variants.filter((v) => v.mmapCode !== null);
  const failedWords = failed.map((v) => `the ${v.variant} variant's 1 GiB mmap failed with ${v.mmapCode}`).join('; ');
  const unmapped = (claim: Claim): Finding =>
    finding(
      claim,
      null,
      `In mode ${mode} ${failedWords}; nothing was measured.`,
      evidence,
      `the mapping could not be made (${failed.map((v) => v.variant).join(', ')})`,
    );
  if (failed.length > 0) {
    return [
      ...out,
      ...[c.noReservation, c.ignoredInMode2, c.allocatedOnTouch, c.reservedOnAccess, c.onlyTouchedPages, c.programIsSparse].map(unmapped),
    ];
  }

  const nr = program.vmFlags.includes('nr');
  const ac = program.vmFlags.includes('ac');
  const flags = `VmFlags [${program.vmFlags.join(' ')}]`;
  out.push(
    finding(
      c.noReservation,
      nr && !ac,
      nr && !ac
        ? `In mode ${mode} the mapping has 'nr' and not 'ac' (${flags}): it is not charged to the commit; ${committedWords(program)}.`
        : `In mode ${mode} the kernel charged the mapping: ${flags}${ac ? " has 'ac'" : ''}${nr ? '' : " lacks 'nr'"}; ${committedWords(program)}. ` +
            `The program's '(no swap reserved)' is false here${mode === 2 ? ': in mode 2 MAP_NORESERVE is ignored (001), which 004 leaves out of this example' : ''}.`,
      evidence,
    ),
  );

  const ignored = !nr && ac;
  out.push(
    finding(
      c.ignoredInMode2,
      mode === 2 ? ignored : null,
      `Measured in mode ${mode}: ${flags}; ${committedWords(program)}.`,
      evidence,
      mode === 2
        ? undefined
        : `the claim is about mode 2; this run is in mode ${mode}, where MAP_NORESERVE was ${nr ? 'honoured' : 'not honoured'}`,
    ),
  );

  const variants = [program, sparse];
  // With THP 'always' one fault may map a 2 MiB page: 512 pages resident for one touched.
  const thpWords = variants.some((v) => v.residentPages !== v.touchedPages)
    ? r.thpEnabled === 'always'
      ? " Transparent hugepages are 'always' here: a fault may map a 2 MiB page, making pages resident that were never touched."
      : ` Transparent hugepages are '${r.thpEnabled ?? 'absent'}' here, so 2 MiB faults do not explain the difference.`
    : '';
  // Lazy: nothing resident until the touch, then at least the touched pages (a THP fault may map more).
  const isLazy = (v: SparseVariantEvidence): boolean =>
    v.touchedPages > 0 && v.residentPagesBeforeTouch === 0 && v.residentPages >= v.touchedPages;
  const lazy = variants.every(isLazy);
  out.push(
    finding(
      c.allocatedOnTouch,
      lazy,
      variants
        .map(
          (v) =>
            `${v.variant}: ${v.residentPagesBeforeTouch} pages resident after mmap, ${v.residentPages} after writing ${v.touchedPages} (RSS +${mib(v.rssDeltaBytes)}, RssAnon +${mib(v.rssAnonDeltaBytes)}): ` +
            (isLazy(v)
              ? 'none before the touch, at least the touched pages after it'
              : v.touchedPages === 0
                ? 'no page was touched, so nothing was tested'
                : v.residentPagesBeforeTouch !== 0
                  ? 'pages were resident before any touch'
                  : 'fewer pages resident than were touched'),
        )
        .join('; ') +
        `. Mode ${mode}; with ${r.swapTotalBytes === 0 ? 'no swap on this machine' : 'swap present'}, what a touched page takes is RAM.${thpWords}`,
      evidence,
    ),
  );

  // Committed_AS is the kernel's only reservation. Reserved on access: it grows by what was
  // touched; not: it stays put. Each within the sampled spreads plus Node's own jitter; a move
  // between the two is other processes', and decides nothing.
  const touchedBytes = program.touchedPages * pageSize;
  const touchTol = program.committedTouchToleranceBytes + OWN_JITTER_BYTES;
  const touchDelta = program.committedTouchDeltaBytes;
  const grewOnTouch = touchDelta >= touchedBytes - touchTol;
  const stayed = Math.abs(touchDelta) <= touchTol;
  const decided = touchTol < touchedBytes / 2 && (grewOnTouch || stayed);
  out.push(
    finding(
      c.reservedOnAccess,
      decided ? grewOnTouch : null,
      `Writing ${program.touchedPages} pages (${mib(touchedBytes)}) moved Committed_AS by ${touchDelta} B (${mib(touchDelta)}; tolerance ±${mib(touchTol)}: the sampled spreads plus ${mib(OWN_JITTER_BYTES)} for Node's own allocations) ` +
        `while RSS grew by ${mib(program.rssDeltaBytes)}: ${grewOnTouch ? 'it grew by the touched pages, within the tolerance' : stayed ? 'it stayed within the tolerance of 0' : 'neither 0 nor the touched pages, within the tolerance'}. ` +
        (grewOnTouch
          ? 'The counter grew with the touch.'
          : stayed
            ? `Nothing is reserved at access: a fault just allocates a page; the kernel's only reservation is the commit charge, taken at mmap for an accountable mapping ('ac')` +
              `${ac ? `, as this one was in mode ${mode} (${flags}): all of it at mmap, none on access` : ` and never for this one (${flags}, mode ${mode})`}.`
            : ''),
      { ...evidence, committedTouchJudgedToleranceBytes: touchTol },
      decided
        ? undefined
        : `Committed_AS moved by ${mib(touchDelta)} (tolerance ±${mib(touchTol)}): other processes moved it too much to tell a reservation of ${mib(touchedBytes)} from none`,
    ),
  );

  const exact = variants.every((v) => v.residentPages === v.touchedPages);
  out.push(
    finding(
      c.onlyTouchedPages,
      exact,
      `program: ${program.touchedPages} pages touched, ${program.residentPages} resident, of ${program.mappedPages}: that is every page of the mapping (${mib(program.residentPages * pageSize)}). ` +
        `one page in 64: ${sparse.touchedPages} touched, ${sparse.residentPages} resident (${mib(sparse.residentPages * pageSize)}).${thpWords}`,
      evidence,
    ),
  );

  const fraction = program.residentPages / program.mappedPages;
  out.push(
    finding(
      c.programIsSparse,
      program.residentPages < program.mappedPages,
      `The program writes one int in every page, so ${program.residentPages} of ${program.mappedPages} pages (${(fraction * 100).toFixed(1)}%) became resident: ` +
        `${mib(program.residentPages * pageSize)}, the same as a dense array${program.residentPages === program.mappedPages ? ': the program is not sparse at all' : ''}. ` +
        `Writing one page in 64 instead leaves ${sparse.residentPages} pages (${mib(sparse.residentPages * pageSize)}, ${((sparse.residentPages / sparse.mappedPages) * 100).toFixed(1)}%) resident; touching took ${program.touchMs.toFixed(0)} ms against ${sparse.touchMs.toFixed(0)} ms.`,
      evidence,
    ),
  );
  return out;
}

export const sparseArray = legacyExperiment({
  id: 'sparse-array',
  title: "004's sparse program: a 1 GiB MAP_NORESERVE array written once per page, and a one-page-in-64 variant",
  claims: Object.values(sparseArrayClaims),
  // The 1 GiB touch happens inside a memory cgroup only (root and a memory controller).
  requires: { memoryCgroup: true },
  async run(ctx: ExperimentContext): Promise<Finding[]> {
    return sparseFindings(await runSparseDemo({ progress: (m) => ctx.progress(m) }), ctx.mode);
  },
});
