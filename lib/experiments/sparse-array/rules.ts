import { formatBytes, mib } from '../../units.js';
import { both } from '../../verdict/combine.js';
import { type ChargeClass, classifyCharge, judgeChange, verdictOf } from '../../verdict/decide.js';
import { pagesOf, strideWords, thpSizeWords } from '../../verdict/page-size.js';
import { type CommittedChange, changeFromDeltas } from '../../verdict/tolerance.js';
import { defineRules } from '../../verdict/types.js';
import { DOC_001, DOC_004 } from '../documents.js';
import type { Claim, ClaimRule, Evidence, Verdict } from '../model.js';
import type { SparseArrayEvidence, SparsePoint, SparseProgramRun, SparseVariantEvidence } from './evidence.js';
import { PROGRAM_STRIDE_BYTES, SPARSE_PAGE_INTERVAL } from './evidence.js';

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

/** How a program run ended, in words. */
function ended(r: SparseProgramRun): string {
  if (r.timedOut) return 'was killed after its timeout';
  if (r.signal !== null) return r.endedAfterMmap && r.mapped !== null ? 'was ended by the tool after its mmap' : `was ended by ${r.signal}`;
  return `exited ${r.exitCode}`;
}

/** The 1 GiB mmap could not be measured: why (the program's own words). */
function mappingMissing(e: SparseArrayEvidence): string | undefined {
  const r = e.mapping;
  if (r.mapped !== null) return undefined;
  return r.address === null
    ? `the program's 1 GiB mmap failed: ${r.stderr.trim() || `it printed nothing and ${ended(r)}`}`
    : `the program ${ended(r)} before the tool could read its mapping`;
}

/** The touch could not be measured: why. */
function touchMissing(e: SparseArrayEvidence): string | undefined {
  if (e.touch === null) return `the touch was not run: ${e.touchSkipped ?? 'no reason recorded'}`;
  const t = e.touch;
  if (t.mapped === null || t.touched === null || t.mapped.residentPages === null || t.touched.residentPages === null) {
    return `the program on ${mib(t.bytes)} ${ended(t)} (${t.stderr.trim() || t.lines.join(' / ') || 'no output'}) before both its points were measured`;
  }
  if (e.variant === null || e.variant.mmapCode !== null)
    return `the one-page-in-64 mapping failed with ${e.variant?.mmapCode ?? 'nothing recorded'}`;
  return undefined;
}

const touchRun = (e: SparseArrayEvidence) => e.touch as SparseProgramRun & { mapped: SparsePoint; touched: SparsePoint };

const variantOf = (e: SparseArrayEvidence) => e.variant as SparseVariantEvidence;

/** Every page of the program's array is written: one int per 4096 bytes, on any page size. */
const accessedBytes = (r: SparseProgramRun): number => r.bytes;

/**
 * The touch's Committed_AS change over both runs of it (one load mapping during one touch then
 * widens the tolerance instead of reading as a reservation); runs saved before the second run
 * existed have the one. Null when a run present was not measured.
 */
function touchCharge(e: SparseArrayEvidence): CommittedChange | null {
  const first = touchRun(e).committedTouch;
  if (e.touchAgain === undefined || first === null) return first;
  const again = e.touchAgain?.committedTouch ?? null;
  if (again === null) return null;
  return changeFromDeltas(
    [...first.actionDeltasBytes, ...again.actionDeltasBytes],
    [...first.controlDeltasBytes, ...again.controlDeltasBytes],
  );
}

/** The touches the reservation rule reads, in words. */
const touches = (e: SparseArrayEvidence): string => (e.touchAgain === undefined ? 'the touch' : 'both touches');

/** The bytes of the program's mapping charged to the commit at a point: its VMA's size when marked 'ac' (exact, per mapping). */
const accountedBytes = (p: SparsePoint): number => (p.vmFlags.includes('ac') ? p.vmaSizeBytes : 0);

/** What the mmap charged, by the VMA's 'ac' flag and by Committed_AS (the verdict layer's classifyCharge), in words; null when either was not read. */
function mmapCharge(r: SparseProgramRun): { cls: ChargeClass; words: string } | null {
  const { mapped, committedMmap: change } = r;
  if (mapped === null || change === null) return null;
  const how = `Committed_AS moved by ${mib(change.changeBytes)} across the mmap (its exec's own ${mib(mapped.otherAccountableBytes)} taken off; ±${mib(change.toleranceBytes)})`;
  const hypotheses = [
    { label: 'charged', bytes: r.bytes },
    { label: 'not charged', bytes: 0 },
  ];
  // The VMA is the array rounded up to whole pages: that rounding is the flag side's only slack.
  const cls = classifyCharge(change, accountedBytes(mapped), hypotheses, Math.abs(mapped.vmaSizeBytes - r.bytes));
  return { cls, words: cls.match === null ? `${how}: ${cls.reason}` : `${how}: ${cls.match.label}` };
}

/** A verdict on the mmap's charge: holds when it is `expected`, from the flag and Committed_AS together. */
function chargeVerdict(r: SparseProgramRun, expected: 'charged' | 'not charged'): Verdict {
  const c = mmapCharge(r);
  if (c === null) return { holds: null, reason: 'the mapping or Committed_AS across its mmap was not read' };
  return verdictOf(c.cls, (m) => m.label === expected);
}

/** The variant, with the keys it always recorded (null where older saved evidence did not measure them). */
const variantEvidence = (v: SparseVariantEvidence): Evidence => ({
  ...(v as unknown as Evidence),
  address: v.address ?? null,
  committedDeltaBytes: v.committedDeltaBytes ?? null,
  committedToleranceBytes: v.committedToleranceBytes ?? null,
  committedTouchDeltaBytes: v.committedTouchDeltaBytes ?? null,
  committedTouchToleranceBytes: v.committedTouchToleranceBytes ?? null,
});

/** The keys this experiment's findings recorded before (report charts and saved runs read them), then the runs. */
function findingEvidence(e: SparseArrayEvidence): Evidence {
  const t = e.touch;
  const v = e.variant;
  const legacy: Evidence =
    t?.mapped != null && t.touched != null
      ? {
          variant: 'program',
          strideBytes: PROGRAM_STRIDE_BYTES,
          mappedBytes: t.bytes,
          mappedPages: t.pages,
          mmapCode: null,
          address: t.address,
          vmFlags: t.mapped.vmFlags,
          residentPagesBeforeTouch: t.mapped.residentPages,
          touchedPages: t.printedTouchedPages,
          residentPages: t.touched.residentPages,
          rssDeltaBytes: t.touched.rssBytes - t.mapped.rssBytes,
          rssAnonDeltaBytes: t.touched.rssAnonBytes - t.mapped.rssAnonBytes,
          committedTouchDeltaBytes: t.committedTouch?.changeBytes ?? null,
          committedTouchToleranceBytes: t.committedTouch?.toleranceBytes ?? null,
          touchMs: t.touchMs,
          programOutput: t.lines,
          confinement: t.confinement,
        }
      : { programOutput: e.mapping.lines, confinement: e.touchSkipped };
  return {
    mode: e.mode,
    ...legacy,
    committedDeltaBytes: e.mapping.committedMmap?.changeBytes ?? null,
    committedToleranceBytes: e.mapping.committedMmap?.toleranceBytes ?? null,
    // The change and tolerance the reserved-on-access rule judged the touch with (over both runs where there are two).
    committedTouchJudgedDeltaBytes: t === null ? null : (touchCharge(e)?.changeBytes ?? null),
    committedTouchJudgedToleranceBytes: t === null ? null : (touchCharge(e)?.toleranceBytes ?? null),
    swapTotalBytes: e.swapTotalBytes,
    swapFreeBytes: e.swapFreeBytes,
    thpEnabled: e.thpEnabled,
    // Where the page counts were made: the measured machine's page, and huge page where the run recorded it.
    pageSize: e.pageSize,
    ...(e.thpSizeBytes === undefined ? {} : { thpSizeBytes: e.thpSizeBytes }),
    sparseVariant: v === null ? null : variantEvidence(v),
    mappingRun: { ...e.mapping } as unknown as Evidence,
    touchRun: t === null ? null : ({ ...t } as unknown as Evidence),
    ...(e.touchAgain === undefined ? {} : { touchRunAgain: e.touchAgain === null ? null : ({ ...e.touchAgain } as unknown as Evidence) }),
    touchSkipped: e.touchSkipped,
  };
}

/** With THP 'always' one fault may map a huge page (its size is the measured machine's): more resident than written. */
function thpWords(e: SparseArrayEvidence, differs: boolean): string {
  if (!differs) return '';
  return e.thpEnabled === 'always'
    ? ` Transparent hugepages are 'always' here: a fault may map ${thpSizeWords(e)}, making pages resident that were never written.`
    : ` Transparent hugepages are '${e.thpEnabled ?? 'absent'}' here, so faults of ${thpSizeWords(e)} do not explain the difference.`;
}

/** 'all resident' or 'N resident'. */
const residentWords = (resident: number, of: number): string => (resident === of ? 'all resident' : `${resident} resident`);

const c = sparseArrayClaims;

const rules: ClaimRule<SparseArrayEvidence>[] = [
  {
    claim: c.mmapWithoutSwap,
    judge: (e) => {
      if (e.swapFreeBytes >= e.mapping.bytes)
        return { holds: null, reason: `${mib(e.swapFreeBytes)} of swap is free here, so success does not test the claim` };
      return { holds: e.mapping.address !== null };
    },
    observe: (e) =>
      `In mode ${e.mode}, with SwapTotal ${e.swapTotalBytes} B and SwapFree ${e.swapFreeBytes} B, 004's program ` +
      (e.mapping.address !== null
        ? `printed '${e.mapping.lines[0]}': its 1 GiB MAP_NORESERVE mmap succeeded.`
        : `did not map: ${e.mapping.stderr.trim() || ended(e.mapping)}.`),
  },
  {
    claim: c.noReservation,
    missing: mappingMissing,
    // Not reserved: the kernel did not make the mapping accountable ('ac'), so nothing was charged.
    judge: (e) => chargeVerdict(e.mapping, 'not charged'),
    observe: (e, v) => {
      const m = e.mapping.mapped!;
      const nr = m.vmFlags.includes('nr');
      const ac = m.vmFlags.includes('ac');
      return (
        `In mode ${e.mode} the program's 1 GiB mapping has VmFlags [${m.vmFlags.join(' ')}]: ${nr ? "'nr' (MAP_NORESERVE honoured)" : "no 'nr' (MAP_NORESERVE not honoured)"}, ` +
        `${ac ? "'ac' (charged to the commit)" : "no 'ac' (not charged)"}; ${mmapCharge(e.mapping)?.words ?? 'Committed_AS not read'}.` +
        (v.holds === false ? ` The program's '(no swap reserved)' is false here.` : '')
      );
    },
  },
  {
    claim: c.ignoredInMode2,
    missing: mappingMissing,
    // Ignored: the mapping is made as if MAP_NORESERVE were absent: no 'nr', charged ('ac').
    judge: (e) => both({ holds: e.mapping.mapped?.vmFlags.includes('nr') === false }, chargeVerdict(e.mapping, 'charged')),
    observe: (e) =>
      `Measured in mode ${e.mode}: the program's MAP_NORESERVE mapping has VmFlags [${e.mapping.mapped!.vmFlags.join(' ')}]; ${mmapCharge(e.mapping)?.words ?? 'Committed_AS not read'}.`,
  },
  {
    claim: c.allocatedOnTouch,
    missing: touchMissing,
    // Lazy: nothing resident after mmap, at least the written pages after the writes (a THP fault may map more).
    judge: (e) => {
      const t = touchRun(e);
      const v = variantOf(e);
      const lazy =
        t.mapped.residentPages === 0 &&
        t.touched.residentPages! >= t.pages &&
        v.residentPagesBeforeTouch === 0 &&
        v.residentPages >= v.touchedPages;
      return { holds: lazy };
    },
    observe: (e) => {
      const t = touchRun(e);
      const v = variantOf(e);
      const words = (before: number, after: number, written: number) =>
        before !== 0
          ? 'pages were resident before any write'
          : after >= written
            ? 'none before the writes, at least the written pages after them'
            : 'fewer pages resident than were written';
      return (
        `004's program on ${mib(t.bytes)} (${pagesOf(t.pages, e.pageSize)}): its mincore counted ${t.mapped.residentPages} pages resident after mmap and ${t.touched.residentPages} after writing ${t.printedTouchedPages} ` +
        `(the mapping's Rss ${mib(t.mapped.vmaRssBytes)} -> ${mib(t.touched.vmaRssBytes)}, the program's RSS ${mib(t.mapped.rssBytes)} -> ${mib(t.touched.rssBytes)}): ${words(t.mapped.residentPages!, t.touched.residentPages!, t.pages)}; ` +
        `one page in ${SPARSE_PAGE_INTERVAL}: ${v.residentPagesBeforeTouch} resident after mmap, ${v.residentPages} after writing ${v.touchedPages}: ${words(v.residentPagesBeforeTouch, v.residentPages, v.touchedPages)}. ` +
        `Mode ${e.mode}; ${e.swapTotalBytes === 0 ? 'no swap on this machine, so what a written page takes is RAM' : 'swap present'}.`
      );
    },
  },
  {
    claim: c.reservedOnAccess,
    missing: touchMissing,
    // Committed_AS is the kernel's only reservation: reserved on access, it grows by what was written; otherwise it stays.
    judge: (e) => {
      const t = touchRun(e);
      const ch = touchCharge(e);
      if (ch === null) return { holds: null, reason: `Committed_AS was not read across ${touches(e)}` };
      // Only the counter can say: a kernel reserving on access would charge without marking the VMA 'ac'.
      return judgeChange(ch, { label: 'reserved on access', bytes: accessedBytes(t) }, { label: 'nothing reserved', bytes: 0 });
    },
    observe: (e, v) => {
      const t = touchRun(e);
      const ch = touchCharge(e);
      if (ch === null)
        return `The program's loop wrote every page of ${mib(accessedBytes(t))}; Committed_AS was not read across ${touches(e)}.`;
      const ac = t.mapped.vmFlags.includes('ac');
      const runs =
        ch.actionDeltasBytes.length > 1
          ? `in its ${ch.actionDeltasBytes.length} runs Committed_AS moved by ${ch.actionDeltasBytes.map((d) => mib(d)).join(' and ')}: ${mib(ch.changeBytes)} judged (their median less the controls' drift)`
          : `Committed_AS moved by ${mib(ch.changeBytes)}`;
      return (
        `The program's loop wrote every page of ${mib(accessedBytes(t))} in ${t.touchMs?.toFixed(0) ?? '?'} ms while it was stopped before and after: ` +
        `${runs} (±${mib(ch.toleranceBytes)}, ${ch.actionDeltasBytes.length > 1 ? "the runs' spread and " : ''}the noise measured while the program was stopped) as the mapping's Rss grew by ${mib(t.touched.vmaRssBytes - t.mapped.vmaRssBytes)}. ` +
        (v.holds === true
          ? 'The counter grew by what was written.'
          : v.holds === false
            ? `Nothing was reserved on access; the mapping ${ac ? "is 'ac': it was charged in full at mmap" : "is not 'ac': it is never charged"} (VmFlags [${t.mapped.vmFlags.join(' ')}], mode ${e.mode}).`
            : '')
      ).trimEnd();
    },
  },
  {
    claim: c.onlyTouchedPages,
    missing: touchMissing,
    judge: (e) => {
      const t = touchRun(e);
      const v = variantOf(e);
      return { holds: t.touched.residentPages === t.pages && v.residentPages === v.touchedPages };
    },
    observe: (e) => {
      const t = touchRun(e);
      const v = variantOf(e);
      const whole = t.touched.residentPages === t.pages ? ', every page of the mapping' : '';
      return (
        `004's program on its ${mib(t.bytes)} array: ${strideWords(t.bytes, PROGRAM_STRIDE_BYTES, e.pageSize, t.printedTouchedPages)}; its mincore counts ${residentWords(t.touched.residentPages!, t.pages)}${whole} (${mib(t.touched.residentPages! * e.pageSize)}). ` +
        `One page in ${SPARSE_PAGE_INTERVAL}: ${v.touchedPages} written, ${v.residentPages} resident of ${pagesOf(v.mappedPages, e.pageSize)} (${mib(v.residentPages * e.pageSize)}).` +
        thpWords(e, t.touched.residentPages !== t.pages || v.residentPages !== v.touchedPages)
      );
    },
  },
  {
    claim: c.programIsSparse,
    missing: touchMissing,
    // Sparse: most of the array never becomes memory; here, fewer than half its pages resident.
    judge: (e) => {
      const t = touchRun(e);
      return { holds: t.touched.residentPages! < t.pages / 2 };
    },
    observe: (e) => {
      const t = touchRun(e);
      const v = variantOf(e);
      const fraction = (n: number, of: number) => `${((n / of) * 100).toFixed(1)}%`;
      return (
        `The program printed '${t.lines[1] ?? ''}' (its 'pages' are ${PROGRAM_STRIDE_BYTES}-byte strides): on the ${formatBytes(e.pageSize)} pages of the machine measured that is ${strideWords(t.bytes, PROGRAM_STRIDE_BYTES, e.pageSize, t.printedTouchedPages)}, ` +
        `so every page of the array is written, and ${t.touched.residentPages} of its ${pagesOf(t.pages, e.pageSize)} ` +
        `(${fraction(t.touched.residentPages!, t.pages)}) became resident${t.touched.residentPages === t.pages ? ', as for a dense array' : ''}. ` +
        `Writing one page in ${SPARSE_PAGE_INTERVAL} instead (one write per ${formatBytes(v.strideBytes)}) leaves ${v.residentPages} of ${v.mappedPages} resident (${fraction(v.residentPages, v.mappedPages)}); ` +
        `the program's loop took ${t.touchMs?.toFixed(0) ?? '?'} ms on ${mib(t.bytes)}, the one-in-${SPARSE_PAGE_INTERVAL} writes ${v.touchMs.toFixed(0)} ms.`
      );
    },
  },
];

export const sparseArrayRules = defineRules<SparseArrayEvidence>({
  id: 'sparse-array',
  title: "004's sparse program as a process: its 1 GiB MAP_NORESERVE mmap, its write per page (on 64 MiB), and a one-page-in-64 variant",
  // Runs for anyone: the touching happens only where it is safe (see the module comment), else those claims are undecided.
  requires: {},
  rules: rules.map((r) => ({ ...r, evidence: findingEvidence })),
});
