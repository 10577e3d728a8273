/**
 * settings: 004's settings program run as its own process (it prints the mode, the ratio and the
 * mode's name), with the files it reads read by the tool just before and after it; the commit
 * counters of /proc/meminfo, with CommitLimit checked against the formulas the documents give;
 * Committed_AS seen counting an untouched private writable mapping (interleaved trials against
 * the noise); and where the machine's overcommit_ratio comes from (its sysctl configuration).
 */
import { defineExperiment } from '../model.js';
import { measureSettings } from './measure.js';
import { settingsRules } from './rules.js';

export * from './evidence.js';
export * from './measure.js';
export * from './rules.js';

export const settings = defineExperiment({
  ...settingsRules,
  measure: (ctx) => measureSettings(ctx.mode),
});
