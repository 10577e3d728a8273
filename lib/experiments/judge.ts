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

/**
 * Recomputes every verdict of `report` from each run's recorded evidence and lists those that
 * differ: a verdict that contradicts its evidence. Runs without evidence are not checked.
 */
export function rejudge(report: RunReport, experiments: readonly RuleSet[]): Contradiction[] {
  const out: Contradiction[] = [];
  const check = (run: ExperimentRun) => {
    const experiment = experiments.find((e) => e.id === run.experiment);
    if (experiment === undefined || run.status !== 'ran' || run.evidence === undefined) return;
    const judged = judgeEvidence(experiment, run.evidence as Measured, run.mode);
    for (const f of run.findings) {
      const again = judged.find((j) => j.claim === f.claim);
      const now = again === undefined ? null : again.holds;
      if (again === undefined || now !== f.holds) {
        out.push({ experiment: run.experiment, mode: run.mode, claim: f.claim, recorded: f.holds, judged: now });
      }
    }
  };
  report.runs.forEach(check);
  return out;
}
