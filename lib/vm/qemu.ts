/**
 * qemu: the command line for one guest, and running it with a timeout, its console read line
 * by line, and the process killed and reaped on every path (exit, timeout, error, signal).
 */

import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { DISPOSABLE_CMDLINE_WORD } from '../safety/disposable.js';
import { onProcessEnd } from '../safety/process-end.js';
import type { Share } from './initramfs.js';

export type Accel = 'kvm' | 'tcg';

/** KVM when /dev/kvm can be opened for reading and writing; TCG (emulation) otherwise. */
export function pickAccel(device = '/dev/kvm'): Accel {
  try {
    accessSync(device, constants.R_OK | constants.W_OK);
    return 'kvm';
  } catch {
    return 'tcg';
  }
}

export interface QemuPlan {
  accel: Accel;
  memoryBytes: number;
  cpus: number;
  kernel: string;
  initrd: string;
  /** Extra words on the kernel command line. */
  append: readonly string[];
  shares: readonly Share[];
  /** A raw disk image attached as /dev/vda. */
  disk?: string;
  /** The kernel's messages on the console (otherwise 'quiet'). */
  verbose: boolean;
}

export function qemuArgs(p: QemuPlan): string[] {
  const append = [
    'console=ttyS0',
    // A panic (PID 1 ending before it powered off) reboots at once, and -no-reboot turns that into qemu's exit.
    'panic=-1',
    // Before 5.4 a fresh VM has no entropy and Node's start blocks in getrandom(); -cpu max has RDRAND.
    'random.trust_cpu=on',
    // The guest exists for this one run: experiments may reproduce a document's scenario at full size.
    DISPOSABLE_CMDLINE_WORD,
    ...(p.verbose ? [] : ['quiet']),
    ...p.append,
  ];
  const args = [
    '-nodefaults',
    '-no-reboot',
    '-accel',
    p.accel,
    '-cpu',
    p.accel === 'kvm' ? 'host' : 'max',
    '-m',
    `${Math.floor(p.memoryBytes / 1024 / 1024)}M`,
    '-smp',
    String(p.cpus),
    '-display',
    'none',
    '-serial',
    'stdio',
    '-monitor',
    'none',
    '-kernel',
    p.kernel,
    '-initrd',
    p.initrd,
    '-append',
    append.join(' '),
    '-device',
    'virtio-rng-pci',
  ];
  for (const s of p.shares) {
    args.push('-virtfs', `local,path=${s.hostPath},mount_tag=${s.tag},security_model=none${s.readonly ? ',readonly=on' : ''}`);
  }
  if (p.disk !== undefined) args.push('-drive', `file=${p.disk},format=raw,if=virtio`);
  return args;
}

export interface QemuResult {
  /** qemu's exit code, or null when it was killed. */
  exitCode: number | null;
  timedOut: boolean;
  /** The whole console, as the guest wrote it. */
  console: string;
}

/**
 * Runs qemu until it exits or `timeoutMs` passes (then it is killed). Each console line goes
 * to `onLine` (carriage returns end lines too: the guest's progress rewrites its line).
 */
export function runQemu(qemu: string, args: readonly string[], timeoutMs: number, onLine: (line: string) => void): Promise<QemuResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(qemu, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let console = '';
    let pending = '';
    let timedOut = false;
    const kill = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    const unregister = onProcessEnd(kill, 'first');
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, timeoutMs);
    const take = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      console += text;
      pending += text;
      const parts = pending.split(/\r\n|\r|\n/);
      pending = parts.pop() ?? '';
      for (const line of parts) onLine(line);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('error', (e) => {
      clearTimeout(timer);
      unregister();
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      unregister();
      if (pending !== '') onLine(pending);
      resolve({ exitCode: code, timedOut, console });
    });
  });
}
