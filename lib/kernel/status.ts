/**
 * /proc/<pid>/status: the process's memory footprint as the kernel counts it, and its
 * capabilities. Root-ness is decided by CAP_SYS_ADMIN in CapEff, not by uid 0: in containers
 * uid 0 often lacks it, and the overcommit heuristics (admin reserve) test the capability.
 */
import { readFileSync } from 'node:fs';

/** CAP_SYS_ADMIN's bit number in the capability sets (linux/capability.h). */
export const CAP_SYS_ADMIN = 21;

export interface ProcStatus {
  name: string;
  pid: number;
  threads: number;
  /** Real, effective, saved and filesystem uid. */
  uid: number[];
  gid: number[];
  capEff: bigint;
  capPrm: bigint;
  vmPeak: number;
  vmSize: number;
  vmLck: number;
  vmHwm: number;
  vmRss: number;
  rssAnon: number;
  rssFile: number;
  rssShmem: number;
  vmData: number;
  vmStk: number;
  vmSwap: number;
  /** Every "N kB" field, by its kernel name, in bytes (VmPTE, HugetlbPages, ...). */
  sizes: Record<string, number>;
}

export function parseStatus(text: string): ProcStatus {
  const raw = new Map<string, string>();
  const sizes: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const key = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    raw.set(key, value);
    const kb = /^(\d+) kB$/.exec(value);
    if (kb) sizes[key] = Number(kb[1]) * 1024;
  }
  const field = (key: string): string => {
    const v = raw.get(key);
    if (v === undefined) throw new Error(`/proc status: field ${key} missing (a kernel thread has no Vm* fields)`);
    return v;
  };
  const bytes = (key: string): number => {
    const v = sizes[key];
    if (v === undefined) throw new Error(`/proc status: field ${key} missing or not in kB: ${raw.get(key) ?? '(absent)'}`);
    return v;
  };
  const ids = (key: string): number[] => field(key).split(/\s+/).map(Number);
  return {
    name: field('Name'),
    pid: Number(field('Pid')),
    threads: Number(field('Threads')),
    uid: ids('Uid'),
    gid: ids('Gid'),
    capEff: BigInt(`0x${field('CapEff')}`),
    capPrm: BigInt(`0x${field('CapPrm')}`),
    vmPeak: bytes('VmPeak'),
    vmSize: bytes('VmSize'),
    vmLck: bytes('VmLck'),
    vmHwm: bytes('VmHWM'),
    vmRss: bytes('VmRSS'),
    rssAnon: bytes('RssAnon'),
    rssFile: bytes('RssFile'),
    rssShmem: bytes('RssShmem'),
    vmData: bytes('VmData'),
    vmStk: bytes('VmStk'),
    vmSwap: bytes('VmSwap'),
    sizes,
  };
}

/** The status file of `pid` (for a forked child reading its own: 'self'). */
export function statusPath(pid: number | 'self' = 'self'): string {
  return `/proc/${pid}/status`;
}

export function readStatus(pid: number | 'self' = 'self'): ProcStatus {
  return parseStatus(readFileSync(statusPath(pid), 'utf8'));
}

export function capEffHasSysAdmin(capEff: bigint): boolean {
  return ((capEff >> BigInt(CAP_SYS_ADMIN)) & 1n) === 1n;
}

/** Whether this process holds CAP_SYS_ADMIN in its effective set; false off Linux. */
export function hasCapSysAdmin(): boolean {
  if (process.platform !== 'linux') return false;
  return capEffHasSysAdmin(readStatus().capEff);
}
