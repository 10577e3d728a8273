/**
 * runChild: steps run in a forked child of this process, for what must not disturb Node
 * (RLIMIT_AS, OOM kills, fork accounting, dropping root). The child makes raw syscalls only
 * and ends with _exit. It starts with default signal handlers, nothing blocked, and no
 * descriptor of the parent's but 0-2 and the fds its mmap steps map; it dies with the thread that
 * started it (PR_SET_PDEATHSIG, armed again after setuid). The parent watches it from the event
 * loop (a pidfd; a thread per child before Linux 5.3), never from libuv's thread pool, and kills it
 * on timeout. When the worker that started it is terminated, or the process exits, the child is
 * killed and reaped, and the promise never settles.
 */
import { constants as osConstants } from 'node:os';
import { findVma, parseSmaps } from '../kernel/smaps.js';
import { type NativeStep, type NativeStepResult, native } from './binding.js';
import { type MmapOptions, mmapArguments, type Prot, protFlags } from './mapping.js';
import { type RlimitResource, rlimitResource } from './rlimit.js';
import { argRangeError, argTypeError, nonNegativeInteger, optionalBoolean, optionsObject, positiveInteger } from './validate.js';

/**
 * What a step works on: an earlier mmap step of the same child (its first `length` bytes, all of
 * it by default), or a range inherited from the parent. A touch starts at `offset` in that range.
 */
export type StepTarget = { mapping: number; length?: number } | { address: bigint; length: number };

interface Common {
  /** Stop the child (exit code 1) when this step fails. */
  required?: boolean;
}

export type ChildStep = Common &
  (
    | { op: 'setrlimit'; resource: RlimitResource; soft?: number | null; hard?: number | null; relative?: boolean }
    | { op: 'mmap'; length: number; options?: MmapOptions }
    | ({ op: 'touch'; stride?: number; offset?: number } & StepTarget)
    | ({ op: 'munmap' } & StepTarget)
    | ({ op: 'mprotect'; prot: Prot } & StepTarget)
    | { op: 'sbrk'; increment: number }
    | { op: 'fork' }
    | { op: 'readfile'; path: string; maxBytes?: number }
    | { op: 'writefile'; path: string; data: string }
    | { op: 'setuid'; uid: number; gid?: number }
    | { op: 'probe'; noreserve?: boolean; lo?: number; hi: number; granularity?: number }
    | { op: 'sleep'; ms: number }
    | { op: 'stack'; bytes: number }
    | { op: 'vmflags'; address: bigint }
  );

/*
 * Step semantics:
 * - setrlimit: soft/hard in bytes (null: unlimited; undefined: kept). With `relative`, the soft
 *   limit is the child's own address-space size (from /proc/self/statm) plus `soft`; EOVERFLOW
 *   if that sum passes 2^53 (it would not come back exact in limitBytes).
 * - touch: writes one int every `stride` bytes (default a page), publishing its page count as
 *   it goes, so `progress` says how far it got when a signal ends the child.
 * - sbrk: moves the break by `increment` with the raw brk syscall.
 * - fork: a grandchild that exits at once; reports its pid, or the errno.
 * - probe: the largest private anonymous read-write mapping mmap accepts in [lo, hi].
 * - stack: grows the process's [stack] VMA by about `bytes` (nested 16 KiB frames, every page
 *   written). From a worker thread, whose stack is a fixed-size mapping, the frames run at the
 *   low end of [stack], which no thread uses in the child; fails with ENOTSUP if there is none.
 * - vmflags: the VmFlags of the child's VMA containing `address`, from its /proc/self/smaps.
 */

export type StepStatus = 'ok' | 'failed' | 'skipped' | 'not-run';

export interface ChildStepResult {
  op: ChildStep['op'];
  /** 'skipped': the mapping it works on was not made; 'not-run': the child ended before it. */
  status: StepStatus;
  /** The errno code when the step failed ('ENOMEM'); for probe, what the refusals said. */
  code: string | null;
  /** Negative errno, as in Node's system errors; 0 when none. */
  errno: number;
  /** Milliseconds from fork to the step's start and end (0 if it never started/ended). */
  startMs: number;
  endMs: number;
  /** Pages touched so far (touch). */
  progress: number;
  /** mmap: the address. */
  address?: bigint;
  /** setrlimit: the soft limit applied, and the child's address-space size when it was set. */
  limitBytes?: number | null;
  baseBytes?: number;
  /** sbrk: the break before and after. */
  previousBreak?: bigint;
  break?: bigint;
  /** fork: the grandchild's pid. */
  pid?: number;
  /** readfile: the text read, and whether the file was longer than maxBytes. */
  data?: string;
  truncated?: boolean;
  /** probe: the largest accepted size and how many mmap calls it took. */
  largestBytes?: number;
  probes?: number;
  /** stack: the bytes of stack the nested frames used. */
  stackBytes?: number;
  /** vmflags: the flags of the VMA. */
  vmFlags?: string[];
}

export interface ChildResult {
  pid: number;
  /** The exit code, or null when a signal ended the child. */
  exitCode: number | null;
  /** The terminating signal's name ('SIGKILL'), or null. */
  signal: string | null;
  /** The timeout expired and the parent killed the child. */
  timedOut: boolean;
  /** How many steps the child started. */
  stepsStarted: number;
  /** Milliseconds from fork to reaping. */
  reapedMs: number;
  steps: ChildStepResult[];
}

export interface RunChildOptions {
  /** Kill the child (SIGKILL) after this long; default 30 s. */
  timeoutMs?: number;
}

/** Room for the child's /proc/self/smaps (Node's is well under 1 MiB). */
const SMAPS_MAX_BYTES = 4 << 20;

const signalNames = new Map<number, string>(Object.entries(osConstants.signals).map(([name, n]) => [n, name]));

function targetFields(step: StepTarget, index: number): Record<string, unknown> {
  if ('mapping' in step && step.mapping !== undefined) {
    const m = nonNegativeInteger(step.mapping, `steps[${index}].mapping`);
    return step.length === undefined ? { mapping: m } : { mapping: m, length: positiveInteger(step.length, `steps[${index}].length`) };
  }
  const t = step as { address?: unknown; length?: unknown };
  if (typeof t.address !== 'bigint') throw argTypeError(`steps[${index}] needs a mapping (step index) or an address (bigint)`);
  return { address: t.address, length: positiveInteger(t.length, `steps[${index}].length`) };
}

/** A path the child opens: a NUL would cut it where the kernel reads it. */
function pathField(path: unknown, index: number): string {
  if (typeof path !== 'string') throw argTypeError(`steps[${index}].path must be a string`);
  if (path.includes('\0')) throw argTypeError(`steps[${index}].path must not contain a NUL character`);
  return path;
}

function toNative(step: ChildStep, index: number): NativeStep {
  if (step === null || typeof step !== 'object') throw argTypeError(`steps[${index}] must be an object`);
  const required = optionalBoolean(step.required, `steps[${index}].required`) === true;
  switch (step.op) {
    case 'setrlimit':
      return {
        op: 'setrlimit',
        required,
        resource: rlimitResource(step.resource),
        soft: step.soft,
        hard: step.hard,
        relative: step.relative === true,
      };
    case 'mmap':
      return {
        op: 'mmap',
        required,
        length: positiveInteger(step.length, `steps[${index}].length`),
        ...mmapArguments(step.options, `steps[${index}].options`),
      };
    case 'touch':
      return { op: 'touch', required, ...targetFields(step, index), offset: step.offset ?? 0, stride: step.stride };
    case 'munmap':
      return { op: 'munmap', required, ...targetFields(step, index) };
    case 'mprotect':
      return { op: 'mprotect', required, ...targetFields(step, index), prot: protFlags(step.prot, `steps[${index}].prot`) };
    case 'sbrk':
      return { op: 'sbrk', required, increment: step.increment };
    case 'fork':
      return { op: 'fork', required };
    case 'readfile':
      return { op: 'readfile', required, path: pathField(step.path, index), maxBytes: step.maxBytes };
    case 'writefile':
      // data is written as it is, NULs included
      return { op: 'writefile', required, path: pathField(step.path, index), data: step.data };
    case 'setuid':
      return { op: 'setuid', required, uid: step.uid, gid: step.gid };
    case 'probe':
      return {
        op: 'probe',
        required,
        flags: step.noreserve ? native.constants.MAP_NORESERVE : 0,
        lo: step.lo,
        hi: step.hi,
        granularity: step.granularity,
      };
    case 'sleep':
      return { op: 'sleep', required, ms: step.ms };
    case 'stack':
      return { op: 'stack', required, bytes: step.bytes };
    case 'vmflags':
      if (typeof step.address !== 'bigint') throw argTypeError(`steps[${index}].address must be a bigint`);
      return { op: 'readfile', required, path: '/proc/self/smaps', maxBytes: SMAPS_MAX_BYTES };
    default:
      throw argRangeError(`steps[${index}]: unknown op '${String((step as { op?: unknown }).op)}'`);
  }
}

function fromNative(step: ChildStep, r: NativeStepResult): ChildStepResult {
  const out: ChildStepResult = {
    op: step.op,
    status: r.status,
    code: r.code,
    errno: r.errno === 0 ? 0 : -r.errno,
    startMs: r.startMs,
    endMs: r.endMs,
    progress: r.progress,
  };
  if (r.status !== 'ok') return out;
  switch (step.op) {
    case 'mmap':
      out.address = r.value;
      break;
    case 'setrlimit':
      out.limitBytes = r.value < 0n ? null : Number(r.value); // RLIM_INFINITY is all ones
      out.baseBytes = Number(r.value2);
      break;
    case 'sbrk':
      out.break = r.value;
      out.previousBreak = r.value2;
      break;
    case 'fork':
      out.pid = Number(r.value);
      break;
    case 'readfile':
      out.data = r.data ?? '';
      out.truncated = r.value2 === 1n;
      break;
    case 'stack':
      out.stackBytes = Number(r.value);
      break;
    case 'probe':
      out.largestBytes = Number(r.value);
      out.probes = Number(r.value2);
      break;
    case 'vmflags': {
      const vma = findVma(parseSmaps(r.data ?? ''), step.address);
      if (vma === undefined) {
        out.status = 'failed';
        out.code = r.value2 === 1n ? 'ERR_SMAPS_TRUNCATED' : 'ERR_NO_VMA';
      } else {
        out.vmFlags = vma.vmFlags;
      }
      break;
    }
    default:
      break;
  }
  return out;
}

/** Runs `steps` in a forked child; resolves when the child has been reaped. */
export async function runChild(steps: readonly ChildStep[], options?: RunChildOptions): Promise<ChildResult> {
  if (!Array.isArray(steps)) throw argTypeError('steps must be an array');
  const { timeoutMs = 30_000 } = optionsObject(options);
  positiveInteger(timeoutMs, 'timeoutMs');
  const raw = await native.runChild(steps.map(toNative), timeoutMs);
  return {
    pid: raw.pid,
    exitCode: raw.exitCode,
    signal: raw.signal === null ? null : (signalNames.get(raw.signal) ?? `signal ${raw.signal}`),
    timedOut: raw.timedOut,
    stepsStarted: raw.stepsStarted,
    reapedMs: raw.reapedMs,
    steps: raw.steps.map((r, i) => fromNative(steps[i]!, r)),
  };
}
