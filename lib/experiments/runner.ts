/**
 * The runner: runs experiments under the current mode, or under each requested mode through
 * the settings guard, skipping (with the reason) what this machine cannot run, and builds the
 * RunReport.
 */
import { readMeminfo } from '../kernel/meminfo.js';
import { hasCapSysAdmin } from '../kernel/status.js';
import { readOvercommitSettings, sysctlWritability } from '../kernel/sysctl.js';
import { systemInfo } from '../kernel/system.js';
import { pageSize } from '../native/mapping.js';
import { withSettingsLock } from '../safety/lock.js';
import { memoryCgroupAvailability } from '../safety/memory-cgroup.js';
import { withMode } from '../safety/settings-guard.js';
import { toolName, toolVersion, UsageError } from '../tool.js';
import { experiments as allExperiments } from './index.js';
import { judgeEvidence } from './judge.js';
import type {
  Evidence,
  Experiment,
  ExperimentContext,
  ExperimentRun,
  Finding,
  Measured,
  OvercommitMode,
  RunReport,
  SettingsInfo,
} from './model.js';

export interface RunOptions {
  /** Experiment ids, in the order given; default: all. */
  experiments?: readonly string[];
  /** Run under each of these modes, switching through the settings guard; default: the current mode only. */
  modes?: readonly OvercommitMode[];
  /** Progress messages for long steps. */
  progress?: (message: string) => void;
  /** Called as each run completes. */
  onRun?: (run: ExperimentRun) => void;
  /** Called when another process holds the settings lock and the run waits for it. */
  onWait?: (message: string) => void;
}

export { toolName, toolVersion, UsageError } from '../tool.js';

function readSettingsInfo(): SettingsInfo {
  const s = readOvercommitSettings();
  const m = readMeminfo();
  return {
    overcommitMemory: s.mode,
    overcommitRatio: s.ratio,
    overcommitKbytes: s.kbytes,
    commitLimitBytes: m.commitLimit,
    committedAsBytes: m.committedAs,
  };
}

/** The experiments named by `ids` (all when absent), or a UsageError naming the unknown ones. */
export function selectExperiments(ids?: readonly string[]): Experiment[] {
  if (ids === undefined || ids.length === 0) return [...allExperiments];
  const unknown = ids.filter((id) => !allExperiments.some((e) => e.id === id));
  if (unknown.length > 0) {
    throw new UsageError(`unknown experiment ${unknown.join(', ')}; known: ${allExperiments.map((e) => e.id).join(', ')}`);
  }
  return ids.map((id) => allExperiments.find((e) => e.id === id)!);
}

/** Why `experiment` cannot run here under `mode`, or undefined when it can. */
export function skipReason(experiment: Experiment, mode: OvercommitMode): string | undefined {
  const r = experiment.requires;
  if (r.modes !== undefined && !r.modes.includes(mode)) {
    return `runs only in mode ${r.modes.join(' or ')}; this run is in mode ${mode}`;
  }
  if (r.root && !hasCapSysAdmin()) return 'needs root (CAP_SYS_ADMIN); run it with sudo';
  if (r.writableSysctl) {
    const w = sysctlWritability();
    if (!w.writable) return `needs to write /proc/sys/vm: ${w.reason ?? 'not writable'}`;
  }
  if (r.memoryCgroup) {
    const cg = memoryCgroupAvailability();
    if (!cg.available) return cg.reason;
  }
  return r.program?.missing?.();
}

/** Measures `experiment` under `ctx.mode` and judges its claims about that mode. */
async function runExperiment<E extends Measured>(
  experiment: Experiment<E>,
  ctx: ExperimentContext,
): Promise<{ evidence: E; findings: Finding[] }> {
  const evidence = await experiment.measure(ctx);
  return { evidence, findings: judgeEvidence(experiment, evidence, ctx.mode) };
}

async function runOne(experiment: Experiment, mode: OvercommitMode, progress: (m: string) => void): Promise<ExperimentRun> {
  const base = { experiment: experiment.id, mode };
  const reason = skipReason(experiment, mode);
  if (reason !== undefined) return { ...base, status: 'skipped', reason, durationMs: 0, findings: [] };
  const start = performance.now();
  try {
    // Experiments name themselves in their progress messages.
    const { evidence, findings } = await runExperiment(experiment, { mode, progress });
    return { ...base, status: 'ran', durationMs: performance.now() - start, findings, evidence: evidence as unknown as Evidence };
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    return { ...base, status: 'error', reason: message, durationMs: performance.now() - start, findings: [] };
  }
}

/** Runs the selected experiments and returns the report. */
export async function runExperiments(options: RunOptions = {}): Promise<RunReport> {
  const selected = selectExperiments(options.experiments);
  const progress = options.progress ?? (() => {});
  const runs: ExperimentRun[] = [];
  const record = (run: ExperimentRun) => {
    runs.push(run);
    options.onRun?.(run);
  };
  const runAll = async (mode: OvercommitMode) => {
    for (const e of selected) {
      progress(`${e.id} (mode ${mode})`);
      record(await runOne(e, mode, progress));
    }
  };

  const waitOptions = options.onWait === undefined ? {} : { onWait: options.onWait };
  // The lock is held shared throughout, so that no other process switches the settings under
  // our feet; a switch of our own upgrades it (the lock is re-entrant within a process).
  const settings = await withSettingsLock(
    'shared',
    async () => {
      const found = readSettingsInfo();
      if (options.modes === undefined) {
        await runAll(found.overcommitMemory);
        return found;
      }
      const writable = sysctlWritability();
      for (const mode of options.modes) {
        if (mode === found.overcommitMemory) {
          await runAll(mode);
        } else if (!writable.writable) {
          const reason = `cannot switch to mode ${mode}: ${writable.reason ?? '/proc/sys/vm is not writable'}`;
          for (const e of selected) record({ experiment: e.id, mode, status: 'skipped', reason, durationMs: 0, findings: [] });
        } else {
          await withMode(mode, () => runAll(mode), waitOptions);
        }
      }
      return found;
    },
    waitOptions,
  );
  return {
    tool: { name: toolName, version: toolVersion },
    system: systemInfo(pageSize),
    settings,
    runs,
  };
}
