/**
 * The settings guard: the only code that writes /proc/sys/vm. Every change to
 * vm.overcommit_memory, overcommit_ratio and overcommit_kbytes runs inside one window that
 * holds the machine-wide settings lock exclusively, records the originals, applies the change,
 * runs the work and restores the originals, then reads them back to prove it:
 * - on success and on an exception (finally);
 * - on SIGINT/SIGTERM/SIGHUP and on process 'exit' (synchronous restore, then exit 128+signo;
 *   see process-end.ts);
 * - on SIGKILL or a crash: a watchdog /bin/sh process, started detached before the change, reads
 *   a pipe from us; EOF without a prior 'done' line makes it write the originals back. It
 *   inherits the lock's file description, so the flock stays held until it has restored: no
 *   other switcher can record our mode as its 'original' in between.
 * Before a window in mode 2 the guard makes sure CommitLimit stays above Committed_AS by a safe
 * margin, raising overcommit_kbytes for the window if it must, so that the other processes of
 * the machine keep room to allocate. (What the experiments do inside the window is theirs to
 * keep safe: a mode-2 request the kernel is checking counts against everyone for microseconds.)
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { type ChildProcess, spawn } from 'node:child_process';
import { commitLimitFormula } from '../kernel/admission.js';
import { readMeminfo, sampleCommitted } from '../kernel/meminfo.js';
import { readOvercommitSettings, sysctlWritability } from '../kernel/sysctl.js';
import { pageSize } from '../native/mapping.js';
import {
  argRangeError,
  argTypeError,
  nonNegativeInteger,
  oneOf,
  optionalFunction,
  optionsObject,
  requiredFunction,
} from '../native/validate.js';
import type { OvercommitMode } from '../verdict/types.js';
import { acquireSettingsLock } from './lock.js';
import { onProcessEnd } from './process-end.js';
import { watchdogShell, writeVm } from './vm-writer.js';

/** The three settings the guard may change; the two reserves are never written. */
export interface SettingsSnapshot {
  mode: OvercommitMode;
  ratio: number;
  /** overcommit_kbytes; when non-zero it is in force instead of the ratio. */
  kbytes: number;
}

/** What a window changes. Set at most one of ratio and kbytes: writing one zeroes the other. */
export interface SettingsChange {
  mode?: OvercommitMode;
  ratio?: number;
  kbytes?: number;
}

/** The commit limit the guard raised for a mode-2 window, and why. */
export interface HeadroomRaise {
  /** Committed_AS (the largest of a few reads) before the window. */
  committedAsBytes: number;
  /** The CommitLimit mode 2 would have had with the requested settings. */
  requestedCommitLimitBytes: number;
  /** The headroom kept: max(2 GiB, 10% of MemTotal) unless GuardOptions.marginBytes says otherwise. */
  marginBytes: number;
  /** overcommit_kbytes written for the window instead. */
  kbytes: number;
  /** The CommitLimit that kbytes gives. */
  commitLimitBytes: number;
}

/** Passed to the window's work: what was found and what is in force. */
export interface GuardWindow {
  /** The settings found before the window (restored after it). */
  original: SettingsSnapshot;
  /** The settings read back after applying the change. */
  applied: SettingsSnapshot;
  /** Set when the guard raised the commit limit for a mode-2 window. */
  headroom: HeadroomRaise | null;
  /** True when this window runs inside another guard window of this process (which holds the lock and the watchdog). */
  nested: boolean;
}

export interface GuardOptions {
  /** Called once if another process holds the settings lock and we wait for it. */
  onWait?: (message: string) => void;
  /** Give up waiting for the lock after this long (default: the lock's 120 s). */
  lockTimeoutMs?: number;
  /** Headroom to keep between CommitLimit and Committed_AS in mode 2 (default max(2 GiB, 10% of MemTotal)). */
  marginBytes?: number;
}

export interface GuardAvailability {
  available: boolean;
  /** Why the settings cannot be switched here. */
  reason?: string;
}

/** Whether this process may switch the settings; callers that need it skip with `reason` otherwise. */
export function guardAvailability(): GuardAvailability {
  const w = sysctlWritability();
  return w.writable ? { available: true } : { available: false, reason: w.reason ?? 'the overcommit sysctls are not writable' };
}

export function readSettingsSnapshot(): SettingsSnapshot {
  const s = readOvercommitSettings();
  return { mode: s.mode, ratio: s.ratio, kbytes: s.kbytes };
}

export function sameSettings(a: SettingsSnapshot, b: SettingsSnapshot): boolean {
  return a.mode === b.mode && a.ratio === b.ratio && a.kbytes === b.kbytes;
}

export function formatSettings(s: SettingsSnapshot): string {
  return `overcommit_memory=${s.mode} overcommit_ratio=${s.ratio} overcommit_kbytes=${s.kbytes}`;
}

/** Writes ratio or kbytes, whichever `s` has in force: the kernel zeroes the other one. */
function writeLimit(s: SettingsSnapshot): void {
  if (s.kbytes !== 0) writeVm('overcommit_kbytes', s.kbytes);
  else writeVm('overcommit_ratio', s.ratio);
}

/**
 * Puts `target` in force. Leaving or staying out of mode 2, the mode is written first and the
 * limit after; entering mode 2, the limit first: so mode 2 never runs, even for a moment, with
 * a commit limit lower than the one it ends with.
 */
function writeSettings(target: SettingsSnapshot): void {
  const cur = readSettingsSnapshot();
  if (target.mode !== 2 && cur.mode !== target.mode) writeVm('overcommit_memory', target.mode);
  if (cur.ratio !== target.ratio || cur.kbytes !== target.kbytes) writeLimit(target);
  if (target.mode === 2 && cur.mode !== 2) writeVm('overcommit_memory', 2);
}

/** Restores `original` and reads it back; throws if the machine is not as it was. */
function restoreSync(original: SettingsSnapshot): void {
  writeSettings(original);
  const now = readSettingsSnapshot();
  if (!sameSettings(now, original)) {
    throw new Error(`settings guard: restoring failed: found ${formatSettings(now)}, expected ${formatSettings(original)}`);
  }
}

/*
 * The watchdog, in dash-compatible sh: $1 mode, $2 ratio, $3 kbytes. It ignores the terminal's
 * signals, waits for a line on stdin and restores unless the line is 'done' (EOF reads as an
 * empty line). Same write order as writeSettings. fd 3 is the lock: it closes when we exit.
 */
const WATCHDOG_SCRIPT = `trap '' INT TERM HUP
IFS= read -r line
[ "$line" = done ] && exit 0
v=/proc/sys/vm
[ "$1" != 2 ] && echo "$1" > $v/overcommit_memory
if [ "$3" != 0 ]; then echo "$3" > $v/overcommit_kbytes; else echo "$2" > $v/overcommit_ratio; fi
[ "$1" = 2 ] && echo 2 > $v/overcommit_memory
exit 0`;

function startWatchdog(original: SettingsSnapshot, lockFd: number): ChildProcess {
  const child = spawn(
    watchdogShell,
    ['-c', WATCHDOG_SCRIPT, 'overcommit-lab-watchdog', String(original.mode), String(original.ratio), String(original.kbytes)],
    {
      detached: true, // own session: the terminal's Ctrl-C does not reach it
      stdio: ['pipe', 'ignore', 'ignore', lockFd],
    },
  );
  // A failed spawn is also reported as an 'error' event on the next tick: listen before throwing.
  child.on('error', () => {});
  if (child.pid === undefined || !child.stdin) throw new Error('settings guard: could not start the watchdog (/bin/sh)');
  child.stdin.on('error', () => {}); // EPIPE if it died: the finally path still restores
  child.unref();
  return child;
}

/**
 * Tells the watchdog all is restored and waits (briefly) for it to exit, so the lock is free.
 * If it outlives the wait, releasing our descriptor does not free the lock: the watchdog holds
 * the same open file description, and flock frees it only when every copy is closed.
 */
async function dismissWatchdog(child: ChildProcess, restored: boolean): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 2000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  // Without 'done' (restore failed) the EOF makes it try once more.
  child.stdin?.end(restored ? 'done\n' : undefined);
  await exited;
}

/** The outermost window of this process: what the signal and exit handlers restore. */
let active: { original: SettingsSnapshot; restored: boolean } | null = null;
const nesting = new AsyncLocalStorage<true>();
/** The settings lock is re-entrant within a process, so concurrent (not nested) windows of this
 *  process also queue here: one window at a time. */
let turn: Promise<void> = Promise.resolve();

async function inTurn<T>(fn: () => Promise<T>): Promise<T> {
  const previous = turn;
  let done!: () => void;
  turn = new Promise<void>((resolve) => (done = resolve));
  try {
    await previous;
    return await fn();
  } finally {
    done();
  }
}

function restoreOnExit(): void {
  if (!active || active.restored) return;
  active.restored = true;
  try {
    restoreSync(active.original);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}; the watchdog will retry\n`);
  }
}

const CHANGE_KEYS = ['mode', 'ratio', 'kbytes'];

/** Every argument of a window, checked before the lock, the watchdog or any write. */
function checkWindow(change: SettingsChange, fn: unknown, guardOptions: GuardOptions | undefined): GuardOptions {
  optionsObject(change, 'change');
  if (change === undefined) throw argTypeError('change must be an object, got undefined');
  for (const key of Object.keys(change)) oneOf(key, CHANGE_KEYS, 'a key of change');
  if (change.mode !== undefined) oneOf(change.mode, [0, 1, 2], 'mode');
  for (const key of ['ratio', 'kbytes'] as const) {
    if (change[key] !== undefined) nonNegativeInteger(change[key], key);
  }
  if (change.ratio !== undefined && change.kbytes !== undefined) {
    throw argRangeError('settings guard: set ratio or kbytes, not both (writing one zeroes the other)');
  }
  requiredFunction(fn as () => unknown, 'fn');
  const options = optionsObject(guardOptions);
  optionalFunction(options.onWait, 'onWait');
  if (options.lockTimeoutMs !== undefined) nonNegativeInteger(options.lockTimeoutMs, 'lockTimeoutMs');
  if (options.marginBytes !== undefined) nonNegativeInteger(options.marginBytes, 'marginBytes');
  return options;
}

/** The settings the change asks for, starting from `cur`, with the kernel's zeroing applied. */
function requested(cur: SettingsSnapshot, change: SettingsChange): SettingsSnapshot {
  const mode = change.mode ?? cur.mode;
  if (change.kbytes !== undefined) return { mode, ratio: 0, kbytes: change.kbytes };
  if (change.ratio !== undefined) return { mode, ratio: change.ratio, kbytes: 0 };
  return { mode, ratio: cur.ratio, kbytes: cur.kbytes };
}

/** The default headroom: max(2 GiB, 10% of MemTotal). */
export function defaultMarginBytes(memTotalBytes: number): number {
  return Math.max(2 * 1024 ** 3, Math.ceil(memTotalBytes / 10));
}

/** In mode 2, raises the limit (via kbytes) when CommitLimit - Committed_AS would fall below the margin. */
function withHeadroom(target: SettingsSnapshot, options: GuardOptions): { target: SettingsSnapshot; raise: HeadroomRaise | null } {
  if (target.mode !== 2) return { target, raise: null };
  const m = readMeminfo();
  const committed = sampleCommitted(3).max;
  const limit = commitLimitFormula(m, target, pageSize).bytes;
  const margin = options.marginBytes ?? defaultMarginBytes(m.memTotal);
  if (limit - committed >= margin) return { target, raise: null };
  const pageKb = pageSize / 1024;
  const kbytes = Math.ceil((committed + margin - m.swapTotal) / 1024 / pageKb) * pageKb;
  const raised: SettingsSnapshot = { mode: 2, ratio: 0, kbytes };
  return {
    target: raised,
    raise: {
      committedAsBytes: committed,
      requestedCommitLimitBytes: limit,
      marginBytes: margin,
      kbytes,
      commitLimitBytes: commitLimitFormula(m, raised, pageSize).bytes,
    },
  };
}

/** Applies the change and checks that what it wrote is in force; restores and throws otherwise. */
function apply(
  original: SettingsSnapshot,
  change: SettingsChange,
  options: GuardOptions,
): { applied: SettingsSnapshot; headroom: HeadroomRaise | null } {
  const { target, raise } = withHeadroom(requested(original, change), options);
  try {
    writeSettings(target);
    const applied = readSettingsSnapshot();
    if (!sameSettings(applied, target))
      throw new Error(`settings guard: applying ${formatSettings(target)} left ${formatSettings(applied)}`);
    return { applied, headroom: raise };
  } catch (e) {
    restoreSync(original);
    throw e;
  }
}

async function nestedWindow<T>(change: SettingsChange, fn: (w: GuardWindow) => Promise<T>, options: GuardOptions): Promise<T> {
  const original = readSettingsSnapshot();
  const { applied, headroom } = apply(original, change, options);
  try {
    return await fn({ original, applied, headroom, nested: true });
  } finally {
    restoreSync(original);
  }
}

/**
 * Runs `fn` with `change` in force and restores the settings however it ends. Takes the
 * exclusive settings lock (waiting, and saying so through options.onWait, while another process
 * holds it; a shared hold of this process is upgraded). Inside another window of this process it
 * nests: the outer window holds the lock and the watchdog, and this one restores what it found.
 */
export async function withOvercommitSettings<T>(
  change: SettingsChange,
  fn: (window: GuardWindow) => Promise<T>,
  guardOptions?: GuardOptions,
): Promise<T> {
  const options = checkWindow(change, fn, guardOptions);
  if (nesting.getStore()) return nestedWindow(change, fn, options);
  return inTurn(() => outerWindow(change, fn, options));
}

async function outerWindow<T>(change: SettingsChange, fn: (window: GuardWindow) => Promise<T>, options: GuardOptions): Promise<T> {
  const avail = guardAvailability();
  if (!avail.available) throw new Error(`settings guard: cannot change the overcommit settings: ${avail.reason}`);
  const lockOptions = {
    ...(options.onWait ? { onWait: options.onWait } : {}),
    ...(options.lockTimeoutMs !== undefined ? { timeoutMs: options.lockTimeoutMs } : {}),
  };
  const lock = await acquireSettingsLock('exclusive', lockOptions);
  let watchdog: ChildProcess | null = null;
  let restored = false;
  let forgetEndHandler = (): void => {};
  try {
    const original = readSettingsSnapshot();
    watchdog = startWatchdog(original, lock.fd);
    active = { original, restored: false };
    forgetEndHandler = onProcessEnd(restoreOnExit, 'first');
    const { applied, headroom } = apply(original, change, options);
    try {
      return await nesting.run(true, () => fn({ original, applied, headroom, nested: false }));
    } finally {
      active.restored = true;
      restoreSync(original);
      restored = true;
    }
  } finally {
    forgetEndHandler();
    active = null;
    if (watchdog) await dismissWatchdog(watchdog, restored);
    lock.release();
  }
}

/** Runs `fn` under overcommit mode `mode` (with the mode-2 headroom rule), restoring afterwards. */
export function withMode<T>(mode: OvercommitMode, fn: (window: GuardWindow) => Promise<T>, options?: GuardOptions): Promise<T> {
  return withOvercommitSettings({ mode }, fn, options);
}
