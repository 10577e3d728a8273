/**
 * The kernels' admission rules for one new accounted mapping (mm/util.c __vm_enough_memory), and
 * the CommitLimit formula: the one home for what each mode and kernel version predicts. Pure
 * functions of recorded inputs, so a prediction can be recomputed from saved evidence.
 *
 * Mode 0 (OVERCOMMIT_GUESS) changed in 5.2 ("mm: fix false-positive OVERCOMMIT_GUESS failures"):
 * - since 5.2: refuse a mapping of more than totalram_pages + total_swap_pages;
 * - before: refuse unless it is smaller than an estimate of free memory (free pages + file pages
 *   - shmem + free swap + reclaimable slab + reclaimable kernel memory, less totalreserve_pages,
 *   less admin_reserve_kbytes for a caller without CAP_SYS_ADMIN).
 * Mode 1: no check. Mode 2: Committed_AS after the mapping must stay under CommitLimit less the
 * reserves.
 */
import { bytesToPages } from '../units.js';
import { median } from '../verdict/stats.js';
import { spreadOf, toleranceFromRange } from '../verdict/tolerance.js';
import type { Meminfo } from './meminfo.js';

/** The two mode-0 rules by name, as findings and reports say them. */
export const MODE0_RULES = { free: 'the free-memory estimate (before 5.2)', ramSwap: 'RAM + swap (since 5.2)' } as const;

/** A rule's prediction: the largest single mapping it accepts, and how, with the numbers. */
export interface RulePrediction {
  largestBytes: number;
  formula: string;
}

/** A rule's prediction over several readings: its median and its spread (the noise). */
export interface PredictionSpread {
  /** Per reading, in reading order. */
  bytes: number[];
  medianBytes: number;
  spreadBytes: number;
  /** The computation on the first reading. */
  formula: string;
}

export function predictionSpread(predictions: readonly RulePrediction[]): PredictionSpread {
  const bytes = predictions.map((p) => p.largestBytes);
  return { bytes, medianBytes: median(bytes), spreadBytes: spreadOf(bytes), formula: predictions[0]?.formula ?? '' };
}

/** Mode 0's tolerance: the larger spread of the two rules' predictions over the readings, plus a page of rounding. */
export function mode0Tolerance(p: { freeEstimate: PredictionSpread; ramSwap: PredictionSpread }, pageSize: number): number {
  return toleranceFromRange(Math.max(p.freeEstimate.spreadBytes, p.ramSwap.spreadBytes), pageSize);
}

export interface CommitLimitResult {
  bytes: number;
  /** The computation with this machine's numbers, e.g. for a finding's `observed`. */
  formula: string;
}

/**
 * CommitLimit as mm/util.c vm_commit_limit() computes it, in pages with integer arithmetic:
 *   allowed = overcommit_kbytes >> (PAGE_SHIFT - 10)                      if kbytes != 0
 *   allowed = (totalram_pages - hugetlb_total_pages) * overcommit_ratio / 100  otherwise
 *   CommitLimit = allowed + total_swap_pages
 * totalram_pages is MemTotal, hugetlb_total_pages is Hugetlb, total_swap_pages is SwapTotal.
 */
export function commitLimitFormula(
  m: Pick<Meminfo, 'memTotal' | 'swapTotal' | 'hugetlb'>,
  s: { ratio: number; kbytes: number },
  pageSize: number,
): CommitLimitResult {
  const pageKb = pageSize / 1024;
  const swapPages = bytesToPages(m.swapTotal, pageSize);
  let allowed: number;
  let text: string;
  if (s.kbytes !== 0) {
    allowed = Math.floor(s.kbytes / pageKb);
    text = `overcommit_kbytes ${s.kbytes} / ${pageKb} kB per page = ${allowed} pages`;
  } else {
    const ram = bytesToPages(m.memTotal, pageSize);
    const huge = bytesToPages(m.hugetlb, pageSize);
    allowed = Math.floor(((ram - huge) * s.ratio) / 100);
    text = `(MemTotal ${ram} pages - Hugetlb ${huge} pages) * overcommit_ratio ${s.ratio} / 100 = ${allowed} pages`;
  }
  const total = allowed + swapPages;
  const bytes = total * pageSize;
  return {
    bytes,
    formula: `CommitLimit = ${text} + SwapTotal ${swapPages} pages = ${total} pages x ${pageSize} B = ${bytes} bytes`,
  };
}

/** Mode 0 since 5.2: one mapping of up to totalram_pages + total_swap_pages is accepted. */
export function ramSwapRule(memTotalBytes: number, swapTotalBytes: number, pageSize: number): RulePrediction {
  const ram = bytesToPages(memTotalBytes, pageSize);
  const swap = bytesToPages(swapTotalBytes, pageSize);
  const largestBytes = (ram + swap) * pageSize;
  return {
    largestBytes,
    formula: `MemTotal ${ram} pages + SwapTotal ${swap} pages = ${largestBytes} B (totalram_pages + total_swap_pages)`,
  };
}

/** What the free-memory estimate of mode 0 before 5.2 reads (bytes from /proc/meminfo, pages from /proc/zoneinfo). */
export interface FreeEstimateInputs {
  /** NR_FREE_PAGES. */
  memFreeBytes: number;
  /** NR_FILE_PAGES is Cached + Buffers + SwapCached in /proc/meminfo. */
  cachedBytes: number;
  buffersBytes: number;
  swapCachedBytes: number;
  /** NR_SHMEM, subtracted: shmem can only move to swap. */
  shmemBytes: number;
  /** get_nr_swap_pages(). */
  swapFreeBytes: number;
  /**
   * NR_SLAB_RECLAIMABLE + NR_KERNEL_MISC_RECLAIMABLE: KReclaimable (4.20+), or SReclaimable on
   * kernels without it (which only had the slab part, or an unexported indirect counter).
   */
  reclaimableBytes: number;
  reclaimableField: 'KReclaimable' | 'SReclaimable';
  /** totalreserve_pages, from /proc/zoneinfo. */
  totalReservePages: number;
  adminReserveKbytes: number;
  /** The caller has CAP_SYS_ADMIN (no admin reserve held back from it). */
  capSysAdmin: boolean;
}

export function freeEstimateInputs(
  m: Meminfo,
  totalReservePages: number,
  adminReserveKbytes: number,
  capSysAdmin: boolean,
): FreeEstimateInputs {
  const f = m.fields;
  const kReclaimable = f.KReclaimable;
  return {
    memFreeBytes: m.memFree,
    cachedBytes: f.Cached ?? 0,
    buffersBytes: f.Buffers ?? 0,
    swapCachedBytes: f.SwapCached ?? 0,
    shmemBytes: f.Shmem ?? 0,
    swapFreeBytes: m.swapFree,
    reclaimableBytes: kReclaimable ?? f.SReclaimable ?? 0,
    reclaimableField: kReclaimable === undefined ? 'SReclaimable' : 'KReclaimable',
    totalReservePages,
    adminReserveKbytes,
    capSysAdmin,
  };
}

/**
 * Mode 0 before 5.2: free = free + file - shmem + swap free + reclaimable; refused outright when
 * free <= totalreserve_pages; then less totalreserve_pages and, without CAP_SYS_ADMIN, less the
 * admin reserve; a mapping of `pages` is accepted when free > pages, so the largest is free - 1.
 */
export function freeMemoryRule(i: FreeEstimateInputs, pageSize: number): RulePrediction & { estimatePages: number } {
  const p = (bytes: number) => bytesToPages(bytes, pageSize);
  const raw =
    p(i.memFreeBytes) +
    p(i.cachedBytes) +
    p(i.buffersBytes) +
    p(i.swapCachedBytes) -
    p(i.shmemBytes) +
    p(i.swapFreeBytes) +
    p(i.reclaimableBytes);
  const admin = i.capSysAdmin ? 0 : Math.floor((i.adminReserveKbytes * 1024) / pageSize);
  const estimatePages = raw <= i.totalReservePages ? 0 : raw - i.totalReservePages - admin;
  const largestBytes = Math.max(0, estimatePages - 1) * pageSize;
  const formula =
    `MemFree ${p(i.memFreeBytes)} + Cached ${p(i.cachedBytes)} + Buffers ${p(i.buffersBytes)} + SwapCached ${p(i.swapCachedBytes)}` +
    ` - Shmem ${p(i.shmemBytes)} + SwapFree ${p(i.swapFreeBytes)} + ${i.reclaimableField} ${p(i.reclaimableBytes)} = ${raw} pages` +
    ` - totalreserve_pages ${i.totalReservePages} - admin reserve ${admin} pages (CAP_SYS_ADMIN: ${i.capSysAdmin}) = ${estimatePages} pages;` +
    ` accepted below it: ${largestBytes} B`;
  return { largestBytes, estimatePages, formula };
}

/** The percpu batch of vm_committed_as in mode 2 (mm_compute_batch), in pages. */
export function strictBatchPages(memTotalBytes: number, cpus: number, pageSize: number): number {
  return Math.max(32, 2 * cpus, Math.floor(bytesToPages(memTotalBytes, pageSize) / cpus / 256));
}

/** What the mode-2 check reads. */
export interface StrictInputs {
  commitLimitBytes: number;
  committedAsBytes: number;
  /** The caller's mm->total_vm, whose 1/32 is the user reserve up to user_reserve_kbytes. */
  totalVmPages: number;
  userReserveKbytes: number;
  adminReserveKbytes: number;
  capSysAdmin: boolean;
  memTotalBytes: number;
  cpus: number;
}

/**
 * Mode 2: allowed = CommitLimit - admin reserve (without CAP_SYS_ADMIN) - min(total_vm / 32,
 * user_reserve_kbytes); the new pages are added to Committed_AS before the check
 * `committed < allowed`, so the largest mapping is allowed - committed - 1 page. The kernel reads
 * Committed_AS through a per-cpu counter that may lag by one batch per cpu: the slack.
 */
export function strictRule(
  i: StrictInputs,
  pageSize: number,
): RulePrediction & { userReservePages: number; adminReservePages: number; batchPages: number; slackBytes: number } {
  const userReservePages = Math.min(Math.floor(i.totalVmPages / 32), bytesToPages(i.userReserveKbytes * 1024, pageSize));
  const adminReservePages = i.capSysAdmin ? 0 : bytesToPages(i.adminReserveKbytes * 1024, pageSize);
  const batchPages = strictBatchPages(i.memTotalBytes, i.cpus, pageSize);
  const pages =
    bytesToPages(i.commitLimitBytes, pageSize) - adminReservePages - userReservePages - bytesToPages(i.committedAsBytes, pageSize) - 1;
  const largestBytes = Math.max(0, pages) * pageSize;
  const formula =
    `CommitLimit ${i.commitLimitBytes} B - Committed_AS ${i.committedAsBytes} B - min(total_vm ${i.totalVmPages} pages / 32, user_reserve_kbytes ${i.userReserveKbytes} kB) = ${userReservePages} pages` +
    ` - admin reserve ${adminReservePages} pages (CAP_SYS_ADMIN: ${i.capSysAdmin}) - 1 page = ${largestBytes} B; slack ${i.cpus} cpus x batch ${batchPages} pages`;
  return { largestBytes, formula, userReservePages, adminReservePages, batchPages, slackBytes: i.cpus * batchPages * pageSize };
}
