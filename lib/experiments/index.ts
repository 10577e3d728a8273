/** Every experiment, in the order `run` runs them. Ids are a public contract. */

import { accounting } from './accounting/index.js';
import { commitLimit } from './commit-limit/index.js';
import { copyOnWrite } from './copy-on-write/index.js';
import { execStack } from './exec-stack/index.js';
import { forkInheritance } from './fork-inheritance/index.js';
import { mallocFailure } from './malloc-failure/index.js';
import { modeMatrix } from './mode-matrix/index.js';
import type { Experiment } from './model.js';
import { oomLateFailure } from './oom-late-failure/index.js';
import { oomVictim } from './oom-victim/index.js';
import { ptracePages } from './ptrace-pages/index.js';
import { redisFork } from './redis-fork/index.js';
import { redisServer } from './redis-server/index.js';
import { rlimitAs } from './rlimit-as/index.js';
import { settings } from './settings/index.js';
import { sparseArray } from './sparse-array/index.js';
import { zeroPages } from './zero-pages/index.js';

export const experiments: readonly Experiment[] = [
  settings,
  sparseArray,
  zeroPages,
  rlimitAs,
  forkInheritance,
  copyOnWrite,
  modeMatrix,
  commitLimit,
  accounting,
  redisFork,
  redisServer,
  oomLateFailure,
  ptracePages,
  mallocFailure,
  execStack,
  oomVictim,
];
