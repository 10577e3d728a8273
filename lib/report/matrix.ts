/**
 * The claims × modes table that Markdown and HTML both show, and the per-run finding labels
 * that the table and the comparison both key findings by.
 */
import type { ExperimentRun, Finding, OvercommitMode, RunReport } from '../verdict/types.js';
import { claimLabel, formatKeyNumber, keyNumber, modesOf, type Verdict, verdictOf, verdictOfRun } from './format.js';

export interface LabelledFinding {
  /** claimLabel(), plus ' #n' when the same label occurs again in the run (so labels are unique). */
  label: string;
  finding: Finding;
}

export function labelFindings(run: ExperimentRun): LabelledFinding[] {
  // A claim found once in the run is labelled by its id alone; repeated ones by their variant.
  const perClaim = new Map<string, number>();
  for (const f of run.findings) perClaim.set(f.claim, (perClaim.get(f.claim) ?? 0) + 1);
  const seen = new Map<string, number>();
  return run.findings.map((finding) => {
    const base = perClaim.get(finding.claim) === 1 ? finding.claim : claimLabel(finding);
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    return { label: n === 1 ? base : `${base} #${n}`, finding };
  });
}

export interface MatrixCell {
  verdict: Verdict;
  /** The key number, formatted; '' when there is none. */
  number: string;
}

export interface MatrixRow {
  experiment: string;
  label: string;
  /** The claim's sentence ('' for the placeholder row of an experiment that never ran). */
  text: string;
  cells: Map<OvercommitMode, MatrixCell>;
}

export interface ClaimMatrix {
  modes: OvercommitMode[];
  rows: MatrixRow[];
}

/** Label of the row that stands for every claim of an experiment without findings in any mode. */
export const ALL_CLAIMS = '(all claims)';

export function claimMatrix(report: RunReport): ClaimMatrix {
  const rows = new Map<string, MatrixRow>();
  const rowFor = (experiment: string, label: string, text: string): MatrixRow => {
    const key = `${experiment}\u0000${label}`;
    let row = rows.get(key);
    if (row === undefined) {
      row = { experiment, label, text, cells: new Map() };
      rows.set(key, row);
    }
    return row;
  };
  for (const run of report.runs) {
    for (const { label, finding } of labelFindings(run)) {
      rowFor(run.experiment, label, finding.text).cells.set(run.mode, {
        verdict: verdictOf(finding.holds),
        number: formatKeyNumber(keyNumber(finding)),
      });
    }
  }
  // Runs without findings (skipped, error) mark every row of their experiment in their mode.
  for (const run of report.runs.filter((r) => r.findings.length === 0)) {
    const own = [...rows.values()].filter((r) => r.experiment === run.experiment);
    const targets = own.length > 0 ? own : [rowFor(run.experiment, ALL_CLAIMS, '')];
    for (const row of targets) {
      if (!row.cells.has(run.mode)) row.cells.set(run.mode, { verdict: verdictOfRun(run.status), number: '' });
    }
  }
  return { modes: modesOf(report.runs), rows: [...rows.values()] };
}
