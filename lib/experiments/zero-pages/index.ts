/**
 * zero-pages: 001 calls mode 1 right for "code using sparse arrays and just relying on the
 * virtual memory consisting almost entirely of zero pages". An untouched anonymous page reads
 * as zero; whether reading it costs memory is the kernel's choice (the shared zero page, the
 * huge zero page, or a fresh page on builds that map neither). This reads one int in every page
 * of a never-written region and measures what that cost: the region's Rss and Anonymous in smaps
 * (exact, per mapping), the process's RSS, and what mincore reports.
 * The claim is about the cost per page, so a 64 MiB region is as exact as a gigabyte. Should the
 * reads allocate, 64 MiB is charged: inside a memory cgroup when this machine has one, else only
 * when MemAvailable leaves a wide margin.
 */
import { mib } from '../../units.js';
import { defineExperiment } from '../model.js';
import { measureZeroPages } from './measure.js';
import { zeroPagesRules } from './rules.js';

export * from './evidence.js';
export * from './measure.js';
export * from './rules.js';

import { REGION_BYTES } from './evidence.js';

export const zeroPages = defineExperiment({
  ...zeroPagesRules,
  measure: async (ctx) => {
    ctx.progress(`zero-pages: reading every page of a ${mib(REGION_BYTES)} mapping`);
    return measureZeroPages();
  },
});
