/**
 * The HTML report's charts: Vega-Lite specs built from a run's evidence, rendered to SVG under
 * Node when the report is written, so the HTML needs no script and no network to show them.
 * Each chart is drawn only when the run has its data.
 */
import type { Loader } from 'vega';
import type { TopLevelSpec } from 'vega-lite';
import type { Evidence, Finding, OvercommitMode, RunReport } from '../verdict/types.js';
import { formatBytes, formatCount } from './format.js';

export interface Chart {
  id: 'mode-matrix' | 'sparse-array' | 'accounting' | 'oom-late-failure';
  /** The chart's title, also used as the SVG's accessible label. */
  title: string;
  svg: string;
}

interface Sourced {
  mode: OvercommitMode;
  finding: Finding;
}

/** Findings of one experiment, with the mode each was measured under. */
function findingsOf(report: RunReport, experiment: string): Sourced[] {
  return report.runs.filter((r) => r.experiment === experiment).flatMap((r) => r.findings.map((finding) => ({ mode: r.mode, finding })));
}

function num(f: Finding, key: string): number | undefined {
  const v = f.evidence[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** Several claims of one run often carry the same measurement: chart each measurement once. */
function uniqueBy<T>(items: T[], key: (item: T) => string): T[] {
  const seen = new Set<string>();
  return items.filter((item) => {
    const k = key(item);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

const GiB = 1024 ** 3;
/** Axis labels in binary units (a Vega expression: the chart formats its own ticks). */
const BYTES_LABEL =
  `abs(datum.value) >= ${1024 * GiB} ? format(datum.value / ${1024 * GiB}, '.3~g') + ' TiB' : ` +
  `abs(datum.value) >= ${GiB} ? format(datum.value / ${GiB}, '.3~g') + ' GiB' : ` +
  `abs(datum.value) >= ${1024 ** 2} ? format(datum.value / ${1024 ** 2}, '.3~g') + ' MiB' : ` +
  `abs(datum.value) >= 1024 ? format(datum.value / 1024, '.3~g') + ' KiB' : format(datum.value, '~g') + ' B'`;

const CONFIG = {
  font: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
  background: 'white',
  title: { fontSize: 14, subtitleFontSize: 11, subtitleColor: '#555', anchor: 'start' as const, offset: 12 },
  axis: { labelFontSize: 11, titleFontSize: 12 },
  legend: { labelFontSize: 11, titleFontSize: 12, orient: 'bottom' as const, labelLimit: 320 },
};

/** Ticks at powers of two from `from` up to `to`, spaced so that there are at most eight. */
function powerTicks(from: number, to: number): number[] {
  const span = Math.max(1, Math.ceil(Math.log2(to / from)));
  const step = 2 ** Math.ceil(span / 8);
  const ticks: number[] = [];
  for (let t = from; t <= to * step; t *= step) ticks.push(t);
  return ticks;
}

function modeMatrixChart(report: RunReport): TopLevelSpec | undefined {
  const rows = uniqueBy(
    findingsOf(report, 'mode-matrix').filter(
      ({ finding: f }) => typeof f.evidence.noreserve === 'boolean' && (num(f, 'largestBytes') ?? 0) > 0,
    ),
    // One bar per (mode, flag): the first finding that measured it (others repeat or are variants).
    ({ mode, finding }) => `${mode}/${String(finding.evidence.noreserve)}`,
  ).map(({ mode, finding: f }) => {
    const largest = num(f, 'largestBytes') as number;
    return {
      mode: `mode ${mode}`,
      noreserve: f.evidence.noreserve === true ? 'yes' : 'no',
      largest,
      largestLabel: formatBytes(largest),
      predicted: num(f, 'predictedBytes') ?? null,
    };
  });
  if (rows.length === 0) return undefined;
  // Bars on a log scale need a floor below the smallest value (not zero) and no stacking.
  const floor = 2 ** Math.floor(Math.log2(Math.min(...rows.flatMap((r) => [r.largest, r.predicted ?? r.largest])) / 4));
  const y = {
    field: 'largest',
    type: 'quantitative' as const,
    stack: null,
    scale: { type: 'log' as const, domainMin: floor },
    title: 'bytes (log scale)',
    axis: { labelExpr: BYTES_LABEL, values: powerTicks(floor, Math.max(...rows.map((r) => Math.max(r.largest, r.predicted ?? 0)))) },
  };
  return {
    title: {
      text: 'Largest mapping mmap accepted, per mode and MAP_NORESERVE',
      subtitle: 'Bars: largest private writable anonymous mapping accepted. Black diamonds: the limit the mode\u2019s rule predicts.',
    },
    width: 520,
    height: 300,
    data: { values: rows },
    encoding: {
      x: { field: 'mode', type: 'nominal', title: 'overcommit mode', axis: { labelAngle: 0 } },
      xOffset: { field: 'noreserve', sort: ['no', 'yes'] },
    },
    layer: [
      { mark: 'bar', encoding: { y, color: { field: 'noreserve', type: 'nominal', title: 'MAP_NORESERVE', sort: ['no', 'yes'] } } },
      { mark: { type: 'text', dy: -6, fontSize: 10 }, encoding: { y, text: { field: 'largestLabel', type: 'nominal' } } },
      {
        transform: [{ filter: 'isValid(datum.predicted) && datum.predicted > 0' }],
        mark: { type: 'point', shape: 'diamond', filled: true, color: 'black', size: 90 },
        encoding: { y: { ...y, field: 'predicted' } },
      },
    ],
  };
}

const SPARSE_MEASURES = ['pages touched', 'resident pages (mincore)', 'RSS change ÷ page size'];

/** A sparse-array finding's access patterns: the program's (top level) and the sparse variant's (nested). */
function sparsePatterns(s: Sourced): Sourced[] {
  const nested = s.finding.evidence.sparseVariant;
  const variant = nested !== null && typeof nested === 'object' && !Array.isArray(nested) ? (nested as Evidence) : undefined;
  return variant === undefined ? [s] : [s, { mode: s.mode, finding: { ...s.finding, evidence: variant } }];
}

function sparseChart(report: RunReport): TopLevelSpec | undefined {
  const pageSize = report.system.pageSize;
  // The pattern's cost does not depend on the mode: chart each (mapping, pages touched) once.
  const measured = uniqueBy(
    findingsOf(report, 'sparse-array')
      .flatMap(sparsePatterns)
      .filter(({ finding: f }) => num(f, 'touchedPages') !== undefined && num(f, 'residentPages') !== undefined),
    ({ finding: f }) => `${num(f, 'touchedPages')}/${num(f, 'mappedBytes')}`,
  );
  if (measured.length === 0) return undefined;
  const rows = measured.flatMap(({ mode, finding: f }) => {
    const mapped = num(f, 'mappedBytes');
    const group = `${formatCount(num(f, 'touchedPages') as number)} pages touched${mapped === undefined ? '' : ` of ${formatBytes(mapped)}`} (mode ${mode})`;
    const rss = num(f, 'rssDeltaBytes');
    const bars: [string, number | undefined, string][] = [
      [SPARSE_MEASURES[0], num(f, 'touchedPages'), ''],
      [SPARSE_MEASURES[1], num(f, 'residentPages'), ''],
      [SPARSE_MEASURES[2], rss === undefined ? undefined : rss / pageSize, rss === undefined ? '' : ` (${formatBytes(rss)})`],
    ];
    return bars
      .filter((b): b is [string, number, string] => b[1] !== undefined)
      .map(([measure, pages, extra]) => ({ group, measure, pages, label: `${formatCount(Math.round(pages))}${extra}` }));
  });
  const y = { field: 'pages', type: 'quantitative' as const, title: `pages of ${formatBytes(pageSize)}` };
  const color = { field: 'measure', type: 'nominal' as const, title: null, sort: SPARSE_MEASURES };
  return {
    title: {
      text: 'Sparse array: what touching pages costs',
      subtitle: 'Resident pages (mincore) and the RSS change against the pages the program touched; one panel per access pattern.',
    },
    data: { values: rows },
    facet: { column: { field: 'group', type: 'nominal', title: null, header: { labelFontSize: 12 } } },
    // Each pattern on its own axis: a dense and a 1-in-64 pattern differ by 64x.
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: 260,
      height: 240,
      encoding: { x: { field: 'measure', type: 'nominal', sort: SPARSE_MEASURES, title: null, axis: { labels: false, ticks: false } } },
      layer: [
        { mark: 'bar', encoding: { y, color } },
        { mark: { type: 'text', dy: -6, fontSize: 10 }, encoding: { y, text: { field: 'label', type: 'nominal' } } },
      ],
    },
  };
}

function accountingChart(report: RunReport): TopLevelSpec | undefined {
  const rows = findingsOf(report, 'accounting')
    .filter(({ finding: f }) => typeof f.evidence.kind === 'string' && num(f, 'chargedBytes') !== undefined)
    .map(({ mode, finding: f }) => ({
      mode: `mode ${mode}`,
      kind: f.evidence.kind as string,
      noreserve: f.evidence.noreserve === true ? 'yes' : 'no',
      charged: num(f, 'chargedBytes') as number,
      chargedLabel: formatBytes(num(f, 'chargedBytes') as number),
      size: num(f, 'sizeBytes') ?? null,
    }));
  const unique = uniqueBy(rows, (r) => `${r.mode}/${r.kind}/${r.noreserve}`);
  if (unique.length === 0) return undefined;
  const x = { field: 'charged', type: 'quantitative' as const, title: 'Committed_AS change', axis: { labelExpr: BYTES_LABEL } };
  return {
    title: {
      text: 'Committed_AS change per mapping kind',
      subtitle: 'Bars: how much each mapping added to Committed_AS. Black ticks: the mapping\u2019s size.',
    },
    data: { values: unique },
    facet: { column: { field: 'mode', type: 'nominal', title: null } },
    spec: {
      width: 300,
      encoding: {
        y: { field: 'kind', type: 'nominal', title: 'mapping kind' },
        yOffset: { field: 'noreserve', sort: ['no', 'yes'] },
      },
      layer: [
        { mark: 'bar', encoding: { x, color: { field: 'noreserve', type: 'nominal', title: 'MAP_NORESERVE', sort: ['no', 'yes'] } } },
        {
          transform: [{ filter: 'isValid(datum.size)' }],
          mark: { type: 'tick', color: 'black', thickness: 2 },
          encoding: { x: { ...x, field: 'size' } },
        },
        { mark: { type: 'text', align: 'left', dx: 4, fontSize: 9 }, encoding: { x, text: { field: 'chargedLabel', type: 'nominal' } } },
      ],
    },
  };
}

function oomChart(report: RunReport): TopLevelSpec | undefined {
  const pageSize = report.system.pageSize;
  const measured = uniqueBy(
    findingsOf(report, 'oom-late-failure').filter(
      ({ finding: f }) => num(f, 'pagesTouchedBeforeKill') !== undefined && num(f, 'cgroupLimitBytes') !== undefined,
    ),
    ({ mode }) => String(mode),
  );
  if (measured.length === 0) return undefined;
  const rows = measured.flatMap(({ mode, finding: f }) => {
    const pages = num(f, 'pagesTouchedBeforeKill') as number;
    const limit = num(f, 'cgroupLimitBytes') as number;
    return [
      { mode: `mode ${mode}`, measure: 'touched before the kill', bytes: pages * pageSize, label: formatBytes(pages * pageSize) },
      { mode: `mode ${mode}`, measure: 'cgroup memory limit', bytes: limit, label: formatBytes(limit) },
    ];
  });
  const y = { field: 'bytes', type: 'quantitative' as const, title: 'bytes', axis: { labelExpr: BYTES_LABEL } };
  const order = ['touched before the kill', 'cgroup memory limit'];
  return {
    title: {
      text: 'Late failure: memory touched before the OOM kill',
      subtitle: measured
        .map(({ mode, finding: f }) => {
          const ended = f.evidence.signal === null ? `exit ${String(f.evidence.exitCode)}` : String(f.evidence.signal);
          return `mode ${mode}: mmap ${f.evidence.mmapOk ? 'succeeded' : 'was refused'}; touching ended in ${ended} inside the cgroup`;
        })
        .join('. '),
    },
    width: 420,
    height: 260,
    data: { values: rows },
    encoding: {
      x: { field: 'mode', type: 'nominal', title: 'overcommit mode', axis: { labelAngle: 0 } },
      xOffset: { field: 'measure', sort: order },
    },
    layer: [
      { mark: 'bar', encoding: { y, color: { field: 'measure', type: 'nominal', title: null, sort: order } } },
      { mark: { type: 'text', dy: -6, fontSize: 10 }, encoding: { y, text: { field: 'label', type: 'nominal' } } },
    ],
  };
}

const BUILDERS: [Chart['id'], (r: RunReport) => TopLevelSpec | undefined][] = [
  ['mode-matrix', modeMatrixChart],
  ['sparse-array', sparseChart],
  ['accounting', accountingChart],
  ['oom-late-failure', oomChart],
];

/** Charts refuse to load anything: their data is inline, and the report must not reach the network. */
const refuse = (): Promise<never> => Promise.reject(new Error('report charts load nothing: data is inline'));
const NO_LOADING: Loader = { load: refuse, sanitize: refuse, http: refuse, file: refuse };
/** vega-util's Error level: warnings would land on the CLI's stderr. */
const LOG_ERRORS_ONLY = 1;

export async function toSvg(spec: TopLevelSpec): Promise<string> {
  // Loaded on first use: parsing vega takes seconds in an emulated guest, where runs need no charts.
  const [vega, { compile }] = await Promise.all([import('vega'), import('vega-lite')]);
  const { spec: compiled } = compile(spec, { config: CONFIG });
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', loader: NO_LOADING, logLevel: LOG_ERRORS_ONLY });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** The charts this run has data for, in a fixed order. */
export async function renderCharts(report: RunReport): Promise<Chart[]> {
  const charts: Chart[] = [];
  for (const [id, build] of BUILDERS) {
    const spec = build(report);
    if (spec === undefined) continue;
    const title = typeof spec.title === 'object' && spec.title !== null && 'text' in spec.title ? String(spec.title.text) : id;
    charts.push({ id, title, svg: await toSvg(spec) });
  }
  return charts;
}
