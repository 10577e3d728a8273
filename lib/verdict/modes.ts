/**
 * The overcommit modes' names and the settings program's wording of them, and the parse of the
 * sysctl's value. Pure: rules and reports name modes without reading the kernel.
 */
import type { OvercommitMode } from './types.js';

export function parseOvercommitMode(value: number): OvercommitMode {
  if (value === 0 || value === 1 || value === 2) return value;
  throw new Error(`vm.overcommit_memory is ${value}; the kernel only defines modes 0, 1 and 2`);
}

export type OvercommitModeName = 'heuristic' | 'always' | 'never';

const NAMES: Record<OvercommitMode, OvercommitModeName> = { 0: 'heuristic', 1: 'always', 2: 'never' };

/** The wording of the settings program in document 004. */
const DESCRIPTIONS: Record<OvercommitMode, string> = {
  0: 'Heuristic (deny obvious overcommits)',
  1: 'Always allow overcommits',
  2: 'Strict (ratio-based accounting)',
};

export function modeName(mode: OvercommitMode): OvercommitModeName {
  return NAMES[mode];
}

export function modeDescription(mode: OvercommitMode): string {
  return DESCRIPTIONS[mode];
}
