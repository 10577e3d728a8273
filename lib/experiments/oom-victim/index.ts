/**
 * oom-victim: 003's OOM killer chooses "the best process to kill ... the more memory a process is
 * consuming, the more likely it will be a candidate". Processes of different sizes hold written
 * blocks in one memory cgroup; their oom_score is read; one more process allocates past the
 * group's limit; the OOM-kill count, the kernel log and how each process ended say which the
 * kernel killed. Then again with the smallest at oom_score_adj 1000.
 */
import { defineExperiment } from '../model.js';
import { measureOomVictim } from './measure.js';
import { oomVictimRules } from './rules.js';

export * from './evidence.js';
export { measureOomVictim, measureRound } from './measure.js';
export { oomVictimRules } from './rules.js';

export const oomVictim = defineExperiment({ ...oomVictimRules, measure: measureOomVictim });
