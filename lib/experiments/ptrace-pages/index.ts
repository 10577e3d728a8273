/**
 * ptrace-pages: 001's To Do, "Account ptrace pages (this is hard)". A tracer's writes into its
 * tracee's private read-only mappings (a file's, and anonymous ones), through /proc/<pid>/mem
 * and PTRACE_POKEDATA: the private pages they make, the mapping's VmFlags, and Committed_AS.
 * Whether those pages can take a mode-2 system past CommitLimit is measured on a throwaway VM
 * only (`overcommit-lab vm`): CommitLimit is narrowed there to Committed_AS + 256 MiB and the
 * tracer writes 384 MiB of an anonymous one; elsewhere that claim is undecided, saying why.
 */
import { defineExperiment } from '../model.js';
import type { PtracePagesEvidence } from './evidence.js';
import { measurePtracePages } from './measure.js';
import { ptracePagesRules } from './rules.js';

export { ptracePagesRules } from './rules.js';

export const ptracePages = defineExperiment<PtracePagesEvidence>({
  ...ptracePagesRules,
  measure: measurePtracePages,
});
