/**
 * exec-stack: 001's Status item "Review stack handling/building on exec". A small program
 * (ocl-exec) forks a traced child that execs; the kernel stops it at the new program's first
 * instruction. Its [stack] VMA there (size, VmFlags with 'ac') and the change in its charged bytes
 * and in Committed_AS, against a control whose child does not exec, say whether the stack exec
 * built is in the commit from the start.
 */
import { defineExperiment } from '../model.js';
import { measureExecStack } from './measure.js';
import { execStackRules } from './rules.js';

export * from './evidence.js';
export { measureExecStack } from './measure.js';
export { execStackRules } from './rules.js';

export const execStack = defineExperiment({ ...execStackRules, measure: measureExecStack });
