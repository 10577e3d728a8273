/**
 * accounting: what each kind of mapping costs in Committed_AS, with and without MAP_NORESERVE,
 * set beside the "How It Works" table of 001 (and 003, 004 Q5); then shmfs (memfd), mprotect,
 * mremap, brk, stack growth and munmap, from 001's "Additional accounting", "Status" and
 * "Gotchas".
 *
 * Every action is measured from two sides. Committed_AS is machine-wide, so each sequence of
 * actions runs in interleaved trials with controls (lib/measure/committed.ts) and a change is
 * judged only when it stands clear of the noise measured in this run. The mapping's own smaps
 * is exact: the bytes of its range in VMAs marked 'ac' (VM_ACCOUNT, charged to the commit). Where
 * the kernel charges through VM_ACCOUNT (private mappings, brk, the stack, mremap, mprotect),
 * that per-mapping fact decides and Committed_AS confirms it; where it does not (shared anonymous
 * and shmfs memory, charged by their shmem file), Committed_AS alone decides, or nothing does.
 *
 * The mappings are large (1 GiB; less in mode 2) and untouched, so they cost no memory, and a
 * charge stands far above what other processes move the counter by. Nothing here overlaps: every
 * step reads Committed_AS, which any other work of this process (or a second child) would move.
 *
 * evidence.ts: what is recorded; measure.ts: the kernel side; rules.ts: the claims and their pure rules.
 */
import { defineExperiment } from '../model.js';
import { measureAccounting } from './measure.js';
import { accountingRules } from './rules.js';

export * from './evidence.js';
export { measureAccounting } from './measure.js';
export { accountingClaims, accountingRules } from './rules.js';

export const accounting = defineExperiment({ ...accountingRules, measure: measureAccounting });
