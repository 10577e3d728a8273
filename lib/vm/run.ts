/**
 * Runs one command of this package in a throwaway guest: resolves the kernel, checks the host's
 * tools, builds the initramfs (and a swap disk), boots qemu, follows the guest's console, and
 * brings back the command's exit code and standard output. The host's own settings are never
 * touched; everything is removed afterwards, and qemu is killed on every path (a parent-death
 * signal even when this process is SIGKILLed; the next run sweeps what such a death left).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, realpathSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { readMeminfo } from '../kernel/meminfo.js';
import { packageRoot } from '../native/binding.js';
import { onProcessEnd } from '../safety/process-end.js';
import { GiB, gib } from '../units.js';
import type { VmInfo } from '../verdict/types.js';
import {
  type Accel,
  type AccelRequest,
  type AccelStep,
  chooseAccel,
  defaultTimeoutMs,
  KVM_LIFE_MS,
  kvmTrial,
  openKvmDevice,
  TCG_LIFE_MS,
} from './accel.js';
import { MACHINES, type Machine, userlandOf } from './arch.js';
import {
  buildInitramfs,
  builtinModules,
  type CgroupVersion,
  indexModules,
  initramfsEntries,
  initScript,
  MARKER,
  modinfoDepends,
  moduleNeeds,
  resolveModules,
  rootSymlinks,
  type Share,
  type SwapSpec,
  userlandSymlinks,
} from './initramfs.js';
import { resolveKernel } from './kernel.js';
import { kernelPanicLine, type QemuResult, qemuArgs, runQemu } from './qemu.js';
import { checkHostTools, type ForeignGuest, which } from './requirements.js';
import { makeWorkDir, QEMU_PID_FILE, sweepStaleWorkDirs } from './work.js';

/** Host memory left for everyone else while a guest runs. */
const HOST_MARGIN_BYTES = 2 * GiB;

export interface VmOptions {
  kernel: string;
  memoryBytes: number;
  cpus: number;
  swap: SwapSpec;
  cgroup: CgroupVersion;
  /** auto (the default): KVM where a guest under it shows life within KVM_LIFE_MS, TCG otherwise. */
  accel?: AccelRequest;
  /** The guest is stopped after this long; default: scaled to `runs` and the accelerator (defaultTimeoutMs). */
  timeoutMs?: number;
  /** The experiment runs (experiment × mode) the guest's command makes, for the default timeout; undefined: unknown. */
  runs?: number;
  /** How long a guest under KVM has to show life before auto falls back to TCG (default KVM_LIFE_MS). */
  kvmLifeMs?: number;
  verbose: boolean;
  /** overcommit-lab's arguments in the guest, or a shell line run in the package directory. */
  guest: { args: readonly string[] } | { shell: string };
}

export interface VmHooks {
  /** Booting, running, and the guest's own progress lines. */
  progress?: (message: string) => void;
  /** What the user should know even without progress: the accelerator's fallback and why. */
  notice?: (message: string) => void;
  /** Every console line (for --verbose). */
  console?: (line: string) => void;
  /** A shell line's (--exec) output, line by line as the guest writes it to its console. */
  output?: (line: string) => void;
}

export interface VmResult {
  info: VmInfo;
  /** The guest command's exit code. */
  exitCode: number;
  /** The guest command's standard output ('' for a shell line, whose output is on the console). */
  stdout: string;
  console: string;
}

/** A guest that did not complete: the message says why; `console` holds what the guest wrote. */
export class VmError extends Error {
  override name = 'VmError';
  constructor(
    message: string,
    readonly console: string,
  ) {
    super(message);
  }
}

function swapText(swap: SwapSpec): string {
  return swap.kind === 'none' ? 'none' : `${swap.kind}:${swap.bytes}`;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: terminal escape sequences
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;

/** qemu's words when the host's mmap of the guest's RAM fails. */
const GUEST_MEMORY_REFUSED = /cannot set up guest memory/;

/** The host directories the guest mounts read-only: /usr, and Node and the package where they live outside it. */
export function guestShares(nodePath: string, pkgDir: string): Share[] {
  const shares: Share[] = [{ tag: 'usr', hostPath: '/usr', readonly: true }];
  const covered = (p: string) => shares.some((s) => p === s.hostPath || p.startsWith(`${s.hostPath}/`));
  // A Node outside /usr (nvm, /opt) brings its whole install: <prefix>/bin/node.
  const nodePrefix = dirname(dirname(nodePath));
  if (!covered(nodePath)) shares.push({ tag: 'node', hostPath: nodePrefix, readonly: true });
  if (!covered(pkgDir)) shares.push({ tag: 'pkg', hostPath: pkgDir, readonly: true });
  return shares;
}

/**
 * A guest of another architecture than this host's: it shares none of the host's /usr but the
 * cached userland of its own (Node, glibc, busybox) and runs the package's prebuild for it.
 */
function foreignGuest(machine: Machine, pkgDir: string): ForeignGuest | undefined {
  if (machine.arch === process.arch) return undefined;
  return { userland: userlandOf(machine), prebuildDir: join(pkgDir, 'prebuilds', `linux-${machine.arch}`) };
}

export async function runInVm(o: VmOptions, hooks: VmHooks = {}): Promise<VmResult> {
  const progress = hooks.progress ?? (() => {});
  const notice = hooks.notice ?? (() => {});
  const kernel = resolveKernel(o.kernel);
  const machine = MACHINES[kernel.arch.arch];
  const pkgDir = realpathSync(packageRoot);
  const foreign = foreignGuest(machine, pkgDir);
  const moduleIndex = kernel.modulesDir === undefined ? new Map<string, string>() : indexModules(kernel.modulesDir);
  const tools = checkHostTools({
    modules: kernel.modulesDir !== undefined,
    compressedModules: [...moduleIndex.values()].some((f) => f.endsWith('.xz')),
    ext4Image: o.swap.kind === 'file',
    machine,
    ...(foreign === undefined ? {} : { foreign }),
  });
  if ('missing' in tools) throw new Error(`vm cannot start:\n  ${tools.missing.join('\n  ')}`);
  // The guest mounts shares at their host paths: the userland's real one.
  const userland = foreign === undefined ? undefined : userlandOf(machine, realpathSync(foreign.userland.dir));

  sweepStaleWorkDirs();
  const work = makeWorkDir();
  const removeWork = () => rmSync(work, { recursive: true, force: true });
  const unregister = onProcessEnd(removeWork);
  try {
    let modules: string[] = [];
    if (kernel.modulesDir !== undefined) {
      const set = resolveModules(
        moduleNeeds(o.swap),
        moduleIndex,
        builtinModules(kernel.modulesDir),
        modinfoDepends(tools.modinfo!),
        kernel.version,
      );
      if (set.missing.length > 0) throw new Error(set.missing.join(' '));
      modules = set.files;
    }
    const nodePath = userland?.node ?? realpathSync(process.execPath);
    const shares: Share[] =
      userland === undefined
        ? guestShares(nodePath, pkgDir)
        : [
            { tag: 'userland', hostPath: userland.dir, readonly: true },
            { tag: 'pkg', hostPath: pkgDir, readonly: true },
          ];
    const out = join(work, 'out');
    mkdirSync(out);
    const init = initScript({
      modules,
      shares,
      packageDir: pkgDir,
      // build/ holds the host's addon and programs, which node-gyp-build and runProgram prefer.
      ...(userland === undefined ? {} : { hidden: ['build'] }),
      outTag: 'out',
      cgroup: o.cgroup,
      swap: o.swap,
      command: 'args' in o.guest ? { argv: [nodePath, join(pkgDir, 'dist/cli/main.js'), ...o.guest.args] } : { shell: o.guest.shell },
    });
    progress(`preparing the guest (kernel ${kernel.version})`);
    const initrd = join(work, 'initramfs.cpio');
    buildInitramfs(
      initramfsEntries(tools.busybox, modules, init, userland === undefined ? rootSymlinks() : userlandSymlinks(userland.libDir)),
      join(work, 'root'),
      initrd,
      tools,
    );
    let disk: string | undefined;
    if (o.swap.kind === 'file') {
      disk = join(work, 'swap.img');
      writeFileSync(disk, '');
      // Room for the file and ext4's own journal and tables (a few percent).
      truncateSync(disk, Math.ceil(o.swap.bytes * 1.1) + 128 * 1024 * 1024);
      // Kernels before 5.x's ext4 additions cannot mount a file system with these newer features.
      execFileSync(tools.mkfsExt4!, ['-q', '-F', '-O', '^orphan_file,^metadata_csum_seed', disk], { stdio: 'ignore' });
    }
    // The guest's experiments fill its memory (the OOM kill, the Redis dataset): that is host
    // memory, so qemu starts only when the host has it to spare for everyone else too.
    const available = readMeminfo().memAvailable;
    if (available < o.memoryBytes + HOST_MARGIN_BYTES) {
      throw new VmError(
        `the host has ${gib(available)} available, less than the guest's ${gib(o.memoryBytes)} plus ${gib(HOST_MARGIN_BYTES)} kept for the host's own processes; try a smaller --memory`,
        '',
      );
    }
    const request = o.accel ?? 'auto';
    // Without a parent-death signal a SIGKILLed vm leaves qemu running until the next vm sweeps it.
    const setpriv = which('setpriv');
    if (setpriv === undefined) notice('setpriv (util-linux) is missing: if vm is killed with SIGKILL, its qemu runs on until the next vm');
    const mib = Math.round(o.memoryBytes / 1024 / 1024);
    let started = performance.now();
    let bootMs = Number.NaN;
    let failure: string | undefined;
    let running = false;
    const onLine = (raw: string) => {
      const line = raw.replace(ANSI, '');
      hooks.console?.(line);
      if (line.startsWith(`${MARKER} `)) {
        const [word, ...rest] = line.slice(MARKER.length + 1).split(' ');
        if (word === 'booted') bootMs = performance.now() - started;
        if (word === 'running') progress(`running in the guest (${kernel.version})`);
        running = word === 'running';
        if (word === 'failed:') failure = rest.join(' ');
      } else if (line.startsWith('… ')) {
        progress(`${kernel.version}: ${line.slice(2)}`);
      } else if (running && 'shell' in o.guest) {
        hooks.output?.(line);
      }
    };
    const lifeMs = (accel: Accel) => (accel === 'kvm' ? (o.kvmLifeMs ?? KVM_LIFE_MS) : TCG_LIFE_MS);
    const timeoutMs = (accel: Accel) => o.timeoutMs ?? defaultTimeoutMs(accel, o.runs);
    const bootOnce = (accel: Accel) => {
      const args = qemuArgs({
        machine,
        accel,
        memoryBytes: o.memoryBytes,
        cpus: o.cpus,
        kernel: kernel.image,
        initrd,
        append: [],
        shares: [...shares, { tag: 'out', hostPath: out, readonly: false }],
        ...(disk === undefined ? {} : { disk }),
        verbose: o.verbose,
        pidFile: join(work, QEMU_PID_FILE),
      });
      started = performance.now();
      bootMs = Number.NaN;
      return runQemu(tools.qemu, args, {
        timeoutMs: timeoutMs(accel),
        lifeMs: lifeMs(accel),
        // The guest's /init saying it booted: the kernel ran, unpacked the initramfs and started it.
        isLife: (line) => line.replace(ANSI, '').startsWith(`${MARKER} booted`),
        onLine,
        ...(setpriv === undefined ? {} : { pdeathsig: [setpriv, '--pdeathsig', 'KILL', '--'] }),
      });
    };
    const boot = async (accel: Accel) => {
      progress(`booting ${kernel.version} (${accel}, ${o.cpus} cpus, ${mib} MiB)`);
      let result = await bootOnce(accel);
      // The host refuses qemu the guest's memory while it is short of it, or in mode 2 with little
      // CommitLimit left (another process's brief mode-2 window): wait and try again, twice.
      for (let retry = 1; retry <= 2 && GUEST_MEMORY_REFUSED.test(result.console); retry++) {
        progress(`the host refused qemu ${mib} MiB; trying again (${retry}/2)`);
        await new Promise((r) => setTimeout(r, 10_000 * retry));
        result = await bootOnce(accel);
      }
      return result;
    };
    const device =
      request === 'tcg'
        ? ({ opens: true } as const)
        : foreign !== undefined
          ? ({
              opens: false,
              why: `the kernel is ${machine.arch} and this host ${process.arch} (KVM runs guests of the host's architecture only)`,
            } as const)
          : openKvmDevice();
    let step: AccelStep = chooseAccel(request, device);
    let result: QemuResult | undefined;
    if ('tryKvm' in step) {
      result = await boot('kvm');
      step = chooseAccel(
        request,
        device,
        kvmTrial(result, !Number.isNaN(bootMs), lifeMs('kvm'), GUEST_MEMORY_REFUSED.test(result.console)),
      );
    }
    if ('refuse' in step) throw new VmError(step.refuse, result?.console ?? '');
    if ('use' in step && step.use === 'tcg') {
      if (request !== 'tcg') notice(`${step.why}; running under TCG (emulation, slower)${result === undefined ? '' : ', in a new guest'}`);
      failure = undefined;
      running = false;
      result = await boot('tcg');
    }
    if (result === undefined || !('use' in step)) throw new Error('unreachable: no accelerator chosen');
    const accel = step.use;
    if (GUEST_MEMORY_REFUSED.test(result.console)) {
      throw new VmError(
        `the host refused qemu the guest's ${mib} MiB (short of memory, or overcommit mode 2 with CommitLimit nearly reached: see \`overcommit-lab settings\`); try a smaller --memory`,
        result.console,
      );
    }
    const info: VmInfo = {
      kernelSource: kernel.given,
      kernel: kernel.version,
      arch: machine.arch,
      memoryBytes: o.memoryBytes,
      cpus: o.cpus,
      swap: swapText(o.swap),
      cgroup: o.cgroup,
      accel,
      accelRequested: request,
      accelReason: step.why,
      bootMs: Math.round(bootMs),
    };
    if (failure !== undefined) throw new VmError(`the guest could not run the command: ${failure}`, result.console);
    if (result.silent) {
      throw new VmError(
        `the guest showed no life within ${Math.round(lifeMs(accel) / 1000)} s under ${accel.toUpperCase()} (${result.console.trim() === '' ? 'its console is empty' : 'its console ends as above'}); it was stopped`,
        result.console,
      );
    }
    if (result.timedOut) {
      throw new VmError(
        `the guest did not finish within ${Math.round(timeoutMs(accel) / 1000)} s; it was stopped (--timeout SECONDS allows longer)`,
        result.console,
      );
    }
    const rcFile = join(out, 'rc');
    if (!existsSync(rcFile)) {
      const panic = kernelPanicLine(result.console);
      throw new VmError(
        `the guest ended before its command did (${panic === undefined ? '' : `its kernel panicked: "${panic}"; `}qemu exit code ${result.exitCode ?? 'none'})`,
        result.console,
      );
    }
    const stdoutFile = join(out, 'stdout');
    return {
      info,
      exitCode: Number(readFileSync(rcFile, 'utf8').trim()),
      stdout: existsSync(stdoutFile) ? readFileSync(stdoutFile, 'utf8') : '',
      console: result.console,
    };
  } finally {
    unregister();
    removeWork();
  }
}
