/**
 * `overcommit-lab vm`'s command line: the guest's options before `--`, the guest's own
 * overcommit-lab command after it.
 */
import { parseArgs } from 'node:util';
import { GiB, parseSize } from '../units.js';
import { ACCEL_ENV, accelRequest } from './accel.js';
import type { SwapSpec } from './initramfs.js';
import type { VmOptions } from './run.js';

/** The parsed command line: the guest's options, and how the host shows the result. */
export interface VmArgs extends VmOptions {
  quiet: boolean;
  help: boolean;
}

/** timeoutSeconds: a shell line's (--exec); a run's scales with its experiments and the accelerator. */
export const VM_DEFAULTS = { memory: '4G', cpus: 2, swap: 'none', cgroup: 'v2', timeoutSeconds: 1800, accel: 'auto' } as const;

export const VM_USAGE = `Usage: overcommit-lab vm --kernel PATH [options] -- run [ID...] [--mode LIST] [--json] [--report FILE]

Boots PATH in a throwaway qemu guest with the host's /usr shared read-only, runs overcommit-lab
there (mode switches and OOM experiments touch only the guest), brings the result back and
powers the guest off. The host's /proc/sys/vm is never written.

  --kernel PATH         a kernel image, an unpacked kernel package (boot/vmlinuz-* or
                        boot/vmlinux-*, and lib/modules/<version>), or 'host' (the running
                        kernel, from /boot). x86-64, arm64 or ppc64el, read from the image: an
                        arm64 or ppc64el guest runs under TCG with its own userland from the
                        cache (scripts/kernels.sh 6.12-arm64 or 6.12-ppc64el-64k fetches it)
  --memory SIZE         the guest's memory (default ${VM_DEFAULTS.memory})
  --cpus N              the guest's processors (default ${VM_DEFAULTS.cpus})
  --swap none|zram:SIZE|file:SIZE
                        swap in the guest: none, a zram device, or a file on an ext4 disk
                        (default ${VM_DEFAULTS.swap})
  --cgroup v1|v2        the memory cgroup version mounted in the guest (default ${VM_DEFAULTS.cgroup})
  --accel auto|kvm|tcg  the accelerator (default ${VM_DEFAULTS.accel}, or $${ACCEL_ENV}): auto uses KVM
                        where /dev/kvm opens and a guest under it boots within 15 s, TCG
                        (emulation) otherwise, saying why; kvm fails rather than fall back
  --timeout SECONDS     stop the guest after this long (default: 5 min for the boot plus 90 s
                        per experiment and mode under TCG, 2 min plus 30 s under KVM;
                        ${VM_DEFAULTS.timeoutSeconds} s for --exec). A guest that shows no life is stopped sooner:
                        15 s under KVM, 2 min under TCG
  --exec COMMAND        run this shell line in the package directory instead of overcommit-lab
                        (its output is the guest console's)
  --verbose             show the guest's console as it runs
  --quiet               no progress
  -h, --help            this help

After --: the guest's overcommit-lab command (run, list, settings). With run, --json prints the
guest run's JSON document and nothing else; --report writes the report on the host. The JSON
gains system.vm: the kernel, memory, swap, cgroup version and accelerator of the guest (and
why that accelerator).`;

export class VmUsageError extends Error {
  override name = 'VmUsageError';
}

function parseSwap(text: string): SwapSpec {
  if (text === 'none') return { kind: 'none' };
  const m = /^(zram|file):(.+)$/.exec(text);
  if (m === null) throw new VmUsageError(`--swap takes none, zram:SIZE or file:SIZE (e.g. zram:1G), got '${text}'`);
  const bytes = size('--swap', m[2]!);
  return { kind: m[1] as 'zram' | 'file', bytes };
}

function size(flag: string, text: string): number {
  try {
    const bytes = parseSize(text);
    if (bytes <= 0) throw new Error(`'${text}' is not a positive size`);
    return bytes;
  } catch (e) {
    throw new VmUsageError(`${flag}: ${(e as Error).message}`);
  }
}

function positiveInteger(flag: string, text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new VmUsageError(`${flag} takes a whole number above 0, got '${text}'`);
  return Number(text);
}

export function parseVmArgs(argv: readonly string[]): VmArgs {
  const dash = argv.indexOf('--');
  const own = dash < 0 ? [...argv] : argv.slice(0, dash);
  const guest = dash < 0 ? [] : argv.slice(dash + 1);
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: own,
      options: {
        kernel: { type: 'string' },
        memory: { type: 'string', default: VM_DEFAULTS.memory },
        cpus: { type: 'string', default: String(VM_DEFAULTS.cpus) },
        swap: { type: 'string', default: VM_DEFAULTS.swap },
        cgroup: { type: 'string', default: VM_DEFAULTS.cgroup },
        timeout: { type: 'string' },
        accel: { type: 'string' },
        exec: { type: 'string' },
        verbose: { type: 'boolean', default: false },
        quiet: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      allowPositionals: false,
      strict: true,
    }));
  } catch (e) {
    throw new VmUsageError(`${(e as Error).message}${dash < 0 ? " (the guest's command goes after --)" : ''}`);
  }
  const help = values.help === true;
  const kernel = values.kernel as string | undefined;
  if (!help && kernel === undefined) throw new VmUsageError('vm needs --kernel PATH (an image, an unpacked kernel package, or host)');
  const cgroup = values.cgroup as string;
  if (cgroup !== 'v1' && cgroup !== 'v2') throw new VmUsageError(`--cgroup takes v1 or v2, got '${cgroup}'`);
  const exec = values.exec as string | undefined;
  if (!help && exec === undefined && guest.length === 0) {
    throw new VmUsageError("vm needs the guest's command after --, e.g. `-- run mode-matrix --json`");
  }
  if (exec !== undefined && guest.length > 0) throw new VmUsageError('give either --exec or a command after --, not both');
  const accel = accelRequest(values.accel as string | undefined);
  if (accel === undefined) {
    throw new VmUsageError(
      values.accel === undefined
        ? `${ACCEL_ENV} takes auto, kvm or tcg, got '${process.env[ACCEL_ENV]}'`
        : `--accel takes auto, kvm or tcg, got '${values.accel as string}'`,
    );
  }
  const memoryBytes = size('--memory', values.memory as string);
  if (memoryBytes < GiB / 4) throw new VmUsageError('--memory: the guest needs at least 256M');
  return {
    kernel: kernel ?? '',
    memoryBytes,
    cpus: positiveInteger('--cpus', values.cpus as string),
    swap: parseSwap(values.swap as string),
    cgroup,
    accel,
    ...(values.timeout === undefined ? {} : { timeoutMs: positiveInteger('--timeout', values.timeout as string) * 1000 }),
    verbose: values.verbose === true,
    quiet: values.quiet === true,
    help,
    guest: exec !== undefined ? { shell: exec } : { args: guest },
  };
}
