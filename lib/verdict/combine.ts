/**
 * Verdicts combined, and the words for them. A claim made of several parts holds when every part
 * holds; one decided failure refutes it whatever the others; otherwise an undecided part leaves
 * it open. Pure: rules only.
 */
import type { ClaimRule, Verdict } from './types.js';

/** The reasons of `verdicts`, joined, or undefined when none has one. */
function reasons(verdicts: readonly Verdict[]): string | undefined {
  const text = verdicts
    .map((v) => v.reason)
    .filter((r): r is string => r !== undefined && r !== '')
    .join('; ');
  return text === '' ? undefined : text;
}

/**
 * Every part must hold: one decided failure refutes (its reasons dropped: a failure needs no
 * caveat); else any undecided part leaves it open, with every reason; else it holds, with the
 * caveats of its parts.
 */
export function all(verdicts: readonly Verdict[]): Verdict {
  if (verdicts.some((v) => v.holds === false)) return { holds: false };
  const reason = reasons(verdicts);
  const holds = verdicts.some((v) => v.holds === null) ? null : true;
  if (holds === null) return { holds, reason: reason ?? 'a part of the claim was not decided' };
  return reason === undefined ? { holds } : { holds, reason };
}

/** Two steps that must both be as documented (see all). */
export function both(a: Verdict, b: Verdict): Verdict {
  return all([a, b]);
}

/** The verdict with `note` (when not null) added to its reason. */
export function caveat(v: Verdict, note: string | null): Verdict {
  if (note === null) return v;
  return { ...v, reason: v.reason === undefined ? note : `${v.reason}; ${note}` };
}

/** The rules with `note(e)` (when not null) added to every verdict's reason, e.g. "sizes scaled down in mode 2". */
export function withCaveat<E>(rules: readonly ClaimRule<E>[], note: (evidence: E) => string | null): ClaimRule<E>[] {
  return rules.map((r) => ({ ...r, judge: (e: E): Verdict => caveat(r.judge(e), note(e)) }));
}

/** A verdict as one word: 'holds', 'fails' or 'undecided'. */
export function verdictWord(holds: boolean | null): 'holds' | 'fails' | 'undecided' {
  return holds === null ? 'undecided' : holds ? 'holds' : 'fails';
}
