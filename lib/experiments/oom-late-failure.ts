/**
 * oom-late-failure: 002's late failure made visible, inside a memory cgroup so the OOM killer
 * only ever sees our child. A child joins a fresh group limited to a few tens of MiB, maps
 * several times the limit (mmap succeeds), and touches it page by page until the cgroup's OOM
 * killer ends it with SIGKILL. The same request then fails fast, at the mmap call, under
 * RLIMIT_AS and under mode 2 with the request larger than the commit limit's room.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readKernelLog } from '../kernel/kmsg.js';
import { readMeminfo } from '../kernel/meminfo.js';
import { runNamedChild } from '../measure/child.js';
import { pageSize } from '../native/mapping.js';
import { type TempMemoryCgroup, withMemoryCgroup } from '../safety/memory-cgroup.js';
import { type GuardWindow, guardAvailability, withOvercommitSettings } from '../safety/settings-guard.js';
import { GiB, KiB, MiB, mib } from '../units.js';
import { DOC_002, DOC_003, DOC_004 } from './documents.js';
import { defineExperiment, type Evidence, type ExperimentContext, type Measured, type OvercommitMode, type Verdict } from './model.js';

const ms = (v: number | null): string => (v === null ? '?' : v.toFixed(v < 1 ? 3 : 1));

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

/** Where a failure surfaced: at the mmap call (errno, size in hand) or as a signal later. */
export type FailureSite = 'at-call' | 'signal' | 'none' | 'not-run';

export interface FailurePath {
  /** 'cgroup-oom' (late), 'rlimit-as' and 'mode-2' (fail-fast contrasts). */
  path: 'cgroup-oom' | 'rlimit-as' | 'mode-2';
  requestBytes: number;
  mmapOk: boolean;
  site: FailureSite;
  /** The mmap call's errno code ('ENOMEM') when it failed. */
  code: string | null;
  /** The terminating signal's name when the child was killed. */
  signal: string | null;
  /** Pages written before the failure (0 for a failure at the call). */
  pagesTouched: number;
  /** at-call: how long the failing mmap took; signal: ms from the first touch to the reaping. */
  msToFailure: number | null;
  /** Why the path did not run, when it did not. */
  reason: string | null;
}

export interface KernelLog {
  /** Kernel log lines that name the child's pid or its cgroup, or null when the log could not be read. */
  lines: string[] | null;
  source: '/dev/kmsg' | 'dmesg' | null;
  reason: string | null;
}

export interface LateKillResult {
  pid: number;
  cgroupPath: string;
  cgroupVersion: 1 | 2;
  cgroupLimitBytes: number;
  /** The limit file read back (page-rounded by the kernel). */
  cgroupLimitFileBytes: number;
  mapBytes: number;
  mmapOk: boolean;
  mmapCode: string | null;
  signal: string | null;
  exitCode: number | null;
  timedOut: boolean;
  pagesTouchedBeforeKill: number;
  touchedBytesBeforeKill: number;
  /** touched bytes / the limit read back: how close the kill came to the limit. */
  touchedToLimitRatio: number;
  /** The child's other charges (stack, page tables, copied pages): limit − touched bytes. */
  limitMinusTouchedBytes: number;
  msFromFirstTouchToKill: number | null;
  msFromMmapReturnToKill: number | null;
  cgroupOomKillsBefore: number;
  cgroupOomKillsAfter: number;
  /** The group's peak usage (v1 memory.max_usage_in_bytes, v2 memory.peak), or null. */
  cgroupPeakBytes: number | null;
  /** v1 memory.oom_control after the kill (under_oom, oom_kill_disable, oom_kill); v2 memory.events. */
  memoryEventsAfter: Record<string, number>;
  kernelLog: KernelLog;
}

/** The mode-2 path, with the commit numbers its request was sized from. */
export interface Mode2Path extends FailurePath {
  /** CommitLimit and Committed_AS read just before the request (null when it did not run). */
  commitLimitBytes: number | null;
  committedAsBytes: number | null;
  /** overcommit_kbytes the settings guard set to keep headroom for the machine, or null. */
  guardRaisedKbytes: number | null;
}

export interface OomLateFailureResult {
  late: LateKillResult;
  rlimitAs: FailurePath;
  mode2: Mode2Path;
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
 * Mode 2 with a request that cannot fit: CommitLimit − Committed_AS + 1 GiB, mapped in a child
 * and never touched. Under the runner's mode 2 it runs as is; otherwise the settings guard
 * switches to mode 2 for the duration (keeping headroom for the rest of the machine, which is
 * why the request, not the limit, is what cannot fit).
 */
async function runMode2Path(ctx: ExperimentContext): Promise<Mode2Path> {
  const attempt = async (window: GuardWindow | null): Promise<Mode2Path> => {
    const m = readMeminfo();
    const p = await mapOnly('mode-2', Math.max(m.commitLimit - m.committedAs, 0) + GiB, false);
    return { ...p, commitLimitBytes: m.commitLimit, committedAsBytes: m.committedAs, guardRaisedKbytes: window?.headroom?.kbytes ?? null };
  };
  if (ctx.mode === 2) return attempt(null);
  const avail = guardAvailability();
  if (!avail.available) {
    return {
      path: 'mode-2',
      requestBytes: 0,
      mmapOk: false,
      site: 'not-run',
      code: null,
      signal: null,
      pagesTouched: 0,
      msToFailure: null,
      reason: `mode 2 is not in force and the settings guard cannot switch to it: ${avail.reason ?? 'unknown'}`,
      commitLimitBytes: null,
      committedAsBytes: null,
      guardRaisedKbytes: null,
    };
  }
  return withOvercommitSettings({ mode: 2 }, attempt);
}

function describePath(p: FailurePath): string {
  const size = `${mib(p.requestBytes)}`;
  if (p.site === 'at-call')
    return `${p.path}: mmap(${size}) failed at the call with ${p.code} after ${ms(p.msToFailure)} ms, the size in hand`;
  if (p.site === 'signal') return `${p.path}: ${p.signal} after ${p.pagesTouched} pages`;
  if (p.site === 'none') return `${p.path}: mmap(${size}) succeeded (no failure at the call)`;
  return `${p.path}: did not run (${p.reason ?? 'unknown'})`;
}

function mode2Commit(p: Mode2Path): string {
  if (p.commitLimitBytes === null || p.committedAsBytes === null) return '';
  const raised = p.guardRaisedKbytes === null ? '' : `, overcommit_kbytes ${p.guardRaisedKbytes} set by the settings guard for headroom`;
  return ` (CommitLimit ${p.commitLimitBytes} B, Committed_AS ${p.committedAsBytes} B${raised}: the request is the room left + 1 GiB)`;
}

function latePath(l: LateKillResult): FailurePath {
  return {
    path: 'cgroup-oom',
    requestBytes: l.mapBytes,
    mmapOk: l.mmapOk,
    site: l.signal !== null ? 'signal' : l.mmapOk ? 'none' : 'at-call',
    code: l.mmapCode,
    signal: l.signal,
    pagesTouched: l.pagesTouchedBeforeKill,
    msToFailure: l.msFromFirstTouchToKill,
    reason: null,
  };
}

function describeLate(l: LateKillResult): string {
  const lim = `${mib(l.cgroupLimitFileBytes)}`;
  if (!l.mmapOk) return `mmap(${mib(l.mapBytes)}) in a ${lim} cgroup failed at the call (${l.mmapCode})`;
  const how =
    l.signal === null
      ? `the child was not killed (exit ${l.exitCode})`
      : `${l.signal}${l.timedOut ? ' from our timeout' : ''} after ${l.pagesTouchedBeforeKill} pages (${mib(l.touchedBytesBeforeKill)}, ${(l.touchedToLimitRatio * 100).toFixed(1)}% of the limit; ${(l.limitMinusTouchedBytes / KiB).toFixed(0)} KiB short of it, the child's other charges) and ${ms(l.msFromFirstTouchToKill)} ms after the first touch (${ms(l.msFromMmapReturnToKill)} ms after mmap returned)`;
  const e = l.memoryEventsAfter;
  // v1: oom_kill_disable 1 would have left the child hanging under_oom instead of killed.
  const control =
    l.cgroupVersion === 1 ? ` (memory.oom_control after: oom_kill_disable ${e.oom_kill_disable}, under_oom ${e.under_oom})` : '';
  return `mmap(${mib(l.mapBytes)}) in a ${lim} cgroup (v${l.cgroupVersion}) succeeded; ${how}; the cgroup's oom_kill count went ${l.cgroupOomKillsBefore} → ${l.cgroupOomKillsAfter}${control}`;
}

function kernelLogSentence(k: KernelLog): string {
  if (k.lines === null) return `kernel log not readable (${k.reason})`;
  const killed = k.lines.find((l) => l.includes('Killed process'));
  if (killed) return `kernel log (${k.source}): "${killed}"`;
  return `kernel log (${k.source}) has no line for the kill (${k.lines.length} matching lines)`;
}

/** Everything measured: the late kill and both fail-fast contrasts, in the mode in force. */
export interface OomLateFailureEvidence extends Measured, OomLateFailureResult {
  mode: OvercommitMode;
  pageSize: number;
}

function asEvidence(e: OomLateFailureEvidence): Evidence {
  const l = e.late;
  const path = (p: FailurePath): Evidence => ({ ...p });
  // The summary shows scalar keys in this order: the late kill's numbers first.
  return {
    mode: e.mode,
    pagesTouchedBeforeKill: l.pagesTouchedBeforeKill,
    signal: l.signal,
    cgroupLimitBytes: l.cgroupLimitBytes,
    msFromFirstTouchToKill: l.msFromFirstTouchToKill,
    touchedToLimitRatio: l.touchedToLimitRatio,
    mmapOk: l.mmapOk,
    mapBytes: l.mapBytes,
    msFromMmapReturnToKill: l.msFromMmapReturnToKill,
    touchedBytesBeforeKill: l.touchedBytesBeforeKill,
    limitMinusTouchedBytes: l.limitMinusTouchedBytes,
    cgroupLimitFileBytes: l.cgroupLimitFileBytes,
    cgroupOomKills: { before: l.cgroupOomKillsBefore, after: l.cgroupOomKillsAfter },
    cgroupPeakBytes: l.cgroupPeakBytes,
    memoryEventsAfter: { ...l.memoryEventsAfter },
    exitCode: l.exitCode,
    timedOut: l.timedOut,
    pageSize: e.pageSize,
    pid: l.pid,
    cgroupVersion: l.cgroupVersion,
    cgroupPath: l.cgroupPath,
    kernelLogLines: l.kernelLog.lines,
    kernelLogSource: l.kernelLog.source,
    kernelLogReason: l.kernelLog.reason,
    failurePaths: [path(latePath(l)), path(e.rlimitAs), path(e.mode2)],
  };
}

/** What says the OOM killer sent the signal: the group's oom_kill count (kernels since 4.13) or the kernel log. */
function oomAttribution(l: LateKillResult): { counted: boolean | null; logged: boolean | null } {
  const counted = 'oom_kill' in l.memoryEventsAfter ? l.cgroupOomKillsAfter > l.cgroupOomKillsBefore : null;
  const logged = l.kernelLog.lines === null ? null : l.kernelLog.lines.some((line) => line.includes(`Killed process ${l.pid} `));
  return { counted, logged };
}

/**
 * Whether the late kill happened as 002 describes: mmap ok, then SIGKILL from the group's OOM
 * killer while touching. Null when the touch never ran or nothing can say who sent the signal.
 */
function judgeLateKill(e: OomLateFailureEvidence): Verdict {
  const l = e.late;
  if (l.timedOut)
    return { holds: null, reason: `the child was still running after the timeout (${l.pagesTouchedBeforeKill} pages touched)` };
  if (l.signal !== 'SIGKILL' || l.pagesTouchedBeforeKill === 0) return { holds: false };
  const { counted, logged } = oomAttribution(l);
  if (counted === null && logged === null) {
    return {
      holds: null,
      reason: `SIGKILL came, but neither an oom_kill count nor the kernel log (${l.kernelLog.reason}) says who sent it`,
    };
  }
  return { holds: counted === true || logged === true };
}

/** The mapping must have been admitted for touching it to exhaust anything. */
const refusedAtCall = (e: OomLateFailureEvidence): string | undefined =>
  e.late.mmapOk
    ? undefined
    : `the ${mib(e.late.mapBytes)} mapping was refused at the call (${e.late.mmapCode}): there was no overcommit to fail late`;

/** The late kill, judged as the exhaustion 003 and Q2 speak of: here the cgroup's, which the reason says. */
function judgeExhaustion(e: OomLateFailureEvidence): Verdict {
  const v = judgeLateKill(e);
  return v.holds === null
    ? v
    : { ...v, reason: `the exhaustion here is the cgroup's limit (${e.late.cgroupLimitFileBytes} B), not the machine's memory` };
}

function lateSentence(e: OomLateFailureEvidence, v: Verdict): string {
  const l = e.late;
  const surfaced =
    l.signal !== null && l.pagesTouchedBeforeKill > 0
      ? ` The failure surfaced as ${l.signal}, ${l.pagesTouchedBeforeKill} page writes after the allocation returned, not as an errno from the call.`
      : '';
  const who = oomAttribution(l);
  const by =
    v.holds === true
      ? ` The group's OOM killer sent it (${[who.counted ? 'oom_kill count' : '', who.logged ? 'kernel log' : ''].filter(Boolean).join(' and ')}).`
      : '';
  return `${describeLate(l)}.${surfaced}${by}`;
}

export const oomLateFailure = defineExperiment<OomLateFailureEvidence>({
  id: 'oom-late-failure',
  title: 'Late failure made visible: an OOM kill inside a memory cgroup, against fail-fast mmap under RLIMIT_AS and mode 2',
  requires: { root: true, memoryCgroup: true },
  measure: async (ctx) => {
    ctx.progress('oom-late-failure: touching an over-sized mapping inside a limited memory cgroup');
    const late = await runLateKill();
    ctx.progress('oom-late-failure: the same request under RLIMIT_AS');
    const rlimitAs = await runRlimitAsPath(late.mapBytes);
    ctx.progress('oom-late-failure: a request larger than the mode-2 commit room');
    const mode2 = await runMode2Path(ctx);
    return { mode: ctx.mode, pageSize, late, rlimitAs, mode2 };
  },
  rules: [
    {
      claim: {
        id: 'overcommit-late-sigkill',
        text: 'With overcommit the allocation appears to succeed; when it is eventually accessed the kernel invokes the OOM killer and terminates the process: there is no allocation failure to handle, only a SIGKILL.',
        source: DOC_002,
      },
      missing: refusedAtCall,
      judge: (e) => {
        const v = judgeLateKill(e);
        // Mode 2 admitted the mapping against the commit limit; the cgroup limit is not part of it.
        return v.holds !== null && e.mode === 2
          ? { ...v, reason: 'mode 2 was in force: the memory cgroup limit is not part of the commit accounting' }
          : v;
      },
      observe: (e, v) =>
        `${lateSentence(e, v)} Fail-fast contrast: ${describePath(e.rlimitAs)}; ${describePath(e.mode2)}. ${kernelLogSentence(e.late.kernelLog)}.`,
      evidence: asEvidence,
    },
    {
      claim: {
        id: 'mode2-allocations-fail-immediately',
        text: 'Disabling overcommit (mode 2) restores admission control at allocation time: allocations fail immediately (or succeed with a guarantee of backing memory).',
        source: DOC_002,
      },
      missing: (e) => (e.mode2.site === 'not-run' ? (e.mode2.reason ?? 'the mode-2 request did not run') : undefined),
      judge: (e) => ({ holds: e.mode2.site === 'at-call' && e.mode2.code === 'ENOMEM' }),
      observe: (e) => {
        const l = e.late;
        const guarantee =
          e.mode === 2 && l.mmapOk && l.signal !== null
            ? ` In this run mode 2 was in force for the cgroup child too: its ${mib(l.mapBytes)} mapping was admitted and ${l.signal} still came after ${l.pagesTouchedBeforeKill} pages, so the guarantee of backing memory is against the system-wide commit limit only, not a memory cgroup's limit.`
            : '';
        return `${describePath(e.mode2)}${mode2Commit(e.mode2)}.${guarantee}`;
      },
      // The mode-2 path's own numbers lead this finding's evidence.
      evidence: (e) => ({
        mode2Site: e.mode2.site,
        mode2Code: e.mode2.code,
        mode2RequestBytes: e.mode2.requestBytes,
        mode2CommitLimitBytes: e.mode2.commitLimitBytes,
        mode2CommittedAsBytes: e.mode2.committedAsBytes,
        ...asEvidence(e),
      }),
    },
    {
      claim: {
        id: 'oom-killer-relieves-exhaustion',
        text: 'If applications attempt to employ the entire range of their mappings, memory may become exhausted; the kernel relieves memory exhaustion by killing processes (the OOM killer).',
        source: DOC_003,
      },
      missing: refusedAtCall,
      judge: judgeExhaustion,
      observe: (e, v) => `${lateSentence(e, v)} ${kernelLogSentence(e.late.kernelLog)}.`,
      evidence: asEvidence,
    },
    {
      claim: {
        id: 'q2-overcommit-works-until-all-touch',
        text: 'Q2: overcommitting works as long as not all processes need their full allocation simultaneously; if they do, the OOM killer terminates processes.',
        source: DOC_004,
      },
      missing: refusedAtCall,
      judge: judgeExhaustion,
      observe: (e) => {
        const l = e.late;
        const ended = l.signal === null ? `ended with exit ${l.exitCode}` : `ended in ${l.signal}`;
        return `${mib(l.mapBytes)} promised in a ${mib(l.cgroupLimitFileBytes)} group: the first ${l.pagesTouchedBeforeKill} pages (${(l.touchedToLimitRatio * 100).toFixed(1)}% of the limit) were served; touching the rest ${ended} (oom_kill ${l.cgroupOomKillsBefore} → ${l.cgroupOomKillsAfter}).`;
      },
      evidence: asEvidence,
    },
  ],
});
