/**
 * /proc/<pid>/limits: a process's resource limits as the kernel holds them (another process's
 * limits cannot be read with getrlimit).
 */
import { readFileSync } from 'node:fs';

export interface ProcLimit {
  /** Bytes (or the limit's unit); null for 'unlimited'. */
  soft: number | null;
  hard: number | null;
}

const value = (s: string): number | null => (s === 'unlimited' ? null : Number(s));

/** The limits by their name in the file ('Max address space'). */
export function parseLimits(text: string): Record<string, ProcLimit> {
  const out: Record<string, ProcLimit> = {};
  for (const line of text.split('\n').slice(1)) {
    const m = /^(.+?)\s{2,}(\S+)\s+(\S+)/.exec(line);
    if (m) out[m[1]!.trim()] = { soft: value(m[2]!), hard: value(m[3]!) };
  }
  return out;
}

/** RLIMIT_AS of process `pid`. */
export function readAddressSpaceLimit(pid: number | 'self' = 'self'): ProcLimit {
  const limit = parseLimits(readFileSync(`/proc/${pid}/limits`, 'utf8'))['Max address space'];
  if (limit === undefined) throw new Error(`/proc/${pid}/limits has no 'Max address space' line`);
  return limit;
}
