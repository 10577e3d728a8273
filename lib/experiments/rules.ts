/**
 * Every experiment's rule set, in the order `run` runs them: the claims and their pure rules,
 * without the measurements. What `list`, `rejudge`, `compare` and the reports need, so that they
 * load no addon and read no /proc: a saved run can be judged again on any machine.
 */
import type { RuleSet } from '../verdict/types.js';
import { accountingRules } from './accounting/rules.js';
import { commitLimitRules } from './commit-limit/rules.js';
import { copyOnWriteRules } from './copy-on-write/rules.js';
import { execStackRules } from './exec-stack/rules.js';
import { forkInheritanceRules } from './fork-inheritance/rules.js';
import { mallocFailureRules } from './malloc-failure/rules.js';
import { modeMatrixRules } from './mode-matrix/rules.js';
import { oomLateFailureRules } from './oom-late-failure/rules.js';
import { oomVictimRules } from './oom-victim/rules.js';
import { ptracePagesRules } from './ptrace-pages/rules.js';
import { redisForkRules } from './redis-fork/rules.js';
import { redisServerRules } from './redis-server/rules.js';
import { rlimitAsRules } from './rlimit-as/rules.js';
import { settingsRules } from './settings/rules.js';
import { sparseArrayRules } from './sparse-array/rules.js';
import { zeroPagesRules } from './zero-pages/rules.js';

export const ruleSets: readonly RuleSet[] = [
  settingsRules,
  sparseArrayRules,
  zeroPagesRules,
  rlimitAsRules,
  forkInheritanceRules,
  copyOnWriteRules,
  modeMatrixRules,
  commitLimitRules,
  accountingRules,
  redisForkRules,
  redisServerRules,
  oomLateFailureRules,
  ptracePagesRules,
  mallocFailureRules,
  execStackRules,
  oomVictimRules,
];
