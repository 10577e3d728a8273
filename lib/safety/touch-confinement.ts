/**
 * Where a separate process (004's sparse program, a forked child) may touch a large amount of
 * memory without risk to anyone else on the machine: inside a memory cgroup limited to what it
 * touches plus slack, when this process may create one (root with a memory controller, or a
 * delegated cgroup v2 subtree); otherwise only when MemAvailable is at least UNCONFINED_MARGIN
 * times what it touches. Either way the process gets oom_score_adj 1000, so that should memory
 * run out after all, the OOM killer picks it before any innocent process. Without either, the
 * touching is refused with the reason.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { readMeminfo } from '../kernel/meminfo.js';
import { mib } from '../units.js';
import { memoryCgroupAvailability, withMemoryCgroup } from './memory-cgroup.js';

/** Without a memory cgroup, MemAvailable must be at least this many times what is touched. */
export const UNCONFINED_MARGIN = 4;
/** A cgroup's limit is what is touched plus this much (the small process's own pages). */
const CGROUP_SLACK_BYTES = 64 * 1024 * 1024;
/** The most an unprivileged user may set: the OOM killer's first choice. */
const OOM_SCORE_ADJ_MAX = 1000;

/** Where the process touched, as recorded in evidence. */
export interface TouchPlacement {
  /** In words, e.g. 'the program (pid 123), in memory cgroup /sys/fs/cgroup/memory/x limited to ... B'. */
  confinement: string;
  /** The process's oom_score_adj read back after raising it. */
  oomScoreAdj: number;
}

/** Moves `pid` (not yet touching) where it may touch; called before it touches anything. */
export type EnterConfinement = (pid: number) => TouchPlacement;

/** Raises a process of ours to oom_score_adj 1000 (raising needs no privilege) and reads it back. */
export function raiseOomScoreAdj(pid: number): number {
  const file = `/proc/${pid}/oom_score_adj`;
  writeFileSync(file, String(OOM_SCORE_ADJ_MAX));
  return Number(readFileSync(file, 'utf8').trim());
}

/**
 * Runs `fn` with an `enter` function that places a process where it may touch `bytes`, or
 * returns why touching that much is not safe here. `fn` must call `enter(pid)` before the process
 * touches anything and must have reaped the process when it returns (the cgroup is removed then).
 */
export async function withTouchConfinement<T>(
  bytes: number,
  fn: (enter: EnterConfinement) => Promise<T>,
): Promise<{ value: T } | { skipped: string }> {
  const cgroups = memoryCgroupAvailability();
  if (cgroups.available) {
    const limit = bytes + CGROUP_SLACK_BYTES;
    return withMemoryCgroup(limit, async (group) => ({
      value: await fn((pid) => {
        writeFileSync(group.procsFile, String(pid));
        return { confinement: `pid ${pid}, in memory cgroup ${group.path} limited to ${limit} B`, oomScoreAdj: raiseOomScoreAdj(pid) };
      }),
    }));
  }
  const available = readMeminfo().memAvailable;
  if (available < UNCONFINED_MARGIN * bytes) {
    return {
      skipped: `touching ${mib(bytes)} needs a memory cgroup (${cgroups.reason}) or MemAvailable of ${UNCONFINED_MARGIN} x that; MemAvailable is ${mib(available)}`,
    };
  }
  return {
    value: await fn((pid) => {
      const oomScoreAdj = raiseOomScoreAdj(pid);
      if (oomScoreAdj !== OOM_SCORE_ADJ_MAX)
        throw new Error(`could not raise oom_score_adj of pid ${pid} to ${OOM_SCORE_ADJ_MAX}: it reads ${oomScoreAdj}`);
      return {
        confinement: `pid ${pid}, without a memory cgroup (${cgroups.reason}): MemAvailable was ${mib(available)}, at least ${UNCONFINED_MARGIN} x the ${mib(bytes)} touched`,
        oomScoreAdj,
      };
    }),
  };
}
