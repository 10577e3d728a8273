/**
 * rlimit-as: 004's RLIMIT_AS program run as its own small process (it sets a 64 MB limit, then
 * maps 128 MB and 8 MB and prints what happened), with its limit and address-space size read by
 * the tool from /proc/<pid> while it is stopped after setrlimit. The general claims (mmap, brk,
 * MAP_NORESERVE against a limit) are tested in a forked child, with the limit set relative to
 * the child's own size (a forked Node child already has hundreds of MiB of address space):
 * RLIMIT_AS must never be set on Node itself.
 */
import { defineExperiment } from '../model.js';
import { measureRlimitAs } from './measure.js';
import { rlimitAsRules } from './rules.js';

export * from './evidence.js';
export * from './measure.js';
export * from './rules.js';

export const rlimitAs = defineExperiment({
  ...rlimitAsRules,
  measure: (ctx) => measureRlimitAs(ctx.mode),
});
