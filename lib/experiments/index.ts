/** Every experiment, in the order `run` runs them. Ids are a public contract. */
import type { Experiment } from '../experiment.js';

export const experiments: readonly Experiment[] = [];

export function findExperiment(id: string): Experiment | undefined {
  return experiments.find((e) => e.id === id);
}
