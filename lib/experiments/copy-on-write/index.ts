/**
 * copy-on-write: 000 explains why Redis can fork a large dataset: after fork the two processes
 * share their pages, and a page is duplicated only when one of them writes it; if every page is
 * written, copy-on-write saved nothing. The child's own /proc/self/smaps says exactly how many
 * of the region's pages it shares (Shared_Dirty) and how many are its own copies (Private_Dirty),
 * right after the fork, after writing one page in four, and after writing them all; its
 * /proc/self/status says how much virtual memory it holds, against the parent's just before.
 */

import { mib } from '../../units.js';
import { defineExperiment } from '../model.js';
import { REGION_BYTES } from './evidence.js';
import { measureCopyOnWrite } from './measure.js';
import { copyOnWriteRules } from './rules.js';

export * from './evidence.js';
export { measureCopyOnWrite } from './measure.js';
export { copyOnWriteRules } from './rules.js';

export const copyOnWrite = defineExperiment({
  ...copyOnWriteRules,
  measure: async (ctx) => {
    ctx.progress(`copy-on-write: forking with a ${mib(REGION_BYTES)} written region`);
    return measureCopyOnWrite();
  },
});
