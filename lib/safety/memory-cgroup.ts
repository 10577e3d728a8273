/**
 * Temporary memory cgroups: a group with a memory limit, created under this process's own
 * memory cgroup for one experiment's child, and removed on every path (success, error, SIGINT,
 * SIGTERM, SIGHUP, process exit). A crash (SIGKILL) can still leave one behind: sweepStaleCgroups()
 * removes the groups of dead processes, and runs each time a group is created.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { findMemoryCgroup, type MemoryCgroup } from '../kernel/cgroup.js';
import { readStat } from '../kernel/stat.js';
import { hasCapSysAdmin } from '../kernel/status.js';
import { onProcessEnd } from './process-end.js';
import { sleepSync } from './sleep-sync.js';

export interface TempMemoryCgroup {
  /** The group's directory. */
  path: string;
  version: 1 | 2;
  /** Write a pid (or '0' from the process itself) here to move a process into the group. */
  procsFile: string;
  /** The limit requested (the kernel rounds it down to whole pages). */
  limitBytes: number;
  /** How many processes the OOM killer has killed in this group (v1 memory.oom_control, v2 memory.events). */
  oomKills(): number;
  /** v2: memory.events; v1: memory.oom_control's fields, memory.failcnt as `failcnt` and memory.memsw.failcnt as `memsw_failcnt`. */
  memoryEvents(): Record<string, number>;
  /** Removes the group (idempotent); kills our own children still in it first. */
  remove(): void;
}

const PREFIX = 'overcommit-lab-';
const NAME = /^overcommit-lab-(\d+)-\d+$/;

let counter = 0;
const live = new Set<TempMemoryCgroup>();

export interface CgroupAvailability {
  available: boolean;
  /** Why groups cannot be made here (no root, no memory controller, not permitted). */
  reason?: string;
}

/** Whether this process may create memory cgroups; callers skip, or fall back, with `reason`. */
export function memoryCgroupAvailability(): CgroupAvailability {
  const cg = findMemoryCgroup();
  // Without root, only a cgroup v2 subtree delegated to this user (writable, memory enabled).
  if (!hasCapSysAdmin() && !(cg.available && cg.version === 2 && cg.canCreateChild)) {
    return { available: false, reason: 'needs root (CAP_SYS_ADMIN) or a delegated cgroup v2 subtree to create memory cgroups' };
  }
  if (!cg.available) return { available: false, reason: `no memory cgroup controller: ${cg.reason}` };
  if (!cg.canCreateChild)
    return { available: false, reason: `cannot create a memory cgroup under ${cg.ownDir}: ${cg.reason ?? 'not permitted'}` };
  return { available: true };
}

function usableCgroup(): MemoryCgroup {
  const cg = findMemoryCgroup();
  if (!cg.available) throw new Error(`no memory cgroup: ${cg.reason}`);
  if (!cg.canCreateChild) throw new Error(`cannot create a memory cgroup under ${cg.ownDir}: ${cg.reason ?? 'unknown reason'}`);
  return cg;
}

/** "key value" lines (memory.events, memory.oom_control) as numbers. */
function readKeyValues(file: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const [key, value] = line.trim().split(/\s+/);
    if (key && value !== undefined && /^\d+$/.test(value)) out[key] = Number(value);
  }
  return out;
}

function procs(dir: string): number[] {
  try {
    return readFileSync(join(dir, 'cgroup.procs'), 'utf8')
      .split('\n')
      .filter((s) => s !== '')
      .map(Number);
  } catch {
    return [];
  }
}

function alive(pid: number): boolean {
  return existsSync(`/proc/${pid}`);
}

/** rmdir, retrying briefly on EBUSY (a task that just exited may still be counted). */
function rmdirRetrying(dir: string, attempts: number): void {
  for (let i = 0; ; i++) {
    try {
      rmdirSync(dir);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || i + 1 >= attempts) throw e;
      sleepSync(20);
    }
  }
}

function removeGroup(dir: string): void {
  if (!existsSync(dir)) return;
  // This process itself may be inside (withProcessInMemoryCgroup): back to the group it came from.
  if (procs(dir).includes(process.pid)) writeFileSync(join(dirname(dir), 'cgroup.procs'), String(process.pid));
  try {
    rmdirRetrying(dir, 5);
    return;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EBUSY') throw e;
  }
  // Callers reap their children before removing; this covers a child left by an error path.
  // Only our own children are killed: never a process another program put there.
  const ours = procs(dir).filter((pid) => readStat(pid)?.ppid === process.pid);
  for (const pid of ours) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (let i = 0; i < 100 && procs(dir).some((pid) => ours.includes(pid)); i++) sleepSync(20);
  try {
    rmdirRetrying(dir, 50);
  } catch (e) {
    const left = procs(dir);
    throw new Error(`could not remove ${dir}: ${(e as Error).message}; processes still in it: ${left.join(', ') || 'none'}`);
  }
}

function removeAllLive(): void {
  for (const cg of [...live]) {
    try {
      cg.remove();
    } catch (e) {
      process.stderr.write(`overcommit-lab: ${(e as Error).message}\n`);
    }
  }
}

/** Unregisters removeAllLive from the process-end cleanups; set while any group exists. */
let forgetEndHandler: (() => void) | null = null;

/**
 * Removes leftover overcommit-lab-<pid>-* groups under our own memory cgroup whose <pid> is no
 * longer alive (a crash left them). Returns the directories removed; a group that still holds
 * processes is left alone (they are not ours to kill).
 */
export function sweepStaleCgroups(): string[] {
  const cg = findMemoryCgroup();
  if (!cg.available) return [];
  let names: string[];
  try {
    names = readdirSync(cg.ownDir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = NAME.exec(name);
    if (!m || alive(Number(m[1]))) continue;
    const dir = join(cg.ownDir, name);
    try {
      rmdirRetrying(dir, 5);
      removed.push(dir);
    } catch {
      // still populated (by an orphan of the dead process): not ours to kill
    }
  }
  return removed;
}

/** Writes a limit file; v1's memsw limit must stay >= the memory limit, so order matters. */
function writeLimits(dir: string, version: 1 | 2, limitBytes: number): void {
  if (version === 1) {
    writeFileSync(join(dir, 'memory.limit_in_bytes'), String(limitBytes));
    // memory+swap limited to the same value: the group cannot spill into swap.
    const memsw = join(dir, 'memory.memsw.limit_in_bytes');
    if (existsSync(memsw)) writeFileSync(memsw, String(limitBytes));
  } else {
    writeFileSync(join(dir, 'memory.max'), String(limitBytes));
    const swapMax = join(dir, 'memory.swap.max');
    if (existsSync(swapMax)) writeFileSync(swapMax, '0');
  }
}

/** Creates overcommit-lab-<pid>-<n> under this process's memory cgroup, limited to `limitBytes`. */
export function createMemoryCgroup(limitBytes: number): TempMemoryCgroup {
  if (!Number.isSafeInteger(limitBytes) || limitBytes <= 0)
    throw new RangeError(`limitBytes must be a positive safe integer, got ${limitBytes}`);
  const parent = usableCgroup();
  sweepStaleCgroups();
  const version = parent.version;
  const path = join(parent.ownDir, `${PREFIX}${process.pid}-${counter++}`);
  mkdirSync(path);
  try {
    writeLimits(path, version, limitBytes);
  } catch (e) {
    rmdirRetrying(path, 5);
    throw e;
  }
  const cg: TempMemoryCgroup = {
    path,
    version,
    procsFile: join(path, 'cgroup.procs'),
    limitBytes,
    oomKills() {
      const events = cg.memoryEvents();
      return events.oom_kill ?? 0;
    },
    memoryEvents() {
      if (version === 2) return readKeyValues(join(path, 'memory.events'));
      const out = readKeyValues(join(path, 'memory.oom_control'));
      out.failcnt = Number(readFileSync(join(path, 'memory.failcnt'), 'utf8').trim());
      const memsw = join(path, 'memory.memsw.failcnt');
      if (existsSync(memsw)) out.memsw_failcnt = Number(readFileSync(memsw, 'utf8').trim());
      return out;
    },
    remove() {
      removeGroup(path);
      live.delete(cg);
      if (live.size === 0 && forgetEndHandler !== null) {
        forgetEndHandler();
        forgetEndHandler = null;
      }
    },
  };
  forgetEndHandler ??= onProcessEnd(removeAllLive);
  live.add(cg);
  return cg;
}

/** Runs `fn` with a fresh limited group, and removes the group however `fn` ends. */
export async function withMemoryCgroup<T>(limitBytes: number, fn: (cg: TempMemoryCgroup) => Promise<T>): Promise<T> {
  const cg = createMemoryCgroup(limitBytes);
  try {
    return await fn(cg);
  } finally {
    cg.remove();
  }
}

/**
 * Runs `fn` with THIS process moved into a fresh group limited to `limitBytes`, and moves it
 * back before the group is removed. For touching large amounts of memory in-process (the
 * documents' sparse array through the Mapping API) without risk to the rest of the machine:
 * only pages charged while inside count against the limit, so give `fn`'s own need plus slack.
 */
export async function withProcessInMemoryCgroup<T>(limitBytes: number, fn: (cg: TempMemoryCgroup) => Promise<T>): Promise<T> {
  return withMemoryCgroup(limitBytes, async (cg) => {
    writeFileSync(cg.procsFile, String(process.pid));
    return fn(cg);
  });
}
