/**
 * "Not measured", encoded once: the part of the evidence a rule reads, with its type narrowed,
 * or why the evidence lacks it. A rule built on a part never asserts (`!`) what the evidence
 * holds: it gets the part, or it is judged null with the reason. Pure: rules only.
 */
import type { Claim, ClaimRule, Evidence, Verdict } from './types.js';

export type Part<T> = { ok: true; value: T } | { ok: false; missing: string };

export const measured = <T>(value: T): Part<T> => ({ ok: true, value });

export const notMeasured = <T>(missing: string): Part<T> => ({ ok: false, missing });

/** A claim's rule on one part of the evidence: judge, observe and evidence get the part narrowed. */
export interface PartRule<E, T> {
  claim: Claim;
  judge(part: T, evidence: E): Verdict;
  observe(part: T, evidence: E, verdict: Verdict): string;
  /** The part of the evidence this finding records (default: all of it; all of it too when the part is missing). */
  evidence?(part: T, evidence: E): Evidence;
  /** What the finding records when the part is missing (default: all of the evidence). */
  evidenceWhenMissing?(evidence: E): Evidence;
}

/** The rule: missing() is the part's absence, and nothing else reads the evidence unnarrowed. */
export function partRule<E, T>(part: (evidence: E) => Part<T>, r: PartRule<E, T>): ClaimRule<E> {
  const rule: ClaimRule<E> = {
    claim: r.claim,
    missing: (e) => {
      const p = part(e);
      return p.ok ? undefined : p.missing;
    },
    judge: (e) => {
      const p = part(e);
      return p.ok ? r.judge(p.value, e) : { holds: null, reason: p.missing };
    },
    observe: (e, v) => {
      const p = part(e);
      return p.ok ? r.observe(p.value, e, v) : `No verdict: ${p.missing}`;
    },
  };
  const evidence = r.evidence;
  if (evidence === undefined) return rule;
  return {
    ...rule,
    evidence: (e) => {
      const p = part(e);
      if (p.ok) return evidence(p.value, e);
      return r.evidenceWhenMissing?.(e) ?? (e as unknown as Evidence);
    },
  };
}
