/**
 * commit-limit: CommitLimit as overcommit_ratio and overcommit_kbytes change. Each step is one
 * settings-guard window (the mode is left as it is: CommitLimit is computed and shown in every
 * mode); inside it CommitLimit is read, with the inputs of the kernel's formula, and the other
 * sysctl is read to see what writing one did to it. Nothing is mapped. The rules recompute the
 * formula from each step's recorded inputs and compare it exactly with CommitLimit.
 */
import { defineExperiment } from '../model.js';
import { measureCommitLimit } from './measure.js';
import { commitLimitRules } from './rules.js';

export * from './evidence.js';
export * from './measure.js';
export * from './rules.js';

export const commitLimit = defineExperiment({
  ...commitLimitRules,
  measure: (ctx) => measureCommitLimit(ctx.mode, (m) => ctx.progress(m)),
});
