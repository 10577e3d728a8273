/**
 * Child steps addressed by name: an experiment lists its steps as [name, step] pairs, a step may
 * work on an earlier mmap step by its name, and results are read by name, so inserting a step
 * never shifts what another reading means. Also the one answer to "did the child finish".
 */
import { type ChildResult, type ChildStep, type ChildStepResult, type RunChildOptions, runChild } from '../native/child.js';

/** A child step whose `mapping` (where it has one) may name an earlier mmap step. */
export type NamedStep<N extends string> = ChildStep extends infer S
  ? S extends { mapping: number }
    ? Omit<S, 'mapping'> & { mapping: N | number }
    : S
  : never;

export interface NamedChildRun<N extends string> {
  result: ChildResult;
  /** The result of the step called `name`. */
  step(name: N): ChildStepResult;
  /** The child ran every step and exited 0. */
  finished: boolean;
  /** How the child ended, with every step's outcome, when it did not finish. */
  problem?: string;
}

/** How `r` ended, step by step: for the reason of a null verdict. */
function describeChildEnd(r: ChildResult, names?: readonly string[]): string {
  const how = r.timedOut ? 'was killed after its timeout' : r.signal !== null ? `was ended by ${r.signal}` : `exited ${r.exitCode}`;
  const steps = r.steps.map((s, i) => `${names?.[i] ?? s.op} ${s.code ?? s.status}`).join(', ');
  return `the child ${how} (steps: ${steps})`;
}

export async function runNamedChild<N extends string>(
  steps: readonly (readonly [N, NamedStep<N>])[],
  options: RunChildOptions = {},
): Promise<NamedChildRun<N>> {
  const names = steps.map(([name]) => name);
  if (new Set(names).size !== names.length) throw new RangeError(`step names must be unique: ${names.join(', ')}`);
  const index = (name: N): number => {
    const i = names.indexOf(name);
    if (i < 0) throw new RangeError(`no step named ${name}; steps: ${names.join(', ')}`);
    return i;
  };
  const raw = steps.map(([, s]) => {
    if ('mapping' in s && typeof s.mapping === 'string') return { ...s, mapping: index(s.mapping) } as ChildStep;
    return s as ChildStep;
  });
  const result = await runChild(raw, options);
  const finished = !result.timedOut && result.signal === null && result.exitCode === 0 && result.steps.every((s) => s.status !== 'not-run');
  const run: NamedChildRun<N> = { result, step: (name) => result.steps[index(name)]!, finished };
  if (!finished) run.problem = describeChildEnd(result, names);
  return run;
}
