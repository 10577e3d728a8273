/** Shared by the tests: the machine's mode, read under the settings lock. */
import { readFileSync } from 'node:fs';
import type { Experiment, ExperimentContext, Finding, OvercommitMode } from '../lib/experiments/model.js';
import { runExperiment } from '../lib/experiments/runner.js';
import { hasCapSysAdmin } from '../lib/kernel/status.js';
import { sysctlWritability } from '../lib/kernel/sysctl.js';

export function currentMode(): OvercommitMode {
  return Number(readFileSync('/proc/sys/vm/overcommit_memory', 'utf8').trim()) as OvercommitMode;
}

export const isRoot = hasCapSysAdmin();
export const canSwitchModes = sysctlWritability().writable;

/** An experiment measured and judged as the runner does, for tests that read only its findings. */
export async function runFindings(experiment: Experiment, ctx: ExperimentContext): Promise<Finding[]> {
  return (await runExperiment(experiment, ctx)).findings;
}
