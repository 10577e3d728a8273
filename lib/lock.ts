/**
 * The machine-wide lock on the overcommit settings. The machine has one setting: a process
 * that switches it holds the lock exclusively; one that depends on the current mode holds it
 * shared. flock locks are released by the kernel when their holder dies, however it dies.
 */
import { closeSync, openSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { native } from './binding.js';

/** Where the lock lives; override with OVERCOMMIT_LAB_LOCK. */
export const lockPath: string = process.env.OVERCOMMIT_LAB_LOCK ?? '/tmp/overcommit-lab.lock';

export type LockMode = 'shared' | 'exclusive';

export interface SettingsLock {
  /** The open file description holding the lock (a watchdog may inherit it). */
  fd: number;
  mode: LockMode;
  release(): void;
}

export interface AcquireOptions {
  /** The lock file (default `lockPath`). */
  path?: string;
  /** Give up after this long (default 120 s). */
  timeoutMs?: number;
  /** Called once when the lock is busy and we start waiting. */
  onWait?: (message: string) => void;
}

/** Takes the lock, waiting (without blocking the event loop) while another process holds it. */
export async function acquireSettingsLock(mode: LockMode, options: AcquireOptions = {}): Promise<SettingsLock> {
  const timeoutMs = options.timeoutMs ?? 120_000;
  const path = options.path ?? lockPath;
  const fd = openSync(path, 'a', 0o666);
  const op = mode === 'exclusive' ? 'ex' : 'sh';
  const start = Date.now();
  let waited = false;
  try {
    while (!native.flock(fd, op)) {
      if (!waited) {
        waited = true;
        options.onWait?.(`waiting for another overcommit-lab process that holds ${path}`);
      }
      if (Date.now() - start > timeoutMs) {
        throw Object.assign(new Error(`timed out after ${timeoutMs} ms waiting for the settings lock ${path}`), {
          code: 'ERR_SETTINGS_LOCK_TIMEOUT',
        });
      }
      await sleep(20);
    }
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  let held = true;
  return {
    fd,
    mode,
    release() {
      if (!held) return;
      held = false;
      closeSync(fd);
    },
  };
}

/** Runs `fn` holding the lock, and releases it however `fn` ends. */
export async function withSettingsLock<T>(mode: LockMode, fn: () => Promise<T> | T, options?: AcquireOptions): Promise<T> {
  const lock = await acquireSettingsLock(mode, options);
  try {
    return await fn();
  } finally {
    lock.release();
  }
}
