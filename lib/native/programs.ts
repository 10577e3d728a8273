/**
 * 004's three programs (settings, sparse, RLIMIT_AS) as the small separate executables the
 * document writes: built by node-gyp with the addon (build/Release/programs/) or shipped in
 * prebuilds/linux-<arch>/, so a user needs no compiler. runProgram spawns one as its own process
 * (no shell) and returns its lines. With `onPause` the program stops itself (SIGSTOP) at its
 * measurement points, the caller reads /proc/<pid>/smaps, status or Committed_AS there, and the
 * program continues (SIGCONT) when the callback returns: what is measured is the program's own
 * mapping and its own touch loop, with no race against it.
 */

import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { readStat } from '../kernel/stat.js';
import { onProcessEnd } from '../safety/process-end.js';
import { packageRoot } from './binding.js';
import { EXECUTABLES, type ProgramName } from './executables.js';
import { pageSize } from './mapping.js';
import { argRangeError, argTypeError, optionalBoolean, optionalFunction, optionsObject, positiveInteger } from './validate.js';

export type { ProgramName };

/** Where each program can stop, in the order it reaches them (native/programs/*.c). */
export const programPausePoints = {
  settings: [],
  /** After mmap (nothing touched yet), and after the touch loop (before the read-back and munmap). */
  sparse: ['mapped', 'touched'],
  /** After setrlimit, before the first mmap. */
  rlimit: ['limited'],
  /** ptrace (001's To Do, not 004's): the tracee mapped, then every page written by the tracer (the tracee still alive). */
  ptrace: ['mapped', 'written'],
  /** malloc (002's story, not 004's): after each malloc (before its writes), and after the last block is written. */
  malloc: ['allocated', 'held'],
  /** exec (001's Status): the traced child stopped before exec, then at the exec'd program's first instruction. */
  exec: ['forked', 'exec'],
} as const satisfies Record<ProgramName, readonly string[]>;

export type PausePoint<N extends ProgramName = ProgramName> = (typeof programPausePoints)[N][number];

export interface PauseContext<N extends ProgramName> {
  point: PausePoint<N>;
  /** The stopped program's pid: /proc/<pid>/* describe it as it is at `point`. */
  pid: number;
  /** The program's lines printed so far (e.g. the sparse mapping's address). */
  stdout: readonly string[];
}

export interface CommonProgramOptions<N extends ProgramName> {
  /** Called once the process exists (it is already running: use `onPause` to act before it does something). */
  onSpawn?: (pid: number) => void;
  /**
   * Makes the program stop at each of its pause points (programPausePoints) and awaits this
   * there; the program continues when it resolves. If it throws, the program is killed and
   * runProgram rejects with that error.
   */
  onPause?: (context: PauseContext<N>) => void | Promise<void>;
  /** SIGKILL the program after this long, pauses included; default 60 s. */
  timeoutMs?: number;
}

export interface SparseProgramOptions extends CommonProgramOptions<'sparse'> {
  /**
   * The array's size in bytes instead of 004's 1 GiB: a multiple of 4096 (the program's stride,
   * the document's page), at least 8192. On larger pages the kernel maps whole pages (rounded up)
   * and the program still writes one int per 4096 bytes: several writes to each page.
   */
  bytes?: number;
  /** The program prints its own mincore(2) count of the mapping at each pause point (`mincore` in the result). */
  mincore?: boolean;
}

/** The ptrace program: a tracee maps `bytes` read-only and private; the program writes every page with `method`. */
export interface PtraceProgramOptions extends CommonProgramOptions<'ptrace'> {
  /** A multiple of the page size. */
  bytes: number;
  /** The file the tracee maps (at least `bytes` long); absent: an anonymous mapping. */
  file?: string;
  /** Through /proc/<pid>/mem, PTRACE_POKEDATA, or no write at all (a control). */
  method: 'mem' | 'poke' | 'none';
}

/** The malloc program: mallocs each size in turn and writes every page of it. */
export interface MallocProgramOptions extends CommonProgramOptions<'malloc'> {
  /** The requests, in bytes (at most 64). */
  sizes: readonly number[];
  /** A memory cgroup's cgroup.procs: the program joins it before it allocates anything. */
  cgroupProcs?: string;
}

/** The exec program: a traced child execs and stops at its first instruction. */
export interface ExecProgramOptions extends CommonProgramOptions<'exec'> {
  /** The child stops a second time instead of exec'ing (a control). */
  noExec?: boolean;
}

export type RunProgramOptions<N extends ProgramName> = N extends 'sparse'
  ? SparseProgramOptions
  : N extends 'ptrace'
    ? PtraceProgramOptions
    : N extends 'malloc'
      ? MallocProgramOptions
      : N extends 'exec'
        ? ExecProgramOptions
        : CommonProgramOptions<N>;

export interface ProgramPause<N extends ProgramName> {
  point: PausePoint<N>;
  /** Milliseconds from spawn to the program's stop there, and to its SIGCONT. */
  stoppedMs: number;
  resumedMs: number;
}

/** The sparse program's mincore(2) count of its mapping at a point (null with the error when mincore failed). */
export interface MincoreCount {
  point: PausePoint<'sparse'>;
  residentPages: number | null;
  pages: number | null;
  error?: string;
}

export interface ProgramResult<N extends ProgramName = ProgramName> {
  program: N;
  /** The executable run, and its arguments. */
  path: string;
  args: string[];
  pid: number;
  /** The exit code, or null when a signal ended it. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** The timeout expired and the program was killed. */
  timedOut: boolean;
  /** The program's own lines, as 004's program prints them (the tool's '@' lines removed). */
  stdout: string[];
  stderr: string;
  /** The points where the program stopped, in order. */
  pauses: ProgramPause<N>[];
  /** sparse with `mincore`: the program's counts at its points. */
  mincore: MincoreCount[];
  /** Milliseconds from spawn to exit, pauses included. */
  durationMs: number;
}

const DEFAULT_TIMEOUT_MS = 60_000;
/** How often a pausing program's state is polled until the kernel shows it stopped. */
const STOP_POLL_MS = 1;

function isProgramName(name: unknown): name is ProgramName {
  return typeof name === 'string' && Object.hasOwn(EXECUTABLES, name);
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The program's executable: build/Release/programs/ after a local build (as node-gyp-build
 * prefers build/ for the addon), else the prebuild for this platform and architecture.
 */
export function programPath(name: ProgramName): string {
  if (!isProgramName(name))
    throw argTypeError(`unknown program ${JSON.stringify(name)}: expected one of ${Object.keys(EXECUTABLES).join(', ')}`);
  const dirs = [join(packageRoot, 'build', 'Release', 'programs'), join(packageRoot, 'prebuilds', `${process.platform}-${process.arch}`)];
  for (const dir of dirs) {
    const path = join(dir, EXECUTABLES[name]);
    if (executable(path)) return path;
  }
  throw new Error(
    `004's ${name} program (${EXECUTABLES[name]}) is neither built nor prebuilt for ${process.platform}-${process.arch}: looked in ${dirs.join(' and ')}; run \`npm run build:native\``,
  );
}

function ptraceArgs(options: PtraceProgramOptions): string[] {
  const bytes = positiveInteger(options.bytes, 'bytes');
  // The program writes one word per page of this machine and refuses a partial page.
  if (bytes % pageSize !== 0) throw argRangeError(`bytes must be a multiple of the page size (${pageSize}), got ${bytes}`);
  if (!['mem', 'poke', 'none'].includes(options.method))
    throw new TypeError(`method must be 'mem', 'poke' or 'none', got ${JSON.stringify(options.method)}`);
  if (options.file !== undefined && (typeof options.file !== 'string' || options.file === ''))
    throw new TypeError('file must be a non-empty path');
  return ['--bytes', String(bytes), ...(options.file === undefined ? ['--anon'] : ['--file', options.file]), '--method', options.method];
}

function mallocArgs(options: MallocProgramOptions): string[] {
  if (!Array.isArray(options.sizes) || options.sizes.length === 0 || options.sizes.length > 64)
    throw argTypeError('sizes must be an array of 1 to 64 byte counts');
  const sizes = options.sizes.map((s, i) => positiveInteger(s, `sizes[${i}]`));
  if (options.cgroupProcs !== undefined && (typeof options.cgroupProcs !== 'string' || options.cgroupProcs === ''))
    throw argTypeError('cgroupProcs must be a non-empty path');
  return ['--sizes', sizes.join(','), ...(options.cgroupProcs === undefined ? [] : ['--cgroup', options.cgroupProcs])];
}

function programArgs(name: ProgramName, options: SparseProgramOptions): string[] {
  const args: string[] = [];
  if (options.onPause !== undefined && programPausePoints[name].length > 0) args.push('--pause');
  if (name === 'ptrace') return [...args, ...ptraceArgs(options as unknown as PtraceProgramOptions)];
  if (name === 'malloc') return [...args, ...mallocArgs(options as unknown as MallocProgramOptions)];
  if (name === 'exec') {
    optionalBoolean((options as ExecProgramOptions).noExec, 'noExec');
    return (options as ExecProgramOptions).noExec === true ? [...args, '--no-exec'] : args;
  }
  if (name !== 'sparse') {
    if (options.bytes !== undefined || options.mincore !== undefined)
      throw argTypeError(`bytes and mincore are options of the sparse program, not ${name}`);
    return args;
  }
  if (options.bytes !== undefined) {
    const bytes = positiveInteger(options.bytes, 'bytes');
    if (bytes < 8192 || bytes % 4096 !== 0) throw argRangeError(`bytes must be a multiple of 4096, at least 8192, got ${bytes}`);
    args.push('--bytes', String(bytes));
  }
  if (options.mincore === true) args.push('--mincore');
  return args;
}

/** Programs running now: killed if this process ends (a stopped one would otherwise wait forever). */
const running = new Set<number>();
let forgetEndHandler: (() => void) | null = null;

function killRunning(): void {
  for (const pid of running) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

function track(pid: number): void {
  running.add(pid);
  forgetEndHandler ??= onProcessEnd(killRunning);
}

function untrack(pid: number): void {
  running.delete(pid);
  if (running.size === 0 && forgetEndHandler !== null) {
    forgetEndHandler();
    forgetEndHandler = null;
  }
}

function parseMincore(rest: string): MincoreCount {
  const [point, a, b, ...more] = rest.split(' ');
  if (a === 'error') return { point: point as PausePoint<'sparse'>, residentPages: null, pages: null, error: [b, ...more].join(' ') };
  return { point: point as PausePoint<'sparse'>, residentPages: Number(a), pages: Number(b) };
}

/**
 * Runs one of 004's programs as its own process and returns what it printed and how it ended.
 * Rejects on bad options, when it cannot be started, or when `onPause`/`onSpawn` throws; a
 * program that fails (exit code 1, a signal) resolves with that.
 */
export async function runProgram<N extends ProgramName>(name: N, options?: RunProgramOptions<N>): Promise<ProgramResult<N>> {
  const opts = optionsObject(options) as SparseProgramOptions & CommonProgramOptions<N>;
  const path = programPath(name);
  const args = programArgs(name, opts);
  const timeoutMs = opts.timeoutMs === undefined ? DEFAULT_TIMEOUT_MS : positiveInteger(opts.timeoutMs, 'timeoutMs');
  optionalFunction(opts.onPause, 'onPause');
  optionalFunction(opts.onSpawn, 'onSpawn');
  optionalBoolean(opts.mincore, 'mincore');

  return new Promise((resolve, reject) => {
    const started = performance.now();
    const since = () => performance.now() - started;
    const child = spawn(path, args, { stdio: ['ignore', 'pipe', 'pipe'], shell: false });
    const stdout: string[] = [];
    const pauses: ProgramPause<N>[] = [];
    const mincore: MincoreCount[] = [];
    let stderr = '';
    let partial = '';
    let exited = false;
    let timedOut = false;
    let failure: unknown;
    let exitMs = 0;
    // Pause handling is sequential: a program cannot reach its next point before SIGCONT.
    let pausing: Promise<void> = Promise.resolve();

    const kill = () => {
      if (!exited) child.kill('SIGKILL');
    };
    const fail = (e: unknown) => {
      failure ??= e;
      kill();
    };
    // The timeout bounds the whole call: once it has fired, the program is killed and the call
    // settles when it has exited, whether or not an onPause still runs.
    let timeoutFired!: () => void;
    const timeoutReached = new Promise<void>((resolve) => (timeoutFired = resolve));
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
      timeoutFired();
    }, timeoutMs);

    const pauseAt = async (point: PausePoint<N>, pid: number) => {
      // The program printed its mark just before raise(SIGSTOP): wait until the kernel shows it
      // stopped, so that nothing it does after the mark escapes the measurement, and so that
      // SIGCONT cannot arrive before the stop (it would then stay stopped).
      for (;;) {
        if (exited) return;
        const stat = readStat(pid);
        if (stat === undefined || stat.state === 'Z') return;
        if (stat.state === 'T') break;
        await sleep(STOP_POLL_MS);
      }
      const pause: ProgramPause<N> = { point, stoppedMs: since(), resumedMs: 0 };
      pauses.push(pause);
      try {
        await opts.onPause!({ point, pid, stdout: [...stdout] });
      } catch (e) {
        fail(e);
        return;
      }
      pause.resumedMs = since();
      if (!exited) child.kill('SIGCONT');
    };

    const onLine = (line: string) => {
      if (!line.startsWith('@')) {
        stdout.push(line);
        return;
      }
      const space = line.indexOf(' ');
      const tag = line.slice(0, space);
      const rest = line.slice(space + 1);
      if (tag === '@pause') {
        const pid = child.pid!;
        pausing = pausing.then(() => pauseAt(rest as PausePoint<N>, pid));
      } else if (tag === '@mincore') {
        mincore.push(parseMincore(rest));
      } else {
        stdout.push(line);
      }
    };

    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop()!;
      lines.forEach(onLine);
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('spawn', () => {
      track(child.pid!);
      try {
        opts.onSpawn?.(child.pid!);
      } catch (e) {
        fail(e);
      }
    });
    child.on('exit', () => {
      exited = true;
      exitMs = since();
      untrack(child.pid!);
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      if (child.pid !== undefined) untrack(child.pid);
      reject(new Error(`could not run ${path}: ${e.message}`, { cause: e }));
    });
    child.on('close', (exitCode, signal) => {
      if (partial !== '') onLine(partial);
      void Promise.race([pausing, timeoutReached]).then(() => {
        clearTimeout(timer);
        if (failure !== undefined) {
          reject(failure);
          return;
        }
        resolve({
          program: name,
          path,
          args,
          pid: child.pid!,
          exitCode,
          signal,
          timedOut,
          stdout,
          stderr,
          pauses,
          mincore,
          durationMs: exitMs,
        });
      });
    });
  });
}

/** The settings program's lines: the values it read and the mode's meaning as it prints it. */
export interface SettingsOutput {
  /** overcommit_memory as the program read it (-1 when it could not open the file). */
  mode: number;
  ratio: number;
  /** 'Heuristic (deny obvious overcommits)', 'Always allow overcommits', 'Strict (ratio-based accounting)', 'Unknown'. */
  modeText: string;
}

function lineMatch(lines: readonly string[], re: RegExp, what: string): RegExpExecArray {
  for (const line of lines) {
    const m = re.exec(line);
    if (m) return m;
  }
  throw new Error(`the program printed no ${what} line: ${JSON.stringify(lines)}`);
}

export function parseSettingsOutput(lines: readonly string[]): SettingsOutput {
  return {
    mode: Number(lineMatch(lines, /^overcommit_memory = (-?\d+)$/, 'overcommit_memory')[1]),
    ratio: Number(lineMatch(lines, /^overcommit_ratio = (-?\d+)%$/, 'overcommit_ratio')[1]),
    modeText: lineMatch(lines, /^Mode: (.*)$/, 'Mode')[1]!,
  };
}

/** The sparse program's lines; what it did not reach (it failed or was killed) is null. */
export interface SparseOutput {
  /** The size as printed ('1GB'). */
  sizeLabel: string;
  /** The mapping's start as %p printed it. */
  address: bigint;
  touchedPages: number | null;
  /** The read-back: arr[0], and arr[STRIDE] with STRIDE's value. */
  first: number | null;
  strideIndex: number | null;
  strideValue: number | null;
}

export function parseSparseOutput(lines: readonly string[]): SparseOutput {
  const mapped = lineMatch(lines, /^Mapped (\S+) sparse array at (0x[0-9a-f]+) \(no swap reserved\)$/, 'Mapped');
  const touched = lines.map((l) => /^Touched (\d+) pages \(only those pages use swap\)$/.exec(l)).find((m) => m !== null);
  const read = lines.map((l) => /^arr\[0\]=(-?\d+), arr\[(\d+)\]=(-?\d+)$/.exec(l)).find((m) => m !== null);
  return {
    sizeLabel: mapped[1]!,
    address: BigInt(mapped[2]!),
    touchedPages: touched ? Number(touched[1]) : null,
    first: read ? Number(read[1]) : null,
    strideIndex: read ? Number(read[2]) : null,
    strideValue: read ? Number(read[3]) : null,
  };
}

/** One of the RLIMIT_AS program's two mmap lines. */
export interface RlimitMmapLine {
  /** '128MB' or '8MB'. */
  label: string;
  succeeded: boolean;
  /** strerror's text when it failed ('Cannot allocate memory' for ENOMEM). */
  error: string | null;
  address: bigint | null;
  /** The line itself. */
  line: string;
}

export interface RlimitOutput {
  /** mmap(128MB), which 004 says should fail, and mmap(8MB), which it says should succeed. */
  large: RlimitMmapLine;
  small: RlimitMmapLine;
}

function rlimitLine(lines: readonly string[], label: string): RlimitMmapLine {
  const m = lineMatch(
    lines,
    new RegExp(`^mmap\\(${label}\\) (?:failed(?: as expected)?: (.*)|succeeded(?: unexpectedly)? at (0x[0-9a-f]+|\\(nil\\)))$`),
    `mmap(${label})`,
  );
  const succeeded = m[1] === undefined;
  return {
    label,
    succeeded,
    error: succeeded ? null : m[1]!,
    address: succeeded && m[2]!.startsWith('0x') ? BigInt(m[2]!) : null,
    line: m[0],
  };
}

export function parseRlimitOutput(lines: readonly string[]): RlimitOutput {
  return { large: rlimitLine(lines, '128MB'), small: rlimitLine(lines, '8MB') };
}
