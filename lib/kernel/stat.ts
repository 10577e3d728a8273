/**
 * /proc/<pid>/stat: the fields a caller watching another process needs (its state, its parent).
 */
import { readFileSync } from 'node:fs';

export interface ProcStat {
  pid: number;
  /** The command name, without the parentheses. */
  comm: string;
  /** R running, S sleeping, D disk sleep, T stopped (by a signal), t traced, Z zombie, ... */
  state: string;
  ppid: number;
}

export function parseStat(text: string): ProcStat {
  // The command name (field 2) is in parentheses and may itself contain spaces and ')'.
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error(`/proc stat: unexpected text: ${JSON.stringify(text.slice(0, 80))}`);
  const rest = text
    .slice(close + 2)
    .trim()
    .split(' ');
  if (rest.length < 2) throw new Error(`/proc stat: too few fields: ${JSON.stringify(text.slice(0, 80))}`);
  return { pid: Number(text.slice(0, open).trim()), comm: text.slice(open + 1, close), state: rest[0]!, ppid: Number(rest[1]) };
}

/** The process's stat, or undefined when it is gone. */
export function readStat(pid: number): ProcStat | undefined {
  try {
    return parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ESRCH') return undefined;
    throw e;
  }
}
