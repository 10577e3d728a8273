/**
 * Runs the ptrace program (native/programs/ptrace.c) for each mapping kind and write method: a
 * tracee maps 64 MiB read-only and private and stops; the program (its tracer) writes one word
 * into every page. The tracee's smaps and Committed_AS are read at the program's pause points
 * before and after the writes; each action run is followed by a control run of the same program
 * with no write, so that the charge is the usual interleaved change (measure/committed.ts).
 */
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readMeminfo } from '../../kernel/meminfo.js';
import { accountedBytesIn, findVma, readVmas } from '../../kernel/smaps.js';
import { readCommitted } from '../../measure/committed.js';
import { pageSize } from '../../native/mapping.js';
import { runProgram } from '../../native/programs.js';
import { disposableMachine } from '../../safety/disposable.js';
import { guardAvailability, withOvercommitSettings } from '../../safety/settings-guard.js';
import { MiB } from '../../units.js';
import { changeFromDeltas } from '../../verdict/tolerance.js';
import type { ExperimentContext } from '../model.js';
import type { PtraceCase, PtraceKind, PtraceMethod, PtracePagesEvidence, PtracePastLimit, PtraceTrial, TraceeVma } from './evidence.js';

export const MAPPED_BYTES = 64 * 1024 * 1024;
const TRIALS = 5;
const READS = 3;
const KINDS: readonly PtraceKind[] = ['file-private-ro', 'anon-private-ro'];
const METHODS: readonly PtraceMethod[] = ['mem', 'poke'];

/** The mode-2 part: the room the guard leaves above Committed_AS, and how far past it the tracer writes. */
export const PAST_LIMIT_ROOM_BYTES = 256 * MiB;
const PAST_LIMIT_EXTRA_BYTES = 128 * MiB;

function createFile(dir: string, name: string, bytes: number): string {
  const file = join(dir, name);
  const fd = openSync(file, 'w');
  try {
    ftruncateSync(fd, bytes);
  } finally {
    closeSync(fd);
  }
  return file;
}

function traceeVma(pid: number, address: bigint, bytes = MAPPED_BYTES): TraceeVma {
  const vmas = readVmas(pid);
  const vma = findVma(vmas, address);
  if (vma === undefined) throw new Error(`the tracee ${pid} has no mapping at 0x${address.toString(16)}`);
  return {
    anonymousBytes: vma.sizes.Anonymous ?? 0,
    accountedBytes: accountedBytesIn(vmas, address, address + BigInt(bytes)),
    vmFlags: vma.vmFlags,
  };
}

function traceeOf(stdout: readonly string[]): { pid: number; address: bigint } {
  const m = stdout.map((l) => /^tracee (\d+) (0x[0-9a-f]+)$/.exec(l)).find((x) => x !== null);
  if (m == null) throw new Error(`the ptrace program named no tracee: ${JSON.stringify(stdout)}`);
  return { pid: Number(m[1]), address: BigInt(m[2]!) };
}

function wroteOf(stdout: readonly string[]): { pages: number; errno: number } | null {
  const m = stdout.map((l) => /^wrote (\d+) (\d+)$/.exec(l)).find((x) => x !== null);
  return m == null ? null : { pages: Number(m[1]), errno: Number(m[2]) };
}

/** One run of the program: the tracee's VMA and Committed_AS at its two pause points. */
async function runOnce(kind: PtraceKind, method: PtraceMethod | 'none', file: string) {
  let tracee: { pid: number; address: bigint } | undefined;
  let before: TraceeVma | undefined;
  let after: TraceeVma | undefined;
  let committedBefore = 0;
  let committedAfter = 0;
  const result = await runProgram('ptrace', {
    bytes: MAPPED_BYTES,
    ...(kind === 'file-private-ro' ? { file } : {}),
    method,
    onPause: ({ point, stdout }) => {
      if (point === 'mapped') {
        tracee = traceeOf(stdout);
        before = traceeVma(tracee.pid, tracee.address);
        committedBefore = readCommitted(READS);
      } else {
        committedAfter = readCommitted(READS);
        after = traceeVma(tracee!.pid, tracee!.address);
      }
    },
  });
  const wrote = wroteOf(result.stdout);
  if (result.exitCode !== 0 || before === undefined || after === undefined || wrote == null) {
    throw new Error(
      `the ptrace program (${kind}, ${method}) ended ${result.signal ?? `with ${result.exitCode}`} without its measurements: ${result.stderr.trim() || result.stdout.join('; ')}`,
    );
  }
  const trial: PtraceTrial = { before, after, writtenPages: wrote.pages, writeErrno: wrote.errno };
  return { trial, deltaBytes: committedAfter - committedBefore };
}

async function measureCase(kind: PtraceKind, method: PtraceMethod, file: string): Promise<PtraceCase> {
  const trials: PtraceTrial[] = [];
  const action: number[] = [];
  const control: number[] = [];
  for (let t = 0; t < TRIALS; t++) {
    const a = await runOnce(kind, method, file);
    trials.push(a.trial);
    action.push(a.deltaBytes);
    control.push((await runOnce(kind, 'none', file)).deltaBytes);
  }
  return { kind, method, trials, committed: changeFromDeltas(action, control) };
}

/**
 * Mode 2 with CommitLimit narrowed to Committed_AS + PAST_LIMIT_ROOM_BYTES (the settings guard's
 * margin), opened at the tracee's stop before the writes and closed after the stop that follows
 * them (the program is spawned before, so no fork happens in the narrow window): the tracer
 * writes a private read-only anonymous mapping larger than that room. Anonymous, not a file's:
 * a sparse file on tmpfs (a guest's /tmp) would have its own pages charged as they are faulted. Only on a throwaway VM: the
 * narrow limit binds every process of the machine.
 */
async function measurePastLimit(bytes: number): Promise<PtracePastLimit> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let opened!: () => void;
  const open = new Promise<void>((resolve) => {
    opened = resolve;
  });
  let window: Promise<void> | undefined;
  let tracee: { pid: number; address: bigint } | undefined;
  let before:
    | Omit<
        PtracePastLimit,
        'mappedBytes' | 'writtenPages' | 'writeErrno' | 'anonymousGrowthBytes' | 'committedAfterBytes' | 'commitLimitAfterBytes'
      >
    | undefined;
  let anonymousBefore = 0;
  let after: Pick<PtracePastLimit, 'anonymousGrowthBytes' | 'committedAfterBytes' | 'commitLimitAfterBytes'> | undefined;
  let result: Awaited<ReturnType<typeof runProgram<'ptrace'>>>;
  try {
    result = await runProgram('ptrace', {
      bytes,
      method: 'mem',
      timeoutMs: 300_000,
      onPause: async ({ point, stdout }) => {
        if (point === 'mapped') {
          tracee = traceeOf(stdout);
          anonymousBefore = traceeVma(tracee.pid, tracee.address, bytes).anonymousBytes;
          window = withOvercommitSettings(
            { mode: 2, kbytes: 1 },
            async (w) => {
              const m = readMeminfo();
              before = {
                commitLimitBytes: m.commitLimit,
                committedBeforeBytes: m.committedAs,
                roomBytes: m.commitLimit - m.committedAs,
                guardKbytes: w.headroom?.kbytes ?? null,
              };
              opened();
              await released;
            },
            { marginBytes: PAST_LIMIT_ROOM_BYTES },
          );
          // The writes start once the window is open (or the window failed: the program is then killed).
          await Promise.race([open, window]);
        } else {
          const m = readMeminfo();
          after = {
            anonymousGrowthBytes: traceeVma(tracee!.pid, tracee!.address, bytes).anonymousBytes - anonymousBefore,
            committedAfterBytes: m.committedAs,
            commitLimitAfterBytes: m.commitLimit,
          };
          release();
          await window;
        }
      },
    });
  } finally {
    // However the run ended, the window closes (restoring the settings) before this returns.
    release();
    await window?.catch(() => {});
  }
  const wrote = wroteOf(result.stdout);
  if (before === undefined || after === undefined || wrote === null)
    throw new Error(
      `the mode-2 ptrace run ended ${result.signal ?? `with ${result.exitCode}`} without its measurements: ${result.stderr.trim() || result.stdout.join('; ')}`,
    );
  return { ...before, mappedBytes: bytes, writtenPages: wrote.pages, writeErrno: wrote.errno, ...after };
}

function pastLimitSkip(): string | null {
  if (!disposableMachine)
    return `needs a throwaway VM (overcommit-lab vm): it narrows CommitLimit to ${PAST_LIMIT_ROOM_BYTES / MiB} MiB above Committed_AS for every process of the machine`;
  const g = guardAvailability();
  return g.available ? null : `mode 2 cannot be switched to: ${g.reason ?? 'unknown'}`;
}

export async function measurePtracePages(ctx: ExperimentContext): Promise<PtracePagesEvidence> {
  const dir = mkdtempSync(join(tmpdir(), 'overcommit-lab-ptrace-'));
  try {
    const file = createFile(dir, 'mapped', MAPPED_BYTES);
    const cases: PtraceCase[] = [];
    for (const kind of KINDS) {
      for (const method of METHODS) {
        ctx.progress(`ptrace-pages: ${kind} through ${method === 'mem' ? '/proc/<pid>/mem' : 'PTRACE_POKEDATA'}`);
        cases.push(await measureCase(kind, method, file));
      }
    }
    const pastLimitReason = pastLimitSkip();
    let pastLimit: PtracePastLimit | null = null;
    if (pastLimitReason === null) {
      ctx.progress('ptrace-pages: mode 2, a tracer writes past the commit room (a throwaway VM)');
      const bytes = PAST_LIMIT_ROOM_BYTES + PAST_LIMIT_EXTRA_BYTES;
      pastLimit = await measurePastLimit(bytes);
    }
    return { pageSize, mappedBytes: MAPPED_BYTES, cases, pastLimit, pastLimitReason };
  } catch (e) {
    return { pageSize, mappedBytes: MAPPED_BYTES, cases: [], problem: e instanceof Error ? e.message : String(e) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
