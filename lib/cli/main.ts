#!/usr/bin/env node
/** The overcommit-lab command line. */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { readMeminfo } from '../kernel/meminfo.js';
import { modeDescription, readOvercommitSettings } from '../kernel/sysctl.js';
import { formatBytes } from '../report/format.js';
import { toolName, toolVersion, UsageError } from '../tool.js';
import type { RunReport } from '../verdict/types.js';
import { clearProgress, progressReporter } from './progress.js';
import type { SparseDemoResult } from './sparse-demo.js';

// Start-up cost is in what a command imports: the runner brings every experiment and the addon,
// the reports bring their renderers. Each command loads what it uses, so `settings` (five
// numbers from /proc) reads only /proc, and --help, usage errors, `list`, `rejudge` and `compare`
// load no addon: they work where it cannot load (another OS, a copy without its build).
const loadRunner = () => import('../experiments/runner.js');
const loadTerminal = () => import('../report/terminal.js');
const loadWrite = () => import('../report/write.js');

const usage = `Usage: ${toolName} <command> [options]

Runs real experiments on this Linux kernel's memory overcommit machinery and says, claim by
claim, whether the kernel behaves as the source documents say.

Commands:
  run [ID...]           run experiments (all by default) and print each claim's verdict
  demo sparse           the documents' sparse 1 GB array program, then what it cannot see
  list                  the experiments, their claims and requirements
  list --coverage       every sentence of the documents: the claims that test it, or why none does
  settings              the overcommit mode, ratio, kbytes, CommitLimit and Committed_AS
  rejudge RUN.json      every verdict of a saved run judged again by this version's rules,
                        and the ones that changed (needs no addon: works on any OS)
  compare A.json B.json the claims whose verdict or key number differs between two runs
  compare A.json B.json C.json...
                        three or more runs (one per kernel, say): the claims × runs table
  vm --kernel PATH -- run [ID...]
                        the same in a throwaway qemu guest booting PATH (see vm --help)

Options:
  --mode LIST           run: under each of these modes, e.g. 0,1,2 or all (needs root);
                        the settings are restored afterwards
  --json                print one JSON document instead of text
  --report FILE         run, compare, rejudge: also write a report (.md or .html)
  --quiet               only the verdict lines; no progress
  --redis-server PATH   run: the redis-server the redis-server experiment starts (default:
                        $OVERCOMMIT_LAB_REDIS_SERVER, else the one on PATH)
  -h, --help            this help
  -v, --version         the version

Exit status: 0 when the run completed, whatever the kernel said; 1 on an error; 2 on a usage error.`;

const options = {
  mode: { type: 'string' },
  json: { type: 'boolean', default: false },
  report: { type: 'string' },
  quiet: { type: 'boolean', default: false },
  coverage: { type: 'boolean', default: false },
  'redis-server': { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
  version: { type: 'boolean', short: 'v', default: false },
} as const;

type Flags = { mode?: string; json: boolean; report?: string; quiet: boolean; coverage: boolean; 'redis-server'?: string };

async function run(ids: string[], flags: Flags): Promise<void> {
  const [{ runExperiments }, { renderTerminal, shouldUseColor }, { parseModes }] = await Promise.all([
    loadRunner(),
    loadTerminal(),
    import('./options.js'),
  ]);
  const modes = flags.mode === undefined ? undefined : parseModes(flags.mode);
  if (flags['redis-server'] !== undefined) (await import('../redis/server.js')).setRedisServerPath(flags['redis-server']);
  const progress = progressReporter(flags.quiet);
  let report: RunReport;
  try {
    report = await runExperiments({ experiments: ids, modes, progress, onWait: (m) => process.stderr.write(`${toolName}: ${m}\n`) });
  } finally {
    clearProgress(flags.quiet);
  }
  if (flags.report !== undefined) await (await loadWrite()).writeReport(flags.report, report);
  if (flags.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else process.stdout.write(renderTerminal(report, { color: shouldUseColor(process.stdout), quiet: flags.quiet }));
  if (flags.report !== undefined && !flags.json && !flags.quiet) process.stdout.write(`Report written to ${flags.report}\n`);
}

async function demo(args: string[], flags: Flags): Promise<void> {
  if (args.length !== 1 || args[0] !== 'sparse') throw new UsageError(`demo takes one program: sparse`);
  const { runSparseDemo, renderSparseDemo } = await import('./sparse-demo.js');
  const progress = progressReporter(flags.quiet);
  let result: SparseDemoResult;
  try {
    result = await runSparseDemo(progress === undefined ? {} : { progress });
  } finally {
    clearProgress(flags.quiet);
  }
  process.stdout.write(flags.json ? `${JSON.stringify(result, null, 2)}\n` : renderSparseDemo(result));
}

async function listCoverage(flags: Flags): Promise<void> {
  const [{ coverage }, { coverageTotals, renderCoverage }] = await Promise.all([
    import('../claims/coverage.js'),
    import('../claims/inventory.js'),
  ]);
  if (flags.json) process.stdout.write(`${JSON.stringify({ documents: coverage, totals: coverageTotals(coverage) }, null, 2)}\n`);
  else process.stdout.write(renderCoverage(coverage));
}

async function list(flags: Flags): Promise<void> {
  if (flags.coverage) return listCoverage(flags);
  const { ruleSets: experiments } = await import('../experiments/rules.js');
  if (flags.json) {
    const out = experiments.map((e) => ({ id: e.id, title: e.title, requires: e.requires, claims: e.claims }));
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return;
  }
  const lines: string[] = [];
  for (const e of experiments) {
    const req = Object.entries(e.requires)
      .filter(([, v]) => v !== undefined && v !== false)
      .map(([k, v]) => (k === 'modes' ? `modes ${(v as number[]).join(',')}` : k === 'program' ? (v as { name: string }).name : k));
    lines.push(`${e.id} — ${e.title}${req.length > 0 ? `  [needs: ${req.join(', ')}]` : ''}`);
    for (const c of e.claims) lines.push(`  ${c.id}  (${c.source}${c.modes ? `; modes ${c.modes.join(',')}` : ''})\n    ${c.text}`);
    lines.push('');
  }
  process.stdout.write(lines.join('\n'));
}

function settings(flags: Flags): void {
  const s = readOvercommitSettings();
  const m = readMeminfo();
  const info = {
    overcommitMemory: s.mode,
    mode: modeDescription(s.mode),
    overcommitRatio: s.ratio,
    overcommitKbytes: s.kbytes,
    commitLimitBytes: m.commitLimit,
    committedAsBytes: m.committedAs,
  };
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
    return;
  }
  process.stdout.write(
    [
      `overcommit_memory = ${s.mode}`,
      `overcommit_ratio = ${s.ratio}%`,
      `Mode: ${info.mode}`,
      `overcommit_kbytes = ${s.kbytes}${s.kbytes === 0 ? ' (unset: the ratio applies)' : ' (set: it replaces the ratio)'}`,
      `CommitLimit = ${formatBytes(m.commitLimit)} (${m.commitLimit} bytes)`,
      `Committed_AS = ${formatBytes(m.committedAs)} (${m.committedAs} bytes)`,
      '',
    ].join('\n'),
  );
}

/** A run's JSON document, as `run --json` wrote it; a usage error when it is not one. */
function readRun(file: string): RunReport {
  let report: RunReport;
  try {
    report = JSON.parse(readFileSync(file, 'utf8')) as RunReport;
  } catch (e) {
    throw new UsageError(`cannot read ${file} as a run's JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (report === null || typeof report !== 'object' || !Array.isArray(report.runs))
    throw new UsageError(`${file} is not a run's JSON (no runs): write one with \`run --json\``);
  return report;
}

async function rejudgeCommand(files: string[], flags: Flags): Promise<void> {
  if (files.length !== 1) throw new UsageError('rejudge takes one JSON file written by `run --json` or `vm ... -- run --json`');
  const file = files[0] as string;
  const saved = readRun(file);
  const [{ rejudgeReport }, { ruleSets }, { renderRejudged }] = await Promise.all([
    import('../experiments/judge.js'),
    import('../experiments/rules.js'),
    import('../report/rejudge.js'),
  ]);
  const r = rejudgeReport(saved, ruleSets);
  if (flags.report !== undefined) await (await loadWrite()).writeReport(flags.report, r.report);
  if (flags.json) {
    const summary = { file, rulesVersion: toolVersion, checked: r.checked, changed: r.changed, unchecked: r.unchecked };
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  } else process.stdout.write(renderRejudged(file, r));
  if (flags.report !== undefined && !flags.json && !flags.quiet)
    process.stdout.write(`Report of the run judged again written to ${flags.report}\n`);
}

async function compare(files: string[], flags: Flags): Promise<void> {
  if (files.length < 2) throw new UsageError('compare takes two or more JSON files written by `run --json` or `vm ... -- run --json`');
  const reports = files.map(readRun);
  if (reports.length > 2) {
    // Several runs (one per kernel, say): the claims × runs table.
    const { kernelsMatrix, renderKernelsTerminal } = await import('../report/kernels.js');
    const m = kernelsMatrix(reports);
    if (flags.report !== undefined) await (await loadWrite()).writeKernelsReport(flags.report, m);
    if (flags.json) process.stdout.write(`${JSON.stringify(m, null, 2)}\n`);
    else process.stdout.write(renderKernelsTerminal(m));
    return;
  }
  const [{ compareReports, renderComparisonTerminal }, { shouldUseColor }] = await Promise.all([
    import('../report/compare.js'),
    loadTerminal(),
  ]);
  const c = compareReports(reports[0]!, reports[1]!);
  if (flags.report !== undefined) await (await loadWrite()).writeComparisonReport(flags.report, c);
  if (flags.json) process.stdout.write(`${JSON.stringify(c, null, 2)}\n`);
  else process.stdout.write(renderComparisonTerminal(c, { color: shouldUseColor(process.stdout) }));
}

export async function main(argv: string[]): Promise<number> {
  // vm has its own options, and the guest's command line after --.
  if (argv[0] === 'vm') return (await import('./vm.js')).vmCommand(argv.slice(1));
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; options: typeof options; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n\n${usage}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`${toolVersion}\n`);
    return 0;
  }
  const flags: Flags = values;
  const [command, ...rest] = positionals;
  try {
    if (flags.mode !== undefined && command !== 'run') throw new UsageError('--mode goes with run');
    if (flags.coverage && command !== 'list') throw new UsageError('--coverage goes with list');
    if (flags.report !== undefined && command !== 'run' && command !== 'compare' && command !== 'rejudge')
      throw new UsageError('--report goes with run, compare or rejudge');
    // A bad report name is a usage error before any work, not a failure after the run.
    if (flags.report !== undefined) {
      const { reportFormat } = await loadWrite();
      try {
        reportFormat(flags.report);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
    }
    switch (command) {
      case 'run':
        await run(rest, flags);
        break;
      case 'demo':
        await demo(rest, flags);
        break;
      case 'list':
        await list(flags);
        break;
      case 'settings':
        settings(flags);
        break;
      case 'compare':
        await compare(rest, flags);
        break;
      case 'rejudge':
        await rejudgeCommand(rest, flags);
        break;
      case undefined:
        throw new UsageError('a command is needed');
      default:
        throw new UsageError(`unknown command '${command}'`);
    }
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`${toolName}: ${e.message}\n\n${usage}\n`);
      return 2;
    }
    process.stderr.write(`${toolName}: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
