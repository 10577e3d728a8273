/** overcommit-lab's public API. */
export { isSystemCallError, type SystemCallError } from './errors.js';
export {
  mmap,
  Mapping,
  pageSize,
  maxBufferLength,
  memfdCreate,
  type Advice,
  type MmapOptions,
  type Prot,
  type RangeOptions,
  type TouchOptions,
} from './mapping.js';
export { probeLargestMapping, type ProbeOptions, type ProbeResult } from './probe.js';
export { getrlimit, setrlimit, type Rlimit, type RlimitResource } from './rlimit.js';
export {
  runChild,
  type ChildResult,
  type ChildStep,
  type ChildStepResult,
  type RunChildOptions,
  type StepStatus,
  type StepTarget,
} from './child.js';
export { acquireSettingsLock, withSettingsLock, lockPath, type LockMode, type SettingsLock } from './lock.js';
export * from './experiment.js';
