/** Option values shared by commands. */

import { UsageError } from '../tool.js';
import type { OvercommitMode } from '../verdict/types.js';

/** --mode's list: '0,2' or 'all'. */
export function parseModes(value: string): OvercommitMode[] {
  if (value === 'all') return [0, 1, 2];
  const modes = value.split(',').map((s) => s.trim());
  if (modes.length === 0 || modes.some((m) => !/^[012]$/.test(m))) {
    throw new UsageError(`--mode takes a list of 0, 1 and 2 (e.g. 0,2) or 'all', got '${value}'`);
  }
  return [...new Set(modes.map((m) => Number(m) as OvercommitMode))];
}
