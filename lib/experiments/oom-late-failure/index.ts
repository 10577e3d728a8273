/**
 * oom-late-failure: 002's late failure made visible, inside a memory cgroup so the OOM killer
 * only ever sees our child. A child joins a fresh group limited to a few tens of MiB, maps
 * several times the limit (mmap succeeds), and touches it page by page until the cgroup's OOM
 * killer ends it with SIGKILL. The same request then fails fast, at the mmap call, under
 * RLIMIT_AS and under mode 2 with the request larger than the commit limit's room.
 */
import { defineExperiment } from '../model.js';
import { measureOomLateFailure } from './measure.js';
import { oomLateFailureRules } from './rules.js';

export * from './evidence.js';
export * from './measure.js';
export * from './rules.js';

export const oomLateFailure = defineExperiment({
  ...oomLateFailureRules,
  measure: measureOomLateFailure,
});
