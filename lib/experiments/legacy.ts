/**
 * TRANSITION ONLY (removed when every experiment has measure() and rules): wraps an experiment
 * whose run() still returns findings, so the runner treats all experiments alike.
 */
import type { Claim, Evidence, Experiment, ExperimentContext, Finding, Measured, Requirements } from './model.js';

export interface LegacyEvidence extends Measured {
  findings: Finding[];
}

export function legacyExperiment(e: {
  id: string;
  title: string;
  claims: readonly Claim[];
  requires: Requirements;
  run(ctx: ExperimentContext): Promise<Finding[]>;
}): Experiment<LegacyEvidence> {
  const pick = (ev: LegacyEvidence, claim: Claim) => ev.findings.find((f) => f.claim === claim.id);
  return {
    id: e.id,
    title: e.title,
    claims: e.claims,
    requires: e.requires,
    measure: async (ctx) => ({ findings: await e.run(ctx) }),
    rules: e.claims.map((claim) => ({
      claim,
      missing: (ev: LegacyEvidence) => (pick(ev, claim) === undefined ? 'not reported in this mode' : undefined),
      judge: (ev: LegacyEvidence) => {
        const f = pick(ev, claim)!;
        return f.reason === undefined ? { holds: f.holds } : { holds: f.holds, reason: f.reason };
      },
      observe: (ev: LegacyEvidence) => pick(ev, claim)?.observed ?? '',
      evidence: (ev: LegacyEvidence): Evidence => pick(ev, claim)?.evidence ?? {},
    })),
  };
}
