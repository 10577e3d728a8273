/**
 * malloc-failure: 002's malloc(3) story (brk or mmap, VMAs) and failure locality, with a small C
 * program that mallocs and writes in steps and reports a failed malloc itself. In mode 2 its last
 * request is larger than the commit room: it prints the failed call (size, errno) and exits. Under
 * overcommit (the run's mode 0 or 1), in a memory cgroup, every malloc returns and the group's OOM
 * killer ends it while it writes: nothing is printed about a failure.
 */
import { defineExperiment } from '../model.js';
import { measureMallocFailure } from './measure.js';
import { mallocFailureRules } from './rules.js';

export * from './evidence.js';
export { measureMallocFailure, runMalloc } from './measure.js';
export { mallocFailureRules } from './rules.js';

export const mallocFailure = defineExperiment({ ...mallocFailureRules, measure: measureMallocFailure });
