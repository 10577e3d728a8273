/**
 * mode-matrix: 004's table (mode x MAP_NORESERVE), with 001's and 003's sentences about the
 * modes. In the mode in force (the runner runs it under each mode) it finds the largest private
 * writable anonymous mapping the kernel accepts, with and without MAP_NORESERVE (binary search
 * with mmap/munmap, nothing touched), and records beside it the inputs of the rules that could
 * decide it (lib/kernel/admission.ts):
 *   mode 0: both known heuristics, each read several times around the probe (their spread is the
 *           noise): RAM + swap (since 5.2) and the free-memory estimate (before 5.2);
 *   mode 1: no check, so only the free address space limits a mapping;
 *   mode 2: CommitLimit - Committed_AS - the reserves, with the per-cpu counter's slack.
 * The rules then judge what the documents say against what this kernel did; which mode-0 rule is
 * in force is itself a finding.
 * Safety: an accepted mode-2 probe commits, for the microseconds between its mmap and munmap,
 * all that the kernel lets this process have. The kernel holds back min(total_vm/32,
 * user_reserve_kbytes) of it; an uncharged PROT_NONE reservation of 32 x user_reserve_kbytes
 * makes that the whole user reserve, which other processes keep (the root-vs-nobody children map
 * the same reservation first). This process's searches start bracketed around the prediction, so
 * there are few such probes.
 */
import { cpus } from 'node:os';
import {
  type FreeEstimateInputs,
  freeEstimateInputs,
  freeMemoryRule,
  type RulePrediction,
  ramSwapRule,
  type StrictInputs,
  strictRule,
} from '../kernel/admission.js';
import { readMeminfo, sampleCommitted } from '../kernel/meminfo.js';
import { readMaps } from '../kernel/smaps.js';
import { hasCapSysAdmin, readStatus } from '../kernel/status.js';
import { readMmapMinAddr, readOvercommitSettings } from '../kernel/sysctl.js';
import { readZoneinfo, totalReservePages } from '../kernel/zoneinfo.js';
import { runNamedChild } from '../measure/child.js';
import { isSystemCallError } from '../native/errors.js';
import { type Mapping, mmap, pageSize } from '../native/mapping.js';
import { type ProbeResult, probeLargestMapping } from '../native/probe.js';
import { bytesToPages, gib, MiB, mib, OWN_JITTER_BYTES } from '../units.js';
import { type ChangeClass, classifyChange } from '../verdict/decide.js';
import { median } from '../verdict/stats.js';
import { DOC_000, DOC_001, DOC_003, DOC_004 } from './documents.js';
import { type Claim, type ClaimRule, defineExperiment, type Evidence, type Measured, type OvercommitMode, type Verdict } from './model.js';

export const modeMatrixClaims = {
  table0No: {
    id: 'table-mode0-noreserve-no',
    text: 'Mode 0 (default), MAP_NORESERVE = No: deny obvious overcommits (heuristic check: small overcommits pass).',
    source: DOC_004,
    modes: [0],
  },
  table0Yes: {
    id: 'table-mode0-noreserve-yes',
    text: 'Mode 0 (default), MAP_NORESERVE = Yes: allow overcommits.',
    source: DOC_004,
    modes: [0],
  },
  table1No: {
    id: 'table-mode1-noreserve-no',
    text: 'Mode 1, MAP_NORESERVE = No: always allow overcommits (no check).',
    source: DOC_004,
    modes: [1],
  },
  table1Yes: {
    id: 'table-mode1-noreserve-yes',
    text: 'Mode 1, MAP_NORESERVE = Yes: always allow overcommits (no check).',
    source: DOC_004,
    modes: [1],
  },
  mode1Always: {
    id: 'mode1-malloc-always-succeeds',
    text: 'Setting overcommit to 1: when a program calls something like malloc() to allocate a chunk of memory, it will always succeed regardless if the system knows it will not have all the memory that is being asked for.',
    source: DOC_000,
    modes: [1],
  },
  mode1Virtual99: {
    id: 'mode1-99-times-virtual',
    text: "On peut très bien ne disposer que d'1 Gio de mémoire physique, et allouer 99 Gio de mémoire virtuelle (virtual memory far beyond physical memory).",
    source: DOC_000,
    modes: [1],
  },
  table2No: {
    id: 'table-mode2-noreserve-no',
    text: 'Mode 2 (strict), MAP_NORESERVE = No: strict accounting for ALL mappings.',
    source: DOC_004,
    modes: [2],
  },
  table2Yes: {
    id: 'table-mode2-noreserve-yes',
    text: 'Mode 2 (strict), MAP_NORESERVE = Yes: total <= swap + RAM * overcommit_ratio/100.',
    source: DOC_004,
    modes: [2],
  },
  q3: {
    id: 'q3-noreserve-allows-denied-overcommit',
    text: 'Q3: Under overcommit_memory=0, specifying MAP_NORESERVE allows the overcommit that would otherwise be denied.',
    source: DOC_004,
    modes: [0],
  },
  obvious: {
    id: 'obvious-overcommits-refused',
    text: 'Heuristic overcommit handling. Obvious overcommits of address space are refused.',
    source: DOC_001,
    modes: [0],
  },
  freeMemory: {
    id: 'heuristic-limit-is-free-memory',
    text: "Denying obvious overcommits means that new mappings whose size doesn't exceed the amount of currently available free memory are permitted.",
    source: DOC_003,
    modes: [0],
  },
  ruleInForce: {
    id: 'mode0-rule-in-force',
    text: 'Heuristic overcommit handling: a new mapping is an obvious overcommit when its size exceeds the amount of currently available free memory (003; kernels before 5.2), or RAM + swap (since 5.2). Which one this kernel follows.',
    source: DOC_003,
    modes: [0],
  },
  noreserveIgnored: { id: 'mode2-noreserve-ignored', text: 'In mode 2 the MAP_NORESERVE flag is ignored.', source: DOC_001, modes: [2] },
  rootMore: {
    id: 'root-allocates-slightly-more',
    text: 'root is allowed to allocate slightly more memory in this mode [0].',
    source: DOC_001,
    modes: [0, 2],
  },
} satisfies Record<string, Claim>;

/** The uid/gid the unprivileged child switches to (nobody). */
const UNPRIVILEGED_UID = 65534;
/** The top of the default x86_64 user address space (47 bits): mmap without a hint stays below it. */
const ADDRESS_SPACE_TOP = 2 ** 47;
/** Readings of the mode-0 rules' inputs before the probe, and as many after it. */
const MODE0_READINGS = 3;
/** Root-vs-unprivileged trials (children), each a probe as root then one as nobody. */
const ROOT_TRIALS = 2;

/** One probe of the matrix: the evidence of its (mode, noreserve) finding. */
export interface MatrixCell {
  mode: OvercommitMode;
  noreserve: boolean;
  largestBytes: number;
  predictedBytes: number;
  /** |largest - predicted| allowed by the rule's inputs (0: exact). */
  toleranceBytes: number;
  probes: number;
  refusedCode: string | null;
  /** The bounds of the search that found largestBytes: a result at either end is no threshold. */
  searchLoBytes: number;
  searchHiBytes: number;
  /** How the prediction was computed, with this machine's numbers. */
  prediction: string;
  inputs: Evidence;
}

/** One reading of both mode-0 rules' inputs. */
export interface Mode0Reading {
  free: FreeEstimateInputs;
  memTotalBytes: number;
  swapTotalBytes: number;
  /** MemAvailable, beside the estimate (reported, not a rule's input; absent from older saved evidence). */
  memAvailableBytes?: number;
}

/** A rule's prediction over the readings around the probe: its median and its spread (the noise). */
export interface PredictionSpread {
  /** Per reading, in reading order. */
  bytes: number[];
  medianBytes: number;
  spreadBytes: number;
  /** The computation on the first reading. */
  formula: string;
}

/** Mode 0 only: the two known heuristics, and what the document's scenarios did. */
export interface Mode0Evidence {
  /** MODE0_READINGS before the probe, then as many after it. */
  readings: Mode0Reading[];
  freeEstimate: PredictionSpread;
  ramSwap: PredictionSpread;
  /** The largest noise of either prediction, plus Node's own allocations and one page. */
  toleranceBytes: number;
  /** A single request one page larger than RAM + swap: more than the machine could ever back. */
  obvious: { sizeBytes: number; accepted: boolean; code: string | null };
  /** Two mappings just below the largest accepted size (by twice the tolerance), the first held while the second is asked for. */
  pair: { sizeBytes: number; firstAccepted: boolean; firstCode: string | null; secondAccepted: boolean; secondCode: string | null };
  /** Twice the tolerance (at least a page) above the largest accepted size, without and with MAP_NORESERVE: 'accepted' or the errno. */
  q3: { sizeBytes: number; withoutNoreserve: string; withNoreserve: string };
}

/** One child: a probe as root, setuid to nobody, the same probe again. */
export interface RootTrial {
  rootBytes: number | null;
  userBytes: number | null;
  setuid: string;
  /** How the child failed to give both numbers (a measurement problem), or null. */
  problem: string | null;
}

export interface RootEvidence {
  mode: OvercommitMode;
  searchHiBytes: number;
  trials: RootTrial[];
  adminReserveBytes: number;
}

export interface ModeMatrixEvidence extends Measured {
  mode: OvercommitMode;
  pageSize: number;
  capSysAdmin: boolean;
  memTotalBytes: number;
  swapTotalBytes: number;
  /** The largest gap of this process's address space at the end: what an unchecked mapping may get. */
  addressGapBytes: number;
  no: MatrixCell;
  yes: MatrixCell;
  mode0: Mode0Evidence | null;
  /** Root vs nobody (modes 0 and 2, as root); null with `rootSkipped` otherwise. */
  root: RootEvidence | null;
  rootSkipped: string | null;
}

/** The size of the largest gap between this process's mappings, the most one mmap can get. */
function largestAddressGap(): { bytes: number; mappings: number } {
  const minAddr = BigInt(readMmapMinAddr());
  const top = BigInt(ADDRESS_SPACE_TOP - pageSize);
  const vmas = readMaps()
    .filter((v) => v.start < top)
    .sort((a, b) => (a.start < b.start ? -1 : 1));
  let prev = minAddr;
  let best = 0n;
  for (const v of vmas) {
    if (v.start - prev > best) best = v.start - prev;
    if (v.end > prev) prev = v.end;
  }
  if (top - prev > best) best = top - prev;
  return { bytes: Number(best), mappings: vmas.length };
}

interface Search extends ProbeResult {
  lo: number;
  hi: number;
}

/** A search bracketed in [lo, hi] first; the full range if the answer is outside it. */
function bracketedProbe(noreserve: boolean, lo: number, hi: number): Search {
  const from = Math.max(pageSize, lo);
  const r = probeLargestMapping({ noreserve, lo: from, hi });
  if (r.largestBytes > from && r.largestBytes < hi) return { ...r, lo: from, hi };
  const full = probeLargestMapping({ noreserve, lo: pageSize, hi: ADDRESS_SPACE_TOP });
  return { ...full, probes: full.probes + r.probes, lo: pageSize, hi: ADDRESS_SPACE_TOP };
}

function spread(predictions: readonly RulePrediction[]): PredictionSpread {
  const bytes = predictions.map((p) => p.largestBytes);
  return { bytes, medianBytes: median(bytes), spreadBytes: Math.max(...bytes) - Math.min(...bytes), formula: predictions[0]!.formula };
}

function readMode0(): Mode0Reading {
  const s = readOvercommitSettings();
  const m = readMeminfo();
  return {
    free: freeEstimateInputs(m, totalReservePages(readZoneinfo()), s.adminReserveKbytes, hasCapSysAdmin()),
    memTotalBytes: m.memTotal,
    swapTotalBytes: m.swapTotal,
    memAvailableBytes: m.memAvailable,
  };
}

/** Recomputes both mode-0 predictions from recorded readings (also what the tests check). */
export function mode0Predictions(
  readings: readonly Mode0Reading[],
  page: number,
): { freeEstimate: PredictionSpread; ramSwap: PredictionSpread } {
  return {
    freeEstimate: spread(readings.map((r) => freeMemoryRule(r.free, page))),
    ramSwap: spread(readings.map((r) => ramSwapRule(r.memTotalBytes, r.swapTotalBytes, page))),
  };
}

/** Mode 0 without MAP_NORESERVE: the largest mapping, between readings of both rules' inputs. */
function heuristicCell(): { cell: MatrixCell; readings: Mode0Reading[] } {
  const readings: Mode0Reading[] = [];
  for (let i = 0; i < MODE0_READINGS; i++) readings.push(readMode0());
  const before = mode0Predictions(readings, pageSize);
  const lows = Math.min(before.freeEstimate.medianBytes, before.ramSwap.medianBytes);
  const highs = Math.max(before.freeEstimate.medianBytes, before.ramSwap.medianBytes);
  const r = bracketedProbe(false, lows - 64 * MiB, highs + 64 * MiB);
  for (let i = 0; i < MODE0_READINGS; i++) readings.push(readMode0());
  const p = mode0Predictions(readings, pageSize);
  return {
    readings,
    cell: {
      mode: 0,
      noreserve: false,
      largestBytes: r.largestBytes,
      // Which rule predicts it is for the rules to say: the cell records RAM + swap, the other is in mode0.
      predictedBytes: p.ramSwap.medianBytes,
      toleranceBytes: p.ramSwap.spreadBytes,
      probes: r.probes,
      refusedCode: r.refusedCode,
      searchLoBytes: r.lo,
      searchHiBytes: r.hi,
      prediction: p.ramSwap.formula,
      inputs: {
        memTotalBytes: readings[0]!.memTotalBytes,
        swapTotalBytes: readings[0]!.swapTotalBytes,
        memFreeBytes: readings[0]!.free.memFreeBytes,
        memAvailableBytes: readings[0]!.memAvailableBytes ?? null,
        freeEstimateBytes: p.freeEstimate.medianBytes,
      },
    },
  };
}

/** No commit check: only the largest free gap of the address space limits a mapping. */
function addressSpaceCell(mode: OvercommitMode, noreserve: boolean): MatrixCell {
  const before = largestAddressGap();
  const r = bracketedProbe(noreserve, before.bytes - 64 * MiB, before.bytes + 64 * MiB);
  const after = largestAddressGap();
  const m = readMeminfo();
  // Node's threads may map or unmap between the reads: the two estimates bound the noise.
  const tolerance = Math.abs(before.bytes - after.bytes) + 64 * MiB;
  return {
    mode,
    noreserve,
    largestBytes: r.largestBytes,
    predictedBytes: before.bytes,
    toleranceBytes: tolerance,
    probes: r.probes,
    refusedCode: r.refusedCode,
    searchLoBytes: r.lo,
    searchHiBytes: r.hi,
    prediction: `the largest gap between this process's ${before.mappings} mappings (/proc/self/maps) below 2^47: ${before.bytes} B (${gib(before.bytes)}), ${after.bytes} B after the probe`,
    inputs: {
      gapBeforeBytes: before.bytes,
      gapAfterBytes: after.bytes,
      mappings: before.mappings,
      memTotalBytes: m.memTotal,
      swapTotalBytes: m.swapTotal,
    },
  };
}

/** The address space (PROT_NONE, never charged) that makes total_vm/32 at least user_reserve_kbytes. */
function userReserveBallastBytes(): number {
  return Math.max(pageSize, readOvercommitSettings().userReserveKbytes * 1024 * 32);
}

/** Mode 2: CommitLimit - Committed_AS - the reserves, while the whole user reserve is held back. */
function strictCell(noreserve: boolean): MatrixCell {
  const ballast = mmap(userReserveBallastBytes(), { prot: 'none', noreserve: true });
  try {
    return strictProbe(noreserve);
  } finally {
    ballast.unmap();
  }
}

function strictProbe(noreserve: boolean): MatrixCell {
  const s = readOvercommitSettings();
  const m = readMeminfo();
  const committed = sampleCommitted(3);
  const inputs: StrictInputs = {
    commitLimitBytes: m.commitLimit,
    committedAsBytes: committed.median,
    totalVmPages: bytesToPages(readStatus().vmSize, pageSize),
    userReserveKbytes: s.userReserveKbytes,
    adminReserveKbytes: s.adminReserveKbytes,
    capSysAdmin: hasCapSysAdmin(),
    memTotalBytes: m.memTotal,
    cpus: cpus().length,
  };
  const rule = strictRule(inputs, pageSize);
  const tolerance = rule.slackBytes + committed.spreadBytes;
  const r = bracketedProbe(noreserve, rule.largestBytes - 2 * tolerance, rule.largestBytes + 2 * tolerance);
  const after = sampleCommitted(3);
  return {
    mode: 2,
    noreserve,
    largestBytes: r.largestBytes,
    predictedBytes: rule.largestBytes,
    toleranceBytes: tolerance + Math.abs(after.median - committed.median),
    probes: r.probes,
    refusedCode: r.refusedCode,
    searchLoBytes: r.lo,
    searchHiBytes: r.hi,
    prediction: `${rule.formula}; tolerance: that slack + Committed_AS spread ${committed.spreadBytes} B + its drift over the probe`,
    inputs: {
      ...inputs,
      committedAsAfterBytes: after.median,
      committedSpreadBytes: committed.spreadBytes,
      userReservePages: rule.userReservePages,
      adminReservePages: rule.adminReservePages,
      batchPages: rule.batchPages,
      ratio: s.ratio,
      kbytes: s.kbytes,
    },
  };
}

/** A mapping of `length`: accepted (still mapped: the caller unmaps it), or refused with which errno. */
function tryMap(length: number, noreserve: boolean): { accepted: boolean; code: string | null; mapping: Mapping | null } {
  try {
    return { accepted: true, code: null, mapping: mmap(length, { prot: 'rw', noreserve }) };
  } catch (e) {
    if (isSystemCallError(e)) return { accepted: false, code: e.code, mapping: null };
    throw e;
  }
}

function tryOnce(length: number, noreserve: boolean): string {
  const t = tryMap(length, noreserve);
  t.mapping?.unmap();
  return t.accepted ? 'accepted' : (t.code ?? 'refused');
}

/** 004's and 001's mode-0 scenarios, around the largest accepted mapping. */
function mode0Scenarios(largest: number, ramSwap: number, toleranceBytes: number): Pick<Mode0Evidence, 'obvious' | 'pair' | 'q3'> {
  // Sizes twice the noise away from the limit: the free-memory estimate may move between tries.
  const margin = Math.ceil((2 * toleranceBytes) / pageSize) * pageSize;
  const over = largest + margin;
  const below = Math.max(pageSize, largest - margin);
  const q3 = { sizeBytes: over, withoutNoreserve: tryOnce(over, false), withNoreserve: tryOnce(over, true) };
  const obviousTry = tryMap(ramSwap + pageSize, false);
  obviousTry.mapping?.unmap();
  // 'Obvious' is per mapping: a second mapping of the same size while the first is held (nothing touched).
  const first = tryMap(below, false);
  let second: ReturnType<typeof tryMap>;
  try {
    second = tryMap(below, false);
    second.mapping?.unmap();
  } finally {
    first.mapping?.unmap();
  }
  return {
    q3,
    obvious: { sizeBytes: ramSwap + pageSize, accepted: obviousTry.accepted, code: obviousTry.code },
    pair: {
      sizeBytes: below,
      firstAccepted: first.accepted,
      firstCode: first.code,
      secondAccepted: second.accepted,
      secondCode: second.code,
    },
  };
}

/**
 * Root vs nobody in the same conditions: each trial is a small child (no ballast in mode 0, so
 * that before 5.2 its fork and steps stay far below free memory) that searches the whole range
 * [1 page, hi] as root, drops to nobody, and searches again. The search does not depend on the
 * parent's threshold, which a moving free-memory estimate may have left behind.
 */
async function compareRootAndUser(mode: OvercommitMode, hi: number): Promise<RootEvidence> {
  const trials: RootTrial[] = [];
  for (let i = 0; i < ROOT_TRIALS; i++) {
    const run = await runNamedChild(
      [
        ...(mode === 2
          ? ([
              ['ballast', { op: 'mmap', length: userReserveBallastBytes(), options: { prot: 'none', noreserve: true }, required: true }],
            ] as const)
          : []),
        ['root', { op: 'probe', lo: pageSize, hi }],
        ['setuid', { op: 'setuid', uid: UNPRIVILEGED_UID, gid: UNPRIVILEGED_UID, required: true }],
        ['user', { op: 'probe', lo: pageSize, hi }],
      ],
      { timeoutMs: 10_000 },
    );
    const found = (name: 'root' | 'user'): number | null => {
      const s = run.step(name);
      return s.status === 'ok' && s.largestBytes !== undefined ? s.largestBytes : null;
    };
    const su = run.step('setuid');
    const rootBytes = found('root');
    const userBytes = found('user');
    const bad = [rootBytes, userBytes].some((x) => x === null || x < pageSize || x >= hi);
    trials.push({
      rootBytes,
      userBytes,
      setuid: su.status === 'ok' ? 'ok' : `${su.status} ${su.code ?? ''}`.trim(),
      problem:
        run.problem ??
        (bad
          ? `a probe found no threshold inside [${pageSize}, ${hi}] B (root ${rootBytes ?? 'failed'}, nobody ${userBytes ?? 'failed'})`
          : null),
    });
  }
  return { mode, searchHiBytes: hi, trials, adminReserveBytes: readOvercommitSettings().adminReserveKbytes * 1024 };
}

export async function measureModeMatrix(mode: OvercommitMode, progress: (message: string) => void = () => {}): Promise<ModeMatrixEvidence> {
  progress(`mode-matrix: probing in mode ${mode}`);
  let no: MatrixCell;
  let mode0: Mode0Evidence | null = null;
  if (mode === 0) {
    const h = heuristicCell();
    no = h.cell;
    const p = mode0Predictions(h.readings, pageSize);
    const tol = Math.max(p.freeEstimate.spreadBytes, p.ramSwap.spreadBytes) + OWN_JITTER_BYTES + pageSize;
    mode0 = { readings: h.readings, ...p, toleranceBytes: tol, ...mode0Scenarios(no.largestBytes, p.ramSwap.medianBytes, tol) };
  } else {
    no = mode === 1 ? addressSpaceCell(1, false) : strictCell(false);
  }
  const yes = mode === 2 ? strictCell(true) : addressSpaceCell(mode, true);
  const m = readMeminfo();
  const root = hasCapSysAdmin();
  let rootEvidence: RootEvidence | null = null;
  let rootSkipped: string | null = null;
  if (mode === 1) rootSkipped = 'not a claim about mode 1';
  else if (!root) rootSkipped = 'needs root (CAP_SYS_ADMIN): there is no root to compare with an unprivileged user';
  else {
    progress('mode-matrix: root vs an unprivileged child');
    const ramSwap = ramSwapRule(m.memTotal, m.swapTotal, pageSize).largestBytes;
    const hi = mode === 0 ? 2 * Math.max(ramSwap, no.largestBytes) + pageSize : m.commitLimit + pageSize;
    rootEvidence = await compareRootAndUser(mode, hi);
  }
  return {
    mode,
    pageSize,
    capSysAdmin: root,
    memTotalBytes: m.memTotal,
    swapTotalBytes: m.swapTotal,
    addressGapBytes: largestAddressGap().bytes,
    no,
    yes,
    mode0,
    root: rootEvidence,
    rootSkipped,
  };
}

// ---- rules ----

const ramSwapOf = (e: ModeMatrixEvidence): number => ramSwapRule(e.memTotalBytes, e.swapTotalBytes, e.pageSize).largestBytes;

function matches(c: MatrixCell): boolean {
  return Math.abs(c.largestBytes - c.predictedBytes) <= c.toleranceBytes;
}

function compare(c: MatrixCell): string {
  const d = c.largestBytes - c.predictedBytes;
  const tol = c.toleranceBytes === 0 ? 'exactly' : `within ${c.toleranceBytes} B`;
  return `largest accepted ${c.largestBytes} B (${gib(c.largestBytes)}, ${c.probes} probes); predicted ${c.prediction}; difference ${d} B (${matches(c) ? `matches ${tol}` : `does not match ${tol}`})`;
}

const FREE_LABEL = 'the free-memory estimate (before 5.2)';
const RAM_SWAP_LABEL = 'RAM + swap (since 5.2)';

/** Which known mode-0 rule the largest accepted mapping matches, by the one tolerance rule. */
export function classifyMode0Rule(e: ModeMatrixEvidence): ChangeClass {
  const z = e.mode0!;
  return classifyChange(
    { changeBytes: e.no.largestBytes, toleranceBytes: z.toleranceBytes },
    [
      { label: FREE_LABEL, bytes: z.freeEstimate.medianBytes },
      { label: RAM_SWAP_LABEL, bytes: z.ramSwap.medianBytes },
    ],
    { noise: 'the two rules’ inputs moved', value: 'the largest accepted mapping was' },
  );
}

/** The limit the two mode-0 rules predict, with the measured one. */
function mode0Numbers(e: ModeMatrixEvidence): string {
  const z = e.mode0!;
  return (
    `The largest mapping mode 0 accepted is ${e.no.largestBytes} B (${gib(e.no.largestBytes)}); ` +
    `RAM + swap predicts ${z.ramSwap.medianBytes} B, the free-memory estimate ${z.freeEstimate.medianBytes} B (${z.freeEstimate.formula}; it moved by ${mib(z.freeEstimate.spreadBytes)} over ${z.readings.length} readings around the probe); tolerance ${mib(z.toleranceBytes)}`
  );
}

const mode0Missing = (e: ModeMatrixEvidence): string | undefined => {
  if (e.mode0 === null) return 'mode 0 was not measured';
  if (e.no.largestBytes < e.pageSize || e.no.largestBytes >= e.no.searchHiBytes) {
    return `the search found no threshold inside [${e.no.searchLoBytes}, ${e.no.searchHiBytes}] B (largest ${e.no.largestBytes} B)`;
  }
  return undefined;
};

/**
 * The root-vs-nobody numbers over the trials. Each trial pairs a probe as root with one as nobody
 * a few milliseconds apart, so the difference is taken per trial; how much those differences
 * disagree is the noise (the limit itself may move between trials: that cancels in a pair).
 */
export function rootDifference(r: RootEvidence): {
  rootBytes: number[];
  userBytes: number[];
  differencesBytes: number[];
  differenceBytes: number;
  noiseBytes: number;
  toleranceBytes: number;
} {
  const rootBytes = r.trials.map((t) => t.rootBytes!);
  const userBytes = r.trials.map((t) => t.userBytes!);
  const differencesBytes = r.trials.map((t) => t.rootBytes! - t.userBytes!);
  const noiseBytes = Math.max(...differencesBytes) - Math.min(...differencesBytes);
  return {
    rootBytes,
    userBytes,
    differencesBytes,
    differenceBytes: median(differencesBytes),
    noiseBytes,
    toleranceBytes: noiseBytes + OWN_JITTER_BYTES,
  };
}

function classifyRoot(r: RootEvidence): ChangeClass {
  const d = rootDifference(r);
  return classifyChange(
    { changeBytes: d.differenceBytes, toleranceBytes: d.toleranceBytes },
    [
      { label: 'no more', bytes: 0 },
      { label: 'more by admin_reserve_kbytes', bytes: r.adminReserveBytes },
    ],
    { noise: 'the root-minus-nobody differences of the trials disagreed', value: 'root got more by' },
  );
}

const STRICT_WORDING = { noise: 'other processes moved Committed_AS', value: 'the largest accepted mapping was' };

/**
 * Mode 2's table cells: the largest mapping is the strict prediction, or what a mode without the
 * strict check would give (RAM + swap, or the free address space); null when the noise cannot
 * tell them apart or it is none of them.
 */
function strictVerdict(e: ModeMatrixEvidence, cell: MatrixCell): Verdict {
  const cls = classifyChange(
    { changeBytes: cell.largestBytes, toleranceBytes: cell.toleranceBytes },
    [
      { label: 'CommitLimit - Committed_AS - the reserves', bytes: cell.predictedBytes },
      { label: 'RAM + swap (no strict check)', bytes: ramSwapOf(e) },
      { label: 'the free address space (no check)', bytes: e.addressGapBytes },
    ],
    STRICT_WORDING,
  );
  return cls.match === null ? { holds: null, reason: cls.reason! } : { holds: cls.match.bytes === cell.predictedBytes };
}

const c = modeMatrixClaims;
type Rule = ClaimRule<ModeMatrixEvidence>;

const cellEvidence = (cell: MatrixCell): Evidence => ({ ...cell });

const rules: Rule[] = [
  {
    claim: c.table0No,
    missing: mode0Missing,
    judge: (e) => {
      const z = e.mode0!;
      if (!z.pair.firstAccepted)
        return {
          holds: null,
          reason: `${z.pair.sizeBytes} B, below the largest accepted, was refused on a second try (${z.pair.firstCode}): the limit moved`,
        };
      const obviousRefused = !z.obvious.accepted;
      // A small overcommit: two mappings, each accepted alone, whose total exceeds the free memory.
      const overcommitPassed = z.pair.secondAccepted && 2 * z.pair.sizeBytes > z.freeEstimate.medianBytes;
      return { holds: obviousRefused && overcommitPassed };
    },
    observe: (e, v) => {
      const z = e.mode0!;
      return (
        `A single mapping of ${z.obvious.sizeBytes} B (RAM + swap + 1 page, more than this machine could ever back) was ${z.obvious.accepted ? 'accepted' : `refused (${z.obvious.code})`}; ` +
        `with one mapping of ${z.pair.sizeBytes} B (just below the largest accepted) held untouched, a second of the same size was ${z.pair.secondAccepted ? 'accepted' : `refused (${z.pair.secondCode})`}: ` +
        `together ${gib(2 * z.pair.sizeBytes)} against a free-memory estimate of ${gib(z.freeEstimate.medianBytes)}` +
        (v.holds === true ? ': obvious overcommits are denied, overcommits made of acceptable requests pass.' : '.')
      );
    },
    evidence: (e) => {
      const cls = classifyMode0Rule(e).match;
      const z = e.mode0!;
      return {
        ...cellEvidence(e.no),
        predictedBytes: cls === null ? null : cls.bytes,
        obvious: z.obvious,
        pair: z.pair,
        freeEstimateBytes: z.freeEstimate.medianBytes,
        ramSwapBytes: z.ramSwap.medianBytes,
      };
    },
  },
  {
    claim: c.table0Yes,
    judge: (e) => ({ holds: e.yes.largestBytes > ramSwapOf(e) }),
    observe: (e) =>
      `With MAP_NORESERVE: ${compare(e.yes)}; that is ${(e.yes.largestBytes / ramSwapOf(e)).toFixed(0)} x RAM + swap (${ramSwapOf(e)} B).`,
    evidence: (e) => cellEvidence(e.yes),
  },
  {
    claim: c.q3,
    missing: mode0Missing,
    judge: (e) => {
      const q = e.mode0!.q3;
      if (q.withoutNoreserve === 'accepted')
        return {
          holds: null,
          reason: `${q.sizeBytes} B, above the largest accepted, was accepted on a second try: the limit moved, nothing was denied to test`,
        };
      return { holds: q.withNoreserve === 'accepted' };
    },
    observe: (e) => {
      const q = e.mode0!.q3;
      return `mmap of ${q.sizeBytes} B (${q.sizeBytes - e.no.largestBytes} B above the largest mode 0 accepted): without MAP_NORESERVE ${q.withoutNoreserve}, with MAP_NORESERVE ${q.withNoreserve}.`;
    },
    evidence: (e) => ({ ...e.mode0!.q3, largestBytes: e.no.largestBytes, largestNoreserveBytes: e.yes.largestBytes }),
  },
  {
    claim: c.obvious,
    missing: mode0Missing,
    judge: (e) => ({ holds: !e.mode0!.obvious.accepted }),
    observe: (e, v) => {
      const z = e.mode0!;
      return (
        `One mapping of ${z.obvious.sizeBytes} B, a page more than RAM + swap (${gib(z.ramSwap.medianBytes)}), was ${z.obvious.accepted ? 'accepted' : `refused with ${z.obvious.code}`}; ` +
        `the largest accepted was ${e.no.largestBytes} B (${gib(e.no.largestBytes)}). ` +
        `The heuristic judges each mapping alone: with one of ${z.pair.sizeBytes} B held, a second was ${z.pair.secondAccepted ? 'accepted too' : `refused (${z.pair.secondCode})`}` +
        (v.holds === false ? ': a request more than this machine could ever back passed.' : '.')
      );
    },
    evidence: (e) => ({
      ...cellEvidence(e.no),
      ...e.mode0!.obvious,
      firstHeld: e.mode0!.pair.firstAccepted,
      secondAccepted: e.mode0!.pair.secondAccepted,
      secondCode: e.mode0!.pair.secondCode,
    }),
  },
  {
    claim: c.freeMemory,
    missing: mode0Missing,
    judge: (e) => {
      const cls = classifyMode0Rule(e);
      if (cls.match === null) return { holds: null, reason: cls.reason! };
      return { holds: cls.match.label === FREE_LABEL };
    },
    observe: (e, v) =>
      `${mode0Numbers(e)}. ` +
      (v.holds === true
        ? 'The limit is the free-memory estimate, as 003 says.'
        : v.holds === false
          ? `The limit is RAM + swap, ${gib(e.no.largestBytes - e.mode0!.freeEstimate.medianBytes)} above the free-memory estimate: this kernel does not limit a mapping to free memory.`
          : 'The two rules cannot be told apart on these numbers.'),
    evidence: (e) => ({
      ...cellEvidence(e.no),
      memFreeBytes: e.mode0!.readings[0]!.free.memFreeBytes,
      // Saved evidence from before MemAvailable was read has none.
      memAvailableBytes: e.mode0!.readings[0]!.memAvailableBytes ?? null,
      freeEstimateBytes: e.mode0!.freeEstimate.medianBytes,
      freeEstimateSpreadBytes: e.mode0!.freeEstimate.spreadBytes,
      ramSwapBytes: e.mode0!.ramSwap.medianBytes,
      toleranceBytes: e.mode0!.toleranceBytes,
    }),
  },
  {
    claim: c.ruleInForce,
    missing: mode0Missing,
    judge: (e) => {
      const cls = classifyMode0Rule(e);
      if (cls.match !== null) return { holds: true };
      // Decidable, and neither rule within the tolerance: a rule this tool does not know.
      const z = e.mode0!;
      const apart = Math.abs(z.freeEstimate.medianBytes - z.ramSwap.medianBytes) > 2 * z.toleranceBytes;
      return apart ? { holds: false, reason: cls.reason! } : { holds: null, reason: cls.reason! };
    },
    observe: (e, v) => {
      const cls = classifyMode0Rule(e);
      const which =
        cls.match !== null
          ? `This kernel follows ${cls.match.label}.`
          : v.holds === false
            ? 'This kernel follows neither known rule.'
            : 'Which rule is in force cannot be told on these numbers.';
      return `${mode0Numbers(e)}. ${which}`;
    },
    evidence: (e) => ({
      largestBytes: e.no.largestBytes,
      rule: classifyMode0Rule(e).match?.label ?? null,
      freeEstimateBytes: e.mode0!.freeEstimate.medianBytes,
      freeEstimateSpreadBytes: e.mode0!.freeEstimate.spreadBytes,
      ramSwapBytes: e.mode0!.ramSwap.medianBytes,
      toleranceBytes: e.mode0!.toleranceBytes,
      readings: e.mode0!.readings as unknown as Evidence[],
    }),
  },
  ...(
    [
      [c.table1No, 'no'],
      [c.table1Yes, 'yes'],
    ] as const
  ).map(
    ([claim, key]): Rule => ({
      claim,
      // Beyond RAM + swap no commit check of any mode accepts; the address-space match is told, not required.
      judge: (e) => ({ holds: e[key].largestBytes > ramSwapOf(e) }),
      observe: (e) =>
        `${key === 'yes' ? 'With' : 'Without'} MAP_NORESERVE: ${compare(e[key])}; ${(e[key].largestBytes / ramSwapOf(e)).toFixed(0)} x RAM + swap (${ramSwapOf(e)} B).`,
      evidence: (e) => cellEvidence(e[key]),
    }),
  ),
  {
    claim: c.mode1Always,
    judge: (e) => ({ holds: e.no.largestBytes > ramSwapOf(e) }),
    observe: (e) =>
      `One ordinary mapping (no MAP_NORESERVE) of ${e.no.largestBytes} B, ${(e.no.largestBytes / ramSwapOf(e)).toFixed(0)} x RAM + swap, was accepted; ` +
      `one page more was ${e.no.refusedCode === null ? 'never refused in the search' : `refused with ${e.no.refusedCode}`} (the largest free gap of the address space is ${gib(e.no.predictedBytes)}).`,
    evidence: (e) => cellEvidence(e.no),
  },
  {
    claim: c.mode1Virtual99,
    judge: (e) => ({ holds: e.no.largestBytes / ramSwapOf(e) >= 99 }),
    observe: (e) =>
      `${gib(e.no.largestBytes)} of virtual memory in one mapping, ${(e.no.largestBytes / ramSwapOf(e)).toFixed(0)} times the ${gib(ramSwapOf(e))} of RAM + swap of this machine.`,
    evidence: (e) => cellEvidence(e.no),
  },
  {
    claim: c.table2No,
    judge: (e) => strictVerdict(e, e.no),
    observe: (e) => `Without MAP_NORESERVE: ${compare(e.no)}.`,
    evidence: (e) => cellEvidence(e.no),
  },
  {
    claim: c.table2Yes,
    judge: (e) => strictVerdict(e, e.yes),
    observe: (e) => `With MAP_NORESERVE: ${compare(e.yes)}.`,
    evidence: (e) => cellEvidence(e.yes),
  },
  {
    claim: c.noreserveIgnored,
    judge: (e) => {
      const cls = classifyChange(
        { changeBytes: e.yes.largestBytes, toleranceBytes: Math.max(e.no.toleranceBytes, e.yes.toleranceBytes) },
        [
          { label: 'the largest without it (ignored)', bytes: e.no.largestBytes },
          { label: 'the free address space (honoured: not charged)', bytes: e.addressGapBytes },
        ],
        STRICT_WORDING,
      );
      return cls.match === null ? { holds: null, reason: cls.reason! } : { holds: cls.match.bytes === e.no.largestBytes };
    },
    observe: (e, v) => {
      const tol = Math.max(e.no.toleranceBytes, e.yes.toleranceBytes);
      return `Largest without MAP_NORESERVE ${e.no.largestBytes} B, with it ${e.yes.largestBytes} B: difference ${e.yes.largestBytes - e.no.largestBytes} B (tolerance ${tol} B for what other processes commit meanwhile; the free address space is ${gib(e.addressGapBytes)}); ${v.holds === true ? 'the flag changes nothing' : v.holds === false ? 'the flag made the mapping unaccounted' : 'the noise leaves it open'}.`;
    },
    evidence: (e) => ({
      noreserve: true,
      largestBytes: e.yes.largestBytes,
      predictedBytes: e.no.largestBytes,
      largestWithoutBytes: e.no.largestBytes,
      differenceBytes: e.yes.largestBytes - e.no.largestBytes,
      toleranceBytes: Math.max(e.no.toleranceBytes, e.yes.toleranceBytes),
    }),
  },
  {
    claim: c.rootMore,
    missing: (e) => {
      if (e.root === null) return e.rootSkipped ?? 'root vs nobody was not measured';
      const bad = e.root.trials.find((t) => t.problem !== null);
      return bad === undefined ? undefined : `a measurement problem: ${bad.problem} (setuid ${bad.setuid})`;
    },
    judge: (e): Verdict => {
      const cls = classifyRoot(e.root!);
      if (cls.match === null) return { holds: null, reason: cls.reason! };
      return { holds: cls.match.bytes !== 0 };
    },
    observe: (e, v) => {
      const r = e.root;
      if (r === null) return `Not compared: ${e.rootSkipped ?? 'not measured'}.`;
      if (r.trials.some((t) => t.problem !== null)) {
        return `In mode ${r.mode}, the children probing as root and then as uid ${UNPRIVILEGED_UID} gave: ${r.trials
          .map((t) => `root ${t.rootBytes ?? 'failed'}, nobody ${t.userBytes ?? 'failed'} (setuid ${t.setuid})`)
          .join('; ')}.`;
      }
      const d = rootDifference(r);
      const limit = Math.max(...d.rootBytes);
      return (
        `In mode ${r.mode}, ${r.trials.length} children each probed as root (${d.rootBytes.join(', ')} B) and then as uid ${UNPRIVILEGED_UID} (${d.userBytes.join(', ')} B): ` +
        `root may map ${d.differenceBytes} B more (median of ${d.differencesBytes.join(', ')} B; ${((100 * d.differenceBytes) / limit).toFixed(3)}% of its limit; the trials' differences disagree by ${d.noiseBytes} B); admin_reserve_kbytes is ${r.adminReserveBytes} B. ` +
        (v.holds === true
          ? 'Root gets slightly more: the admin reserve.'
          : v.holds === false
            ? `Root gets nothing more in mode ${r.mode} on this kernel.`
            : 'Whether root gets more cannot be told on these numbers.')
      );
    },
    evidence: (e): Evidence => {
      const r = e.root;
      if (r === null || r.trials.some((t) => t.problem !== null))
        return { mode: e.mode, root: r as unknown as Evidence, rootSkipped: e.rootSkipped };
      const d = rootDifference(r);
      return {
        mode: r.mode,
        rootBytes: d.rootBytes,
        userBytes: median(d.userBytes),
        userProbesBytes: d.userBytes,
        differenceBytes: d.differenceBytes,
        differencesBytes: d.differencesBytes,
        noiseBytes: d.noiseBytes,
        toleranceBytes: d.toleranceBytes,
        adminReserveBytes: r.adminReserveBytes,
        setuid: r.trials.map((t) => t.setuid).join(', '),
      };
    },
  },
];

export const modeMatrix = defineExperiment<ModeMatrixEvidence>({
  id: 'mode-matrix',
  title: "004's mode x MAP_NORESERVE table: the largest mapping each mode accepts, beside what the known rules predict",
  requires: {},
  measure: (ctx) => measureModeMatrix(ctx.mode, (m) => ctx.progress(m)),
  rules,
});
