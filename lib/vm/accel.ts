/**
 * The guest's accelerator, chosen honestly: KVM only where /dev/kvm opens and a KVM guest shows
 * life quickly, TCG (emulation) otherwise, and always with the reason. A /dev/kvm that opens
 * proves little: under nested virtualization it may accept a guest and never run it.
 */
import { closeSync, openSync } from 'node:fs';

export type Accel = 'kvm' | 'tcg';

/** What the user asked for (--accel, or OVERCOMMIT_LAB_ACCEL): auto tries KVM and falls back to TCG. */
export type AccelRequest = 'auto' | Accel;

export const ACCEL_REQUESTS: readonly AccelRequest[] = ['auto', 'kvm', 'tcg'];

/** The environment variable that sets --accel's default (for CI). */
export const ACCEL_ENV = 'OVERCOMMIT_LAB_ACCEL';

/**
 * How long a KVM guest has to show life: the guest's /init saying it booted. A working KVM
 * prints the kernel's first line well under a second after qemu starts and reaches /init in 1-2 s
 * (TCG needs 2-10 s for the same on a 2-core host); 15 s leaves a busy host a wide margin, and a
 * KVM that accepts guests but never runs them (nested virtualization) costs 15 s per command,
 * not the command's whole timeout.
 */
export const KVM_LIFE_MS = 15_000;

/**
 * How long a TCG guest has to show life: here it reaches /init in 2-10 s; 120 s covers a host
 * ten times slower. A guest that says nothing by then is stopped and reported with its console.
 */
export const TCG_LIFE_MS = 120_000;

/** Whether /dev/kvm opens for reading and writing (as qemu opens it), and if not, why. */
export type KvmDevice = { opens: true } | { opens: false; why: string };

export function openKvmDevice(device = '/dev/kvm'): KvmDevice {
  try {
    closeSync(openSync(device, 'r+'));
    return { opens: true };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return { opens: false, why: `${device}: ${err.code ?? 'error'} (${err.message.replace(/^[A-Z]+: /, '').replace(/, open .*$/, '')})` };
  }
}

/** How a first guest under KVM went: it showed life, said nothing in time, or qemu could not run it. */
export type KvmTrial = { kind: 'life' } | { kind: 'silent'; waitedMs: number } | { kind: 'refused'; why: string };

/** The next step: boot under an accelerator (and why), try a guest under KVM first, or refuse. */
export type AccelStep = { use: Accel; why: string } | { tryKvm: true } | { refuse: string };

/**
 * The choice, from the request, /dev/kvm's state and (once tried) a KVM guest's first seconds.
 * A forced KVM that cannot work is refused with the reason rather than waited on.
 */
export function chooseAccel(request: AccelRequest, device: KvmDevice, trial?: KvmTrial): AccelStep {
  if (request === 'tcg') return { use: 'tcg', why: 'TCG as asked (--accel tcg)' };
  if (!device.opens) {
    if (request === 'kvm') return { refuse: `--accel kvm: ${device.why}; use --accel tcg or auto` };
    return { use: 'tcg', why: `KVM is unusable: ${device.why}` };
  }
  if (trial === undefined) return { tryKvm: true };
  if (trial.kind === 'life') {
    return { use: 'kvm', why: request === 'kvm' ? 'KVM as asked (--accel kvm)' : 'KVM: /dev/kvm opens and a guest under it booted' };
  }
  const problem =
    trial.kind === 'silent'
      ? `a guest under KVM showed no life within ${Math.round(trial.waitedMs / 1000)} s (/dev/kvm opens, but KVM does not run guests here; nested virtualization?)`
      : trial.why;
  if (request === 'kvm') return { refuse: `--accel kvm: ${problem}; use --accel tcg or auto` };
  return { use: 'tcg', why: `TCG: ${problem}` };
}

/**
 * How a first guest under KVM went, from its qemu's end: it booted (or failed for a reason of its
 * own, one TCG would share: the host refusing its memory), said nothing in time, or qemu ended
 * before the guest booted (qemu's last words say why: "failed to initialize kvm", a failed MSR write).
 */
export function kvmTrial(
  r: { silent: boolean; exitCode: number | null; console: string },
  booted: boolean,
  lifeMs: number,
  memoryRefused: boolean,
): KvmTrial {
  if (booted || memoryRefused) return { kind: 'life' };
  if (r.silent) return { kind: 'silent', waitedMs: lifeMs };
  const last = r.console
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .slice(-2)
    .join(' ');
  return {
    kind: 'refused',
    why: `qemu ended before the guest booted (${last === '' ? `exit code ${r.exitCode ?? 'none: killed'}` : last})`,
  };
}

/** --accel's value, or the environment's (OVERCOMMIT_LAB_ACCEL), or auto; undefined when invalid. */
export function accelRequest(flag: string | undefined, env: string | undefined = process.env[ACCEL_ENV]): AccelRequest | undefined {
  const text = flag ?? (env === undefined || env === '' ? 'auto' : env);
  return (ACCEL_REQUESTS as readonly string[]).includes(text) ? (text as AccelRequest) : undefined;
}

/**
 * The default timeout, from what the guest runs and how fast the accelerator is: a boot
 * allowance (the guest's setup, a swap file written) plus one per experiment run (experiment ×
 * mode). Under TCG an experiment run takes 5 s on average here, the slowest (the OOM kill, the
 * Redis fork) up to a minute; KVM is 5-20 times faster. `runs` undefined: a shell line, whose
 * length nothing tells, gets 30 minutes.
 */
export function defaultTimeoutMs(accel: Accel, runs: number | undefined): number {
  if (runs === undefined) return 1_800_000;
  const [boot, perRun] = accel === 'tcg' ? [300_000, 90_000] : [120_000, 30_000];
  return boot + Math.max(1, runs) * perRun;
}
