/** `overcommit-lab vm`: a command of this tool, run in a throwaway guest (lib/vm). */
import { parseArgs } from 'node:util';
import { selectExperiments, toolName, UsageError } from '../experiments/runner.js';
import { renderTerminal, shouldUseColor } from '../report/terminal.js';
import { reportFormat, writeReport } from '../report/write.js';
import type { RunReport } from '../verdict/types.js';
import { parseVmArgs, VM_USAGE, type VmArgs, VmUsageError } from '../vm/args.js';
import { kernelPanicLine } from '../vm/qemu.js';
import { runInVm, VmError } from '../vm/run.js';
import { parseModes } from './options.js';
import { clearProgress, progressReporter } from './progress.js';

/** What the host does with a guest `run`: the guest always answers in JSON. */
interface RunPlan {
  guestArgs: string[];
  /** Experiment runs (experiment × mode), for the default timeout. */
  runs: number;
  json: boolean;
  report?: string;
  quiet: boolean;
}

/** The guest's `run` command line, checked on the host before anything boots. */
export function planGuestRun(args: readonly string[]): RunPlan {
  const { values, positionals } = parseArgs({
    args: [...args],
    options: {
      mode: { type: 'string' },
      json: { type: 'boolean', default: false },
      report: { type: 'string' },
      quiet: { type: 'boolean', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  const selected = selectExperiments(positionals);
  const modes = values.mode === undefined ? 1 : parseModes(values.mode).length;
  if (values.report !== undefined) {
    try {
      reportFormat(values.report);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  const guestArgs = ['run', ...positionals, ...(values.mode === undefined ? [] : ['--mode', values.mode]), '--json'];
  return {
    guestArgs,
    runs: selected.length * modes,
    json: values.json,
    ...(values.report === undefined ? {} : { report: values.report }),
    quiet: values.quiet,
  };
}

/**
 * The guest's console for a failure: its last lines, or where its kernel panicked, from a few lines
 * before the crash report (the panic ends the console soon after).
 */
function consoleTail(console: string, lines = 60): string {
  const all = console.split(/\r?\n/);
  const panic = kernelPanicLine(console);
  const at = panic === undefined ? -1 : all.findIndex((l) => l.includes(panic));
  return (at < 0 ? all.slice(-lines) : all.slice(Math.max(0, at - 5), at + lines)).join('\n');
}

export async function vmCommand(argv: string[]): Promise<number> {
  let a: VmArgs;
  let plan: RunPlan | undefined;
  try {
    a = parseVmArgs(argv);
    if (a.help) {
      process.stdout.write(`${VM_USAGE}\n`);
      return 0;
    }
    if ('args' in a.guest && a.guest.args[0] === 'run') plan = planGuestRun(a.guest.args.slice(1));
  } catch (e) {
    if (e instanceof VmUsageError || e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`${toolName} vm: ${(e as Error).message}\n\n${VM_USAGE}\n`);
      return 2;
    }
    throw e;
  }
  const progress = progressReporter(a.quiet || a.verbose);
  const hooks = {
    ...(progress === undefined ? {} : { progress }),
    ...(a.quiet
      ? {}
      : {
          notice: (message: string) => {
            clearProgress(a.quiet || a.verbose);
            process.stderr.write(`${toolName} vm: ${message}\n`);
          },
        }),
    ...(a.verbose
      ? { console: (line: string) => process.stderr.write(`${line}\n`) }
      : { output: (line: string) => process.stdout.write(`${line}\n`) }),
  };
  try {
    const guest = plan === undefined ? a.guest : { args: plan.guestArgs };
    // A run's experiments scale its default timeout; another command of the tool (settings, list) is one step; a shell line is unknown.
    const runs = plan !== undefined ? plan.runs : 'args' in a.guest ? 0 : undefined;
    const result = await runInVm({ ...a, guest, ...(runs === undefined ? {} : { runs }) }, hooks);
    clearProgress(a.quiet || a.verbose);
    if (plan === undefined) {
      process.stdout.write(result.stdout);
      return result.exitCode;
    }
    if (result.exitCode !== 0) {
      process.stderr.write(`${consoleTail(result.console)}\n${toolName} vm: the guest's run ended with exit code ${result.exitCode}\n`);
      return result.exitCode;
    }
    const report = JSON.parse(result.stdout) as RunReport;
    report.system.vm = result.info;
    if (plan.report !== undefined) await writeReport(plan.report, report);
    if (plan.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else process.stdout.write(renderTerminal(report, { color: shouldUseColor(process.stdout), quiet: plan.quiet }));
    if (plan.report !== undefined && !plan.json && !plan.quiet) process.stdout.write(`Report written to ${plan.report}\n`);
    return 0;
  } catch (e) {
    clearProgress(a.quiet || a.verbose);
    if (e instanceof VmError && !a.verbose) process.stderr.write(`${consoleTail(e.console)}\n`);
    process.stderr.write(`${toolName} vm: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}
