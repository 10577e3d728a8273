/**
 * redis-fork: the Redis FAQ quoted in 000 says that with overcommit_memory = 0 the fork of a
 * process holding a large dataset fails unless there is as much free RAM as the parent's memory,
 * and that mode 1 lets it succeed. A child stands in for Redis, inside a memory cgroup made for
 * it: it maps a private writable region, writes its dataset, reads /proc/meminfo, forks, and
 * reads /proc/meminfo again. In mode 2, 001's "Account and check on fork" is tested instead.
 *
 * Two scenarios, one rule. On a throwaway VM (`overcommit-lab vm`) the child reproduces the FAQ
 * itself: it writes a dataset larger than the free memory left after writing it. On any other
 * machine writing that much would squeeze every other process, so the child maps a region larger
 * than MemAvailable and writes only a small dataset of it: the fork must still duplicate the
 * whole region. Kernels before 5.2 refuse such a mapping in mode 0 (each mmap is checked against
 * free memory); the claim is then not reached, and the finding says so.
 */
import { defineExperiment } from '../model.js';
import { measureRedisFork } from './measure.js';
import { redisForkRules } from './rules.js';

export * from './evidence.js';
export * from './measure.js';
export * from './rules.js';

export const redisFork = defineExperiment({
  ...redisForkRules,
  measure: measureRedisFork,
});
