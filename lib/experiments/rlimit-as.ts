/**
 * rlimit-as: 004's RLIMIT_AS program run as its own small process (it sets a 64 MB limit, then
 * maps 128 MB and 8 MB and prints what happened), with its limit and address-space size read by
 * the tool from /proc/<pid> while it is stopped after setrlimit. The general claims (mmap, brk,
 * MAP_NORESERVE against a limit) are tested in a forked child, with the limit set relative to
 * the child's own size (a forked Node child already has hundreds of MiB of address space):
 * RLIMIT_AS must never be set on Node itself.
 */
import { readAddressSpaceLimit } from '../kernel/limits.js';
import { readStatus } from '../kernel/status.js';
import { runNamedChild } from '../measure/child.js';
import type { ChildStepResult } from '../native/child.js';
import { parseRlimitOutput, programPath, runProgram } from '../native/programs.js';
import { MiB, mib } from '../units.js';
import { DOC_003, DOC_004 } from './documents.js';
import { type Claim, type ClaimRule, defineExperiment, type Evidence, type Measured, type OvercommitMode } from './model.js';

/** 004's limit, and its two requests: one must exceed it, one must fit. */
const LIMIT_BYTES = 64 * MiB;
const LARGE_BYTES = 128 * MiB;
const SMALL_BYTES = 8 * MiB;

export const rlimitAsClaims = {
  mmapEnomem: {
    id: 'rlimit-as-mmap-enomem',
    text: 'RLIMIT_AS caps the total virtual address space of a process: an mmap() that would push the process beyond it returns ENOMEM (128 MB over a 64 MB headroom fails, 8 MB fits).',
    source: DOC_004,
  },
  brkEnomem: {
    id: 'rlimit-as-brk-enomem',
    text: 'Any brk() that would push the process beyond RLIMIT_AS returns ENOMEM.',
    source: DOC_004,
  },
  independent: {
    id: 'rlimit-as-independent-of-overcommit',
    text: 'Independent of overcommit settings, RLIMIT_AS caps the address space (Q6: independent of physical memory availability): MAP_NORESERVE does not escape it.',
    source: DOC_004,
  },
  mmapCanFail: {
    id: 'mmap-fails-on-rlimit-as',
    text: 'A call to mmap() can also fail because it encounters the per-process RLIMIT_AS resource limit, an upper limit on the size of the address space of the calling process.',
    source: DOC_003,
  },
  literalProgram: {
    id: 'rlimit-program-64mb',
    text: "004's RLIMIT_AS program: with RLIMIT_AS = 64 MB, mmap(128MB) 'should fail' and mmap(8MB) 'should succeed'.",
    source: DOC_004,
  },
} satisfies Record<string, Claim>;

/** 'ok' or the errno code of one child step ('ENOMEM'), or the step's status when it did not run. */
export type StepOutcome = string;

/** One of the program's two mmap lines. */
export interface ProgramMmap {
  succeeded: boolean;
  /** strerror's text as the program printed it; null when it succeeded. */
  error: string | null;
  line: string;
}

/** 004's RLIMIT_AS program as a process. */
export interface RlimitProgramRun {
  /** Why it could not be run (not built); null when it ran. */
  unavailable: string | null;
  lines: string[];
  stderr: string;
  exitCode: number | null;
  signal: string | null;
  /** RLIMIT_AS from /proc/<pid>/limits while the program was stopped after its setrlimit (null: unlimited or not read). */
  limitSoftBytes: number | null;
  limitHardBytes: number | null;
  /** The program's address space (VmSize) at that point. */
  vmSizeBytes: number | null;
  large: ProgramMmap | null;
  small: ProgramMmap | null;
}

export interface RlimitAsEvidence extends Measured {
  mode: OvercommitMode;
  /** The soft RLIMIT_AS applied in the relative child, and the address-space size it was added to. */
  limitBytes: number | null;
  baseBytes: number;
  headroomBytes: number;
  /** 128 MiB mmap before the limit: shows the size is accepted when only the limit differs. */
  controlMmap128: StepOutcome;
  mmap128: StepOutcome;
  mmap8: StepOutcome;
  noreserveMmap128: StepOutcome;
  noreserveMmap8: StepOutcome;
  sbrk128: StepOutcome;
  sbrk8: StepOutcome;
  /** How the relative child ended when it did not finish; null when it did. */
  childProblem: string | null;
  program: RlimitProgramRun;
}

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

const c = rlimitAsClaims;
const pair = (big: StepOutcome, small: StepOutcome): boolean => big === 'ENOMEM' && small === 'ok';
const limitWords = (e: RlimitAsEvidence) =>
  `RLIMIT_AS ${e.limitBytes} B = the child's address space ${e.baseBytes} B (${mib(e.baseBytes)}) + ${mib(e.headroomBytes)}`;
const childMissing = (e: RlimitAsEvidence) => e.childProblem ?? undefined;
const programOutcome = (m: ProgramMmap | null): string => (m === null ? 'missing' : m.succeeded ? 'ok' : (m.error ?? 'failed'));

/** The keys the findings recorded before (the literal program's as literal*), then the program run. */
function findingEvidence(e: RlimitAsEvidence): Evidence {
  const { program, ...rest } = e;
  return {
    ...rest,
    literalLimitBytes: program.limitSoftBytes,
    literalBaseBytes: program.vmSizeBytes,
    literalMmap128: programOutcome(program.large),
    literalMmap8: programOutcome(program.small),
    program: program as unknown as Evidence,
  };
}

const rules: ClaimRule<RlimitAsEvidence>[] = [
  {
    claim: c.mmapEnomem,
    missing: childMissing,
    judge: (e) => ({ holds: pair(e.mmap128, e.mmap8) }),
    observe: (e) => `Mode ${e.mode}, ${limitWords(e)}: mmap(128 MiB) -> ${e.mmap128}, mmap(8 MiB) -> ${e.mmap8}.`,
  },
  {
    claim: c.brkEnomem,
    missing: childMissing,
    judge: (e) => ({ holds: pair(e.sbrk128, e.sbrk8) }),
    observe: (e) => `Mode ${e.mode}, ${limitWords(e)}: brk(+128 MiB) -> ${e.sbrk128}, brk(+8 MiB) -> ${e.sbrk8}.`,
  },
  {
    claim: c.independent,
    missing: childMissing,
    judge: (e) => ({ holds: pair(e.noreserveMmap128, e.noreserveMmap8) }),
    observe: (e) =>
      `Measured in mode ${e.mode} (the runner repeats it per mode), ${limitWords(e)}: with MAP_NORESERVE, mmap(128 MiB) -> ${e.noreserveMmap128}, mmap(8 MiB) -> ${e.noreserveMmap8}; ` +
      `the same child mapped 128 MiB before the limit (${e.controlMmap128}).`,
  },
  {
    claim: c.mmapCanFail,
    missing: childMissing,
    judge: (e) => ({ holds: e.controlMmap128 === 'ok' && e.mmap128 === 'ENOMEM' }),
    observe: (e) =>
      `The child's mmap(128 MiB) -> ${e.controlMmap128} before setrlimit, -> ${e.mmap128} after it (${limitWords(e)}; mode ${e.mode}).`,
  },
  {
    claim: c.literalProgram,
    missing: (e) => {
      const p = e.program;
      if (p.unavailable !== null) return p.unavailable;
      if (p.exitCode !== 0)
        return `the program ${p.signal !== null ? `was ended by ${p.signal}` : `exited ${p.exitCode}`}: ${p.stderr.trim() || p.lines.join(' / ')}`;
      if (p.large === null || p.small === null) return `the program did not print its two mmap lines: ${JSON.stringify(p.lines)}`;
      if (p.limitSoftBytes !== LIMIT_BYTES)
        return `the program's RLIMIT_AS read ${p.limitSoftBytes ?? 'unlimited'} in /proc/<pid>/limits, not the ${mib(LIMIT_BYTES)} it sets`;
      return undefined;
    },
    judge: (e) => ({ holds: !e.program.large!.succeeded && e.program.small!.succeeded }),
    observe: (e, v) => {
      const p = e.program;
      return (
        `004's program, run as its own process, printed '${p.large!.line}' and '${p.small!.line}'. ` +
        `After its setrlimit, /proc/<pid>/limits gave RLIMIT_AS ${p.limitSoftBytes} B (hard ${p.limitHardBytes ?? 'unlimited'}) and its address space was ${mib(p.vmSizeBytes ?? 0)}` +
        `${v.holds ? ': the 128 MB request exceeds the limit, the 8 MB one fits, as the program expects.' : ': not what the program expects.'}`
      );
    },
  },
];

export const rlimitAs = defineExperiment<RlimitAsEvidence>({
  id: 'rlimit-as',
  title: "004's RLIMIT_AS program as a process, and mmap, MAP_NORESERVE and brk against a 64 MiB headroom in a forked child",
  requires: {},
  measure: (ctx) => measureRlimitAs(ctx.mode),
  rules: rules.map((r) => ({ ...r, evidence: findingEvidence })),
});
