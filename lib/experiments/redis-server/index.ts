/**
 * redis-server: 000's claims (the Redis FAQ on fork and overcommit) judged on the real
 * redis-server under the mode in force: its start-up warning, BGSAVE's fork, and the bytes
 * copy-on-write duplicated as Redis counts them. redis-fork keeps the stand-in (a child of the
 * tool's own), which needs no Redis and reaches kernels older than any Redis build at hand.
 */
import { findRedisServer } from '../../redis/server.js';
import { defineExperiment } from '../model.js';
import type { RedisServerEvidence } from './evidence.js';
import { measure } from './measure.js';
import { redisServerRules } from './rules.js';

export type { RedisServerEvidence } from './evidence.js';
export { redisServerRules } from './rules.js';

export const redisServer = defineExperiment<RedisServerEvidence>({
  ...redisServerRules,
  requires: {
    program: {
      name: 'redis-server',
      missing: () => {
        const found = findRedisServer();
        return 'missing' in found ? found.missing : undefined;
      },
    },
  },
  measure,
});
