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
export { experiments } from './experiments/index.js';
export { runExperiments, selectExperiments, skipReason, UsageError, type RunOptions } from './runner.js';
export {
  guardAvailability,
  withMode,
  withOvercommitSettings,
  type GuardOptions,
  type GuardWindow,
  type SettingsChange,
  type SettingsSnapshot,
} from './settings-guard.js';
export { memoryCgroupAvailability, withMemoryCgroup, withProcessInMemoryCgroup, type TempMemoryCgroup } from './memory-cgroup.js';
export { renderTerminal } from './report/terminal.js';
export { renderMarkdown } from './report/markdown.js';
export { renderHtml } from './report/html.js';
export { compareReports, type Comparison } from './report/compare.js';
export { writeReport, writeComparisonReport } from './report/write.js';
