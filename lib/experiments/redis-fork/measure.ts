import { type Meminfo, parseMeminfo, readMeminfo } from '../../kernel/meminfo.js';
import { runNamedChild } from '../../measure/child.js';
import type { ChildStepResult } from '../../native/child.js';
import { pageSize } from '../../native/mapping.js';
import { disposableMachine } from '../../safety/disposable.js';
import { withMemoryCgroup } from '../../safety/memory-cgroup.js';
import { gib, MiB, mib } from '../../units.js';
import type { ExperimentContext } from '../model.js';
import type { ForkAttempt, RedisForkEvidence } from './evidence.js';

/** Room in the cgroup above the dataset, for the child's own pages (stack, copied-on-write pages of Node's image). */
const CGROUP_SLACK_BYTES = 64 * MiB;

/** The dataset written on a shared machine: enough to be a dataset, small enough to cost nothing. */
const SHARED_DATASET_BYTES = 64 * MiB;

/** On a throwaway VM, the dataset is this share of MemAvailable: more than what is left free after writing it. */
const DISPOSABLE_DATASET_SHARE = 0.6;

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

export async function measureRedisFork(ctx: ExperimentContext): Promise<RedisForkEvidence> {
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
