/** Shared by the tests: the machine's mode, read under the settings lock. */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { OvercommitMode } from '../lib/experiments/model.js';
import { hasCapSysAdmin } from '../lib/kernel/status.js';
import { sysctlWritability } from '../lib/kernel/sysctl.js';
import { changeFromDeltas } from '../lib/verdict/tolerance.js';

export function currentMode(): OvercommitMode {
  return Number(readFileSync('/proc/sys/vm/overcommit_memory', 'utf8').trim()) as OvercommitMode;
}

export const isRoot = hasCapSysAdmin();
export const canSwitchModes = sysctlWritability().writable;

/** A small deterministic PRNG (mulberry32), for tests that draw noise. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The evidence as a load that maps and unmaps 64-256 MiB would have left it: every Committed_AS
 * change in it (any object with actionDeltasBytes and controlDeltasBytes) has each action trial
 * hit with probability `pAction`, each control with `pControl`, by ±64-256 MiB, and is recomputed
 * by the one rule (changeFromDeltas). The exact per-mapping side is left as it was: no load moves it.
 */
export function underLoad<T>(evidence: T, random: () => number, pAction = 0.4, pControl = 0.05): T {
  const MiB = 1024 * 1024;
  const hit = (p: number) => (random() < p ? (random() < 0.5 ? -1 : 1) * (64 + Math.floor(random() * 193)) * MiB : 0);
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v === null || typeof v !== 'object') return v;
    const o = v as Record<string, unknown>;
    if (Array.isArray(o.actionDeltasBytes) && Array.isArray(o.controlDeltasBytes)) {
      const action = (o.actionDeltasBytes as number[]).map((d) => d + hit(pAction));
      const control = (o.controlDeltasBytes as number[]).map((d) => d + hit(pControl));
      return changeFromDeltas(action, control);
    }
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, walk(x)]));
  };
  return walk(evidence) as T;
}

/** Whether `command` is on the PATH (tests that need a tool skip, naming it, without it). */
export function onPath(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Why a test cannot run these files of the checkout (paths from its root) as user nobody (uid and
 * gid 65534), or '' when it can: switching user needs root, and a checkout in a home only its
 * owner may enter (/root, mode 0700 on many fresh machines) is out of nobody's reach.
 */
export function nobodyCannotRead(...paths: string[]): string {
  if (!isRoot) return 'needs root to switch to user nobody';
  const checkout = join(import.meta.dirname, '..');
  const unreadable = paths.filter((p) => spawnSync('test', ['-r', join(checkout, p)], { uid: 65534, gid: 65534, cwd: '/' }).status !== 0);
  return unreadable.length === 0 ? '' : `user nobody cannot read ${unreadable.join(', ')} in ${checkout}`;
}
