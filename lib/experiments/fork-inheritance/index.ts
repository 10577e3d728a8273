/**
 * fork-inheritance: the parent maps a MAP_NORESERVE region and an ordinary private writable one
 * (untouched), forks, and the child reads its own smaps and /proc/meminfo while it lives.
 *
 * The child's smaps says exactly what it inherited: each region's VmFlags ('nr' for
 * MAP_NORESERVE, 'ac' for a copy charged to the commit). Committed_AS says what the fork charged,
 * set against the prediction: every accountable VMA of the parent (all of Node's, not just ours),
 * since the child duplicates them all. Committed_AS is machine-wide, so the fork is repeated in
 * interleaved trials with controls (lib/measure/committed.ts), and the regions are large (1 GiB,
 * untouched: free in modes 0 and 1) so that a region charged or not stands far above the noise.
 * Where the counter is too noisy, the child's own flags decide; where they disagree, nothing does.
 */
import { defineExperiment } from '../model.js';
import { measureForkInheritance } from './measure.js';
import { forkInheritanceRules } from './rules.js';

export * from './evidence.js';
export * from './measure.js';
export * from './rules.js';

import { TRIALS } from './measure.js';

export const forkInheritance = defineExperiment({
  ...forkInheritanceRules,
  measure: async (ctx) => {
    ctx.progress(`fork-inheritance: ${TRIALS} forks with a MAP_NORESERVE and an ordinary region mapped`);
    return measureForkInheritance(ctx.mode);
  },
});
