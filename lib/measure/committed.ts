/**
 * The change an action makes to Committed_AS, and the one rule that judges it against the noise.
 *
 * Committed_AS is machine-wide: every other process's mmap and munmap moves it. So a change is
 * measured over several trials that interleave the action with controls (the same readings with
 * no action between them), and the noise is what the counter did by itself in this run: the
 * largest deviation of any trial, action or control, from its kind's median. The change is the
 * median action delta less the median control delta (the drift).
 *
 * The rule (`classifyChange`) decides between hypotheses (charged E; not charged: 0) only when
 * they are more than twice the tolerance apart, and picks the one within the tolerance of the
 * change; otherwise it says it cannot decide, with the numbers. Noise can then make a verdict
 * undecided, but it cannot carry a change from one hypothesis to another: that would take a
 * median shifted by more than the distance between them less the largest deviation measured.
 */
import { parseMeminfo, readCommittedAs } from '../kernel/meminfo.js';
import { mib, OWN_JITTER_BYTES } from '../units.js';
import { median } from './stats.js';

/** A Committed_AS change measured over interleaved trials (JSON evidence). */
export interface CommittedChange {
  /** Per action trial: Committed_AS after the action less before it. */
  actionDeltasBytes: number[];
  /** Per control trial: the same readings with nothing done between them. */
  controlDeltasBytes: number[];
  /** Median action delta less median control delta. */
  changeBytes: number;
  /** The largest deviation of any trial from its kind's median: what others moved the counter by. */
  noiseBytes: number;
  /** noiseBytes plus Node's own allocations between readings (OWN_JITTER_BYTES). */
  toleranceBytes: number;
}

/** Builds the change from deltas measured elsewhere (e.g. read by a child around its steps). */
export function changeFromDeltas(actionDeltasBytes: readonly number[], controlDeltasBytes: readonly number[]): CommittedChange {
  if (actionDeltasBytes.length === 0) throw new RangeError('changeFromDeltas: no action trials');
  const controls = controlDeltasBytes.length === 0 ? [0] : controlDeltasBytes;
  const ma = median(actionDeltasBytes);
  const mc = median(controls);
  const deviation = (values: readonly number[], m: number) => Math.max(0, ...values.map((v) => Math.abs(v - m)));
  const noiseBytes = Math.max(deviation(actionDeltasBytes, ma), deviation(controls, mc));
  return {
    actionDeltasBytes: [...actionDeltasBytes],
    controlDeltasBytes: [...controlDeltasBytes],
    changeBytes: ma - mc,
    noiseBytes,
    toleranceBytes: noiseBytes + OWN_JITTER_BYTES,
  };
}

export interface CommittedChangeOptions {
  /** Action trials, each followed by a control trial; default 5. */
  trials?: number;
  /** Readings of Committed_AS per point, of which the median is used; default 3. */
  reads?: number;
  /** Told each action trial's readings before and after act(), in trial order. */
  onTrial?(beforeBytes: number, afterBytes: number): void;
}

/** Committed_AS now: the median of `reads` back-to-back readings. */
export function readCommitted(reads: number): number {
  const values: number[] = [];
  for (let i = 0; i < reads; i++) values.push(readCommittedAs());
  return median(values);
}

/** Committed_AS at one point from several /proc/meminfo texts read there (e.g. by a child): their median. */
export function committedFromReads(meminfoTexts: readonly string[]): number {
  return median(meminfoTexts.map((t) => parseMeminfo(t).committedAs));
}

function checkOptions(options: CommittedChangeOptions): { trials: number; reads: number } {
  const trials = options.trials ?? 5;
  const reads = options.reads ?? 3;
  if (!Number.isInteger(trials) || trials < 1) throw new RangeError(`trials must be a positive integer, got ${trials}`);
  if (!Number.isInteger(reads) || reads < 1) throw new RangeError(`reads must be a positive integer, got ${reads}`);
  return { trials, reads };
}

/**
 * Measures what `act` does to Committed_AS: reads, act(), reads, undo(); then the same readings
 * with nothing between them; `trials` times. `undo` runs even when the reading throws.
 */
export function measureCommittedChange<T>(act: () => T, undo: (done: T) => void, options: CommittedChangeOptions = {}): CommittedChange {
  const { trials, reads } = checkOptions(options);
  const action: number[] = [];
  const control: number[] = [];
  for (let i = 0; i < trials; i++) {
    const before = readCommitted(reads);
    const done = act();
    try {
      const after = readCommitted(reads);
      action.push(after - before);
      options.onTrial?.(before, after);
    } finally {
      undo(done);
    }
    const c0 = readCommitted(reads);
    control.push(readCommitted(reads) - c0);
  }
  return changeFromDeltas(action, control);
}

/** Measures one step of a sequence: reads Committed_AS, runs `action`, reads it again. */
export type CommittedStep<N extends string> = (name: N, action: () => void) => void;

/**
 * The changes each step of a sequence makes to Committed_AS (e.g. mmap, mprotect, munmap of one
 * mapping), over `trials` runs of the whole sequence. `sequence` calls `step(name, action)` for
 * every name, in any order, once per trial; it cleans up after itself (finally) when a step
 * throws. After each trial come as many control readings (nothing between them) as the trial
 * had steps; every step's change is judged against all of them.
 */
export function measureCommittedSteps<N extends string>(
  names: readonly N[],
  sequence: (step: CommittedStep<N>, trial: number) => void,
  options: CommittedChangeOptions = {},
): Record<N, CommittedChange> {
  const { trials, reads } = checkOptions(options);
  const action = new Map<N, number[]>(names.map((n) => [n, []]));
  const control: number[] = [];
  for (let t = 0; t < trials; t++) {
    const seen = new Set<N>();
    sequence((name, act) => {
      const deltas = action.get(name);
      if (deltas === undefined || seen.has(name))
        throw new RangeError(`step ${name}: not one of ${names.join(', ')}, or run twice in a trial`);
      seen.add(name);
      const before = readCommitted(reads);
      act();
      deltas.push(readCommitted(reads) - before);
    }, t);
    if (seen.size !== names.length) throw new RangeError(`trial ${t} ran ${[...seen].join(', ')} of ${names.join(', ')}`);
    for (let i = 0; i < names.length; i++) {
      const c0 = readCommitted(reads);
      control.push(readCommitted(reads) - c0);
    }
  }
  return Object.fromEntries(names.map((n) => [n, changeFromDeltas(action.get(n)!, control)])) as Record<N, CommittedChange>;
}

/** One outcome a change may show: e.g. { label: 'charged', bytes: 64 MiB }, { label: 'not charged', bytes: 0 }. */
export interface ChangeHypothesis {
  label: string;
  bytes: number;
}

export interface ChangeClass {
  /** The one hypothesis the change matches, or null when the noise cannot tell them apart. */
  match: ChangeHypothesis | null;
  /** Why match is null, with the numbers; absent when a hypothesis matched. */
  reason?: string;
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
  change: Pick<CommittedChange, 'changeBytes' | 'toleranceBytes'>,
  hypotheses: readonly ChangeHypothesis[],
  wording: ChangeWording = COMMITTED_WORDING,
): ChangeClass {
  const tol = change.toleranceBytes;
  for (let i = 0; i < hypotheses.length; i++) {
    for (let j = i + 1; j < hypotheses.length; j++) {
      const [a, b] = [hypotheses[i]!, hypotheses[j]!];
      if (Math.abs(a.bytes - b.bytes) <= 2 * tol) {
        return {
          match: null,
          reason: `${wording.noise} by up to ${mib(change.toleranceBytes)} in this run, too much to tell ${a.label} (${mib(a.bytes)}) from ${b.label} (${mib(b.bytes)})`,
        };
      }
    }
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
  change: Pick<CommittedChange, 'changeBytes' | 'toleranceBytes'>,
  expected: ChangeHypothesis,
  alternative: ChangeHypothesis = { label: 'no change', bytes: 0 },
): { holds: boolean | null; reason?: string } {
  const c = classifyChange(change, [expected, alternative]);
  if (c.match === null) return { holds: null, reason: c.reason! };
  return { holds: c.match === expected };
}

/** How a charge was decided: by the mapping's own VmFlags, by Committed_AS, or by both agreeing. */
export type ChargeBasis = 'VmFlags' | 'Committed_AS' | 'both';

export interface ChargeClass extends ChangeClass {
  /** What decided the match; null when nothing did. */
  basis: ChargeBasis | null;
}

/**
 * A charge judged from two sides: the Committed_AS change (machine-wide, so noisy) and, where the
 * kernel shows it, the change in the action's own accounted bytes (the bytes of its range in VMAs
 * marked 'ac' in smaps: exact, per mapping, and blind to other processes). The exact side decides
 * when it is given (non-null) and matches a hypothesis within `slackBytes`; Committed_AS then only
 * confirms it, and when it clearly matches another hypothesis the two disagree: no verdict, with
 * both numbers. Without the exact side, Committed_AS decides by the one tolerance rule.
 */
export function classifyCharge(
  change: Pick<CommittedChange, 'changeBytes' | 'toleranceBytes'>,
  accountedDeltaBytes: number | null,
  hypotheses: readonly ChangeHypothesis[],
  slackBytes: number,
): ChargeClass {
  const counter = classifyChange(change, hypotheses);
  if (accountedDeltaBytes === null) return { ...counter, basis: counter.match === null ? null : 'Committed_AS' };
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
  change: Pick<CommittedChange, 'changeBytes' | 'toleranceBytes'>,
  accountedDeltaBytes: number | null,
  expected: ChangeHypothesis,
  alternative: ChangeHypothesis,
  slackBytes: number,
): { holds: boolean | null; reason?: string } {
  const c = classifyCharge(change, accountedDeltaBytes, [expected, alternative], slackBytes);
  if (c.match === null) return { holds: null, reason: c.reason! };
  return c.reason === undefined ? { holds: c.match === expected } : { holds: c.match === expected, reason: c.reason };
}
