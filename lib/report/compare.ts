/**
 * Comparing two runs (two machines, kernels or settings): which findings changed verdict or key
 * number, which runs exist on one side only, and how the environments differ.
 */
import type { ExperimentRun, OvercommitMode, RunReport, RunStatus } from '../verdict/types.js';
import {
  formatBytes,
  formatEvidenceValue,
  formatKeyNumber,
  type KeyNumber,
  keyNumber,
  MACHINE_HEADS,
  type MachineColumns,
  machineColumns,
  type Verdict,
  verdictGlyph,
  verdictOf,
} from './format.js';
import { escapeHtml, htmlPage, htmlTable } from './html.js';
import { escapeMarkdown, markdownTable } from './markdown.js';
import { labelFindings } from './matrix.js';
import { clean, painter, paintVerdict } from './terminal.js';

/**
 * Measurements move a little between runs (binary searches, counters other processes move):
 * numbers within 5% of each other, or byte counts within 1 MiB, count as equal.
 */
export const TOLERANCE = { relative: 0.05, absoluteBytes: 1024 * 1024 } as const;
export const TOLERANCE_TEXT = `numbers within ${TOLERANCE.relative * 100}% of each other (byte counts within ${formatBytes(TOLERANCE.absoluteBytes)}) count as equal`;

export interface Side {
  verdict: Verdict;
  number?: KeyNumber;
}

export interface ChangedFinding {
  experiment: string;
  mode: OvercommitMode;
  /** The claim id, with its distinguishing evidence (kind, noreserve...) when it has some. */
  label: string;
  text: string;
  a: Side;
  b: Side;
  verdictChanged: boolean;
  numberChanged: boolean;
}

export interface OneSided {
  experiment: string;
  mode: OvercommitMode;
  /** Set for a finding; absent for a whole run. */
  label?: string;
  status: RunStatus;
  side: 'a' | 'b';
}

export interface StatusChange {
  experiment: string;
  mode: OvercommitMode;
  a: RunStatus;
  b: RunStatus;
  /** The reason given on either side (skip reason or error). */
  reason?: string;
}

export interface EnvironmentChange {
  field: string;
  a: string;
  b: string;
}

/** One side's run: its tool, kernel and machine (architecture, page size, THP size). */
export interface ComparedRun extends MachineColumns {
  tool: string;
  kernel: string;
}

export interface Comparison {
  a: ComparedRun;
  b: ComparedRun;
  tolerance: typeof TOLERANCE;
  environment: EnvironmentChange[];
  statusChanges: StatusChange[];
  changed: ChangedFinding[];
  /** Runs, and findings of runs present on both sides, found on one side only. */
  oneSided: OneSided[];
  /** Findings paired on both sides with the same verdict and key number. */
  unchangedCount: number;
}

export function numbersEqual(key: string, x: number, y: number): boolean {
  const diff = Math.abs(x - y);
  if (/Bytes$/.test(key) && diff <= TOLERANCE.absoluteBytes) return true;
  return diff <= TOLERANCE.relative * Math.max(Math.abs(x), Math.abs(y));
}

const runKey = (r: ExperimentRun): string => `${r.experiment}\u0000${r.mode}`;

export function compareReports(a: RunReport, b: RunReport): Comparison {
  const c: Comparison = {
    a: comparedRun(a),
    b: comparedRun(b),
    tolerance: TOLERANCE,
    environment: environmentChanges(a, b),
    statusChanges: [],
    changed: [],
    oneSided: [],
    unchangedCount: 0,
  };
  const bRuns = new Map(b.runs.map((r) => [runKey(r), r]));
  const aKeys = new Set(a.runs.map(runKey));
  for (const ra of a.runs) {
    const rb = bRuns.get(runKey(ra));
    if (rb === undefined) c.oneSided.push({ experiment: ra.experiment, mode: ra.mode, status: ra.status, side: 'a' });
    else compareRuns(ra, rb, c);
  }
  for (const rb of b.runs.filter((r) => !aKeys.has(runKey(r)))) {
    c.oneSided.push({ experiment: rb.experiment, mode: rb.mode, status: rb.status, side: 'b' });
  }
  return c;
}

function comparedRun(r: RunReport): ComparedRun {
  return { tool: `${r.tool.name} ${r.tool.version}`, kernel: r.system.kernel, ...machineColumns(r.system) };
}

function compareRuns(ra: ExperimentRun, rb: ExperimentRun, c: Comparison): void {
  if (ra.status !== rb.status) {
    const reason = rb.reason ?? ra.reason;
    c.statusChanges.push({
      experiment: ra.experiment,
      mode: ra.mode,
      a: ra.status,
      b: rb.status,
      ...(reason === undefined ? {} : { reason }),
    });
  }
  const bFindings = new Map(labelFindings(rb).map((l) => [l.label, l.finding]));
  const where = { experiment: ra.experiment, mode: ra.mode };
  for (const { label, finding: fa } of labelFindings(ra)) {
    const fb = bFindings.get(label);
    bFindings.delete(label);
    if (fb === undefined) {
      // A finding missing because its whole run stopped producing findings is a status change.
      if (rb.findings.length > 0) c.oneSided.push({ ...where, label, status: ra.status, side: 'a' });
      continue;
    }
    const a: Side = side(fa.holds, keyNumber(fa));
    const nb = keyNumber(fb);
    const b: Side = side(fb.holds, nb?.key === a.number?.key ? nb : undefined);
    const verdictChanged = a.verdict !== b.verdict;
    const numberChanged = a.number !== undefined && b.number !== undefined && !numbersEqual(a.number.key, a.number.value, b.number.value);
    if (verdictChanged || numberChanged) c.changed.push({ ...where, label, text: fa.text, a, b, verdictChanged, numberChanged });
    else c.unchangedCount++;
  }
  if (ra.findings.length > 0) {
    for (const label of bFindings.keys()) c.oneSided.push({ ...where, label, status: rb.status, side: 'b' });
  }
}

function side(holds: boolean | null, number: KeyNumber | undefined): Side {
  return number === undefined ? { verdict: verdictOf(holds) } : { verdict: verdictOf(holds), number };
}

/** System fields in bytes whose names do not say so. */
const SIZE_FIELDS = new Set(['pageSize', 'thpSize']);

function environmentChanges(a: RunReport, b: RunReport): EnvironmentChange[] {
  const fields = (r: RunReport): [string, string | number | boolean][] => [
    ['tool.version', r.tool.version],
    ...Object.entries(r.system)
      .filter(([k]) => k !== 'vm')
      .map(([k, v]): [string, string | number | boolean] => [`system.${k}`, v as string | number | boolean]),
    // Where the run happened: a guest of `vm` (how it was made; its boot time is no environment) or the host.
    ['system.vm', r.system.vm === undefined ? 'no (the host)' : 'yes'],
    ...Object.entries(r.system.vm ?? {})
      .filter(([k]) => k !== 'bootMs')
      .map(([k, v]): [string, string | number | boolean] => [`system.vm.${k}`, v]),
    ...Object.entries(r.settings).map(([k, v]): [string, string | number | boolean] => [`settings.${k}`, v]),
  ];
  const bFields = new Map(fields(b));
  const changes: EnvironmentChange[] = [];
  for (const [field, va] of fields(a)) {
    const vb = bFields.get(field);
    if (vb === undefined || va === vb) continue;
    if (typeof va === 'number' && typeof vb === 'number' && numbersEqual(field, va, vb)) continue;
    const key = field.split('.').at(-1) ?? field;
    const show = (v: string | number | boolean | null): string =>
      v === null ? 'none' : typeof v === 'number' ? formatEvidenceValue(SIZE_FIELDS.has(key) ? `${key}Bytes` : key, v) : String(v);
    changes.push({ field, a: show(va), b: show(vb) });
  }
  return changes;
}

/** Rows shared by every renderer, as plain text. */
function changedRows(c: Comparison): string[][] {
  return c.changed.map((f) => [
    f.experiment,
    `mode ${f.mode}`,
    f.label,
    cellText(f.a),
    cellText(f.b),
    [f.verdictChanged ? 'verdict' : '', f.numberChanged ? (f.a.number?.key ?? 'number') : ''].filter(Boolean).join(', '),
  ]);
}

/** The two runs, one row each: what ran where (the page and huge page sizes that every page count is in). */
const RUNS_HEAD = ['', 'Tool', 'Kernel', ...MACHINE_HEADS];

function runsRows(c: Comparison): string[][] {
  return (['a', 'b'] as const).map((k) => [k.toUpperCase(), c[k].tool, c[k].kernel, c[k].arch, c[k].pageSize, c[k].thpSize]);
}

const machineText = (r: ComparedRun): string => `${r.arch} · page ${r.pageSize} · THP ${r.thpSize}`;

const CHANGED_HEAD = ['Experiment', 'Mode', 'Claim', 'A', 'B', 'What changed'];
const STATUS_HEAD = ['Experiment', 'Mode', 'A', 'B', 'Reason'];
const ONE_SIDED_HEAD = ['Side', 'Experiment', 'Mode', 'Claim', 'Status'];

function cellText(s: Side): string {
  const n = formatKeyNumber(s.number);
  return n === '' ? verdictGlyph(s.verdict) : `${verdictGlyph(s.verdict)} ${n}`;
}

function statusRows(c: Comparison): string[][] {
  return c.statusChanges.map((s) => [s.experiment, `mode ${s.mode}`, s.a, s.b, s.reason ?? '']);
}

function oneSidedRows(c: Comparison): string[][] {
  return c.oneSided.map((o) => [o.side === 'a' ? 'A only' : 'B only', o.experiment, `mode ${o.mode}`, o.label ?? '(whole run)', o.status]);
}

function summary(c: Comparison): string {
  return `${c.changed.length} changed, ${c.unchangedCount} unchanged, ${c.statusChanges.length} run status changes, ${c.oneSided.length} on one side only; ${TOLERANCE_TEXT}.`;
}

export function renderComparisonTerminal(c: Comparison, opts: { color: boolean }): string {
  const paint = painter(opts.color);
  const lines = [
    `${paint('bold', 'A')}: ${clean(c.a.tool)} · kernel ${clean(c.a.kernel)} · ${clean(machineText(c.a))}`,
    `${paint('bold', 'B')}: ${clean(c.b.tool)} · kernel ${clean(c.b.kernel)} · ${clean(machineText(c.b))}`,
    summary(c),
  ];
  if (c.environment.length > 0) lines.push('', paint('bold', 'Environment'));
  for (const e of c.environment) lines.push(`  ${e.field}: ${clean(e.a)} → ${clean(e.b)}`);
  if (c.changed.length > 0) lines.push('', paint('bold', 'Changed findings'));
  for (const f of c.changed) {
    const show = (s: Side): string => `${paintVerdict(paint, s.verdict)}${s.number === undefined ? '' : ` ${formatKeyNumber(s.number)}`}`;
    lines.push(`  ${clean(f.experiment)} · mode ${f.mode} · ${clean(f.label)}: ${show(f.a)} → ${show(f.b)}`);
  }
  if (c.statusChanges.length > 0) lines.push('', paint('bold', 'Run status changes'));
  for (const s of c.statusChanges) {
    lines.push(`  ${clean(s.experiment)} · mode ${s.mode}: ${s.a} → ${s.b}${s.reason === undefined ? '' : ` (${clean(s.reason)})`}`);
  }
  if (c.oneSided.length > 0) lines.push('', paint('bold', 'On one side only'));
  for (const row of oneSidedRows(c)) lines.push(`  ${clean(row.join(' · '))}`);
  return `${lines.join('\n')}\n`;
}

export function renderComparisonMarkdown(c: Comparison): string {
  const parts = ['# Comparison of two runs', markdownTable(RUNS_HEAD, runsRows(c)), escapeMarkdown(summary(c))];
  if (c.environment.length > 0) {
    parts.push(
      '## Environment and settings',
      markdownTable(
        ['Field', 'A', 'B'],
        c.environment.map((e) => [e.field, e.a, e.b]),
      ),
    );
  }
  if (c.changed.length > 0) parts.push('## Changed findings', markdownTable(CHANGED_HEAD, changedRows(c)));
  if (c.statusChanges.length > 0) parts.push('## Run status changes', markdownTable(STATUS_HEAD, statusRows(c)));
  if (c.oneSided.length > 0) parts.push('## On one side only', markdownTable(ONE_SIDED_HEAD, oneSidedRows(c)));
  return `${parts.join('\n\n')}\n`;
}

export function renderComparisonHtml(c: Comparison): string {
  const body = ['<h1>Comparison of two runs</h1>', htmlTable(RUNS_HEAD, runsRows(c)), `<p class="legend">${escapeHtml(summary(c))}</p>`];
  if (c.environment.length > 0) {
    body.push(
      '<h2>Environment and settings</h2>',
      htmlTable(
        ['Field', 'A', 'B'],
        c.environment.map((e) => [e.field, e.a, e.b]),
      ),
    );
  }
  if (c.changed.length > 0) body.push('<h2>Changed findings</h2>', htmlTable(CHANGED_HEAD, changedRows(c)));
  if (c.statusChanges.length > 0) body.push('<h2>Run status changes</h2>', htmlTable(STATUS_HEAD, statusRows(c)));
  if (c.oneSided.length > 0) body.push('<h2>On one side only</h2>', htmlTable(ONE_SIDED_HEAD, oneSidedRows(c)));
  return htmlPage('Comparison of two runs', body.join('\n'));
}
