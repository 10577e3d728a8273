import { KiB, mib } from '../../units.js';
import { defineRules } from '../../verdict/types.js';
import { DOC_002, DOC_003, DOC_004 } from '../documents.js';
import type { Evidence, Verdict } from '../model.js';
import type { FailurePath, KernelLog, LateKillResult, Mode2Path, OomLateFailureEvidence } from './evidence.js';

const ms = (v: number | null): string => (v === null ? '?' : v.toFixed(v < 1 ? 3 : 1));

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

export const oomLateFailureRules = defineRules<OomLateFailureEvidence>({
  id: 'oom-late-failure',
  title: 'Late failure made visible: an OOM kill inside a memory cgroup, against fail-fast mmap under RLIMIT_AS and mode 2',
  requires: { root: true, memoryCgroup: true },
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
