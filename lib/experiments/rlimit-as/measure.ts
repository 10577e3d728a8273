import { readAddressSpaceLimit } from '../../kernel/limits.js';
import { readStatus } from '../../kernel/status.js';
import { runNamedChild } from '../../measure/child.js';
import type { ChildStepResult } from '../../native/child.js';
import { parseRlimitOutput, programPath, runProgram } from '../../native/programs.js';
import type { OvercommitMode } from '../model.js';
import {
  LARGE_BYTES,
  LIMIT_BYTES,
  type ProgramMmap,
  type RlimitAsEvidence,
  type RlimitProgramRun,
  SMALL_BYTES,
  type StepOutcome,
} from './evidence.js';

function outcome(s: ChildStepResult): StepOutcome {
  if (s.status === 'ok') return 'ok';
  return s.status === 'failed' ? (s.code ?? 'failed') : s.status;
}

async function runRlimitProgram(): Promise<RlimitProgramRun> {
  const none = {
    lines: [],
    stderr: '',
    exitCode: null,
    signal: null,
    limitSoftBytes: null,
    limitHardBytes: null,
    vmSizeBytes: null,
    large: null,
    small: null,
  };
  try {
    programPath('rlimit');
  } catch (e) {
    return { unavailable: (e as Error).message, ...none };
  }
  let limit: { soft: number | null; hard: number | null } = { soft: null, hard: null };
  let vmSizeBytes: number | null = null;
  const r = await runProgram('rlimit', {
    onPause: ({ pid }) => {
      limit = readAddressSpaceLimit(pid);
      vmSizeBytes = readStatus(pid).vmSize;
    },
  });
  let parsed: { large: ProgramMmap; small: ProgramMmap } | null = null;
  try {
    const out = parseRlimitOutput(r.stdout);
    const line = (l: typeof out.large): ProgramMmap => ({ succeeded: l.succeeded, error: l.error, line: l.line });
    parsed = { large: line(out.large), small: line(out.small) };
  } catch {
    // It printed something else: the rule says so with its lines.
  }
  return {
    unavailable: null,
    lines: r.stdout,
    stderr: r.stderr,
    exitCode: r.exitCode,
    signal: r.signal,
    limitSoftBytes: limit.soft,
    limitHardBytes: limit.hard,
    vmSizeBytes,
    large: parsed?.large ?? null,
    small: parsed?.small ?? null,
  };
}

export async function measureRlimitAs(mode: OvercommitMode): Promise<RlimitAsEvidence> {
  const child = await runNamedChild([
    ['control-mmap', { op: 'mmap', length: LARGE_BYTES, required: true }],
    ['control-munmap', { op: 'munmap', mapping: 'control-mmap', required: true }],
    ['limit', { op: 'setrlimit', resource: 'as', soft: LIMIT_BYTES, relative: true, required: true }],
    ['mmap-128', { op: 'mmap', length: LARGE_BYTES }],
    ['mmap-8', { op: 'mmap', length: SMALL_BYTES }],
    ['noreserve-128', { op: 'mmap', length: LARGE_BYTES, options: { noreserve: true } }],
    ['noreserve-8', { op: 'mmap', length: SMALL_BYTES, options: { noreserve: true } }],
    ['sbrk-128', { op: 'sbrk', increment: LARGE_BYTES }],
    ['sbrk-8', { op: 'sbrk', increment: SMALL_BYTES }],
  ]);
  const limit = child.step('limit');
  return {
    mode,
    limitBytes: limit.limitBytes ?? null,
    baseBytes: limit.baseBytes ?? 0,
    headroomBytes: LIMIT_BYTES,
    controlMmap128: outcome(child.step('control-mmap')),
    mmap128: outcome(child.step('mmap-128')),
    mmap8: outcome(child.step('mmap-8')),
    noreserveMmap128: outcome(child.step('noreserve-128')),
    noreserveMmap8: outcome(child.step('noreserve-8')),
    sbrk128: outcome(child.step('sbrk-128')),
    sbrk8: outcome(child.step('sbrk-8')),
    childProblem: child.problem ?? null,
    program: await runRlimitProgram(),
  };
}
