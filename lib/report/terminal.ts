/**
 * The run as the terminal shows it: a header, then per run each claim's verdict and one line of
 * evidence. Colour is the caller's decision (shouldUseColor), so the text is testable either way.
 */
import type { ExperimentRun, Finding, RunReport } from '../verdict/types.js';
import {
  formatBytes,
  formatCount,
  formatDuration,
  formatKeyNumber,
  keyNumber,
  machineColumns,
  modeName,
  truncate,
  type Verdict,
  verdictGlyph,
  verdictOf,
  verdictOfRun,
} from './format.js';
import { labelFindings } from './matrix.js';

export interface TerminalOptions {
  color: boolean;
  /** Only the verdict lines: no header, no evidence. */
  quiet?: boolean;
}

/**
 * Colour on a TTY only. NO_COLOR always wins (the issue says never with NO_COLOR); otherwise
 * FORCE_COLOR ('0' or 'false' to refuse) overrides the TTY test, and TERM=dumb refuses.
 */
export function shouldUseColor(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '') return !['0', 'false'].includes(env.FORCE_COLOR);
  return stream.isTTY === true && env.TERM !== 'dumb';
}

type Style = 'bold' | 'dim' | 'green' | 'red' | 'yellow';
const SGR: Record<Style, string> = { bold: '1', dim: '2', green: '32', red: '31', yellow: '33' };

/** A painter that is the identity when colour is off. */
export type Paint = (style: Style, text: string) => string;

export function painter(color: boolean): Paint {
  return color ? (style, text) => `\x1b[${SGR[style]}m${text}\x1b[0m` : (_style, text) => text;
}

const VERDICT_STYLE: Record<Verdict, Style> = { holds: 'green', fails: 'red', undecided: 'yellow', skipped: 'dim', error: 'red' };

export function paintVerdict(paint: Paint, v: Verdict): string {
  return paint(VERDICT_STYLE[v], verdictGlyph(v));
}

/** Report text is data: control characters (escape sequences, newlines) must not reach the terminal. */
export function clean(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
  return text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ');
}

export function renderTerminal(report: RunReport, opts: TerminalOptions): string {
  const paint = painter(opts.color);
  const lines = opts.quiet ? [] : [...header(report, paint), ''];
  for (const run of report.runs) lines.push(...(opts.quiet ? quietRun(run, paint) : fullRun(run, paint)));
  return `${lines.join('\n')}\n`;
}

function header(report: RunReport, paint: Paint): string[] {
  const { tool, system: s, settings: t } = report;
  const who = s.root ? 'root' : 'not root';
  const m = machineColumns(s);
  return [
    `${paint('bold', clean(`${tool.name} ${tool.version}`))} · kernel ${clean(s.kernel)} · ${clean(m.arch)} · ${formatCount(s.cpus)} CPUs · ` +
      `RAM ${formatBytes(s.memTotalBytes)} · swap ${formatBytes(s.swapTotalBytes)} · page ${m.pageSize} · THP ${m.thpSize} · ${who}`,
    `overcommit_memory ${modeName(t.overcommitMemory)} · ratio ${t.overcommitRatio} · kbytes ${formatCount(t.overcommitKbytes)} · ` +
      `CommitLimit ${formatBytes(t.commitLimitBytes)} · Committed_AS ${formatBytes(t.committedAsBytes)}`,
    ...(s.vm === undefined
      ? []
      : [
          `in a ${s.vm.accel} guest of overcommit-lab vm · ${clean(s.vm.kernelSource)} · swap ${s.vm.swap} · cgroup ${s.vm.cgroup} · booted in ${formatDuration(s.vm.bootMs)}`,
        ]),
  ];
}

function fullRun(run: ExperimentRun, paint: Paint): string[] {
  const lines = [`${paint('bold', clean(run.experiment))} · mode ${run.mode} · ${run.status} · ${formatDuration(run.durationMs)}`];
  if (run.findings.length === 0) {
    const v = verdictOfRun(run.status);
    lines.push(`  ${paintVerdict(paint, v)}${run.reason === undefined ? '' : `: ${clean(run.reason)}`}`);
  }
  for (const { label, finding } of labelFindings(run)) {
    lines.push(verdictLine(paint, label, finding));
    lines.push(`      ${clean(finding.observed)}`);
    if (finding.reason !== undefined) lines.push(`      ${paint('dim', `reason: ${clean(finding.reason)}`)}`);
  }
  return lines;
}

/** The verdict, the claim and its source, the key number: the evidence line (observed) follows. */
function verdictLine(paint: Paint, label: string, f: Finding): string {
  const key = keyNumber(f);
  const number = key === undefined ? '' : `  ${paint('dim', `${key.key}=${formatKeyNumber(key)}`)}`;
  return `  ${paintVerdict(paint, verdictOf(f.holds))} ${paint('bold', clean(label))}  ${clean(truncate(f.text, 100))} ${paint('dim', `(${f.source.slice(0, 3)})`)}${number}`;
}

function quietRun(run: ExperimentRun, paint: Paint): string[] {
  const where = `${clean(run.experiment)} · mode ${run.mode}`;
  if (run.findings.length === 0) {
    const reason = run.reason === undefined ? '' : `: ${clean(run.reason)}`;
    return [`${paintVerdict(paint, verdictOfRun(run.status))} ${where}${reason}`];
  }
  return labelFindings(run).map(({ label, finding }) => `${paintVerdict(paint, verdictOf(finding.holds))} ${where} · ${clean(label)}`);
}
