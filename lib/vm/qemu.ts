/**
 * qemu: the command line for one guest, and running it with a timeout and a bound on its first
 * sign of life, its console read line by line, and the process killed and reaped on every path
 * (exit, timeout, error, signal; and SIGKILL of this process, through a parent-death signal).
 */

import { spawn } from 'node:child_process';
import { DISPOSABLE_CMDLINE_WORD } from '../safety/disposable.js';
import { onProcessEnd } from '../safety/process-end.js';
import type { Accel } from './accel.js';
import { MACHINES, type Machine } from './arch.js';
import type { Share } from './initramfs.js';

export interface QemuPlan {
  /** The guest's architecture: qemu's machine, CPU and console (default x64). */
  machine?: Machine;
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
  /** Where qemu writes its pid (the next `vm` kills a qemu whose owner was SIGKILLed before it could). */
  pidFile?: string;
}

export function qemuArgs(p: QemuPlan): string[] {
  const machine = p.machine ?? MACHINES.x64;
  const append = [
    `console=${machine.console}`,
    // A panic (PID 1 ending before it powered off) reboots at once, and -no-reboot turns that into qemu's exit.
    'panic=-1',
    // An oops panics too, so a guest whose kernel crashed ends at once with its console, not at the timeout.
    'oops=panic',
    // Before 5.4 a fresh VM has no entropy and Node's start blocks in getrandom(); -cpu max has RDRAND.
    'random.trust_cpu=on',
    // The guest exists for this one run: experiments may reproduce a document's scenario at full size.
    DISPOSABLE_CMDLINE_WORD,
    ...(p.verbose ? [] : ['quiet']),
    ...p.append,
  ];
  const args = [
    ...machine.machine,
    '-nodefaults',
    '-no-reboot',
    '-accel',
    p.accel === 'kvm' ? 'kvm' : `tcg,thread=${machine.tcgThread}`,
    '-cpu',
    p.accel === 'kvm' ? 'host' : machine.tcgCpu,
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
  if (p.pidFile !== undefined) args.push('-pidfile', p.pidFile);
  return args;
}

export interface QemuResult {
  /** qemu's exit code, or null when it was killed. */
  exitCode: number | null;
  timedOut: boolean;
  /** Killed because no line showed life within `lifeMs`. */
  silent: boolean;
  /** The whole console, as the guest wrote it. */
  console: string;
}

/** A line (its timestamps taken off) that starts a kernel's crash report: an oops, a BUG, x86's traps as die() prints them. */
const CRASH_START = /^(?:Oops: |BUG: |kernel BUG at|Unable to handle kernel|Internal error: |[a-z][^:]*: [0-9a-f]{4} \[#\d+\])/;

/**
 * Why the guest's kernel panicked, from its console: the first crash report's line before the
 * panic (with oops=panic every oops ends in one), else the panic's own line ("Attempted to kill
 * init!"); undefined when it did not panic. Kernel reports that do not panic (a soft lockup under
 * a loaded host) and userland lines alone name nothing.
 */
export function kernelPanicLine(console: string): string | undefined {
  // A kernel line may follow the guest's progress on the same console line (no newline before it).
  const lines = console.split(/\r?\n|\r/).map((l) =>
    l
      .replace(/^.*?(?=\[\s*\d+\.\d+\])/, '')
      .replace(/^(?:\[[^\]]*\]\s*)*/, '')
      .trim(),
  );
  const panic = lines.findIndex((l) => l.startsWith('Kernel panic - not syncing'));
  if (panic < 0) return undefined;
  return lines.slice(0, panic).find((l) => CRASH_START.test(l)) ?? lines[panic];
}

export interface QemuRun {
  /** qemu is killed after this long. */
  timeoutMs: number;
  /** qemu is killed when no console line satisfies `isLife` within this long. */
  lifeMs: number;
  isLife: (line: string) => boolean;
  /** Each console line (carriage returns end lines too: the guest's progress rewrites its line). */
  onLine: (line: string) => void;
  /**
   * A program that sets a parent-death signal and executes the rest (util-linux's
   * `setpriv --pdeathsig KILL`), so that qemu dies with this process even when it is SIGKILLed.
   */
  pdeathsig?: readonly string[];
}

/** Runs qemu until it exits, `timeoutMs` passes, or it shows no life within `lifeMs` (then it is killed). */
export function runQemu(qemu: string, args: readonly string[], r: QemuRun): Promise<QemuResult> {
  return new Promise((resolve, reject) => {
    const [file, ...argv] = [...(r.pdeathsig ?? []), qemu, ...args];
    const child = spawn(file!, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let console = '';
    let pending = '';
    let timedOut = false;
    let silent = false;
    const kill = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    const unregister = onProcessEnd(kill, 'first');
    const timer = setTimeout(() => {
      timedOut = !silent;
      kill();
    }, r.timeoutMs);
    let lifeTimer: NodeJS.Timeout | undefined = setTimeout(() => {
      silent = !timedOut;
      kill();
    }, r.lifeMs);
    const line = (text: string) => {
      if (lifeTimer !== undefined && r.isLife(text)) {
        clearTimeout(lifeTimer);
        lifeTimer = undefined;
      }
      r.onLine(text);
    };
    const take = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      console += text;
      pending += text;
      const parts = pending.split(/\r\n|\r|\n/);
      pending = parts.pop() ?? '';
      for (const l of parts) line(l);
    };
    const stop = () => {
      clearTimeout(timer);
      clearTimeout(lifeTimer);
      unregister();
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('error', (e) => {
      stop();
      reject(e);
    });
    child.on('close', (code) => {
      stop();
      if (pending !== '') line(pending);
      resolve({ exitCode: code, timedOut, silent, console });
    });
  });
}
