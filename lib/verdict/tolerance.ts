/**
 * Tolerances: how far a measured quantity may be from the truth, built from what the run
 * recorded (trials and controls, a range of readings, readings around a step), each adding the
 * tool's own jitter (OWN_JITTER_BYTES) in this one place. Pure: rules call these on saved
 * evidence, so a tolerance is recomputed, never trusted from the measurement.
 */
import { OWN_JITTER_BYTES } from '../units.js';
import { median } from './stats.js';

/** A measured change and how far noise may have moved it: what the decision rule reads. */
export interface Tolerated {
  changeBytes: number;
  toleranceBytes: number;
}

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

/**
 * The change from interleaved trials: the median action delta less the median control delta
 * (the drift); the noise is the largest deviation of any trial, action or control, from its
 * kind's median.
 */
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

/** Spread of readings of one quantity taken back to back: max - min (0 for none). */
export function spreadOf(readings: readonly number[]): number {
  return readings.length === 0 ? 0 : Math.max(...readings) - Math.min(...readings);
}

/**
 * The tolerance of a quantity that moved by `spreadBytes` by itself while it was measured (e.g.
 * the largest spread of the samplings around a step), plus the tool's own jitter, plus `slackBytes`
 * the measurement cannot resolve (e.g. a page of rounding).
 */
export function toleranceFromRange(spreadBytes: number, slackBytes = 0): number {
  return spreadBytes + OWN_JITTER_BYTES + slackBytes;
}

/** The tolerance of a difference between readings of one quantity: the spreads of every sampling, plus the tool's own jitter. */
export function toleranceFromReadings(...samplings: readonly (readonly number[])[]): number {
  return toleranceFromRange(samplings.reduce((sum, s) => sum + spreadOf(s), 0));
}
