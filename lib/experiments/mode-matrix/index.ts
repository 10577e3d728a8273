/**
 * mode-matrix: 004's table (mode x MAP_NORESERVE), with 001's and 003's sentences about the
 * modes. In the mode in force (the runner runs it under each mode) it finds the largest private
 * writable anonymous mapping the kernel accepts, with and without MAP_NORESERVE (binary search
 * with mmap/munmap, nothing touched), and records beside it the inputs of the rules that could
 * decide it (lib/kernel/admission.ts):
 *   mode 0: both known heuristics, each read several times around the probe (their spread is the
 *           noise): RAM + swap (since 5.2) and the free-memory estimate (before 5.2);
 *   mode 1: no check, so only the free address space limits a mapping;
 *   mode 2: CommitLimit - Committed_AS - the reserves, with the per-cpu counter's slack.
 * The rules then judge what the documents say against what this kernel did; which mode-0 rule is
 * in force is itself a finding.
 * Safety: an accepted mode-2 probe commits, for the microseconds between its mmap and munmap,
 * all that the kernel lets this process have. The kernel holds back min(total_vm/32,
 * user_reserve_kbytes) of it; an uncharged PROT_NONE reservation of 32 x user_reserve_kbytes
 * makes that the whole user reserve, which other processes keep (the root-vs-nobody children map
 * the same reservation first). This process's searches start bracketed around the prediction, so
 * there are few such probes.
 */
import { defineExperiment } from '../model.js';
import { measureModeMatrix } from './measure.js';
import { modeMatrixRules } from './rules.js';

export * from './evidence.js';
export * from './measure.js';
export * from './rules.js';

export const modeMatrix = defineExperiment({
  ...modeMatrixRules,
  measure: (ctx) => measureModeMatrix(ctx.mode, (m) => ctx.progress(m)),
});
