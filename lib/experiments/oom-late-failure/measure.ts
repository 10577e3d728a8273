import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readKernelLog } from '../../kernel/kmsg.js';
import { runNamedChild } from '../../measure/child.js';
import { inMode2 } from '../../measure/mode2.js';
import { pageSize } from '../../native/mapping.js';
import { type TempMemoryCgroup, withMemoryCgroup } from '../../safety/memory-cgroup.js';
import { MiB } from '../../units.js';
import type { ExperimentContext } from '../model.js';
import type { FailurePath, KernelLog, LateKillResult, Mode2Path, OomLateFailureEvidence } from './evidence.js';

export interface OomLateFailureOptions {
  /** The cgroup's memory limit; default 32 MiB. */
  limitBytes?: number;
  /** The mapping the child makes and touches; default 4 × the limit. */
  mapBytes?: number;
  /** Kill the child after this long (the OOM kill comes much sooner); default 60 s. */
  timeoutMs?: number;
  /** Test hook: throw once the cgroup exists, to check it is removed on an error. */
  failAfterCgroupCreated?: boolean;
}

const lateSteps = (cg: TempMemoryCgroup, mapBytes: number) =>
  [
    // Whatever the OOM killer picks must be the child (the group holds only it anyway).
    ['oomScoreAdj', { op: 'writefile', path: '/proc/self/oom_score_adj', data: '1000', required: true }],
    // The child joins the group before it maps or touches anything.
    ['join', { op: 'writefile', path: cg.procsFile, data: '0', required: true }],
    ['region', { op: 'mmap', length: mapBytes, options: { prot: 'rw' }, required: true }],
    ['touch', { op: 'touch', mapping: 'region' }],
  ] as const;

function readNumber(file: string): number | null {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isFinite(n) ? n : null;
  } catch {
    return null;
  }
}

/** Lines of the kernel log that mention `pid` or the cgroup's directory name. */
function matching(lines: string[], pid: number, cgName: string): string[] {
  const re = new RegExp(`(pid=${pid},|Killed process ${pid} |PID: ${pid} |${cgName.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')})`);
  return lines.filter((l) => re.test(l));
}

/** The kernel's log lines for the kill. */
function kernelLogFor(pid: number, cgName: string): KernelLog {
  const log = readKernelLog();
  return { ...log, lines: log.lines === null ? null : matching(log.lines, pid, cgName) };
}

/** Runs the late-failure child in a fresh cgroup; the group is removed however this ends. */
export async function runLateKill(options: OomLateFailureOptions = {}): Promise<LateKillResult> {
  const limitBytes = options.limitBytes ?? 32 * MiB;
  const mapBytes = options.mapBytes ?? 4 * limitBytes;
  return withMemoryCgroup(limitBytes, async (cg) => {
    if (options.failAfterCgroupCreated) throw new Error('injected failure after the cgroup was created');
    const limitFile = join(cg.path, cg.version === 1 ? 'memory.limit_in_bytes' : 'memory.max');
    const cgroupLimitFileBytes = readNumber(limitFile) ?? limitBytes;
    const before = cg.oomKills();
    const { result: r, step } = await runNamedChild(lateSteps(cg, mapBytes), { timeoutMs: options.timeoutMs ?? 60_000 });
    const mmap = step('region');
    const touch = step('touch');
    const touched = touch.progress * pageSize;
    const killed = r.signal !== null && touch.startMs > 0;
    const peak = readNumber(join(cg.path, cg.version === 1 ? 'memory.max_usage_in_bytes' : 'memory.peak'));
    return {
      pid: r.pid,
      cgroupPath: cg.path,
      cgroupVersion: cg.version,
      cgroupLimitBytes: limitBytes,
      cgroupLimitFileBytes,
      mapBytes,
      mmapOk: mmap.status === 'ok',
      mmapCode: mmap.code,
      signal: r.signal,
      exitCode: r.exitCode,
      timedOut: r.timedOut,
      pagesTouchedBeforeKill: touch.progress,
      touchedBytesBeforeKill: touched,
      touchedToLimitRatio: touched / cgroupLimitFileBytes,
      limitMinusTouchedBytes: cgroupLimitFileBytes - touched,
      msFromFirstTouchToKill: killed ? r.reapedMs - touch.startMs : null,
      msFromMmapReturnToKill: killed && mmap.status === 'ok' ? r.reapedMs - mmap.endMs : null,
      cgroupOomKillsBefore: before,
      cgroupOomKillsAfter: cg.oomKills(),
      cgroupPeakBytes: peak,
      memoryEventsAfter: cg.memoryEvents(),
      kernelLog: kernelLogFor(r.pid, cg.path.slice(cg.path.lastIndexOf('/') + 1)),
    };
  });
}

/** A child that maps `requestBytes` (never touching it), under RLIMIT_AS if asked; where did it fail? */
async function mapOnly(path: FailurePath['path'], requestBytes: number, setrlimit: boolean): Promise<FailurePath> {
  const limit = ['limit', { op: 'setrlimit', resource: 'as', soft: Math.floor(requestBytes / 2), relative: true, required: true }] as const;
  const map = ['mmap', { op: 'mmap', length: requestBytes, options: { prot: 'rw' } }] as const;
  const { result: r, step } = await runNamedChild(setrlimit ? [limit, map] : [map], { timeoutMs: 30_000 });
  const mmap = step('mmap');
  const failedAtCall = mmap.status === 'failed';
  return {
    path,
    requestBytes,
    mmapOk: mmap.status === 'ok',
    site: failedAtCall ? 'at-call' : r.signal !== null ? 'signal' : mmap.status === 'ok' ? 'none' : 'not-run',
    code: mmap.code,
    signal: r.signal,
    pagesTouched: 0,
    msToFailure: failedAtCall ? mmap.endMs - mmap.startMs : null,
    reason: mmap.status === 'not-run' ? `the child ended before the mmap (exit ${r.exitCode}, signal ${r.signal})` : null,
  };
}

/** The same request as the late path, under RLIMIT_AS = the child's size + half the request. */
export function runRlimitAsPath(requestBytes: number): Promise<FailurePath> {
  return mapOnly('rlimit-as', requestBytes, true);
}

/**
 * Mode 2 with a request that cannot fit (measure/mode2.ts): the room left + 1 GiB, mapped in a
 * child and never touched.
 */
export async function runMode2Path(ctx: ExperimentContext): Promise<Mode2Path> {
  const r = await inMode2(ctx.mode, (room) => mapOnly('mode-2', room.overRoomBytes, false));
  if (r.ran) {
    const { commitLimitBytes, committedAsBytes, guardRaisedKbytes } = r.room;
    return { ...r.value, commitLimitBytes, committedAsBytes, guardRaisedKbytes };
  }
  return {
    path: 'mode-2',
    requestBytes: 0,
    mmapOk: false,
    site: 'not-run',
    code: null,
    signal: null,
    pagesTouched: 0,
    msToFailure: null,
    reason: r.reason,
    commitLimitBytes: null,
    committedAsBytes: null,
    guardRaisedKbytes: null,
  };
}

/** The late kill, then the same request under RLIMIT_AS and in mode 2. */
export async function measureOomLateFailure(ctx: ExperimentContext): Promise<OomLateFailureEvidence> {
  ctx.progress('oom-late-failure: touching an over-sized mapping inside a limited memory cgroup');
  const late = await runLateKill();
  ctx.progress('oom-late-failure: the same request under RLIMIT_AS');
  const rlimitAs = await runRlimitAsPath(late.mapBytes);
  ctx.progress('oom-late-failure: a request larger than the mode-2 commit room');
  const mode2 = await runMode2Path(ctx);
  return { mode: ctx.mode, pageSize, late, rlimitAs, mode2 };
}
