/**
 * oom-late-failure: 002's late failure made visible, inside a memory cgroup so the OOM killer
 * only ever sees our child. A child joins a fresh group limited to a few tens of MiB, maps
 * several times the limit (mmap succeeds), and touches it page by page until the cgroup's OOM
 * killer ends it with SIGKILL. The same request then fails fast, at the mmap call, under
 * RLIMIT_AS and under mode 2 with the request larger than the commit limit's room.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, constants as fsConstants, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { readMeminfo } from '../kernel/meminfo.js';
import { runChild } from '../native/child.js';
import { pageSize } from '../native/mapping.js';
import { type TempMemoryCgroup, withMemoryCgroup } from '../safety/memory-cgroup.js';
import { type GuardWindow, guardAvailability, withOvercommitSettings } from '../safety/settings-guard.js';
import { GiB, KiB, MiB, mib } from '../units.js';
import { DOC_002, DOC_003, DOC_004 } from './documents.js';
import { legacyExperiment } from './legacy.js';
import { type Claim, type Evidence, type ExperimentContext, type Finding, finding } from './model.js';

const ms = (v: number | null): string => (v === null ? '?' : v.toFixed(v < 1 ? 3 : 1));

export const oomLateFailureClaims = {
  lateSigkill: {
    id: 'overcommit-late-sigkill',
    text: 'With overcommit the allocation appears to succeed; when it is eventually accessed the kernel invokes the OOM killer and terminates the process: there is no allocation failure to handle, only a SIGKILL.',
    source: DOC_002,
  },
  mode2FailsFast: {
    id: 'mode2-allocations-fail-immediately',
    text: 'Disabling overcommit (mode 2) restores admission control at allocation time: allocations fail immediately (or succeed with a guarantee of backing memory).',
    source: DOC_002,
  },
  oomKillerRelieves: {
    id: 'oom-killer-relieves-exhaustion',
    text: 'If applications attempt to employ the entire range of their mappings, memory may become exhausted; the kernel relieves memory exhaustion by killing processes (the OOM killer).',
    source: DOC_003,
  },
  q2: {
    id: 'q2-overcommit-works-until-all-touch',
    text: 'Q2: overcommitting works as long as not all processes need their full allocation simultaneously; if they do, the OOM killer terminates processes.',
    source: DOC_004,
  },
} satisfies Record<string, Claim>;

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
    { op: 'writefile', path: '/proc/self/oom_score_adj', data: '1000', required: true },
    // The child joins the group before it maps or touches anything.
    { op: 'writefile', path: cg.procsFile, data: '0', required: true },
    { op: 'mmap', length: mapBytes, options: { prot: 'rw' }, required: true },
    { op: 'touch', mapping: 2 },
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

/** Reads every record of /dev/kmsg without blocking (each read returns one record). */
function readKmsg(): string[] {
  const fd = openSync('/dev/kmsg', fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  const buf = Buffer.alloc(16384);
  const out: string[] = [];
  try {
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN') break;
        if (code === 'EPIPE') continue; // the record was overwritten while we read: skip it
        throw e;
      }
      if (n === 0) break;
      // "prio,seq,usec,flags;message\n" followed by continuation lines.
      const record = buf.toString('utf8', 0, n);
      const text = record.slice(record.indexOf(';') + 1).split('\n')[0]!;
      out.push(text);
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

/** The kernel's log lines for the kill: /dev/kmsg, else `dmesg`; null with the reason when neither is readable. */
function kernelLogFor(pid: number, cgName: string): KernelLog {
  let kmsgError: string;
  try {
    return { lines: matching(readKmsg(), pid, cgName), source: '/dev/kmsg', reason: null };
  } catch (e) {
    kmsgError = (e as Error).message;
  }
  try {
    const text = execFileSync('dmesg', [], { encoding: 'utf8', maxBuffer: 64 * MiB, stdio: ['ignore', 'pipe', 'ignore'] });
    return { lines: matching(text.split('\n'), pid, cgName), source: 'dmesg', reason: null };
  } catch (e) {
    return { lines: null, source: null, reason: `/dev/kmsg: ${kmsgError}; dmesg: ${(e as Error).message}` };
  }
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
    const r = await runChild(lateSteps(cg, mapBytes), { timeoutMs: options.timeoutMs ?? 60_000 });
    const mmap = r.steps[2]!;
    const touch = r.steps[3]!;
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
  const steps = [
    ...(setrlimit
      ? [{ op: 'setrlimit' as const, resource: 'as' as const, soft: Math.floor(requestBytes / 2), relative: true, required: true }]
      : []),
    { op: 'mmap' as const, length: requestBytes, options: { prot: 'rw' as const } },
  ];
  const r = await runChild(steps, { timeoutMs: 30_000 });
  const mmap = r.steps[r.steps.length - 1]!;
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
export async function runMode2Path(ctx: ExperimentContext): Promise<Mode2Path> {
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

function asEvidence(r: OomLateFailureResult, mode: number): Evidence {
  const l = r.late;
  const path = (p: FailurePath): Evidence => ({ ...p });
  // The summary shows scalar keys in this order: the late kill's numbers first.
  return {
    mode,
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
    pageSize,
    pid: l.pid,
    cgroupVersion: l.cgroupVersion,
    cgroupPath: l.cgroupPath,
    kernelLogLines: l.kernelLog.lines,
    kernelLogSource: l.kernelLog.source,
    kernelLogReason: l.kernelLog.reason,
    failurePaths: [path(latePath(l)), path(r.rlimitAs), path(r.mode2)],
  };
}

/** The late kill happened as 002 describes: mmap ok, then SIGKILL from the group's OOM killer while touching. */
function oomKilled(l: LateKillResult): boolean {
  return (
    l.mmapOk && l.signal === 'SIGKILL' && !l.timedOut && l.pagesTouchedBeforeKill > 0 && l.cgroupOomKillsAfter > l.cgroupOomKillsBefore
  );
}

export async function runOomLateFailure(
  ctx: ExperimentContext,
  options: OomLateFailureOptions = {},
): Promise<{ findings: Finding[]; result: OomLateFailureResult }> {
  ctx.progress('oom-late-failure: touching an over-sized mapping inside a limited memory cgroup');
  const late = await runLateKill(options);
  ctx.progress('oom-late-failure: the same request under RLIMIT_AS');
  const rlimitAs = await runRlimitAsPath(late.mapBytes);
  ctx.progress('oom-late-failure: a request larger than the mode-2 commit room');
  const mode2 = await runMode2Path(ctx);
  const result: OomLateFailureResult = { late, rlimitAs, mode2 };
  const evidence = asEvidence(result, ctx.mode);
  const c = oomLateFailureClaims;
  const lateText = describeLate(late);
  const contrast = `Fail-fast contrast: ${describePath(rlimitAs)}; ${describePath(mode2)}.`;
  const killedByOom = oomKilled(late);
  const findings: Finding[] = [];

  findings.push(
    finding(
      c.lateSigkill,
      killedByOom,
      `${lateText}. The failure surfaced as a signal, ${late.pagesTouchedBeforeKill} page writes after the allocation returned, with no errno and no size. ${contrast} ${kernelLogSentence(late.kernelLog)}.`,
      evidence,
      ctx.mode === 2
        ? 'mode 2 is in force: the mapping was charged to the commit limit and fitted, and the cgroup limit still killed the child late; the memory cgroup limit is not part of the commit accounting'
        : undefined,
    ),
  );

  const mode2Holds = mode2.site === 'not-run' ? null : mode2.site === 'at-call' && mode2.code === 'ENOMEM';
  const guarantee =
    ctx.mode === 2
      ? ` In this run mode 2 was in force for the cgroup child too: its ${mib(late.mapBytes)} mapping was admitted and ${late.signal ?? 'no signal'} still came after ${late.pagesTouchedBeforeKill} pages, so the 'guarantee of backing memory' is against the system-wide commit limit only, not a memory cgroup's limit.`
      : '';
  // The mode-2 path's own numbers lead this finding's evidence.
  const mode2Evidence: Evidence = {
    mode2Site: mode2.site,
    mode2Code: mode2.code,
    mode2RequestBytes: mode2.requestBytes,
    mode2CommitLimitBytes: mode2.commitLimitBytes,
    mode2CommittedAsBytes: mode2.committedAsBytes,
    ...evidence,
  };
  findings.push(
    finding(
      c.mode2FailsFast,
      mode2Holds,
      `${describePath(mode2)}${mode2Commit(mode2)}.${guarantee}`,
      mode2Evidence,
      mode2.site === 'not-run' ? (mode2.reason ?? undefined) : undefined,
    ),
  );

  const exhaustion = `the exhaustion here is the cgroup's limit (${late.cgroupLimitFileBytes} B), not the machine's memory; the memory-cgroup OOM killer chose the only process in the group`;
  findings.push(
    finding(
      c.oomKillerRelieves,
      late.mmapOk ? killedByOom : null,
      `${lateText}; ${kernelLogSentence(late.kernelLog)}.`,
      evidence,
      late.mmapOk ? exhaustion : 'the mapping was refused at the call, so memory was never exhausted by touching it',
    ),
  );
  findings.push(
    finding(
      c.q2,
      late.mmapOk ? killedByOom : null,
      `${mib(late.mapBytes)} promised in a ${mib(late.cgroupLimitFileBytes)} group: the first ${late.pagesTouchedBeforeKill} pages (${(late.touchedToLimitRatio * 100).toFixed(1)}% of the limit) were served; touching the rest ended in ${late.signal ?? 'no signal'} (oom_kill ${late.cgroupOomKillsBefore} → ${late.cgroupOomKillsAfter}).`,
      evidence,
      late.mmapOk ? exhaustion : 'the mapping was refused at the call',
    ),
  );
  return { findings, result };
}

export const oomLateFailure = legacyExperiment({
  id: 'oom-late-failure',
  title: 'Late failure made visible: an OOM kill inside a memory cgroup, against fail-fast mmap under RLIMIT_AS and mode 2',
  claims: Object.values(oomLateFailureClaims),
  requires: { root: true, memoryCgroup: true },
  run: async (ctx) => (await runOomLateFailure(ctx)).findings,
});
