/**
 * redis-fork: the Redis FAQ quoted in 000 says that with overcommit_memory = 0 the fork of a
 * process holding a large dataset fails unless there is as much free RAM as the parent's memory,
 * and that mode 1 lets it succeed. A child stands in for Redis, inside a memory cgroup made for
 * it: it maps a private writable region, writes its dataset, reads /proc/meminfo, forks, and
 * reads /proc/meminfo again. In mode 2, 001's "Account and check on fork" is tested instead.
 *
 * Two scenarios, one rule. On a throwaway VM (`overcommit-lab vm`) the child reproduces the FAQ
 * itself: it writes a dataset larger than the free memory left after writing it. On any other
 * machine writing that much would squeeze every other process, so the child maps a region larger
 * than MemAvailable and writes only a small dataset of it: the fork must still duplicate the
 * whole region. Kernels before 5.2 refuse such a mapping in mode 0 (each mmap is checked against
 * free memory); the claim is then not reached, and the finding says so.
 */

import { type Meminfo, parseMeminfo, readMeminfo } from '../kernel/meminfo.js';
import { runNamedChild } from '../measure/child.js';
import type { ChildStepResult } from '../native/child.js';
import { pageSize } from '../native/mapping.js';
import { disposableMachine } from '../safety/disposable.js';
import { withMemoryCgroup } from '../safety/memory-cgroup.js';
import { gib, MiB, mib, OWN_JITTER_BYTES } from '../units.js';
import { DOC_000, DOC_001 } from './documents.js';
import { defineExperiment, type Evidence, type ExperimentContext, type Measured, type OvercommitMode } from './model.js';

/** Room in the cgroup above the dataset, for the child's own pages (stack, copied-on-write pages of Node's image). */
const CGROUP_SLACK_BYTES = 64 * MiB;
/** The dataset written on a shared machine: enough to be a dataset, small enough to cost nothing. */
const SHARED_DATASET_BYTES = 64 * MiB;
/** On a throwaway VM, the dataset is this share of MemAvailable: more than what is left free after writing it. */
const DISPOSABLE_DATASET_SHARE = 0.6;

/** What one child saw (JSON evidence; the keys are those of the finding). */
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
  /** /proc/meminfo read by the child just before the fork (null: not read). */
  memAvailable: number | null;
  memFree: number | null;
  memTotal: number | null;
  swapTotal: number | null;
  commitLimit: number | null;
  committedAs: number | null;
  /** MemAvailable read by the child just after the fork: with the one before, how much free RAM moved meanwhile. */
  memAvailableAfter: number | null;
  /** Committed_AS read just after the fork: with the one before, how much others moved it meanwhile. */
  committedAsAfter: number | null;
  oomKills: number;
  exitCode: number | null;
  signal: string | null;
}

export interface RedisForkEvidence extends Measured {
  mode: OvercommitMode;
  /** 'written': the FAQ's own scenario (a throwaway VM); 'mapped': a region larger than free RAM, a small part written. */
  scenario: 'written' | 'mapped';
  /** The attempt the claim is judged on. */
  attempt: ForkAttempt;
  /** Mode 2: the first attempt, when its mmap was refused and a smaller region was tried. */
  first: ForkAttempt | null;
  /** Mode 2: CommitLimit - Committed_AS when the smaller region was chosen. */
  headroomBytes: number | null;
}

const floorMiB = (bytes: number): number => Math.floor(bytes / MiB) * MiB;

/** A child in its own memory cgroup maps `region`, writes `dataset` of it, and forks. */
async function attempt(region: number, dataset: number): Promise<ForkAttempt> {
  const limit = dataset + CGROUP_SLACK_BYTES;
  return withMemoryCgroup(limit, async (cg) => {
    const r = await runNamedChild(
      [
        ['join', { op: 'writefile', path: cg.procsFile, data: '0', required: true }],
        ['region', { op: 'mmap', length: region, options: { prot: 'rw' } }],
        ['write', { op: 'touch', mapping: 'region', length: dataset }],
        ['before', { op: 'readfile', path: '/proc/meminfo' }],
        ['fork', { op: 'fork' }],
        ['after', { op: 'readfile', path: '/proc/meminfo' }],
      ],
      { timeoutMs: 120_000 },
    );
    const meminfo = (s: ChildStepResult): Meminfo | null => (s.status === 'ok' && s.data ? parseMeminfo(s.data) : null);
    const [map, touch, fork] = [r.step('region'), r.step('write'), r.step('fork')];
    const m = meminfo(r.step('before'));
    const after = meminfo(r.step('after'));
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
      memAvailable: m?.memAvailable ?? null,
      memFree: m?.memFree ?? null,
      memTotal: m?.memTotal ?? null,
      swapTotal: m?.swapTotal ?? null,
      commitLimit: m?.commitLimit ?? null,
      committedAs: m?.committedAs ?? null,
      memAvailableAfter: after?.memAvailable ?? null,
      committedAsAfter: after?.committedAs ?? null,
      oomKills: cg.oomKills(),
      exitCode: r.result.exitCode,
      signal: r.result.signal,
    };
  });
}

/**
 * Mode 0 and 1 sizes. Shared machine: a region halfway between MemAvailable and MemTotal +
 * SwapTotal (larger than free RAM; on kernels since 5.2 no larger than one mapping may be).
 * Throwaway VM: a region that is all dataset, more than what stays free after writing it.
 */
function sizes(m: Meminfo): { scenario: RedisForkEvidence['scenario']; region: number; dataset: number } {
  if (disposableMachine) {
    const dataset = floorMiB(m.memAvailable * DISPOSABLE_DATASET_SHARE);
    return { scenario: 'written', region: dataset, dataset };
  }
  const ceiling = m.memTotal + m.swapTotal;
  return { scenario: 'mapped', region: floorMiB(ceiling - (ceiling - m.memAvailable) / 2), dataset: SHARED_DATASET_BYTES };
}

async function measure(ctx: ExperimentContext): Promise<RedisForkEvidence> {
  const m = readMeminfo();
  const s = sizes(m);
  if (s.dataset < pageSize) throw new Error(`redis-fork: MemAvailable (${mib(m.memAvailable)}) leaves no dataset to write`);
  ctx.progress(`redis-fork: mapping ${gib(s.region)}, writing ${mib(s.dataset)} in a memory cgroup, forking`);
  const first = await attempt(s.region, s.dataset);
  if (ctx.mode !== 2 || first.mmapStatus === 'ok')
    return { mode: ctx.mode, scenario: s.scenario, attempt: first, first: null, headroomBytes: null };
  // Mode 2: the region does not fit under CommitLimit (mmap is the fail-fast point); then one that
  // fits but whose copy would not: a little over half the headroom. 001's claim is about the
  // check, not the FAQ's dataset: a small one is written, whatever the scenario.
  const now = readMeminfo();
  const headroom = now.commitLimit - now.committedAs;
  const fit = floorMiB(headroom * 0.55);
  const dataset = Math.min(s.dataset, SHARED_DATASET_BYTES);
  if (fit < 2 * dataset) {
    return {
      mode: 2,
      scenario: s.scenario,
      attempt: first,
      first: null,
      headroomBytes: headroom,
      problem: `mode-2 headroom ${gib(headroom)} is too small for a region of twice the dataset`,
    };
  }
  return { mode: 2, scenario: s.scenario, attempt: await attempt(fit, dataset), first, headroomBytes: headroom };
}

/** Why the child did not get as far as a fork the claim can be judged on. */
function incomplete(a: ForkAttempt): string | undefined {
  if (a.mmapStatus !== 'ok')
    return `the ${gib(a.regionBytes)} region could not be mapped (${a.mmapCode ?? a.mmapStatus}), so the fork was never reached`;
  if (a.touchStatus !== 'ok')
    return `the dataset was not written (touch ${a.touchStatus}, ${a.touchedPages} pages; exit ${a.exitCode}, signal ${a.signal})`;
  if (a.forkStatus !== 'ok' && a.forkStatus !== 'failed') return `the fork step did not run (${a.forkStatus})`;
  if (a.memAvailable === null || a.commitLimit === null || a.committedAs === null) return '/proc/meminfo was not read before the fork';
  return undefined;
}

/** Free RAM around the fork: the lower and higher of the readings just before and after it. */
function freeRange(a: ForkAttempt): [number, number] {
  const values = [a.memAvailable!, a.memAvailableAfter ?? a.memAvailable!];
  return [Math.min(...values), Math.max(...values)];
}

function summary(e: RedisForkEvidence): string {
  const a = e.attempt;
  if (a.mmapStatus !== 'ok')
    return `A child's mmap of a ${gib(a.regionBytes)} private writable region ${a.mmapStatus} (${a.mmapCode ?? 'no errno'})`;
  const mem =
    a.memAvailable === null
      ? 'meminfo not read'
      : `MemAvailable ${gib(a.memAvailable)} (${a.memAvailableAfter === null ? 'not read after' : `${gib(a.memAvailableAfter)} after`}), MemFree ${gib(a.memFree!)}, MemTotal+SwapTotal ${gib(a.memTotal! + a.swapTotal!)}, CommitLimit ${gib(a.commitLimit!)}, Committed_AS ${gib(a.committedAs!)} just before the fork`;
  const fork = a.forkStatus === 'ok' ? 'succeeded' : `${a.forkStatus} (${a.forkCode ?? 'no errno'})`;
  return `A child holding a ${gib(a.regionBytes)} private writable region, ${mib(a.datasetBytes)} of it written (${a.touchedPages} pages, in a ${mib(a.cgroupLimitBytes)} memory cgroup): fork ${fork}; ${mem}`;
}

function findingEvidence(e: RedisForkEvidence): Evidence {
  const out: Evidence = { ...e.attempt, scenario: e.scenario };
  if (e.mode === 2) return { ...out, headroomBytes: e.headroomBytes, first: e.first === null ? null : { ...e.first } };
  return out;
}

export const redisFork = defineExperiment<RedisForkEvidence>({
  id: 'redis-fork',
  title: 'Fork of a process holding more memory than is free (the Redis FAQ), in the mode in force',
  requires: { root: true, memoryCgroup: true },
  measure,
  rules: [
    {
      claim: {
        id: 'mode0-fork-fails-without-free-ram',
        text: 'If the overcommit_memory setting is set to zero the fork will fail unless there is as much free RAM as required to really duplicate all the parent memory pages',
        source: DOC_000,
        modes: [0],
      },
      missing: (e) => {
        const why = incomplete(e.attempt);
        if (why !== undefined) return why;
        const [low, high] = freeRange(e.attempt);
        if (e.attempt.regionBytes <= high) {
          return `the parent's ${gib(e.attempt.regionBytes)} was not more than the free RAM around the fork (MemAvailable ${gib(low)} to ${gib(high)}): the FAQ predicts nothing`;
        }
        return undefined;
      },
      // More to duplicate than free RAM: the FAQ predicts that the fork fails.
      judge: (e) => ({ holds: e.attempt.forkStatus !== 'ok' }),
      observe: (e, v) => {
        if (v.holds === null) return summary(e);
        const over = e.attempt.regionBytes - freeRange(e.attempt)[1];
        return `${summary(e)}. The parent's memory exceeded free RAM by ${gib(over)}, so the FAQ predicts failure; ${
          v.holds
            ? `the fork was refused (${e.attempt.forkCode})`
            : 'the kernel let the fork through: its mode-0 check did not compare the copy with free RAM'
        }.`;
      },
      evidence: findingEvidence,
    },
    {
      claim: {
        id: 'mode1-fork-succeeds',
        text: 'Setting overcommit_memory to 1 tells Linux to relax and perform the fork in a more optimistic allocation fashion',
        source: DOC_000,
        modes: [1],
      },
      missing: (e) => incomplete(e.attempt),
      judge: (e) => ({ holds: e.attempt.forkStatus === 'ok' }),
      observe: (e, v) => {
        if (v.holds === null) return summary(e);
        const [, high] = freeRange(e.attempt);
        const more = e.attempt.regionBytes > high ? `, though the parent held ${gib(e.attempt.regionBytes - high)} more than was free` : '';
        return `${summary(e)}. ${v.holds ? `The fork went through${more}` : `The fork was refused (${e.attempt.forkCode})`}.`;
      },
      evidence: findingEvidence,
    },
    {
      claim: {
        id: 'mode2-fork-checked',
        text: 'Account and check on fork (mode 2: a fork whose copy of the private writable memory would exceed CommitLimit is refused)',
        source: DOC_001,
        modes: [2],
      },
      missing: (e) => {
        const why = incomplete(e.attempt);
        if (why !== undefined) return why;
        // Whether a copy fits is decided against the room others left, which they move: too close to call is no verdict.
        const a = e.attempt;
        const margin = Math.abs(a.commitLimit! - a.committedAs! - a.regionBytes);
        const noise = Math.abs((a.committedAsAfter ?? a.committedAs!) - a.committedAs!) + OWN_JITTER_BYTES;
        return margin <= noise
          ? `a copy of the region would land within ${mib(margin)} of CommitLimit, inside the ${mib(noise)} others moved Committed_AS by across the fork`
          : undefined;
      },
      // Committed_AS read before the fork already holds the region once: the copy fits if a second one does.
      judge: (e) => {
        const a = e.attempt;
        const copyFits = a.committedAs! + a.regionBytes <= a.commitLimit!;
        const refused = a.forkStatus === 'failed' && a.forkCode === 'ENOMEM';
        return { holds: refused === !copyFits };
      },
      observe: (e, v) => {
        const a = e.attempt;
        const first =
          e.first === null
            ? ''
            : `First a ${gib(e.first.regionBytes)} region: mmap ${e.first.mmapStatus} (${e.first.mmapCode ?? 'no errno'}); CommitLimit - Committed_AS was ${gib(e.headroomBytes!)}. Then: `;
        if (v.holds === null) return `${first}${summary(e)}`;
        const copyFits = a.committedAs! + a.regionBytes <= a.commitLimit!;
        const outcome =
          a.forkStatus === 'ok' ? 'let through' : a.forkCode === 'ENOMEM' ? 'refused with ENOMEM' : `${a.forkStatus} (${a.forkCode})`;
        return `${first}${summary(e)}. A copy of the ${gib(a.regionBytes)} region ${copyFits ? 'fits' : 'does not fit'} under CommitLimit (Committed_AS + region = ${gib(a.committedAs! + a.regionBytes)}); the fork was ${outcome}.`;
      },
      evidence: findingEvidence,
    },
  ],
});
