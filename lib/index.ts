/** overcommit-lab's public API. */

export { experiments } from './experiments/index.js';
export * from './experiments/model.js';
export { type RunOptions, runExperiments, selectExperiments, skipReason, UsageError } from './experiments/runner.js';
export { type Load, type LoadOptions, type LoadStats, type ResolvedLoadOptions, startLoad } from './measure/load.js';
export {
  type ChildResult,
  type ChildStep,
  type ChildStepResult,
  type RunChildOptions,
  runChild,
  type StepStatus,
  type StepTarget,
} from './native/child.js';
export { isSystemCallError, type MappingErrorCode, type SystemCallError } from './native/errors.js';
export {
  type Advice,
  Mapping,
  type MmapOptions,
  maxBufferLength,
  memfdCreate,
  mmap,
  type Prot,
  pageSize,
  type RangeOptions,
  type ResidentPagesOptions,
  type TouchOptions,
} from './native/mapping.js';
export { type ProbeOptions, type ProbeResult, probeLargestMapping } from './native/probe.js';
export {
  type CommonProgramOptions,
  type MincoreCount,
  type PauseContext,
  type PausePoint,
  type ProgramName,
  type ProgramPause,
  type ProgramResult,
  parseRlimitOutput,
  parseSettingsOutput,
  parseSparseOutput,
  programPath,
  programPausePoints,
  type RlimitMmapLine,
  type RlimitOutput,
  type RunProgramOptions,
  runProgram,
  type SettingsOutput,
  type SparseOutput,
  type SparseProgramOptions,
} from './native/programs.js';
export { getrlimit, type Rlimit, type RlimitResource, type RlimitValue, setrlimit } from './native/rlimit.js';
export { type Comparison, compareReports } from './report/compare.js';
export { renderHtml } from './report/html.js';
export { type KernelsMatrix, kernelsMatrix, renderKernelsMarkdown } from './report/kernels.js';
export { renderMarkdown } from './report/markdown.js';
export { renderTerminal } from './report/terminal.js';
export { writeComparisonReport, writeReport } from './report/write.js';
export { acquireSettingsLock, type LockMode, lockPath, type SettingsLock, withSettingsLock } from './safety/lock.js';
export { memoryCgroupAvailability, type TempMemoryCgroup, withMemoryCgroup, withProcessInMemoryCgroup } from './safety/memory-cgroup.js';
export {
  type GuardOptions,
  type GuardWindow,
  guardAvailability,
  type SettingsChange,
  type SettingsSnapshot,
  withMode,
  withOvercommitSettings,
} from './safety/settings-guard.js';
export { runInVm, VmError, type VmHooks, type VmOptions, type VmResult } from './vm/run.js';
