/**
 * redis-fork: the Redis FAQ quoted in 000 says that with overcommit_memory = 0 the fork of a
 * process holding a large dataset fails unless there is as much free RAM as the parent's memory,
 * and that mode 1 lets it succeed. A child stands in for Redis: it holds a private writable
 * region larger than MemAvailable (mapped; the kernel charges a fork for the whole region,
 * touched or not) of which a dataset is really written, inside a memory cgroup made for it, then
 * forks. In mode 2 001's "Account and check on fork" is tested instead.
 */

import { type Meminfo, parseMeminfo, readMeminfo } from '../kernel/meminfo.js';
import { type ChildResult, type ChildStep, type ChildStepResult, runChild } from '../native/child.js';
import { pageSize } from '../native/mapping.js';
import { withMemoryCgroup } from '../safety/memory-cgroup.js';
import { gib, MiB, mib } from '../units.js';
import { DOC_000, DOC_001 } from './documents.js';
import { legacyExperiment } from './legacy.js';
import { type Claim, type Evidence, type ExperimentContext, type Finding, finding, type OvercommitMode } from './model.js';

const C = {
  mode0: {
    id: 'mode0-fork-fails-without-free-ram',
    text: 'If the overcommit_memory setting is set to zero the fork will fail unless there is as much free RAM as required to really duplicate all the parent memory pages',
    source: DOC_000,
    modes: [0],
  },
  mode1: {
    id: 'mode1-fork-succeeds',
    text: 'Setting overcommit_memory to 1 tells Linux to relax and perform the fork in a more optimistic allocation fashion',
    source: DOC_000,
    modes: [1],
  },
  mode2: {
    id: 'mode2-fork-checked',
    text: 'Account and check on fork (mode 2: a fork whose copy of the private writable memory would exceed CommitLimit is refused)',
    source: DOC_001,
    modes: [2],
  },
} satisfies Record<string, Claim>;

const redisForkClaims: readonly Claim[] = Object.values(C);

/** Room in the cgroup above the dataset, for the child's own pages (stack, copied-on-write pages of Node's image). */
const CGROUP_SLACK_BYTES = 64 * MiB;

/** What one child saw: its region, dataset, /proc/meminfo just before the fork, and the fork's outcome. */
export interface ForkAttempt {
  regionBytes: number;
  datasetBytes: number;
  cgroupLimitBytes: number;
  mmapStatus: ChildStepResult['status'];
  mmapCode: string | null;
  touchStatus: ChildStepResult['status'];
  touchedPages: number;
  forkStatus: ChildStepResult['status'];
  forkCode: string | null;
  /** /proc/meminfo read by the child after touching, just before forking (null if not read). */
  beforeFork: Meminfo | null;
  oomKills: number;
  exitCode: number | null;
  signal: string | null;
}

const floorMiB = (bytes: number): number => Math.floor(bytes / MiB) * MiB;

/**
 * A child in its own memory cgroup: join the group, map `region` bytes, write `dataset` bytes of
 * them, read /proc/meminfo, fork. Only the dataset is touched, and only inside the group.
 */
async function attempt(region: number, dataset: number): Promise<ForkAttempt> {
  const limit = dataset + CGROUP_SLACK_BYTES;
  return withMemoryCgroup(limit, async (cg) => {
    const steps: ChildStep[] = [
      { op: 'writefile', path: cg.procsFile, data: '0', required: true },
      { op: 'mmap', length: region, options: { prot: 'rw' } },
      { op: 'touch', mapping: 1, length: dataset },
      { op: 'readfile', path: '/proc/meminfo' },
      { op: 'fork' },
    ];
    const r: ChildResult = await runChild(steps, { timeoutMs: 120_000 });
    const [, map, touch, info, fork] = r.steps as [ChildStepResult, ChildStepResult, ChildStepResult, ChildStepResult, ChildStepResult];
    return {
      regionBytes: region,
      datasetBytes: dataset,
      cgroupLimitBytes: limit,
      mmapStatus: map.status,
      mmapCode: map.code,
      touchStatus: touch.status,
      touchedPages: touch.progress,
      forkStatus: fork.status,
      forkCode: fork.code,
      beforeFork: info.status === 'ok' && info.data ? parseMeminfo(info.data) : null,
      oomKills: cg.oomKills(),
      exitCode: r.exitCode,
      signal: r.signal,
    };
  });
}

function attemptEvidence(a: ForkAttempt): Evidence {
  const m = a.beforeFork;
  return {
    regionBytes: a.regionBytes,
    datasetBytes: a.datasetBytes,
    cgroupLimitBytes: a.cgroupLimitBytes,
    mmapStatus: a.mmapStatus,
    mmapCode: a.mmapCode,
    touchStatus: a.touchStatus,
    touchedPages: a.touchedPages,
    forkStatus: a.forkStatus,
    forkCode: a.forkCode,
    memAvailable: m?.memAvailable ?? null,
    memFree: m?.memFree ?? null,
    memTotal: m?.memTotal ?? null,
    swapTotal: m?.swapTotal ?? null,
    commitLimit: m?.commitLimit ?? null,
    committedAs: m?.committedAs ?? null,
    oomKills: a.oomKills,
    exitCode: a.exitCode,
    signal: a.signal,
  };
}

function summary(a: ForkAttempt): string {
  const m = a.beforeFork;
  const mem = m
    ? `MemAvailable ${gib(m.memAvailable)}, MemFree ${gib(m.memFree)}, MemTotal+SwapTotal ${gib(m.memTotal + m.swapTotal)}, CommitLimit ${gib(m.commitLimit)}, Committed_AS ${gib(m.committedAs)} just before the fork`
    : 'meminfo not read';
  if (a.mmapStatus !== 'ok') return `mmap of the ${gib(a.regionBytes)} region ${a.mmapStatus} (${a.mmapCode ?? 'no errno'})`;
  return (
    `a child holding a ${gib(a.regionBytes)} private writable region, ${mib(a.datasetBytes)} of it written (${a.touchedPages} pages, in a ${mib(a.cgroupLimitBytes)} memory cgroup): ` +
    `fork ${a.forkStatus === 'ok' ? 'succeeded' : `${a.forkStatus} (${a.forkCode ?? 'no errno'})`}; ${mem}`
  );
}

/** The child did not get as far as forking: no verdict. */
function incomplete(a: ForkAttempt): string | undefined {
  if (a.mmapStatus !== 'ok') return `the region could not be mapped (${a.mmapCode ?? a.mmapStatus})`;
  if (a.touchStatus !== 'ok')
    return `the dataset was not written (touch ${a.touchStatus}, ${a.touchedPages} pages; exit ${a.exitCode}, signal ${a.signal})`;
  if (a.forkStatus !== 'ok' && a.forkStatus !== 'failed') return `the fork step did not run (${a.forkStatus})`;
  if (a.beforeFork === null) return '/proc/meminfo was not read before the fork';
  return undefined;
}

/**
 * Larger than MemAvailable (the FAQ's "free RAM") but not larger than MemTotal + SwapTotal, which
 * mode 0 refuses for a single mapping: halfway between the two.
 */
function regionSize(m: Meminfo): number {
  const ceiling = m.memTotal + m.swapTotal;
  return floorMiB(ceiling - (ceiling - m.memAvailable) / 2);
}

async function run(ctx: ExperimentContext): Promise<Finding[]> {
  const m = readMeminfo();
  // The dataset really written: min(256 MiB, 10% of MemAvailable), in whole MiB.
  const dataset = floorMiB(Math.min(256 * MiB, m.memAvailable / 10));
  if (dataset < pageSize) throw new Error(`redis-fork: MemAvailable (${mib(m.memAvailable)}) leaves no dataset to write`);
  const region = regionSize(m);
  ctx.progress(`redis-fork: mapping ${gib(region)}, writing ${mib(dataset)} in a memory cgroup, forking`);
  const big = await attempt(region, dataset);
  return [await verdict(ctx.mode, big, dataset)];
}

async function verdict(mode: OvercommitMode, big: ForkAttempt, dataset: number): Promise<Finding> {
  const forked = big.forkStatus === 'ok';
  if (mode === 1) {
    const why = incomplete(big);
    return finding(C.mode1, why ? null : forked, summary(big), attemptEvidence(big), why);
  }
  if (mode === 0) {
    const why = incomplete(big);
    if (why) return finding(C.mode0, null, summary(big), attemptEvidence(big), why);
    const free = big.beforeFork!.memAvailable;
    if (big.regionBytes <= free) {
      return finding(
        C.mode0,
        null,
        summary(big),
        attemptEvidence(big),
        `the region (${gib(big.regionBytes)}) was not larger than MemAvailable (${gib(free)}) at the fork: the FAQ predicts nothing`,
      );
    }
    const observed = `${summary(big)}. The parent's memory exceeded free RAM by ${gib(big.regionBytes - free)}, so the FAQ predicts failure; ${
      forked
        ? 'the kernel let the fork through: its mode-0 check at fork is per mapping against MemTotal + SwapTotal, not against free RAM'
        : `the fork was refused (${big.forkCode})`
    }`;
    return finding(C.mode0, !forked, observed, attemptEvidence(big));
  }
  // Mode 2: a region larger than MemAvailable is normally larger than CommitLimit's headroom too,
  // so mmap fails first (the fail-fast point); then a region that fits but whose copy would not.
  let decisive = big;
  let headroom: number | null = null;
  if (big.mmapStatus !== 'ok') {
    const m = readMeminfo();
    headroom = m.commitLimit - m.committedAs;
    const fit = floorMiB(headroom * 0.55);
    if (fit < 2 * dataset) {
      return finding(
        C.mode2,
        null,
        summary(big),
        { ...attemptEvidence(big), headroomBytes: headroom },
        `mode-2 headroom ${gib(headroom)} is too small for a region of twice the dataset`,
      );
    }
    decisive = await attempt(fit, dataset);
  }
  const why = incomplete(decisive);
  const first = decisive === big ? '' : `first ${summary(big)} (CommitLimit - Committed_AS was ${gib(headroom!)}); then `;
  let observed = `${first}${summary(decisive)}`;
  let holds: boolean | null = null;
  if (!why) {
    // Committed_AS read before the fork already holds the region once: the copy fits if a second one does.
    const before = decisive.beforeFork!;
    const copyFits = before.committedAs + decisive.regionBytes <= before.commitLimit;
    const refused = decisive.forkStatus === 'failed' && decisive.forkCode === 'ENOMEM';
    holds = refused === !copyFits;
    observed += `. A copy of the ${gib(decisive.regionBytes)} region ${copyFits ? 'fits' : 'does not fit'} under CommitLimit (Committed_AS + region = ${gib(before.committedAs + decisive.regionBytes)}); the fork was ${refused ? 'refused with ENOMEM' : decisive.forkStatus === 'ok' ? 'let through' : `${decisive.forkStatus} (${decisive.forkCode})`}`;
  }
  return finding(C.mode2, holds, observed, { ...attemptEvidence(decisive), headroomBytes: headroom, first: attemptEvidence(big) }, why);
}

export const redisFork = legacyExperiment({
  id: 'redis-fork',
  title: 'Fork of a process holding a region larger than free RAM (the Redis FAQ), in the mode in force',
  claims: redisForkClaims,
  requires: { root: true, memoryCgroup: true },
  run,
});
