/**
 * Verdicts from evidence: the one place where rules are applied. The runner calls it on what
 * measure() returned; `rejudge` calls it on a saved report, so that any run (from this machine,
 * a guest kernel, or a test fixture) can be checked for verdicts that contradict its evidence.
 */
import type {
  ClaimRule,
  Evidence,
  ExperimentRun,
  Finding,
  Measured,
  OvercommitMode,
  RuleSet,
  RunReport,
  Verdict,
} from '../verdict/types.js';

/** True when the claim is about `mode` (claims without modes are about every mode). */
function claimApplies(rule: ClaimRule<never>, mode: OvercommitMode): boolean {
  return rule.claim.modes === undefined || rule.claim.modes.includes(mode);
}

/** The verdict, and the observation (observe() only sees evidence its rule can read). */
function judgeOne<E extends Measured>(rule: ClaimRule<E>, evidence: E): { verdict: Verdict; observed: string } {
  if (evidence.problem !== undefined)
    return { verdict: { holds: null, reason: evidence.problem }, observed: `Not measured: ${evidence.problem}` };
  const missing = rule.missing?.(evidence);
  if (missing !== undefined) return { verdict: { holds: null, reason: missing }, observed: `No verdict: ${missing}` };
  const verdict = rule.judge(evidence);
  return { verdict, observed: rule.observe(evidence, verdict) };
}

/** Applies the rules of the claims about `mode` to the evidence, in the rules' order. */
export function judgeEvidence<E extends Measured>(experiment: Pick<RuleSet<E>, 'rules'>, evidence: E, mode: OvercommitMode): Finding[] {
  return experiment.rules
    .filter((rule) => claimApplies(rule as ClaimRule<never>, mode))
    .map((rule) => {
      const { verdict, observed } = judgeOne(rule, evidence);
      const f: Finding = {
        claim: rule.claim.id,
        text: rule.claim.text,
        source: rule.claim.source,
        holds: verdict.holds,
        observed,
        evidence: evidence.problem === undefined ? (rule.evidence?.(evidence) ?? (evidence as unknown as Evidence)) : {},
      };
      if (verdict.reason !== undefined) f.reason = verdict.reason;
      return f;
    });
}

/** A finding whose recorded verdict differs from the one its run's evidence gives now. */
export interface Contradiction {
  experiment: string;
  mode: OvercommitMode;
  claim: string;
  recorded: boolean | null;
  judged: boolean | null;
}

/** A verdict of a saved run that the current rules give differently ('absent': no such finding on that side). */
export interface VerdictChange {
  experiment: string;
  mode: OvercommitMode;
  claim: string;
  recorded: boolean | null | 'absent';
  judged: boolean | null | 'absent';
  /** The current rules' reason (why undecided, or a caveat), when they give one. */
  reason?: string;
}

/** A run of a saved report that was not judged again, and why. */
export interface UncheckedRun {
  experiment: string;
  mode: OvercommitMode;
  why: string;
}

export interface Rejudged {
  /** The report with the findings of every run judged again replaced by the current rules' findings. */
  report: RunReport;
  /** How many findings the current rules gave. */
  checked: number;
  changed: VerdictChange[];
  unchecked: UncheckedRun[];
}

/** Why `run` cannot be judged again with `sets`, or undefined when it can. */
function uncheckable(run: ExperimentRun, set: RuleSet | undefined): string | undefined {
  if (run.status !== 'ran') return `it was ${run.status === 'skipped' ? 'skipped' : 'an error'} in the saved run`;
  if (run.evidence === undefined) return 'the saved run has no evidence for it';
  if (set === undefined) return 'no rules for this experiment in this version';
  return undefined;
}

/**
 * Judges every run of a saved report again from its recorded evidence with the rules in `sets`
 * (pure: it reads nothing but the report), and says which verdicts differ from the recorded ones.
 */
export function rejudgeReport(report: RunReport, sets: readonly RuleSet[]): Rejudged {
  const changed: VerdictChange[] = [];
  const unchecked: UncheckedRun[] = [];
  let checked = 0;
  const runs = report.runs.map((run): ExperimentRun => {
    const set = sets.find((e) => e.id === run.experiment);
    const why = uncheckable(run, set);
    if (why !== undefined || set === undefined || run.evidence === undefined) {
      unchecked.push({ experiment: run.experiment, mode: run.mode, why: why ?? 'not checked' });
      return run;
    }
    const judged = judgeEvidence(set, run.evidence as Measured, run.mode);
    checked += judged.length;
    const at = { experiment: run.experiment, mode: run.mode };
    for (const f of run.findings) {
      const again = judged.find((j) => j.claim === f.claim);
      if (again === undefined) changed.push({ ...at, claim: f.claim, recorded: f.holds, judged: 'absent' });
      else if (again.holds !== f.holds) {
        const change: VerdictChange = { ...at, claim: f.claim, recorded: f.holds, judged: again.holds };
        if (again.reason !== undefined) change.reason = again.reason;
        changed.push(change);
      }
    }
    for (const j of judged) {
      if (!run.findings.some((f) => f.claim === j.claim)) changed.push({ ...at, claim: j.claim, recorded: 'absent', judged: j.holds });
    }
    return { ...run, findings: judged };
  });
  return { report: { ...report, runs }, checked, changed, unchecked };
}

/**
 * Recomputes every verdict of `report` from each run's recorded evidence and lists those that
 * differ: a verdict that contradicts its evidence. Runs without evidence are not checked.
 */
export function rejudge(report: RunReport, experiments: readonly RuleSet[]): Contradiction[] {
  return rejudgeReport(report, experiments).changed.flatMap((c) =>
    c.recorded === 'absent'
      ? []
      : [{ experiment: c.experiment, mode: c.mode, claim: c.claim, recorded: c.recorded, judged: c.judged === 'absent' ? null : c.judged }],
  );
}
