/** Every experiment, in the order `run` runs them. Ids are a public contract. */
import type { Experiment } from '../experiment.js';
import { accounting } from './accounting.js';

export const experiments: readonly Experiment[] = [accounting];

export function findExperiment(id: string): Experiment | undefined {
  return experiments.find((e) => e.id === id);
}
