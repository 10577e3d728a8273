/**
 * mode-matrix: 004's table (mode x MAP_NORESERVE), with 001's and 003's sentences about the
 * modes. In the mode in force (the runner runs it under each mode) it finds the largest private
 * writable anonymous mapping the kernel accepts, with and without MAP_NORESERVE (binary search
 * with mmap/munmap, nothing touched), and sets it beside what the mode's rule predicts from
 * /proc/meminfo and the settings (mm/util.c __vm_enough_memory):
 *   mode 0: one mapping may not exceed totalram + swap pages (MemTotal + SwapTotal);
 *   mode 1: no check, so only the free address space limits it;
 *   mode 2: CommitLimit - Committed_AS - min(total_vm/32, user_reserve_kbytes)
 *           - admin_reserve_kbytes (callers without CAP_SYS_ADMIN), read through a per-cpu
 *           counter that may lag the exact Committed_AS by up to one batch per cpu.
 * MAP_NORESERVE makes a mapping unaccounted except in mode 2, so with it modes 0 and 1 are
 * limited by the address space only.
 * Safety: an accepted mode-2 probe commits, for the microseconds between its mmap and munmap,
 * all that the kernel lets this process have. The kernel holds back min(total_vm/32,
 * user_reserve_kbytes) of it; an uncharged PROT_NONE reservation of 32 x user_reserve_kbytes
 * makes that the whole user reserve, which other processes keep. The searches start bracketed
 * around the prediction, so there are few such probes.
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { readMeminfo, sampleCommitted } from '../kernel/meminfo.js';
import { readVmas } from '../kernel/smaps.js';
import { hasCapSysAdmin, readStatus } from '../kernel/status.js';
import { readOvercommitSettings } from '../kernel/sysctl.js';
import { type ChildStep, runChild } from '../native/child.js';
import { isSystemCallError } from '../native/errors.js';
import { type Mapping, mmap, pageSize } from '../native/mapping.js';
import { type ProbeResult, probeLargestMapping } from '../native/probe.js';
import { bytesToPages, GiB, gib, MiB } from '../units.js';
import { DOC_000, DOC_001, DOC_003, DOC_004 } from './documents.js';
import { legacyExperiment } from './legacy.js';
import { type Claim, type Evidence, type ExperimentContext, type Finding, finding, type OvercommitMode } from './model.js';

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
  /** How the prediction was computed, with this machine's numbers. */
  prediction: string;
  inputs: Evidence;
}

/** The size of the largest gap between this process's mappings, the most one mmap can get. */
function largestAddressGap(): { bytes: number; mappings: number } {
  const minAddr = BigInt(Number(readFileSync('/proc/sys/vm/mmap_min_addr', 'utf8').trim()));
  const top = BigInt(ADDRESS_SPACE_TOP - pageSize);
  const vmas = readVmas()
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

/** A search bracketed around `predicted` first; the full range if the answer is outside it. */
function bracketedProbe(noreserve: boolean, predicted: number, halfWidth: number): ProbeResult {
  const lo = Math.max(pageSize, predicted - halfWidth);
  const hi = predicted + halfWidth;
  const r = probeLargestMapping({ noreserve, lo, hi });
  if (r.largestBytes > lo && r.largestBytes < hi) return r;
  const full = probeLargestMapping({ noreserve, lo: pageSize, hi: ADDRESS_SPACE_TOP });
  return { ...full, probes: full.probes + r.probes };
}

/** The percpu batch of vm_committed_as in mode 2 (mm_compute_batch), in pages. */
function strictBatchPages(memTotalBytes: number, ncpus: number): number {
  return Math.max(32, 2 * ncpus, Math.floor(bytesToPages(memTotalBytes, pageSize) / ncpus / 256));
}

/** Mode 0: one mapping up to totalram + swap pages, nothing else considered. */
function heuristicCell(noreserve: boolean): MatrixCell {
  const m = readMeminfo();
  if (noreserve) return addressSpaceCell(0, true);
  const predicted = (bytesToPages(m.memTotal, pageSize) + bytesToPages(m.swapTotal, pageSize)) * pageSize;
  const r = bracketedProbe(false, predicted, 64 * pageSize);
  return {
    mode: 0,
    noreserve,
    largestBytes: r.largestBytes,
    predictedBytes: predicted,
    toleranceBytes: 0,
    probes: r.probes,
    refusedCode: r.refusedCode,
    prediction: `MemTotal ${m.memTotal} B + SwapTotal ${m.swapTotal} B = ${predicted} B (totalram_pages + total_swap_pages)`,
    inputs: { memTotalBytes: m.memTotal, swapTotalBytes: m.swapTotal, memFreeBytes: m.memFree, memAvailableBytes: m.memAvailable },
  };
}

/** No commit check: only the largest free gap of the address space limits a mapping. */
function addressSpaceCell(mode: OvercommitMode, noreserve: boolean): MatrixCell {
  const before = largestAddressGap();
  const r = bracketedProbe(noreserve, before.bytes, 64 * MiB);
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
    prediction: `the largest gap between this process's ${before.mappings} mappings (/proc/self/smaps) below 2^47: ${before.bytes} B (${gib(before.bytes)}), ${after.bytes} B after the probe`,
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

/** Runs `fn` while the kernel holds back the whole user reserve from this process's mode-2 probes. */
function withFullUserReserve<T>(fn: () => T): T {
  const ballast = mmap(userReserveBallastBytes(), { prot: 'none', noreserve: true });
  try {
    return fn();
  } finally {
    ballast.unmap();
  }
}

/** Mode 2, as root: CommitLimit - Committed_AS - min(total_vm/32, user reserve) - 1 page. */
function strictCell(noreserve: boolean): MatrixCell {
  return withFullUserReserve(() => strictProbe(noreserve));
}

function strictProbe(noreserve: boolean): MatrixCell {
  const s = readOvercommitSettings();
  const ncpus = cpus().length;
  const m = readMeminfo();
  const batch = strictBatchPages(m.memTotal, ncpus);
  const totalVmPages = bytesToPages(readStatus().vmSize, pageSize);
  const userReserve = Math.min(Math.floor(totalVmPages / 32), bytesToPages(s.userReserveKbytes * 1024, pageSize));
  const adminReserve = hasCapSysAdmin() ? 0 : bytesToPages(s.adminReserveKbytes * 1024, pageSize);
  const committed = sampleCommitted(3);
  // The new pages are added before the check `committed < allowed`, hence the one page.
  const predictedPages = bytesToPages(m.commitLimit, pageSize) - adminReserve - userReserve - bytesToPages(committed.median, pageSize) - 1;
  const predicted = predictedPages * pageSize;
  const tolerance = ncpus * batch * pageSize + committed.spreadBytes;
  const r = bracketedProbe(noreserve, predicted, 2 * tolerance);
  const after = sampleCommitted(3);
  return {
    mode: 2,
    noreserve,
    largestBytes: r.largestBytes,
    predictedBytes: predicted,
    toleranceBytes: tolerance + Math.abs(after.median - committed.median),
    probes: r.probes,
    refusedCode: r.refusedCode,
    prediction:
      `CommitLimit ${m.commitLimit} B - Committed_AS ${committed.median} B - min(total_vm ${totalVmPages} pages / 32, user_reserve_kbytes ${s.userReserveKbytes} kB) = ${userReserve} pages` +
      ` - admin reserve ${adminReserve} pages (CAP_SYS_ADMIN: ${adminReserve === 0}) - 1 page = ${predicted} B; tolerance ${ncpus} cpus x batch ${batch} pages + Committed_AS spread`,
    inputs: {
      commitLimitBytes: m.commitLimit,
      committedAsBytes: committed.median,
      committedAsAfterBytes: after.median,
      committedSpreadBytes: committed.spreadBytes,
      totalVmPages,
      userReserveKbytes: s.userReserveKbytes,
      userReservePages: userReserve,
      adminReserveKbytes: s.adminReserveKbytes,
      adminReservePages: adminReserve,
      cpus: ncpus,
      batchPages: batch,
      ratio: s.ratio,
      kbytes: s.kbytes,
    },
  };
}

function matches(c: MatrixCell): boolean {
  return Math.abs(c.largestBytes - c.predictedBytes) <= c.toleranceBytes;
}

function compare(c: MatrixCell): string {
  const d = c.largestBytes - c.predictedBytes;
  const tol = c.toleranceBytes === 0 ? 'exactly' : `within ${c.toleranceBytes} B`;
  return `largest accepted ${c.largestBytes} B (${gib(c.largestBytes)}, ${c.probes} probes); predicted ${c.prediction}; difference ${d} B (${matches(c) ? `matches ${tol}` : `does not match ${tol}`})`;
}

/** A mapping of `length` with or without MAP_NORESERVE: accepted, or refused with which errno. */
function tryMap(length: number, noreserve: boolean, keep = false): { accepted: boolean; code: string | null; mapping: Mapping | null } {
  try {
    const mapping = mmap(length, { prot: 'rw', noreserve });
    if (!keep) mapping.unmap();
    return { accepted: true, code: null, mapping: keep ? mapping : null };
  } catch (e) {
    if (isSystemCallError(e)) return { accepted: false, code: e.code, mapping: null };
    throw e;
  }
}

/** What a child measures before and after dropping root: two probes as root (their spread is the noise), one as nobody. */
export interface RootComparison {
  rootBytes: number[];
  userBytes: number | null;
  /** Root's largest (mean of the two) minus the unprivileged one. */
  differenceBytes: number | null;
  noiseBytes: number;
  adminReserveBytes: number;
  setuid: string;
}

async function compareRootAndUser(lo: number, hi: number): Promise<RootComparison> {
  const probe: ChildStep = { op: 'probe', lo, hi };
  const ballast: ChildStep = { op: 'mmap', length: userReserveBallastBytes(), options: { prot: 'none', noreserve: true }, required: true };
  const r = await runChild([ballast, probe, probe, { op: 'setuid', uid: UNPRIVILEGED_UID, gid: UNPRIVILEGED_UID, required: true }, probe], {
    timeoutMs: 10_000,
  });
  const [, a, b, su, u] = r.steps;
  const rootBytes = [a!, b!].filter((x) => x.status === 'ok').map((x) => x.largestBytes!);
  const userBytes = u!.status === 'ok' ? u!.largestBytes! : null;
  // A result at either end of [lo, hi] is not a threshold found: leave the comparison undecided.
  const found = (x: number | null): boolean => x !== null && x >= lo && x < hi;
  const meanRoot = rootBytes.length === 2 && rootBytes.every(found) ? (rootBytes[0]! + rootBytes[1]!) / 2 : null;
  return {
    rootBytes,
    userBytes,
    differenceBytes: meanRoot !== null && found(userBytes) ? meanRoot - userBytes! : null,
    noiseBytes: rootBytes.length === 2 ? Math.abs(rootBytes[0]! - rootBytes[1]!) : 0,
    adminReserveBytes: readOvercommitSettings().adminReserveKbytes * 1024,
    setuid: su!.status === 'ok' ? 'ok' : `${su!.status} ${su!.code ?? ''}`.trim(),
  };
}

export async function runModeMatrix(ctx: ExperimentContext): Promise<Finding[]> {
  const c = modeMatrixClaims;
  const out: Finding[] = [];
  const mode = ctx.mode;
  const root = hasCapSysAdmin();
  ctx.progress(`mode-matrix: probing in mode ${mode}`);

  const cellFor = (noreserve: boolean): MatrixCell =>
    mode === 0 ? heuristicCell(noreserve) : mode === 1 ? addressSpaceCell(1, noreserve) : strictCell(noreserve);
  const no = cellFor(false);
  const yes = cellFor(true);
  const m = readMeminfo();
  const ramSwap = (bytesToPages(m.memTotal, pageSize) + bytesToPages(m.swapTotal, pageSize)) * pageSize;

  if (mode === 0) {
    out.push(
      finding(
        c.table0No,
        matches(no) && no.refusedCode === 'ENOMEM',
        `Without MAP_NORESERVE: ${compare(no)}. The threshold is MemTotal + SwapTotal for one mapping (refusals: ${no.refusedCode}); what is 'obvious' is a single mapping larger than RAM + swap.`,
        { ...no },
      ),
    );
    out.push(
      finding(
        c.table0Yes,
        yes.largestBytes > ramSwap,
        `With MAP_NORESERVE: ${compare(yes)}; that is ${(yes.largestBytes / ramSwap).toFixed(0)} x RAM + swap (${ramSwap} B): no commit check, only the address space limits it.`,
        { ...yes },
      ),
    );

    // Q3, directly: the size one page above the refused threshold, without and with MAP_NORESERVE.
    const over = no.largestBytes + pageSize;
    const plain = tryMap(over, false);
    const nr = tryMap(over, true);
    out.push(
      finding(
        c.q3,
        !plain.accepted && nr.accepted,
        `mmap of ${over} B (one page above the mode-0 threshold): without MAP_NORESERVE ${plain.accepted ? 'accepted' : `refused (${plain.code})`}, with MAP_NORESERVE ${nr.accepted ? 'accepted' : `refused (${nr.code})`}.`,
        {
          sizeBytes: over,
          withoutNoreserve: plain.accepted ? 'accepted' : plain.code,
          withNoreserve: nr.accepted ? 'accepted' : nr.code,
          largestBytes: no.largestBytes,
          largestNoreserveBytes: yes.largestBytes,
        },
      ),
    );

    // 'Obvious' is per mapping: a second mapping of the threshold size while the first is held.
    const first = tryMap(no.largestBytes, false, true);
    const second = tryMap(no.largestBytes, false);
    first.mapping?.unmap();
    out.push(
      finding(
        c.obvious,
        no.refusedCode === 'ENOMEM' && matches(no),
        `One mapping of ${no.largestBytes + pageSize} B (RAM + swap + 1 page) is refused with ${no.refusedCode}, one of ${no.largestBytes} B accepted. ` +
          `The heuristic judges each mapping alone: with one of ${no.largestBytes} B held (nothing touched), a second of the same size was ${second.accepted ? 'accepted too' : `refused (${second.code})`}, so the total commit may reach ${second.accepted ? 2 * no.largestBytes : no.largestBytes} B (${gib(2 * no.largestBytes)}) against RAM + swap of ${gib(ramSwap)}.`,
        { ...no, firstHeld: first.accepted, secondAccepted: second.accepted, secondCode: second.code },
      ),
    );

    const freeMax = Math.max(m.memFree, m.memAvailable, Number(no.inputs.memFreeBytes), Number(no.inputs.memAvailableBytes));
    out.push(
      finding(
        c.freeMemory,
        no.largestBytes <= freeMax,
        `The largest accepted mapping is ${no.largestBytes} B (${gib(no.largestBytes)}), while MemFree is ${no.inputs.memFreeBytes} B and MemAvailable ${no.inputs.memAvailableBytes} B: ` +
          (no.largestBytes <= freeMax
            ? 'mappings beyond free memory were refused.'
            : `a mapping ${no.largestBytes - freeMax} B larger than the free memory was accepted. It does not match: the threshold is MemTotal + SwapTotal (${ramSwap} B), the modern heuristic, not the currently free memory.`),
        { ...no, memFreeBytes: m.memFree, memAvailableBytes: m.memAvailable },
      ),
    );
  }

  if (mode === 1) {
    for (const [claim, cell] of [
      [c.table1No, no],
      [c.table1Yes, yes],
    ] as const) {
      out.push(
        finding(
          claim,
          cell.largestBytes > ramSwap && matches(cell),
          `${cell.noreserve ? 'With' : 'Without'} MAP_NORESERVE: ${compare(cell)}; ${(cell.largestBytes / ramSwap).toFixed(0)} x RAM + swap (${ramSwap} B): no commit check, the free address space is the limit.`,
          { ...cell },
        ),
      );
    }
    const times = no.largestBytes / ramSwap;
    out.push(
      finding(
        c.mode1Always,
        no.largestBytes > ramSwap,
        `One ordinary mapping (no MAP_NORESERVE) of ${no.largestBytes} B, ${times.toFixed(0)} x RAM + swap, was accepted. "Always" has one limit: ` +
          `a request larger than the largest free gap of the address space (${gib(no.largestBytes)} here) still fails, with ${no.refusedCode ?? 'ENOMEM'}.`,
        { ...no },
      ),
    );
    out.push(
      finding(
        c.mode1Virtual99,
        times >= 99,
        `${gib(no.largestBytes)} of virtual memory in one mapping, ${times.toFixed(0)} times the ${gib(ramSwap)} of RAM + swap of this machine.`,
        { ...no },
      ),
    );
  }

  if (mode === 2) {
    out.push(finding(c.table2No, matches(no), `Without MAP_NORESERVE: ${compare(no)}.`, { ...no }));
    out.push(
      finding(
        c.table2Yes,
        matches(yes),
        `With MAP_NORESERVE: ${compare(yes)}. The total is CommitLimit (swap + RAM x ratio/100 = ${m.commitLimit} B) less what is committed and the reserves.`,
        { ...yes },
      ),
    );
    const tol = Math.max(no.toleranceBytes, yes.toleranceBytes);
    const d = yes.largestBytes - no.largestBytes;
    out.push(
      finding(
        c.noreserveIgnored,
        Math.abs(d) <= tol,
        `Largest without MAP_NORESERVE ${no.largestBytes} B, with it ${yes.largestBytes} B: difference ${d} B (tolerance ${tol} B for what other processes commit meanwhile); ${Math.abs(d) <= tol ? 'the flag changes nothing' : 'the flag made a difference'}.`,
        {
          noreserve: true,
          largestBytes: yes.largestBytes,
          predictedBytes: no.largestBytes,
          largestWithoutBytes: no.largestBytes,
          differenceBytes: d,
          toleranceBytes: tol,
        },
      ),
    );
  }

  if (mode === 0 || mode === 2) {
    if (!root) {
      out.push(
        finding(
          c.rootMore,
          null,
          'Not root: there is no root to compare with an unprivileged user.',
          { mode },
          'needs root (CAP_SYS_ADMIN)',
        ),
      );
    } else {
      ctx.progress('mode-matrix: root vs an unprivileged child');
      // In mode 2 the child's own fork is charged too, so its threshold sits lower than ours.
      const below = mode === 0 ? 64 * pageSize : 4 * GiB;
      const cmp = await compareRootAndUser(
        Math.max(pageSize, no.largestBytes - below),
        no.largestBytes + 64 * pageSize + no.toleranceBytes,
      );
      const decided = cmp.differenceBytes !== null;
      const more = decided && cmp.differenceBytes! > cmp.noiseBytes + pageSize;
      const vsAdmin = decided
        ? `; admin_reserve_kbytes is ${cmp.adminReserveBytes} B, off by ${cmp.differenceBytes! - cmp.adminReserveBytes} B`
        : '';
      out.push(
        finding(
          c.rootMore,
          decided ? more : null,
          `In mode ${mode}, a child probing as root got ${cmp.rootBytes.join(' and ')} B, then as uid ${UNPRIVILEGED_UID} (setuid ${cmp.setuid}) ${cmp.userBytes ?? 'nothing'} B: ` +
            `root may map ${cmp.differenceBytes ?? '?'} B more (noise between the two root probes ${cmp.noiseBytes} B)${vsAdmin}. ` +
            (mode === 0
              ? `${more ? 'Root gets more in mode 0.' : 'Mode 0 applies the same threshold (RAM + swap) to everyone: root gets nothing more on this kernel.'}`
              : `${more ? 'In mode 2 (not the mode 001 says) root gets more: the kernel keeps admin_reserve_kbytes for CAP_SYS_ADMIN.' : 'In mode 2 root got no more here.'}`),
          { mode, ...cmp },
          decided ? undefined : `the child's probes did not all find a threshold inside their range (setuid ${cmp.setuid})`,
        ),
      );
    }
  }
  return out;
}

export const modeMatrix = legacyExperiment({
  id: 'mode-matrix',
  title: "004's mode x MAP_NORESERVE table: the largest mapping each mode accepts, beside what its rule predicts",
  claims: Object.values(modeMatrixClaims),
  requires: {},
  run: runModeMatrix,
});
