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
import { readMeminfo } from '../kernel/meminfo.js';
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
}

function readCommitted(reads: number): number {
  const values: number[] = [];
  for (let i = 0; i < reads; i++) values.push(readMeminfo().committedAs);
  return median(values);
}

/**
 * Measures what `act` does to Committed_AS: reads, act(), reads, undo(); then the same readings
 * with nothing between them; `trials` times. `undo` runs even when the reading throws.
 */
export function measureCommittedChange<T>(act: () => T, undo: (done: T) => void, options: CommittedChangeOptions = {}): CommittedChange {
  const trials = options.trials ?? 5;
  const reads = options.reads ?? 3;
  if (!Number.isInteger(trials) || trials < 1) throw new RangeError(`trials must be a positive integer, got ${trials}`);
  if (!Number.isInteger(reads) || reads < 1) throw new RangeError(`reads must be a positive integer, got ${reads}`);
  const action: number[] = [];
  const control: number[] = [];
  for (let i = 0; i < trials; i++) {
    const before = readCommitted(reads);
    const done = act();
    try {
      action.push(readCommitted(reads) - before);
    } finally {
      undo(done);
    }
    const c0 = readCommitted(reads);
    control.push(readCommitted(reads) - c0);
  }
  return changeFromDeltas(action, control);
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
