/**
 * sparse-array: 004's sparse program (a private anonymous MAP_NORESERVE array, one int written
 * per 4096 bytes), run as its own process. The program prints its lines; the tool stops it at
 * its two points (after mmap, after the touch loop) and reads what the program cannot see: its
 * own mincore count of the mapping, the mapping's Rss, Anonymous and VmFlags in the program's
 * /proc/<pid>/smaps, its RSS, and Committed_AS (with the noise measured while it is stopped).
 *
 * What each claim needs, and no more (issue 10): the 1 GB mmap claims need the program's 1 GiB
 * mmap, not its touch, so that run is ended at its first point; the touch claims are about what
 * a write per page does, which a 64 MiB array shows as exactly as a gigabyte. A genuinely sparse
 * pattern (one page in 64) runs beside it in this process (2 MiB touched). The program's own loop
 * over 1 GiB is `overcommit-lab demo sparse` (runSparseDemo).
 *
 * The touching program runs in a memory cgroup when one can be made, else only when MemAvailable
 * leaves a wide margin, with oom_score_adj 1000 (lib/safety/touch-confinement.ts); otherwise the
 * touch claims are undecided with the reason, and the mmap claims are still judged.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { readMeminfo } from '../kernel/meminfo.js';
import { findVma, readVmas } from '../kernel/smaps.js';
import { readStatus } from '../kernel/status.js';
import { readThpSettings } from '../kernel/thp.js';
import { readCommitted } from '../measure/committed.js';
import { isSystemCallError } from '../native/errors.js';
import { mmap, pageSize } from '../native/mapping.js';
import { type PausePoint, type ProgramResult, parseSparseOutput, programPath, runProgram } from '../native/programs.js';
import { type EnterConfinement, type TouchPlacement, withTouchConfinement } from '../safety/touch-confinement.js';
import { GiB, MiB, mib } from '../units.js';
import { classifyChange } from '../verdict/decide.js';
import { type CommittedChange, changeFromDeltas } from '../verdict/tolerance.js';
import { DOC_001, DOC_004 } from './documents.js';
import { type Claim, type ClaimRule, defineExperiment, type Evidence, type Measured, type OvercommitMode, type Verdict } from './model.js';

/** 004's ARRAY_SIZE * sizeof(int): 256M ints. */
const PROGRAM_BYTES = GiB;
/** The array the experiment's program touches: a write per page shows the same on any size. */
const TOUCH_BYTES = 64 * MiB;
/** 004's STRIDE: 4096 / sizeof(int) ints, one write per 4096 bytes. */
const PROGRAM_STRIDE_BYTES = 4096;
/** The genuinely sparse variant writes one page in this many. */
const SPARSE_PAGE_INTERVAL = 64;
/** Committed_AS readings per point (median), and noise controls per point. */
const COMMITTED_READS = 3;
const CONTROLS = 3;
/**
 * How long a program run may take before it is killed: the demo's 1 GiB loop takes seconds on an
 * idle machine, far longer on a busy one or under software emulation (TCG).
 */
const EXPERIMENT_TIMEOUT_MS = 120_000;
const DEMO_TIMEOUT_MS = 600_000;
/** A control spans as long as the action it stands beside (the noise grows with time), up to this. */
const CONTROL_MAX_MS = 1000;

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
  pageSize: number;
  swapTotalBytes: number;
  swapFreeBytes: number;
  /** Transparent hugepages 'enabled' (a fault may map 2 MiB with 'always'); null without THP. */
  thpEnabled: string | null;
  /** 004's program with its 1 GiB array, ended after its mmap. */
  mapping: SparseProgramRun;
  /** The program run to its end on TOUCH_BYTES; null when touching was not safe here (touchSkipped). */
  touch: SparseProgramRun | null;
  touchSkipped: string | null;
  variant: SparseVariantEvidence | null;
}

const committedNow = (): number => readCommitted(COMMITTED_READS);

/** Committed_AS deltas over `ms` with nothing done between the readings: this run's noise. */
async function controlDeltas(ms: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < CONTROLS; i++) {
    const a = committedNow();
    await sleep(ms);
    out.push(committedNow() - a);
  }
  return out;
}

function readPoint(pid: number, address: bigint, atMs: number): SparsePoint {
  const vmas = readVmas(pid);
  const vma = findVma(vmas, address);
  if (vma === undefined) throw new Error(`the program's mapping at 0x${address.toString(16)} is not in /proc/${pid}/smaps`);
  const status = readStatus(pid);
  return {
    residentPages: null,
    vmaSizeBytes: vma.sizes.Size ?? Number(vma.end - vma.start),
    vmaRssBytes: vma.sizes.Rss ?? 0,
    vmaAnonymousBytes: vma.sizes.Anonymous ?? 0,
    vmFlags: vma.vmFlags,
    otherAccountableBytes: vmas.filter((v) => v !== vma && v.vmFlags.includes('ac')).reduce((sum, v) => sum + (v.sizes.Size ?? 0), 0),
    rssBytes: status.vmRss,
    rssAnonBytes: status.rssAnon,
    committedAsBytes: committedNow(),
    atMs,
  };
}

const clampControl = (ms: number): number => Math.min(Math.max(ms, 1), CONTROL_MAX_MS);

/**
 * Runs 004's sparse program on `bytes` and measures around it at its points. With `enter`
 * undefined it is ended at 'mapped'; otherwise `enter` places it (cgroup, oom_score_adj) there,
 * before its touch loop.
 */
async function runSparseProgram(
  bytes: number,
  enter: EnterConfinement | undefined,
  timeoutMs = EXPERIMENT_TIMEOUT_MS,
): Promise<SparseProgramRun> {
  const points: Partial<Record<PausePoint<'sparse'>, SparsePoint>> = {};
  let placement: TouchPlacement | null = null;
  let mmapControls: number[] = [];
  let touchControls: number[] = [];
  const spawnedAt = performance.now();
  const committedBefore = committedNow();
  const result: ProgramResult<'sparse'> = await runProgram('sparse', {
    ...(bytes === PROGRAM_BYTES ? {} : { bytes }),
    mincore: true,
    timeoutMs,
    onPause: async ({ point, pid, stdout }) => {
      const address = parseSparseOutput(stdout).address;
      const at = performance.now() - spawnedAt;
      const reading = readPoint(pid, address, at);
      points[point] = reading;
      if (point === 'mapped') {
        mmapControls = await controlDeltas(clampControl(at));
        if (enter === undefined) process.kill(pid, 'SIGKILL');
        else placement = enter(pid);
      } else {
        touchControls = await controlDeltas(clampControl(reading.atMs - (points.mapped?.atMs ?? 0)));
      }
    },
  });
  for (const count of result.mincore) {
    const p = points[count.point];
    if (p !== undefined) p.residentPages = count.residentPages;
  }
  let address: string | null = null;
  let printedTouchedPages: number | null = null;
  let readBack: SparseProgramRun['readBack'] = null;
  if (result.stdout.some((l) => l.startsWith('Mapped '))) {
    const out = parseSparseOutput(result.stdout);
    address = `0x${out.address.toString(16)}`;
    printedTouchedPages = out.touchedPages;
    if (out.first !== null) readBack = { first: out.first, strideIndex: out.strideIndex!, strideValue: out.strideValue! };
  }
  const mapped = points.mapped ?? null;
  const touched = points.touched ?? null;
  const [resumed, stopped] = [result.pauses[0]?.resumedMs, result.pauses[1]?.stoppedMs];
  const p = placement as TouchPlacement | null;
  return {
    bytes,
    pages: bytes / pageSize,
    args: result.args,
    pid: result.pid,
    lines: result.stdout,
    stderr: result.stderr,
    exitCode: result.exitCode,
    signal: result.signal,
    timedOut: result.timedOut,
    endedAfterMmap: enter === undefined,
    address,
    printedTouchedPages,
    readBack,
    mapped,
    touched,
    committedMmap:
      mapped === null ? null : changeFromDeltas([mapped.committedAsBytes - committedBefore - mapped.otherAccountableBytes], mmapControls),
    committedTouch:
      mapped === null || touched === null ? null : changeFromDeltas([touched.committedAsBytes - mapped.committedAsBytes], touchControls),
    touchMs: resumed !== undefined && stopped !== undefined ? stopped - resumed : null,
    durationMs: result.durationMs,
    confinement: p?.confinement ?? null,
    oomScoreAdj: p?.oomScoreAdj ?? null,
  };
}

/** Committed_AS reads per point around the variant's mmap and touch (median). */
const VARIANT_READS = 3;

/** One page in 64 of a MAP_NORESERVE mapping of `bytes`, written in this process (a few MiB). */
function runVariant(bytes: number): SparseVariantEvidence {
  const strideBytes = SPARSE_PAGE_INTERVAL * pageSize;
  const base = { variant: 'one-page-in-64' as const, strideBytes, mappedBytes: bytes, mappedPages: bytes / pageSize };
  let m: ReturnType<typeof mmap>;
  const c0 = readCommitted(VARIANT_READS);
  try {
    m = mmap(bytes, { noreserve: true });
  } catch (e) {
    if (!isSystemCallError(e)) throw e;
    const none = { vmFlags: [], residentPagesBeforeTouch: 0, touchedPages: 0, residentPages: 0, rssDeltaBytes: 0, rssAnonDeltaBytes: 0 };
    const noCommitted = {
      committedDeltaBytes: null,
      committedToleranceBytes: null,
      committedTouchDeltaBytes: null,
      committedTouchToleranceBytes: null,
    };
    return { ...base, mmapCode: e.code, ...none, touchMs: 0, address: null, ...noCommitted };
  }
  try {
    const c1 = readCommitted(VARIANT_READS);
    const c1Control = readCommitted(VARIANT_READS);
    const mmapChange = changeFromDeltas([c1 - c0], [c1Control - c1]);
    const residentPagesBeforeTouch = m.residentPages();
    const s0 = readStatus();
    const t0 = performance.now();
    const touchedPages = m.touch({ stride: strideBytes });
    const touchMs = performance.now() - t0;
    const s1 = readStatus();
    const c2 = readCommitted(VARIANT_READS);
    const touchChange = changeFromDeltas([c2 - c1Control], [readCommitted(VARIANT_READS) - c2]);
    return {
      ...base,
      mmapCode: null,
      vmFlags: m.vmFlags(),
      residentPagesBeforeTouch,
      touchedPages,
      residentPages: m.residentPages(),
      rssDeltaBytes: s1.vmRss - s0.vmRss,
      rssAnonDeltaBytes: s1.rssAnon - s0.rssAnon,
      touchMs,
      address: `0x${m.address.toString(16)}`,
      committedDeltaBytes: mmapChange.changeBytes,
      committedToleranceBytes: mmapChange.toleranceBytes,
      committedTouchDeltaBytes: touchChange.changeBytes,
      committedTouchToleranceBytes: touchChange.toleranceBytes,
    };
  } finally {
    m.unmap();
  }
}

export async function measureSparseArray(
  mode: OvercommitMode,
  progress: (message: string) => void = () => {},
): Promise<SparseArrayEvidence> {
  const base = { mode, pageSize, thpEnabled: readThpSettings().enabled };
  try {
    programPath('sparse');
  } catch (e) {
    return { ...base, problem: (e as Error).message } as SparseArrayEvidence;
  }
  const mem = readMeminfo();
  progress(`sparse-array: 004's sparse program, 1 GiB mmap (ended before its touch loop)`);
  const mapping = await runSparseProgram(PROGRAM_BYTES, undefined);
  progress(`sparse-array: 004's sparse program writing every page of ${mib(TOUCH_BYTES)}`);
  const touch = await withTouchConfinement(TOUCH_BYTES, (enter) => runSparseProgram(TOUCH_BYTES, enter));
  progress(`sparse-array: one page in ${SPARSE_PAGE_INTERVAL} of ${mib(TOUCH_BYTES)}`);
  return {
    ...base,
    swapTotalBytes: mem.swapTotal,
    swapFreeBytes: mem.swapFree,
    mapping,
    touch: 'value' in touch ? touch.value : null,
    touchSkipped: 'skipped' in touch ? touch.skipped : null,
    variant: runVariant(TOUCH_BYTES),
  };
}

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

/** What Committed_AS said across the mmap, against the VMA's 'ac' flag. */
function mmapCharge(r: SparseProgramRun): { charged: boolean | null; words: string } {
  const c = r.committedMmap!;
  const k = classifyChange(c, [
    { label: 'charged', bytes: r.bytes },
    { label: 'not charged', bytes: 0 },
  ]);
  const how = `Committed_AS moved by ${mib(c.changeBytes)} across the mmap (its exec's own ${mib(r.mapped!.otherAccountableBytes)} taken off; ±${mib(c.toleranceBytes)})`;
  return k.match === null
    ? { charged: null, words: `${how}: ${k.reason}` }
    : { charged: k.match.bytes !== 0, words: `${how}: ${k.match.label}` };
}

/** A verdict from the VMA's flags, unless Committed_AS decisively says otherwise. */
function flagVerdict(r: SparseProgramRun, holds: boolean, chargedIfHolds: boolean): Verdict {
  const c = mmapCharge(r);
  if (c.charged !== null && c.charged !== (holds ? chargedIfHolds : !chargedIfHolds)) {
    return { holds: null, reason: `VmFlags [${r.mapped!.vmFlags.join(' ')}] and Committed_AS disagree: ${c.words}` };
  }
  return { holds };
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
    // The tolerance the reserved-on-access rule judged the touch's change with.
    committedTouchJudgedToleranceBytes: t?.committedTouch?.toleranceBytes ?? null,
    swapTotalBytes: e.swapTotalBytes,
    swapFreeBytes: e.swapFreeBytes,
    thpEnabled: e.thpEnabled,
    sparseVariant: v === null ? null : variantEvidence(v),
    mappingRun: { ...e.mapping } as unknown as Evidence,
    touchRun: t === null ? null : ({ ...t } as unknown as Evidence),
    touchSkipped: e.touchSkipped,
  };
}

/** With THP 'always' one fault may map a 2 MiB page: more resident than written. */
function thpWords(e: SparseArrayEvidence, differs: boolean): string {
  if (!differs) return '';
  return e.thpEnabled === 'always'
    ? " Transparent hugepages are 'always' here: a fault may map a 2 MiB page, making pages resident that were never written."
    : ` Transparent hugepages are '${e.thpEnabled ?? 'absent'}' here, so 2 MiB faults do not explain the difference.`;
}

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
    judge: (e) => flagVerdict(e.mapping, !e.mapping.mapped!.vmFlags.includes('ac'), false),
    observe: (e, v) => {
      const m = e.mapping.mapped!;
      const nr = m.vmFlags.includes('nr');
      const ac = m.vmFlags.includes('ac');
      return (
        `In mode ${e.mode} the program's 1 GiB mapping has VmFlags [${m.vmFlags.join(' ')}]: ${nr ? "'nr' (MAP_NORESERVE honoured)" : "no 'nr' (MAP_NORESERVE not honoured)"}, ` +
        `${ac ? "'ac' (charged to the commit)" : "no 'ac' (not charged)"}; ${mmapCharge(e.mapping).words}.` +
        (v.holds === false ? ` The program's '(no swap reserved)' is false here.` : '')
      );
    },
  },
  {
    claim: c.ignoredInMode2,
    missing: mappingMissing,
    // Ignored: the mapping is made as if MAP_NORESERVE were absent: no 'nr', charged ('ac').
    judge: (e) => {
      const f = e.mapping.mapped!.vmFlags;
      return flagVerdict(e.mapping, !f.includes('nr') && f.includes('ac'), true);
    },
    observe: (e) =>
      `Measured in mode ${e.mode}: the program's MAP_NORESERVE mapping has VmFlags [${e.mapping.mapped!.vmFlags.join(' ')}]; ${mmapCharge(e.mapping).words}.`,
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
        `004's program on ${mib(t.bytes)}: its mincore counted ${t.mapped.residentPages} pages resident after mmap and ${t.touched.residentPages} after writing ${t.printedTouchedPages} ` +
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
      const k = classifyChange(t.committedTouch!, [
        { label: 'reserved on access', bytes: accessedBytes(t) },
        { label: 'nothing reserved', bytes: 0 },
      ]);
      return k.match === null ? { holds: null, reason: k.reason! } : { holds: k.match.bytes !== 0 };
    },
    observe: (e, v) => {
      const t = touchRun(e);
      const ch = t.committedTouch!;
      const ac = t.mapped.vmFlags.includes('ac');
      return (
        `The program's loop wrote every page of ${mib(accessedBytes(t))} in ${t.touchMs?.toFixed(0) ?? '?'} ms while it was stopped before and after: ` +
        `Committed_AS moved by ${mib(ch.changeBytes)} (±${mib(ch.toleranceBytes)}, the noise measured while the program was stopped) as the mapping's Rss grew by ${mib(t.touched.vmaRssBytes - t.mapped.vmaRssBytes)}. ` +
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
        `004's program wrote ${t.printedTouchedPages} times one per 4096 bytes, touching all ${t.pages} pages of its ${mib(t.bytes)} array, and its mincore counts ${t.touched.residentPages} resident${whole} (${mib(t.touched.residentPages! * e.pageSize)}). ` +
        `One page in ${SPARSE_PAGE_INTERVAL}: ${v.touchedPages} written, ${v.residentPages} resident of ${v.mappedPages} (${mib(v.residentPages * e.pageSize)}).` +
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
        `The program printed '${t.lines[1] ?? ''}': one write per 4096 bytes reaches every ${e.pageSize}-byte page, and ${t.touched.residentPages} of its ${t.pages} pages ` +
        `(${fraction(t.touched.residentPages!, t.pages)}) became resident${t.touched.residentPages === t.pages ? ', as for a dense array' : ''}. ` +
        `Writing one page in ${SPARSE_PAGE_INTERVAL} instead leaves ${v.residentPages} of ${v.mappedPages} resident (${fraction(v.residentPages, v.mappedPages)}); ` +
        `the program's loop took ${t.touchMs?.toFixed(0) ?? '?'} ms on ${mib(t.bytes)}, the one-in-${SPARSE_PAGE_INTERVAL} writes ${v.touchMs.toFixed(0)} ms.`
      );
    },
  },
];

export const sparseArray = defineExperiment<SparseArrayEvidence>({
  id: 'sparse-array',
  title: "004's sparse program as a process: its 1 GiB MAP_NORESERVE mmap, its write per page (on 64 MiB), and a one-page-in-64 variant",
  // Runs for anyone: the touching happens only where it is safe (see the module comment), else those claims are undecided.
  requires: {},
  measure: (ctx) => measureSparseArray(ctx.mode, ctx.progress),
  rules: rules.map((r) => ({ ...r, evidence: findingEvidence })),
});

/** `overcommit-lab demo sparse`: 004's program over 1 GiB, as written, and what it cannot see. */
export interface SparseDemoResult {
  /** The program's own lines. */
  programOutput: string[];
  run: SparseProgramRun;
  swapTotalBytes: number;
  swapFreeBytes: number;
  thpEnabled: string | null;
}

export interface SparseDemoOptions {
  progress?: (message: string) => void;
}

/** Why `demo sparse` did not run: touching 1 GiB is not safe here. */
export class SparseDemoSkipped extends Error {
  override name = 'SparseDemoSkipped';
}

/** 004's sparse program over 1 GiB, its own loop in its own process, measured at its two points. */
export async function runSparseDemo(options: SparseDemoOptions = {}): Promise<SparseDemoResult> {
  const mem = readMeminfo();
  options.progress?.(`demo sparse: 004's program writing every page of ${mib(PROGRAM_BYTES)}`);
  const r = await withTouchConfinement(PROGRAM_BYTES, (enter) => runSparseProgram(PROGRAM_BYTES, enter, DEMO_TIMEOUT_MS));
  if ('skipped' in r) throw new SparseDemoSkipped(`demo sparse skipped: ${r.skipped}`);
  return {
    programOutput: r.value.lines,
    run: r.value,
    swapTotalBytes: mem.swapTotal,
    swapFreeBytes: mem.swapFree,
    thpEnabled: readThpSettings().enabled,
  };
}
