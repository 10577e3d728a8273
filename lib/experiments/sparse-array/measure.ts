import { setTimeout as sleep } from 'node:timers/promises';
import { readMeminfo } from '../../kernel/meminfo.js';
import { findVma, readVmas } from '../../kernel/smaps.js';
import { readStatus } from '../../kernel/status.js';
import { readThpSettings } from '../../kernel/thp.js';
import { readCommitted } from '../../measure/committed.js';
import { isSystemCallError } from '../../native/errors.js';
import { mmap, pageSize } from '../../native/mapping.js';
import { type PausePoint, type ProgramResult, parseSparseOutput, programPath, runProgram } from '../../native/programs.js';
import { type EnterConfinement, type TouchPlacement, withTouchConfinement } from '../../safety/touch-confinement.js';
import { GiB, MiB, mib } from '../../units.js';
import { changeFromDeltas } from '../../verdict/tolerance.js';
import type { OvercommitMode } from '../model.js';
import type { SparseArrayEvidence, SparsePoint, SparseProgramRun, SparseVariantEvidence } from './evidence.js';
import { SPARSE_PAGE_INTERVAL } from './evidence.js';

/** 004's ARRAY_SIZE * sizeof(int): 256M ints. */
export const PROGRAM_BYTES = GiB;

/** The array the experiment's program touches: a write per page shows the same on any size. */
const TOUCH_BYTES = 64 * MiB;

/** Committed_AS readings per point (median), and noise controls per point. */
const COMMITTED_READS = 3;

const CONTROLS = 3;

/** How long the experiment's program run may take before it is killed (its 64 MiB loop takes well under a second idle). */
const EXPERIMENT_TIMEOUT_MS = 120_000;

/** A control spans as long as the action it stands beside (the noise grows with time), up to this. */
const CONTROL_MAX_MS = 1000;

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
export async function runSparseProgram(
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
    // The kernel maps whole pages: on pages larger than the program's 4096-byte stride, a size may end inside one.
    pages: Math.ceil(bytes / pageSize),
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
  const thp = readThpSettings();
  const base = { mode, pageSize, thpEnabled: thp.enabled, thpSizeBytes: thp.sizeBytes };
  try {
    programPath('sparse');
  } catch (e) {
    return { ...base, problem: (e as Error).message } as SparseArrayEvidence;
  }
  const mem = readMeminfo();
  progress(`sparse-array: 004's sparse program, 1 GiB mmap (ended before its touch loop)`);
  const mapping = await runSparseProgram(PROGRAM_BYTES, undefined);
  progress(`sparse-array: 004's sparse program writing every page of ${mib(TOUCH_BYTES)}`);
  const touch = await withTouchConfinement(TOUCH_BYTES, async (enter) => {
    const first = await runSparseProgram(TOUCH_BYTES, enter);
    progress(`sparse-array: the same ${mib(TOUCH_BYTES)} once more (a second measurement of the touch's charge)`);
    return [first, await runSparseProgram(TOUCH_BYTES, enter)] as const;
  });
  progress(`sparse-array: one page in ${SPARSE_PAGE_INTERVAL} of ${mib(TOUCH_BYTES)}`);
  return {
    ...base,
    swapTotalBytes: mem.swapTotal,
    swapFreeBytes: mem.swapFree,
    mapping,
    touch: 'value' in touch ? touch.value[0] : null,
    touchAgain: 'value' in touch ? touch.value[1] : null,
    touchSkipped: 'skipped' in touch ? touch.skipped : null,
    variant: runVariant(TOUCH_BYTES),
  };
}

/** `overcommit-lab demo sparse`: 004's program over 1 GiB, as written, and what it cannot see. */
