/** Every experiment, in the order `run` runs them. Ids are a public contract. */

import { accounting } from './accounting.js';
import { commitLimit } from './commit-limit.js';
import { copyOnWrite } from './copy-on-write.js';
import { forkInheritance } from './fork-inheritance.js';
import { modeMatrix } from './mode-matrix.js';
import type { Experiment } from './model.js';
import { oomLateFailure } from './oom-late-failure.js';
import { redisFork } from './redis-fork.js';
import { redisServer } from './redis-server/index.js';
import { rlimitAs } from './rlimit-as.js';
import { settings } from './settings.js';
import { sparseArray } from './sparse-array.js';
import { zeroPages } from './zero-pages.js';

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
];
