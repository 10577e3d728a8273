/**
 * `vm`'s work directories: each is named after the process that owns it, so that a `vm` killed
 * with SIGKILL (which runs no cleanup) leaves something the next one can sweep: the directories
 * of owners that are gone, and a qemu of theirs that outlived them (its pid file is there).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PREFIX = 'overcommit-lab-vm-';
const OWNED = /^overcommit-lab-vm-(\d+)-[A-Za-z0-9]{6}$/;

/** The pid file qemu writes in its work directory (-pidfile). */
export const QEMU_PID_FILE = 'qemu.pid';

/** A fresh work directory owned by this process. */
export function makeWorkDir(parent = tmpdir()): string {
  return mkdtempSync(join(parent, `${PREFIX}${process.pid}-`));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists, under another user.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Kills the qemu a dead owner left running, if its pid file names a live qemu using `dir`. */
function killLeftQemu(dir: string): void {
  let pid: number;
  try {
    pid = Number(readFileSync(join(dir, QEMU_PID_FILE), 'utf8').trim());
    // The pid may have been reused since: only a process whose command line names this directory.
    if (!Number.isInteger(pid) || pid <= 0 || !readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir)) return;
  } catch {
    return;
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {}
}

/**
 * Removes the work directories under `parent` whose owner is no longer running (and kills a qemu
 * left behind in one); a live owner's are left alone, as are directories not named by this
 * module. Returns the directories removed.
 */
export function sweepStaleWorkDirs(parent = tmpdir()): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = OWNED.exec(name);
    if (m === null || alive(Number(m[1]))) continue;
    const dir = join(parent, name);
    killLeftQemu(dir);
    try {
      rmSync(dir, { recursive: true, force: true });
      removed.push(dir);
    } catch {}
  }
  return removed;
}
