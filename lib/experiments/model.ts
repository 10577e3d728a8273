/**
 * The experiment model: an experiment is a rule set (its claims and their pure rules, in
 * lib/verdict) and a measure() that runs against the real kernel. A finding's `holds` is always
 * computed from what this run observed. The shared types live in lib/verdict/types.ts and are
 * re-exported here.
 */

import { defineRules, type Finding, type Measured, type OvercommitMode, type RuleSet } from '../verdict/types.js';
import { judgeEvidence } from './judge.js';

export { withCaveat } from '../verdict/combine.js';
export * from '../verdict/types.js';

/** Passed to every experiment's measure(). */
export interface ExperimentContext {
  /** The overcommit mode in force while the experiment runs. */
  mode: OvercommitMode;
  /** Progress for long steps (the CLI shows it on a TTY; silent otherwise). */
  progress(message: string): void;
}

/** An experiment: measure() on the real kernel, then each claim's rule on what it measured. */
export interface Experiment<E extends Measured = Measured> extends RuleSet<E> {
  /** Runs on the kernel and returns typed evidence, never verdicts. Evidence must be JSON. */
  measure(ctx: ExperimentContext): Promise<E>;
  /** measure(), then the rules of the claims about `ctx.mode`: the findings, as the runner makes them. */
  run(ctx: ExperimentContext): Promise<Finding[]>;
}

/** An experiment from its rules (e.g. a rule set from defineRules) and its measurement. */
export function defineExperiment<E extends Measured>(e: Omit<Experiment<E>, 'claims' | 'run'>): Experiment<E> {
  const experiment: Experiment<E> = {
    ...defineRules(e),
    measure: e.measure,
    run: async (ctx) => judgeEvidence(experiment, await e.measure(ctx), ctx.mode),
  };
  return experiment;
}
