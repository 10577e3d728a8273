/**
 * /proc/meminfo. The overcommit claims are about CommitLimit and Committed_AS, so they are read
 * here with everything else in meminfo (the CommitLimit formula is in admission.ts).
 */
import { openSync, readFileSync, readSync } from 'node:fs';
import { median } from '../verdict/stats.js';
import { spreadOf } from '../verdict/tolerance.js';

export interface Meminfo {
  /** Every field by its kernel name ('Committed_AS', 'Active(anon)'): kB fields in bytes,
   *  unit-less fields (HugePages_Total, ...) as plain counts. */
  fields: Readonly<Record<string, number>>;
  memTotal: number;
  memFree: number;
  memAvailable: number;
  swapTotal: number;
  swapFree: number;
  commitLimit: number;
  committedAs: number;
  /** A count of huge pages of the default size, not bytes. */
  hugePagesTotal: number;
  hugepagesize: number;
  /** Memory in huge pages of all sizes, in bytes (computed from the default size on kernels
   *  older than 4.16, which lack the Hugetlb field). */
  hugetlb: number;
}

export function parseMeminfo(text: string): Meminfo {
  const fields: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const m = /^([^:]+):\s+(\d+)(?:\s+(kB))?\s*$/.exec(line);
    if (!m) throw new Error(`/proc/meminfo: unexpected line: ${JSON.stringify(line)}`);
    fields[m[1]!] = Number(m[2]) * (m[3] ? 1024 : 1);
  }
  const need = (key: string): number => {
    const v = fields[key];
    if (v === undefined) throw new Error(`/proc/meminfo: required field ${key} is missing`);
    return v;
  };
  const hugePagesTotal = need('HugePages_Total');
  const hugepagesize = need('Hugepagesize');
  return {
    fields,
    memTotal: need('MemTotal'),
    memFree: need('MemFree'),
    memAvailable: need('MemAvailable'),
    swapTotal: need('SwapTotal'),
    swapFree: need('SwapFree'),
    commitLimit: need('CommitLimit'),
    committedAs: need('Committed_AS'),
    hugePagesTotal,
    hugepagesize,
    hugetlb: fields.Hugetlb ?? hugePagesTotal * hugepagesize,
  };
}

/** Also read by forked children, around their steps. */
export const MEMINFO_PATH = '/proc/meminfo';

export function readMeminfo(): Meminfo {
  return parseMeminfo(readFileSync(MEMINFO_PATH, 'utf8'));
}

let meminfoFd: number | undefined;
const meminfoBuffer = Buffer.alloc(16 * 1024);

/**
 * Committed_AS alone, in bytes: a third of readMeminfo()'s cost (one pread on a descriptor kept
 * open, one field parsed), for measurements that read it many times around short actions.
 */
export function readCommittedAs(): number {
  meminfoFd ??= openSync(MEMINFO_PATH, 'r');
  const n = readSync(meminfoFd, meminfoBuffer, 0, meminfoBuffer.length, 0);
  const m = /^Committed_AS:\s+(\d+) kB$/m.exec(meminfoBuffer.toString('latin1', 0, n));
  if (!m) throw new Error('/proc/meminfo: required field Committed_AS is missing');
  return Number(m[1]) * 1024;
}

export interface CommittedSample {
  /** Committed_AS in bytes, in reading order. */
  samples: number[];
  min: number;
  max: number;
  median: number;
  /** Their spread (spreadOf, the one definition of a sampling's noise): how much other processes moved the system-wide counter meanwhile. */
  spreadBytes: number;
}

/**
 * Reads Committed_AS `samples` times back to back: the one sampler of the counter. The value is
 * an exact per-cpu sum at read time, but it is system-wide: every other process's mmap/munmap
 * moves it, so an experiment comparing two readings must know this noise.
 */
export function sampleCommitted(samples = 5): CommittedSample {
  if (!Number.isInteger(samples) || samples < 1)
    throw new RangeError(`sampleCommitted: samples must be a positive integer, got ${samples}`);
  const values: number[] = [];
  for (let i = 0; i < samples; i++) values.push(readCommittedAs());
  return { samples: values, min: Math.min(...values), max: Math.max(...values), median: median(values), spreadBytes: spreadOf(values) };
}
