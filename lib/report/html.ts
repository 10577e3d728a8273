/**
 * The run as one self-contained HTML file: the Markdown report's content plus the charts as
 * inline SVG. No script, no external asset; a Content-Security-Policy makes any reference to
 * one fail loudly instead of reaching the network.
 */
import type { ExperimentRun, RunReport } from '../verdict/types.js';
import type { Chart } from './charts.js';
import { formatDuration, type Verdict, verdictGlyph, verdictOf, verdictOfRun } from './format.js';
import { environmentRows, evidenceRows, LEGEND, matrixHead } from './markdown.js';
import { type ClaimMatrix, claimMatrix, labelFindings } from './matrix.js';

/** Report text is data: everything interpolated into HTML goes through here. */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

const CSS = `
:root { color-scheme: light; --ok: #1a7f37; --bad: #cf222e; --unk: #9a6700; --dim: #6e7781; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; color: #1f2328; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #d0d7de; padding-bottom: .3rem; }
h3 { margin-top: 1.6rem; } h4 { margin: 1rem 0 .3rem; font-size: 1rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .9rem; }
th, td { border: 1px solid #d0d7de; padding: .25rem .6rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td.num, td.cell { white-space: nowrap; font-variant-numeric: tabular-nums; }
code { font-size: .85rem; background: #f6f8fa; padding: 0 .2rem; border-radius: 3px; }
blockquote { margin: .3rem 0; padding-left: .8rem; border-left: 3px solid #d0d7de; color: #444; }
.holds { color: var(--ok); } .fails { color: var(--bad); } .undecided { color: var(--unk); }
.skipped { color: var(--dim); } .error { color: var(--bad); }
.verdict { font-weight: 600; }
.chart { margin: 1rem 0 2rem; overflow-x: auto; } .chart svg { max-width: 100%; height: auto; }
.legend, .meta { color: var(--dim); font-size: .9rem; }
`;

/** A complete page; `body` must already be escaped HTML. */
export function htmlPage(title: string, body: string): string {
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    // Nothing may load: no scripts, no fetches; only the inline style and inline images.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(title)}</title>`,
    `<style>${CSS}</style>`,
    '</head>',
    `<body>\n${body}\n</body>`,
    '</html>',
    '',
  ].join('\n');
}

/** A table from plain-text cells (escaped here). */
export function htmlTable(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const th = head.map((h) => `<th>${escapeHtml(h)}</th>`).join('');
  const trs = rows.map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`);
  return `<table>\n<thead><tr>${th}</tr></thead>\n<tbody>\n${trs.join('\n')}\n</tbody>\n</table>`;
}

export function verdictSpan(v: Verdict): string {
  return `<span class="verdict ${v}">${escapeHtml(verdictGlyph(v))}</span>`;
}

function matrixTable(m: ClaimMatrix): string {
  const th = matrixHead(m)
    .map((h) => `<th>${escapeHtml(h)}</th>`)
    .join('');
  const trs = m.rows.map((row) => {
    const cells = m.modes.map((mode) => {
      const cell = row.cells.get(mode);
      if (cell === undefined) return '<td class="cell"></td>';
      return `<td class="cell">${verdictSpan(cell.verdict)} ${escapeHtml(cell.number)}</td>`;
    });
    const title = row.text === '' ? '' : ` title="${escapeHtml(row.text)}"`;
    return `<tr><td>${escapeHtml(row.experiment)}</td><td${title}><code>${escapeHtml(row.label)}</code></td>${cells.join('')}</tr>`;
  });
  return `<table>\n<thead><tr>${th}</tr></thead>\n<tbody>\n${trs.join('\n')}\n</tbody>\n</table>`;
}

function runSection(run: ExperimentRun): string {
  const parts = [
    `<h3>${escapeHtml(run.experiment)} <span class="meta">· mode ${run.mode} · ${escapeHtml(run.status)} · ${formatDuration(run.durationMs)}</span></h3>`,
  ];
  if (run.findings.length === 0) {
    const reason = run.reason === undefined ? '' : `: ${escapeHtml(run.reason)}`;
    parts.push(`<p>${verdictSpan(verdictOfRun(run.status))}${reason}</p>`);
  }
  for (const { label, finding: f } of labelFindings(run)) {
    parts.push(
      `<h4>${verdictSpan(verdictOf(f.holds))} <code>${escapeHtml(label)}</code></h4>`,
      `<blockquote>${escapeHtml(f.text)} <span class="meta">— ${escapeHtml(f.source)}</span></blockquote>`,
      `<p><strong>Observed:</strong> ${escapeHtml(f.observed)}</p>`,
    );
    if (f.reason !== undefined) parts.push(`<p><strong>Reason:</strong> ${escapeHtml(f.reason)}</p>`);
    parts.push(htmlTable(['Evidence', 'Value'], evidenceRows(f.evidence)));
  }
  return `<section>\n${parts.join('\n')}\n</section>`;
}

function chartFigure(c: Chart): string {
  // The SVG comes from Vega, which escapes the text it draws; the label is ours to escape.
  return `<figure class="chart" id="chart-${c.id}" aria-label="${escapeHtml(c.title)}">\n${c.svg}\n</figure>`;
}

export async function renderHtml(report: RunReport): Promise<string> {
  // The chart libraries (Vega, Vega-Lite) are most of the package's start-up cost and carry a
  // top-level await that would make the package impossible to require(): load them only here.
  const { renderCharts } = await import('./charts.js');
  const charts = await renderCharts(report);
  const title = `${report.tool.name} report`;
  const body = [
    `<h1>${escapeHtml(title)}</h1>`,
    '<h2>Environment and settings</h2>',
    htmlTable(['', 'Value'], environmentRows(report)),
    '<h2>Claims × modes</h2>',
    `<p class="legend">${escapeHtml(LEGEND)}</p>`,
    matrixTable(claimMatrix(report)),
    ...(charts.length === 0 ? [] : ['<h2>Charts</h2>', ...charts.map(chartFigure)]),
    '<h2>Findings</h2>',
    ...report.runs.map(runSection),
  ];
  return htmlPage(title, body.join('\n'));
}
