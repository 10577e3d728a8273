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
import { accountedBytesIn, findVma, readVmas } from '../../kernel/smaps.js';
import { readCommitted } from '../../measure/committed.js';
import { pageSize } from '../../native/mapping.js';
import { runProgram } from '../../native/programs.js';
import { changeFromDeltas } from '../../verdict/tolerance.js';
import type { ExperimentContext } from '../model.js';
import type { PtraceCase, PtraceKind, PtraceMethod, PtracePagesEvidence, PtraceTrial, TraceeVma } from './evidence.js';

export const MAPPED_BYTES = 64 * 1024 * 1024;
const TRIALS = 5;
const READS = 3;
const KINDS: readonly PtraceKind[] = ['file-private-ro', 'anon-private-ro'];
const METHODS: readonly PtraceMethod[] = ['mem', 'poke'];

function traceeVma(pid: number, address: bigint): TraceeVma {
  const vmas = readVmas(pid);
  const vma = findVma(vmas, address);
  if (vma === undefined) throw new Error(`the tracee ${pid} has no mapping at 0x${address.toString(16)}`);
  return {
    anonymousBytes: vma.sizes.Anonymous ?? 0,
    accountedBytes: accountedBytesIn(vmas, address, address + BigInt(MAPPED_BYTES)),
    vmFlags: vma.vmFlags,
  };
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
        const m = stdout.map((l) => /^tracee (\d+) (0x[0-9a-f]+)$/.exec(l)).find((x) => x !== null);
        if (m == null) throw new Error(`the ptrace program named no tracee: ${JSON.stringify(stdout)}`);
        tracee = { pid: Number(m[1]), address: BigInt(m[2]!) };
        before = traceeVma(tracee.pid, tracee.address);
        committedBefore = readCommitted(READS);
      } else {
        committedAfter = readCommitted(READS);
        after = traceeVma(tracee!.pid, tracee!.address);
      }
    },
  });
  const wrote = result.stdout.map((l) => /^wrote (\d+) (\d+)$/.exec(l)).find((x) => x !== null);
  if (result.exitCode !== 0 || before === undefined || after === undefined || wrote == null) {
    throw new Error(
      `the ptrace program (${kind}, ${method}) ended ${result.signal ?? `with ${result.exitCode}`} without its measurements: ${result.stderr.trim() || result.stdout.join('; ')}`,
    );
  }
  const trial: PtraceTrial = { before, after, writtenPages: Number(wrote[1]), writeErrno: Number(wrote[2]) };
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

export async function measurePtracePages(ctx: ExperimentContext): Promise<PtracePagesEvidence> {
  const dir = mkdtempSync(join(tmpdir(), 'overcommit-lab-ptrace-'));
  try {
    const file = join(dir, 'mapped');
    const fd = openSync(file, 'w');
    try {
      ftruncateSync(fd, MAPPED_BYTES);
    } finally {
      closeSync(fd);
    }
    const cases: PtraceCase[] = [];
    for (const kind of KINDS) {
      for (const method of METHODS) {
        ctx.progress(`ptrace-pages: ${kind} through ${method === 'mem' ? '/proc/<pid>/mem' : 'PTRACE_POKEDATA'}`);
        cases.push(await measureCase(kind, method, file));
      }
    }
    return { pageSize, mappedBytes: MAPPED_BYTES, cases };
  } catch (e) {
    return { pageSize, mappedBytes: MAPPED_BYTES, cases: [], problem: e instanceof Error ? e.message : String(e) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
