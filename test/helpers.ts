/** Shared by the tests: the machine's mode, read under the settings lock. */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { OvercommitMode } from '../lib/experiments/model.js';
import { hasCapSysAdmin } from '../lib/kernel/status.js';
import { sysctlWritability } from '../lib/kernel/sysctl.js';

export function currentMode(): OvercommitMode {
  return Number(readFileSync('/proc/sys/vm/overcommit_memory', 'utf8').trim()) as OvercommitMode;
}

export const isRoot = hasCapSysAdmin();
export const canSwitchModes = sysctlWritability().writable;

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

/**
 * `overcommit-lab vm --kernel KERNEL [VM_ARGS] --timeout GUEST_SECONDS --quiet -- GUEST_ARGS`, as a
 * user runs it, its stdout and stderr kept. vm's timeout bounds each qemu it runs; the spawn's
 * allows 90 s more (the initramfs, a KVM trial of up to 15 s, a retry after the host refused memory),
 * so a guest that hangs is reported by vm (why, and its console), not killed silently.
 */
/** How much longer than vm's --timeout runVm's spawn may take (a test's own timeout allows more). */
export const RUN_VM_MARGIN_S = 90;

export function runVm(kernel: string, vmArgs: readonly string[], guestArgs: readonly string[], guestSeconds: number) {
  const cli = join(import.meta.dirname, '../dist/cli/main.js');
  const args = [cli, 'vm', '--kernel', kernel, ...vmArgs, '--timeout', String(guestSeconds), '--quiet', '--', ...guestArgs];
  return spawnSync(process.execPath, args, { encoding: 'utf8', timeout: (guestSeconds + RUN_VM_MARGIN_S) * 1000 });
}
