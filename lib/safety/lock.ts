/**
 * The machine-wide lock on the overcommit settings. The machine has one setting: a process
 * that switches it holds the lock exclusively; one that depends on the current mode holds it
 * shared. flock locks are released by the kernel when their holder dies, however it dies.
 *
 * Within one process the lock is re-entrant: a shared holder that then needs to switch a
 * setting upgrades the same open file description (flock would otherwise make it wait for
 * itself), and goes back to shared when the exclusive hold ends. flock's conversions are not
 * atomic: while an upgrade waits, another process may take the lock in between; that is safe,
 * since whoever holds it exclusively restores the settings before letting go.
 */
import { closeSync, constants as fsConstants, openSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { native } from '../native/binding.js';
import { argTypeError, nonNegativeInteger, oneOf, optionalFunction, optionsObject, requiredFunction } from '../native/validate.js';
import { sleepSync } from './sleep-sync.js';

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

/** This process's hold on one lock file. */
interface Hold {
  fd: number;
  shared: number;
  exclusive: number;
  /** The shared lock could not be had back after an exclusive hold (see downgrade): closed. */
  lost: boolean;
}

const holds = new Map<string, Hold>();

async function take(fd: number, op: 'sh' | 'ex', path: string, options: AcquireOptions): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 120_000;
  const start = Date.now();
  let waited = false;
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
}

/**
 * flock needs only a read-only descriptor, so a user without root can lock the file root made.
 * An existing file is opened without O_CREAT: in a sticky /tmp, protected_regular refuses
 * O_CREAT on another user's file even when it exists.
 */
function openLockFile(path: string): number {
  try {
    return openSync(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    return openSync(path, fsConstants.O_RDONLY | fsConstants.O_CREAT, 0o644);
  }
}

/**
 * Back to shared after an exclusive hold, or after an upgrade that failed. Going down from
 * exclusive succeeds at once; a failed upgrade may have dropped the shared lock and let another
 * process in, so wait (synchronously: this runs in release()) until it is ours again. If it never
 * is, the hold is given up, saying so: the holders' releases then do nothing.
 */
function downgrade(h: Hold, path: string): void {
  for (let waited = 0; !native.flock(h.fd, 'sh'); waited += 10) {
    if (waited > 120_000) {
      h.lost = true;
      holds.delete(path);
      closeSync(h.fd);
      process.stderr.write(`overcommit-lab: lost the shared settings lock ${path}; other processes may now switch the settings\n`);
      return;
    }
    sleepSync(10);
  }
}

function level(h: Hold): 'ex' | 'sh' | null {
  return h.exclusive > 0 ? 'ex' : h.shared > 0 ? 'sh' : null;
}

/** Takes the lock, waiting (without blocking the event loop) while another process holds it. */
export async function acquireSettingsLock(mode: LockMode, acquireOptions?: AcquireOptions): Promise<SettingsLock> {
  const options = checkAcquireOptions(acquireOptions);
  oneOf(mode, ['shared', 'exclusive'], 'mode');
  const path = options.path ?? lockPath;
  let hold = holds.get(path);
  const fresh = hold === undefined;
  if (hold === undefined) {
    hold = { fd: openLockFile(path), shared: 0, exclusive: 0, lost: false };
    holds.set(path, hold);
  }
  const h = hold;
  const before = level(h);
  const wanted = mode === 'exclusive' ? 'ex' : 'sh';
  try {
    if (before === null || (before === 'sh' && wanted === 'ex')) await take(h.fd, wanted, path, options);
  } catch (e) {
    if (fresh) {
      holds.delete(path);
      closeSync(h.fd);
    } else if (before === 'sh') {
      downgrade(h, path); // a failed conversion may have dropped the shared lock
    }
    throw e;
  }
  if (mode === 'exclusive') h.exclusive++;
  else h.shared++;
  let held = true;
  return {
    fd: h.fd,
    mode,
    release() {
      if (!held || h.lost) return;
      held = false;
      if (mode === 'exclusive') h.exclusive--;
      else h.shared--;
      const now = level(h);
      if (now === null) {
        holds.delete(path);
        closeSync(h.fd);
      } else if (now === 'sh' && mode === 'exclusive') {
        downgrade(h, path);
      }
    },
  };
}

/** Checks the options of acquireSettingsLock (the settings guard checks its own with this too). */
export function checkAcquireOptions(value: AcquireOptions | undefined): AcquireOptions {
  const options = optionsObject(value);
  if (options.path !== undefined && (typeof options.path !== 'string' || options.path === '' || options.path.includes('\0'))) {
    throw argTypeError('path must be a non-empty string without NUL characters');
  }
  if (options.timeoutMs !== undefined) nonNegativeInteger(options.timeoutMs, 'timeoutMs');
  optionalFunction(options.onWait, 'onWait');
  return options;
}

/** Runs `fn` holding the lock, and releases it however `fn` ends. */
export async function withSettingsLock<T>(mode: LockMode, fn: () => Promise<T> | T, options?: AcquireOptions): Promise<T> {
  requiredFunction(fn, 'fn');
  checkAcquireOptions(options);
  const lock = await acquireSettingsLock(mode, options);
  try {
    return await fn();
  } finally {
    lock.release();
  }
}
