import { cpus } from 'node:os';
import { freeEstimateInputs, mode0Tolerance, ramSwapRule, type StrictInputs, strictRule } from '../../kernel/admission.js';
import { readMeminfo, sampleCommitted } from '../../kernel/meminfo.js';
import { readMaps } from '../../kernel/smaps.js';
import { hasCapSysAdmin, readStatus } from '../../kernel/status.js';
import { readMmapMinAddr, readOvercommitSettings } from '../../kernel/sysctl.js';
import { readZoneinfo, totalReservePages } from '../../kernel/zoneinfo.js';
import { runNamedChild } from '../../measure/child.js';
import { isSystemCallError } from '../../native/errors.js';
import { type Mapping, mmap, pageSize } from '../../native/mapping.js';
import { type ProbeResult, probeLargestMapping } from '../../native/probe.js';
import { bytesToPages, gib } from '../../units.js';
import { toleranceFromRange } from '../../verdict/tolerance.js';
import type { OvercommitMode } from '../model.js';
import type { MatrixCell, Mode0Evidence, Mode0Reading, ModeMatrixEvidence, RootEvidence, RootTrial } from './evidence.js';
import { THREAD_ARENA_BYTES, UNPRIVILEGED_UID } from './evidence.js';
import { mode0Predictions } from './rules.js';

/**
 * The top of the user address space that mmap without a hint stays below: the power of two just
 * above the stack, which sits under it (47 bits on x86-64 and ppc64, 48 on arm64), so no
 * architecture's size is written in.
 */
function addressSpaceTop(): number {
  const stack = readMaps().find((v) => v.pathname === '[stack]');
  return stack === undefined ? 2 ** 47 : 2 ** stack.end.toString(2).length;
}

/** Readings of the mode-0 rules' inputs before the probe, and as many after it. */
const MODE0_READINGS = 3;

/** Root-vs-unprivileged trials (children), each a probe as root then one as nobody. */
const ROOT_TRIALS = 2;

/** The size of the largest gap between this process's mappings, the most one mmap can get. */
function largestAddressGap(): { bytes: number; mappings: number } {
  const minAddr = BigInt(readMmapMinAddr());
  const top = BigInt(addressSpaceTop() - pageSize);
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
  const top = addressSpaceTop();
  const full = probeLargestMapping({ noreserve, lo: pageSize, hi: top });
  return { ...full, probes: full.probes + r.probes, lo: pageSize, hi: top };
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

/** Mode 0 without MAP_NORESERVE: the largest mapping, between readings of both rules' inputs. */
function heuristicCell(): { cell: MatrixCell; readings: Mode0Reading[] } {
  const first = readMode0();
  const readings = [first];
  for (let i = 1; i < MODE0_READINGS; i++) readings.push(readMode0());
  const before = mode0Predictions(readings, pageSize);
  const lows = Math.min(before.freeEstimate.medianBytes, before.ramSwap.medianBytes);
  const highs = Math.max(before.freeEstimate.medianBytes, before.ramSwap.medianBytes);
  const r = bracketedProbe(false, lows - THREAD_ARENA_BYTES, highs + THREAD_ARENA_BYTES);
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
      readingsBytes: p.ramSwap.bytes,
      probes: r.probes,
      refusedCode: r.refusedCode,
      searchLoBytes: r.lo,
      searchHiBytes: r.hi,
      prediction: p.ramSwap.formula,
      inputs: {
        memTotalBytes: first.memTotalBytes,
        swapTotalBytes: first.swapTotalBytes,
        memFreeBytes: first.free.memFreeBytes,
        memAvailableBytes: first.memAvailableBytes ?? null,
        freeEstimateBytes: p.freeEstimate.medianBytes,
      },
    },
  };
}

/** No commit check: only the largest free gap of the address space limits a mapping. */
function addressSpaceCell(mode: OvercommitMode, noreserve: boolean): MatrixCell {
  const before = largestAddressGap();
  const r = bracketedProbe(noreserve, before.bytes - THREAD_ARENA_BYTES, before.bytes + THREAD_ARENA_BYTES);
  const after = largestAddressGap();
  const m = readMeminfo();
  return {
    mode,
    noreserve,
    largestBytes: r.largestBytes,
    predictedBytes: before.bytes,
    // Node's threads may map or unmap between the reads: the two bound the noise, an arena more the slack.
    readingsBytes: [before.bytes, after.bytes],
    slackBytes: THREAD_ARENA_BYTES,
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
  const tolerance = toleranceFromRange(committed.spreadBytes, rule.slackBytes);
  const r = bracketedProbe(noreserve, rule.largestBytes - 2 * tolerance, rule.largestBytes + 2 * tolerance);
  const after = sampleCommitted(3);
  return {
    mode: 2,
    noreserve,
    largestBytes: r.largestBytes,
    predictedBytes: rule.largestBytes,
    readingsBytes: [...committed.samples, ...after.samples],
    slackBytes: rule.slackBytes,
    probes: r.probes,
    refusedCode: r.refusedCode,
    searchLoBytes: r.lo,
    searchHiBytes: r.hi,
    prediction: `${rule.formula}; tolerance: that slack + the spread of Committed_AS over the probe`,
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
    mode0 = { readings: h.readings, ...p, ...mode0Scenarios(no.largestBytes, p.ramSwap.medianBytes, mode0Tolerance(p, pageSize)) };
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
