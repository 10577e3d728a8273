/**
 * Several runs side by side, typically one per kernel (the kernel matrix of `vm`): one row per
 * claim (experiment, mode and finding label), one column per run.
 */
import type { RunReport } from '../verdict/types.js';
import { formatBytes, formatKeyNumber, keyNumber, MACHINE_HEADS, machineColumns, verdictGlyph, verdictOf, verdictOfRun } from './format.js';
import { escapeHtml, htmlPage, htmlTable } from './html.js';
import { escapeMarkdown, LEGEND, markdownTable } from './markdown.js';
import { ALL_CLAIMS, labelFindings, type MatrixCell } from './matrix.js';

export interface KernelsRow {
  experiment: string;
  mode: number;
  label: string;
  text: string;
  /** One per run, in the order of the runs; undefined where that run has no such finding. */
  cells: (MatrixCell | undefined)[];
}

export interface KernelsMatrix {
  /** Column heads: the kernel, and where it ran. */
  columns: string[];
  /** How each run's system was made: architecture, page size, THP size, memory, swap, cgroup, CPUs. */
  environment: [string, ...string[]][];
  rows: KernelsRow[];
}

/** 'vm 6.1.0-50-amd64', or 'host 6.18.4' for a run made on the host itself. */
export function runColumn(r: RunReport): string {
  return `${r.system.vm === undefined ? 'host' : 'vm'} ${r.system.kernel}`;
}

export function kernelsMatrix(reports: readonly RunReport[]): KernelsMatrix {
  const rows = new Map<string, KernelsRow>();
  const rowFor = (experiment: string, mode: number, label: string, text: string): KernelsRow => {
    const key = `${experiment}\u0000${mode}\u0000${label}`;
    let row = rows.get(key);
    if (row === undefined) {
      row = { experiment, mode, label, text, cells: reports.map(() => undefined) };
      rows.set(key, row);
    }
    return row;
  };
  reports.forEach((report, i) => {
    for (const run of report.runs) {
      for (const { label, finding } of labelFindings(run)) {
        rowFor(run.experiment, run.mode, label, finding.text).cells[i] = {
          verdict: verdictOf(finding.holds),
          number: formatKeyNumber(keyNumber(finding)),
        };
      }
    }
  });
  // A run without findings (skipped, error) marks every row of its experiment and mode.
  reports.forEach((report, i) => {
    for (const run of report.runs.filter((r) => r.findings.length === 0)) {
      const own = [...rows.values()].filter((r) => r.experiment === run.experiment && r.mode === run.mode);
      const targets = own.length > 0 ? own : [rowFor(run.experiment, run.mode, ALL_CLAIMS, '')];
      for (const row of targets) row.cells[i] ??= { verdict: verdictOfRun(run.status), number: '' };
    }
  });
  const machines = reports.map((r) => machineColumns(r.system));
  const environment: [string, ...string[]][] = [
    // The page and huge page sizes every page count of that column is in.
    [MACHINE_HEADS[0], ...machines.map((m) => m.arch)],
    [MACHINE_HEADS[1], ...machines.map((m) => m.pageSize)],
    [MACHINE_HEADS[2], ...machines.map((m) => m.thpSize)],
    ['Memory', ...reports.map((r) => formatBytes(r.system.memTotalBytes))],
    [
      'Swap',
      ...reports.map(
        (r) => `${formatBytes(r.system.swapTotalBytes)}${r.system.vm === undefined ? '' : ` (${r.system.vm.swap.split(':')[0]})`}`,
      ),
    ],
    ['cgroup', ...reports.map((r) => r.system.vm?.cgroup ?? 'host')],
    ['CPUs', ...reports.map((r) => String(r.system.cpus))],
  ];
  const sorted = [...rows.values()].sort((a, b) => a.experiment.localeCompare(b.experiment) || a.mode - b.mode);
  return { columns: reports.map(runColumn), environment, rows: sorted };
}

const cellText = (c: MatrixCell | undefined): string =>
  c === undefined ? '' : c.number === '' ? verdictGlyph(c.verdict) : `${verdictGlyph(c.verdict)} ${c.number}`;

/** Rows with the verdicts only (for the README's table): the numbers differ with every machine size. */
export function kernelsTableRows(m: KernelsMatrix, withNumbers: boolean): string[][] {
  return m.rows.map((r) => [
    r.experiment,
    `${r.mode}`,
    r.label,
    ...r.cells.map((c) => (withNumbers ? cellText(c) : c === undefined ? '' : verdictGlyph(c.verdict))),
  ]);
}

export function kernelsHead(m: KernelsMatrix): string[] {
  return ['Experiment', 'Mode', 'Claim', ...m.columns];
}

export function renderKernelsMarkdown(m: KernelsMatrix, opts: { withNumbers: boolean } = { withNumbers: true }): string {
  return [
    markdownTable(['', ...m.columns], m.environment),
    escapeMarkdown(LEGEND),
    markdownTable(kernelsHead(m), kernelsTableRows(m, opts.withNumbers)),
  ].join('\n\n');
}

export function renderKernelsReportMarkdown(m: KernelsMatrix): string {
  return `# Claims × kernels\n\n${renderKernelsMarkdown(m)}\n`;
}

export function renderKernelsHtml(m: KernelsMatrix): string {
  const body = [
    '<h1>Claims × kernels</h1>',
    htmlTable(['', ...m.columns], m.environment),
    `<p class="legend">${escapeHtml(LEGEND)}</p>`,
    htmlTable(kernelsHead(m), kernelsTableRows(m, true)),
  ];
  return htmlPage('Claims × kernels', body.join('\n'));
}

export function renderKernelsTerminal(m: KernelsMatrix): string {
  const head = kernelsHead(m);
  const rows = [head, ...m.environment.map(([k, ...v]) => ['', '', k, ...v]), ...kernelsTableRows(m, false)];
  const widths = head.map((_, i) => Math.max(...rows.map((r) => [...(r[i] ?? '')].length)));
  return `${rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')}\n`;
}
