/** Every experiment, in the order `run` runs them. Ids are a public contract. */
import type { Experiment } from '../experiment.js';
import { accounting } from './accounting.js';
import { redisFork } from './redis-fork.js';

export const experiments: readonly Experiment[] = [accounting, redisFork];

export function findExperiment(id: string): Experiment | undefined {
  return experiments.find((e) => e.id === id);
}
