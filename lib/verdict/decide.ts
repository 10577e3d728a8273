/**
 * The decision between hypotheses, and the one tolerance rule. A quantity measured with a
 * tolerance (lib/verdict/tolerance.ts) matches a hypothesis when it is within the tolerance of it
 * and every pair of hypotheses is more than twice the tolerance apart; otherwise the rule says it
 * cannot decide, with the numbers. Noise can then make a verdict undecided, but it cannot carry a
 * change from one hypothesis to another: that would take a median shifted by more than the
 * distance between them less the largest deviation measured. Pure: rules only.
 */
import { mib } from '../units.js';
import type { Tolerated } from './tolerance.js';
import type { Verdict } from './types.js';

/** One outcome a change may show: e.g. { label: 'charged', bytes: 64 MiB }, { label: 'not charged', bytes: 0 }. */
export interface ChangeHypothesis {
  label: string;
  bytes: number;
}

/**
 * The one hypothesis the change matches (a caveat may come with it), or no match and why, with
 * the numbers: the type says which, so nothing reads a reason that is not there.
 */
export type ChangeClass<H extends ChangeHypothesis = ChangeHypothesis> = { match: H; reason?: string } | { match: null; reason: string };

/**
 * The verdict a classification gives: undecided with its reason when nothing matched, else
 * `holds(match)` (a caveat the match came with is kept).
 */
export function verdictOf<H extends ChangeHypothesis>(c: ChangeClass<H>, holds: (match: H) => boolean): Verdict {
  if (c.match === null) return { holds: null, reason: c.reason };
  return c.reason === undefined ? { holds: holds(c.match) } : { holds: holds(c.match), reason: c.reason };
}

/** How a reason names the quantity classified and its noise (default: a Committed_AS change). */
export interface ChangeWording {
  /** Subject of "... by up to X in this run": what moved the quantity. */
  noise: string;
  /** Prefix of "... X (±T), which is none of ...". */
  value: string;
}

const COMMITTED_WORDING: ChangeWording = { noise: 'other processes moved Committed_AS', value: 'Committed_AS changed by' };

/**
 * The one tolerance rule: the change matches a hypothesis when it is within the tolerance of it
 * and every pair of hypotheses is more than twice the tolerance apart.
 */
export function classifyChange(
  change: Tolerated,
  hypotheses: readonly ChangeHypothesis[],
  wording: ChangeWording = COMMITTED_WORDING,
): ChangeClass {
  const tol = change.toleranceBytes;
  const close = closePair(hypotheses, tol);
  if (close !== null) {
    const [a, b] = close;
    return {
      match: null,
      reason: `${wording.noise} by up to ${mib(change.toleranceBytes)} in this run, too much to tell ${a.label} (${mib(a.bytes)}) from ${b.label} (${mib(b.bytes)})`,
    };
  }
  const match = hypotheses.find((h) => Math.abs(change.changeBytes - h.bytes) <= tol) ?? null;
  if (match !== null) return { match };
  return {
    match: null,
    reason: `${wording.value} ${mib(change.changeBytes)} (±${mib(tol)}), which is none of ${hypotheses.map((h) => `${h.label} (${mib(h.bytes)})`).join(', ')}`,
  };
}

/**
 * A verdict on "the action changes Committed_AS by `expected`" against the alternative (by
 * default: it does not change it): holds, does not hold, or undecided with the reason.
 */
export function judgeChange(
  change: Tolerated,
  expected: ChangeHypothesis,
  alternative: ChangeHypothesis = { label: 'no change', bytes: 0 },
): Verdict {
  return verdictOf(classifyChange(change, [expected, alternative]), (m) => m === expected);
}

/** How a charge was decided: by the mapping's own VmFlags, by Committed_AS, or by both agreeing. */
export type ChargeBasis = 'VmFlags' | 'Committed_AS' | 'both';

/** A charge class, and what decided the match (null when nothing did). */
export type ChargeClass = (ChangeClass & { match: ChangeHypothesis; basis: ChargeBasis }) | (ChangeClass & { match: null; basis: null });

/**
 * A charge judged from two sides: the Committed_AS change (machine-wide, so noisy) and, where the
 * kernel shows it, the change in the action's own accounted bytes (the bytes of its range in VMAs
 * marked 'ac' in smaps: exact, per mapping, and blind to other processes). The exact side decides
 * when it is given (non-null) and matches a hypothesis within `slackBytes`; Committed_AS then only
 * confirms it, and when it clearly matches another hypothesis the two disagree: no verdict, with
 * both numbers. Without the exact side, Committed_AS decides by the one tolerance rule.
 */
export function classifyCharge(
  change: Tolerated,
  accountedDeltaBytes: number | null,
  hypotheses: readonly ChangeHypothesis[],
  slackBytes: number,
): ChargeClass {
  const counter = classifyChange(change, hypotheses);
  if (accountedDeltaBytes === null) return counter.match === null ? { ...counter, basis: null } : { ...counter, basis: 'Committed_AS' };
  const exact = hypotheses.find((h) => Math.abs(accountedDeltaBytes - h.bytes) <= slackBytes) ?? null;
  if (exact === null) {
    return {
      match: null,
      basis: null,
      reason: `the VMAs marked 'ac' changed by ${mib(accountedDeltaBytes)}, which is none of ${hypotheses.map((h) => `${h.label} (${mib(h.bytes)})`).join(', ')}`,
    };
  }
  if (counter.match !== null && counter.match !== exact) {
    return {
      match: null,
      basis: null,
      reason: `VmFlags say ${exact.label} ('ac' VMAs changed by ${mib(accountedDeltaBytes)}) but Committed_AS changed by ${mib(change.changeBytes)} (±${mib(change.toleranceBytes)}): ${counter.match.label}`,
    };
  }
  if (counter.match === null)
    return { match: exact, basis: 'VmFlags', reason: `decided by VmFlags; Committed_AS cannot: ${counter.reason}` };
  return { match: exact, basis: 'both' };
}

/** A verdict on "the action charges `expected`" against `alternative`, from both sides (classifyCharge). */
export function judgeCharge(
  change: Tolerated,
  accountedDeltaBytes: number | null,
  expected: ChangeHypothesis,
  alternative: ChangeHypothesis,
  slackBytes: number,
): Verdict {
  return verdictOf(classifyCharge(change, accountedDeltaBytes, [expected, alternative], slackBytes), (m) => m === expected);
}

/** Where a measured quantity lies against a bound: decided only outside the tolerance on either side. */
export type BoundClass = { side: 'above' | 'below'; reason?: undefined } | { side: null; reason: string };

/**
 * The quantity against a bound, with the undecided band: above when it exceeds the bound by more
 * than its tolerance, below when it is short of it by more; within the tolerance the noise could
 * put it on either side, so no side, with the numbers.
 */
export function compareToBound(value: Tolerated, bound: ChangeHypothesis, wording: ChangeWording = COMMITTED_WORDING): BoundClass {
  const d = value.changeBytes - bound.bytes;
  if (d > value.toleranceBytes) return { side: 'above' };
  if (-d > value.toleranceBytes) return { side: 'below' };
  return {
    side: null,
    reason: `${wording.value} ${mib(value.changeBytes)} (±${mib(value.toleranceBytes)}), within the tolerance of ${bound.label} (${mib(bound.bytes)}): ${wording.noise} by up to ${mib(value.toleranceBytes)} in this run, too much to tell which side of it`,
  };
}

/** A verdict on "the quantity is above the bound" (compareToBound): holds, fails, or undecided with the numbers. */
export function judgeAbove(value: Tolerated, bound: ChangeHypothesis, wording: ChangeWording = COMMITTED_WORDING): Verdict {
  const b = compareToBound(value, bound, wording);
  return b.side === null ? { holds: null, reason: b.reason } : { holds: b.side === 'above' };
}

/** The first two hypotheses within twice the tolerance of each other (which noise could confuse), or null. */
function closePair(hypotheses: readonly ChangeHypothesis[], toleranceBytes: number): [ChangeHypothesis, ChangeHypothesis] | null {
  for (const [i, a] of hypotheses.entries()) {
    const b = hypotheses.slice(i + 1).find((h) => Math.abs(a.bytes - h.bytes) <= 2 * toleranceBytes);
    if (b !== undefined) return [a, b];
  }
  return null;
}

/** Whether every pair of hypotheses is more than twice the tolerance apart: the rule can tell them apart on these numbers. */
export function distinguishable(hypotheses: readonly ChangeHypothesis[], toleranceBytes: number): boolean {
  return closePair(hypotheses, toleranceBytes) === null;
}
