/**
 * The run as one Markdown document: environment, settings, the claims × modes table, then each
 * experiment's findings with their evidence.
 */
import type { Evidence, ExperimentRun, RunReport } from '../verdict/types.js';
import {
  formatBytes,
  formatCount,
  formatDuration,
  formatEvidenceValue,
  machineColumns,
  modeName,
  verdictGlyph,
  verdictOf,
  verdictOfRun,
} from './format.js';
import { type ClaimMatrix, claimMatrix, labelFindings } from './matrix.js';

/**
 * Report text is data: HTML in it must not render (Markdown passes raw HTML through), and
 * Markdown punctuation must not format. Newlines would break table rows and paragraphs.
 */
export function escapeMarkdown(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/([\\`*_[\]|#~])/g, '\\$1')
    .replace(/\s*[\r\n]+\s*/g, ' ');
}

/** A GFM table; cells are escaped here. */
export function markdownTable(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]): string => `| ${cells.map(escapeMarkdown).join(' | ')} |`;
  return [line(head), `|${head.map(() => ' --- |').join('')}`, ...rows.map(line)].join('\n');
}

/** The environment as label/value pairs; HTML shows the same list. */
export function environmentRows(report: RunReport): [string, string][] {
  const { tool, system: s, settings: t } = report;
  const machine = machineColumns(s);
  return [
    ['Tool', `${tool.name} ${tool.version}`],
    ['Kernel', s.kernel],
    ['Architecture', machine.arch],
    ['CPUs', formatCount(s.cpus)],
    ['Memory', formatBytes(s.memTotalBytes)],
    ['Swap', formatBytes(s.swapTotalBytes)],
    ['Page size', machine.pageSize],
    ['THP size', machine.thpSize],
    ['Root', s.root ? 'yes' : 'no'],
    ...(s.vm === undefined
      ? []
      : [
          [
            'Guest',
            `overcommit-lab vm (${s.vm.accel}): ${s.vm.kernelSource}, ${formatCount(s.vm.cpus)} CPUs, ${formatBytes(s.vm.memoryBytes)}, swap ${s.vm.swap}, cgroup ${s.vm.cgroup}, booted in ${formatDuration(s.vm.bootMs)}`,
          ] as [string, string],
        ]),
    ['vm.overcommit_memory', modeName(t.overcommitMemory)],
    ['vm.overcommit_ratio', String(t.overcommitRatio)],
    ['vm.overcommit_kbytes', formatCount(t.overcommitKbytes)],
    ['CommitLimit', formatBytes(t.commitLimitBytes)],
    ['Committed_AS', formatBytes(t.committedAsBytes)],
  ];
}

/** Table rows for the claims × modes matrix: experiment, claim, then one cell per mode. */
export function matrixRows(m: ClaimMatrix): string[][] {
  return m.rows.map((row) => [
    row.experiment,
    row.label,
    ...m.modes.map((mode) => {
      const cell = row.cells.get(mode);
      if (cell === undefined) return '';
      return cell.number === '' ? verdictGlyph(cell.verdict) : `${verdictGlyph(cell.verdict)} ${cell.number}`;
    }),
  ]);
}

export function matrixHead(m: ClaimMatrix): string[] {
  return ['Experiment', 'Claim', ...m.modes.map((mode) => `mode ${mode}`)];
}

export const LEGEND = '✓ holds · ✗ does not hold · ? undecided by this run · skipped / error: the run did not produce findings';

export function renderMarkdown(report: RunReport): string {
  const matrix = claimMatrix(report);
  return `${[
    `# ${escapeMarkdown(report.tool.name)} report`,
    '## Environment and settings',
    markdownTable(['', 'Value'], environmentRows(report)),
    '## Claims × modes',
    escapeMarkdown(LEGEND),
    markdownTable(matrixHead(matrix), matrixRows(matrix)),
    '## Findings',
    ...report.runs.map(runSection),
  ].join('\n\n')}\n`;
}

function runSection(run: ExperimentRun): string {
  const parts = [`### ${escapeMarkdown(run.experiment)} · mode ${run.mode} · ${run.status} · ${formatDuration(run.durationMs)}`];
  if (run.findings.length === 0) {
    parts.push(`**${verdictGlyph(verdictOfRun(run.status))}**${run.reason === undefined ? '' : `: ${escapeMarkdown(run.reason)}`}`);
  }
  for (const { label, finding: f } of labelFindings(run)) {
    const lines = [
      `#### ${verdictGlyph(verdictOf(f.holds))} ${escapeMarkdown(label)}`,
      '',
      `> ${escapeMarkdown(f.text)} — ${escapeMarkdown(f.source)}`,
      '',
      `Observed: ${escapeMarkdown(f.observed)}`,
    ];
    if (f.reason !== undefined) lines.push('', `Reason: ${escapeMarkdown(f.reason)}`);
    lines.push('', markdownTable(['Evidence', 'Value'], evidenceRows(f.evidence)));
    parts.push(lines.join('\n'));
  }
  return parts.join('\n\n');
}

/** Evidence as key/value rows, values formatted by their unit suffix. */
export function evidenceRows(evidence: Evidence): [string, string][] {
  return Object.entries(evidence).map(([k, v]) => [k, formatEvidenceValue(k, v)]);
}
