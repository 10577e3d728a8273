/**
 * The load generator's effect on Committed_AS, as a model: what lib/measure/load.ts's process does
 * to a reading of the counter, for pure tests that perturb saved evidence (no process, no /proc).
 * The load holds one mapping of a random size in [minBytes, maxBytes] at a time, for up to holdMs,
 * then none for up to pauseMs: a difference of two readings gains that size, loses it, or nothing.
 * Pure: imports nothing from the kernel or the addon.
 */
import { MiB } from '../units.js';

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

export interface LoadModel {
  random: () => number;
  minBytes: number;
  maxBytes: number;
  /** The chance that the load maps or unmaps between two readings of one difference. */
  hitRate: number;
}

/** The model of the default load, seeded: a quarter of all differences see it map or unmap. */
export function loadModel(seed: number, hitRate = 0.25): LoadModel {
  return { random: seededRandom(seed), minBytes: LOAD_DEFAULTS.minBytes, maxBytes: LOAD_DEFAULTS.maxBytes, hitRate };
}

/** What the load adds to one difference of two Committed_AS readings: a mapping made (+), one unmapped (-), or nothing. */
export function loadDelta(m: LoadModel): number {
  if (m.random() >= m.hitRate) return 0;
  const size = Math.round((m.minBytes + m.random() * (m.maxBytes - m.minBytes)) / 4096) * 4096;
  return m.random() < 0.5 ? size : -size;
}

/** One reading of Committed_AS as the load moves it: the load's mapping, when it holds one at that moment. */
export function loadReading(m: LoadModel): number {
  return Math.max(0, loadDelta(m));
}
