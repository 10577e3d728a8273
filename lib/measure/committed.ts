/**
 * The change an action makes to Committed_AS, and the one rule that judges it against the noise.
 *
 * Committed_AS is machine-wide: every other process's mmap and munmap moves it. So a change is
 * measured over several trials that interleave the action with controls (the same readings with
 * no action between them), and the noise is what the counter did by itself in this run: the
 * largest deviation of any trial, action or control, from its kind's median. The change is the
 * median action delta less the median control delta (the drift).
 *
 * The tolerance is built from the deltas in lib/verdict/tolerance.ts, and judged by the one rule
 * in lib/verdict/decide.ts: this module only reads the kernel.
 */
import { parseMeminfo, sampleCommitted } from '../kernel/meminfo.js';
import { median } from '../verdict/stats.js';
import { type CommittedChange, changeFromDeltas } from '../verdict/tolerance.js';

export interface CommittedChangeOptions {
  /** Action trials, each followed by a control trial; default 5. */
  trials?: number;
  /** Readings of Committed_AS per point, of which the median is used; default 3. */
  reads?: number;
  /** Told each action trial's readings before and after act(), in trial order. */
  onTrial?(beforeBytes: number, afterBytes: number): void;
}

/** Committed_AS now: the median of `reads` back-to-back readings (the one sampler, kernel/meminfo's sampleCommitted). */
export function readCommitted(reads: number): number {
  return sampleCommitted(reads).median;
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
