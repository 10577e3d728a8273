/**
 * sparse-array: 004's sparse program (a private anonymous MAP_NORESERVE array, one int written
 * per 4096 bytes), run as its own process. The program prints its lines; the tool stops it at
 * its two points (after mmap, after the touch loop) and reads what the program cannot see: its
 * own mincore count of the mapping, the mapping's Rss, Anonymous and VmFlags in the program's
 * /proc/<pid>/smaps, its RSS, and Committed_AS (with the noise measured while it is stopped).
 *
 * What each claim needs, and no more (issue 10): the 1 GB mmap claims need the program's 1 GiB
 * mmap, not its touch, so that run is ended at its first point; the touch claims are about what
 * a write per page does, which a 64 MiB array shows as exactly as a gigabyte. A genuinely sparse
 * pattern (one page in 64) runs beside it in this process (2 MiB touched). The program's own loop
 * over 1 GiB is `overcommit-lab demo sparse` (lib/cli/sparse-demo.ts).
 *
 * The touching program runs in a memory cgroup when one can be made, else only when MemAvailable
 * leaves a wide margin, with oom_score_adj 1000 (lib/safety/touch-confinement.ts); otherwise the
 * touch claims are undecided with the reason, and the mmap claims are still judged.
 */
import { defineExperiment } from '../model.js';
import { measureSparseArray } from './measure.js';
import { sparseArrayRules } from './rules.js';

export * from './evidence.js';
export * from './measure.js';
export * from './rules.js';

export const sparseArray = defineExperiment({
  ...sparseArrayRules,
  measure: (ctx) => measureSparseArray(ctx.mode, ctx.progress),
});
