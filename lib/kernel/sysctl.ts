/**
 * The overcommit sysctls in /proc/sys/vm, read-only. Writing them belongs to the settings guard;
 * this module only says whether a write could succeed.
 */
import { closeSync, openSync, readFileSync } from 'node:fs';
import { parseOvercommitMode } from '../verdict/modes.js';
import type { OvercommitMode } from '../verdict/types.js';
import { mountContaining, readMountinfo } from './mountinfo.js';
import { hasCapSysAdmin } from './status.js';

export const OVERCOMMIT_MEMORY_PATH = '/proc/sys/vm/overcommit_memory';

export interface OvercommitSettings {
  mode: OvercommitMode;
  ratio: number;
  kbytes: number;
  adminReserveKbytes: number;
  userReserveKbytes: number;
}

function readVmInt(name: string): number {
  const text = readFileSync(`/proc/sys/vm/${name}`, 'utf8').trim();
  if (!/^\d+$/.test(text)) throw new Error(`/proc/sys/vm/${name}: expected a non-negative integer, got ${JSON.stringify(text)}`);
  return Number(text);
}

/** vm.mmap_min_addr: the lowest address mmap gives out (the bottom of the usable address space). */
export function readMmapMinAddr(): number {
  return readVmInt('mmap_min_addr');
}

export function readOvercommitSettings(): OvercommitSettings {
  return {
    mode: parseOvercommitMode(readVmInt('overcommit_memory')),
    ratio: readVmInt('overcommit_ratio'),
    kbytes: readVmInt('overcommit_kbytes'),
    adminReserveKbytes: readVmInt('admin_reserve_kbytes'),
    userReserveKbytes: readVmInt('user_reserve_kbytes'),
  };
}

// The modes' names and wordings are pure (rules and reports use them): they live in the verdict layer.
export { modeDescription, modeName, type OvercommitModeName, parseOvercommitMode } from '../verdict/modes.js';

export interface SysctlWritability {
  writable: boolean;
  /** Why not, when not writable. */
  reason?: string;
}

/**
 * Whether this process could write vm.overcommit_memory, checked cheapest first. The final
 * check opens the file for writing and closes it without writing: it catches what the others
 * cannot see (user namespaces, LSMs).
 */
export function sysctlWritability(): SysctlWritability {
  if (process.platform !== 'linux') return { writable: false, reason: `not Linux (platform ${process.platform})` };
  if (!hasCapSysAdmin()) return { writable: false, reason: 'not root: CAP_SYS_ADMIN is not in CapEff of /proc/self/status' };
  // Containers commonly bind-mount /proc/sys read-only even for uid 0.
  const mount = mountContaining(readMountinfo(), OVERCOMMIT_MEMORY_PATH);
  if (mount && (mount.mountOptions.includes('ro') || mount.superOptions.includes('ro'))) {
    return {
      writable: false,
      reason: `${mount.mountPoint} is mounted read-only (${mount.fsType}, options ${mount.mountOptions.join(',')})`,
    };
  }
  try {
    closeSync(openSync(OVERCOMMIT_MEMORY_PATH, 'r+'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    return { writable: false, reason: `opening ${OVERCOMMIT_MEMORY_PATH} for writing failed: ${code}` };
  }
  return { writable: true };
}
