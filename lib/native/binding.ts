/**
 * The typed loader of the native addon: the raw binding's interface, and the one place that
 * loads it (a prebuild from prebuilds/, or build/Release after `npm install`).
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

if (process.platform !== 'linux') {
  throw new Error(`overcommit-lab runs only on Linux: it measures the Linux kernel's memory overcommit, and this is ${process.platform}.`);
}

/** Kernel constants, read from the C headers at build time. */
export interface NativeConstants {
  PROT_NONE: number;
  PROT_READ: number;
  PROT_WRITE: number;
  MAP_SHARED: number;
  MAP_PRIVATE: number;
  MAP_ANONYMOUS: number;
  MAP_NORESERVE: number;
  MAP_POPULATE: number;
  MREMAP_MAYMOVE: number;
  MADV_NORMAL: number;
  MADV_DONTNEED: number;
  MADV_WILLNEED: number;
  MADV_RANDOM: number;
  MADV_SEQUENTIAL: number;
  MADV_FREE: number;
  MADV_HUGEPAGE: number;
  MADV_NOHUGEPAGE: number;
  MADV_COLD: number;
  MADV_PAGEOUT: number;
  MADV_POPULATE_READ: number;
  MADV_POPULATE_WRITE: number;
  RLIMIT_AS: number;
  RLIMIT_DATA: number;
  RLIMIT_STACK: number;
}

/** The native side of a Mapping; the public class in mapping.ts validates and wraps it. */
export interface NativeMapping {
  readonly address: bigint;
  readonly length: number;
  readonly mapped: boolean;
  readonly prot: number;
  buffer(offset: number, length: number): ArrayBuffer;
  touch(offset: number, length: number, stride: number): number;
  mincore(offset: number, length: number): number;
  protect(prot: number): void;
  remap(newLength: number): void;
  advise(advice: number, offset: number, length: number): void;
  unmap(): void;
}

export interface NativeProbeResult {
  largest: number;
  probes: number;
  refusedCode: string | null;
}

/** One step as the native runChild takes it (child.ts builds these from the typed steps). */
export interface NativeStep {
  op: string;
  required?: boolean;
  [field: string]: unknown;
}

export interface NativeStepResult {
  status: 'not-run' | 'ok' | 'failed' | 'skipped';
  errno: number;
  code: string | null;
  value: bigint;
  value2: bigint;
  progress: number;
  startMs: number;
  endMs: number;
  data?: string;
}

export interface NativeChildResult {
  pid: number;
  exitCode: number | null;
  signal: number | null;
  timedOut: boolean;
  stepsStarted: number;
  reapedMs: number;
  steps: NativeStepResult[];
}

export interface NativeBinding {
  pageSize: number;
  /** The largest ArrayBuffer the addon hands out (Node 20's limit). */
  maxBufferLength: number;
  constants: NativeConstants;
  mmap(length: number, prot: number, flags: number, fd: number, offset: number): NativeMapping;
  getrlimit(resource: number): { soft: number | bigint | null; hard: number | bigint | null };
  setrlimit(resource: number, soft: number | bigint | null | undefined, hard: number | bigint | null | undefined): void;
  probeLargestMapping(prot: number, extraFlags: number, lo: number, hi: number, granularity: number): NativeProbeResult;
  /** useThread: watch the child with a thread even where pidfd_open works (tests the pre-5.3 path). */
  runChild(steps: NativeStep[], timeoutMs: number, useThread?: boolean): Promise<NativeChildResult>;
  flock(fd: number, op: 'sh' | 'ex' | 'un'): boolean;
  memfdCreate(name: string): number;
}

/** The package's root: one level above lib/ (sources) or dist/ (compiled). */
export const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

const require = createRequire(import.meta.url);
const load = require('node-gyp-build') as (dir: string) => unknown;

export const native = load(packageRoot) as NativeBinding;
