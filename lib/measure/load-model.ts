/**
 * The load generator's effect on Committed_AS, as a model: what lib/measure/load.ts's process does
 * to the readings of the counter, for pure tests that perturb saved evidence (no process, no /proc).
 * The load holds one mapping of a random size in [minBytes, maxBytes] at a time, then none: a
 * difference of two readings gains that size, loses it, or nothing; one reading may hold it.
 * Pure: imports nothing from the kernel or the addon.
 */
import { MiB } from '../units.js';
import { changeFromDeltas } from '../verdict/tolerance.js';

/** The load's defaults (startLoad's options when not given). */
export const LOAD_DEFAULTS = { minBytes: 64 * MiB, maxBytes: 256 * MiB, holdMs: 50, pauseMs: 50 } as const;

/** A seeded generator of numbers in [0, 1) (mulberry32): the same seed, the same noise. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One of the load's mappings (a whole number of MiB in [minBytes, maxBytes]) with probability p, else 0. */
function mapping(random: () => number, p: number): number {
  if (random() >= p) return 0;
  const [lo, hi] = [LOAD_DEFAULTS.minBytes / MiB, LOAD_DEFAULTS.maxBytes / MiB];
  return (lo + Math.floor(random() * (hi - lo + 1))) * MiB;
}

/** What the load adds to a difference of two readings: with probability p a mapping made (+) or unmapped (-). */
export function loadHit(random: () => number, p: number): number {
  const m = mapping(random, p);
  return m === 0 ? 0 : random() < 0.5 ? -m : m;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const numbers = (v: unknown): v is number[] => Array.isArray(v) && v.every((x) => typeof x === 'number');

/**
 * The evidence as the load would have left it. Every Committed_AS change over trials (an object
 * with actionDeltasBytes and controlDeltasBytes) has each action trial hit with probability
 * `pAction`, each control with `pControl` (an action takes longer than a control: it is hit more
 * often), and is recomputed by the one rule (changeFromDeltas). Mode 2's probe cells (readings of
 * Committed_AS around a probe) have each reading hit with `pControl`, and the limit the probe found
 * lowered by a mapping the load held during it with `pAction`; a fork's readings of Committed_AS
 * before and after it are each hit with `pControl`. The exact per-mapping side is left as it was:
 * no load moves it.
 */
export function underLoad<T>(evidence: T, random: () => number, pAction = 0.4, pControl = 0.05): T {
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (!isRecord(v)) return v;
    const o = Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    if (numbers(o.actionDeltasBytes) && numbers(o.controlDeltasBytes)) {
      const action = o.actionDeltasBytes.map((d) => d + loadHit(random, pAction));
      return {
        ...o,
        ...changeFromDeltas(
          action,
          o.controlDeltasBytes.map((d) => d + loadHit(random, pControl)),
        ),
      };
    }
    if (o.mode === 2 && typeof o.largestBytes === 'number' && typeof o.predictedBytes === 'number') {
      // Older saved cells have no readings, only the tolerance their measurement computed.
      const readingsBytes = numbers(o.readingsBytes) ? { readingsBytes: o.readingsBytes.map((r) => r + mapping(random, pControl)) } : {};
      return { ...o, ...readingsBytes, largestBytes: o.largestBytes - mapping(random, pAction) };
    }
    if (typeof o.committedAs === 'number' && typeof o.commitLimit === 'number') {
      const committedAs = o.committedAs + mapping(random, pControl);
      const after = typeof o.committedAsAfter === 'number' ? o.committedAsAfter : o.committedAs;
      return { ...o, committedAs, committedAsAfter: after + mapping(random, pControl) };
    }
    return o;
  };
  return walk(evidence) as T;
}
