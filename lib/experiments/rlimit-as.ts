/**
 * rlimit-as: 004's RLIMIT_AS program, in forked children (RLIMIT_AS must never be set on Node
 * itself). A forked child inherits Node's address space, gigabytes of it, so the limit is set
 * relative to the child's own size: its size + 64 MiB. Then 004's program as written (an
 * absolute 64 MiB limit), to show what it does inside a large process.
 */
import { type ChildResult, type ChildStep, type ChildStepResult, runChild } from '../native/child.js';
import { MiB, mib } from '../units.js';
import { DOC_003, DOC_004 } from './documents.js';
import { legacyExperiment } from './legacy.js';
import { type Claim, type ExperimentContext, type Finding, finding, type OvercommitMode } from './model.js';

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

/** 'ok' or the errno code of one step ('ENOMEM'), or the step's status when it did not run. */
export type StepOutcome = string;

export interface RlimitAsEvidence {
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
  /** 004's program as written: an absolute 64 MiB limit in a forked Node child. */
  literalLimitBytes: number | null;
  literalBaseBytes: number;
  literalMmap128: StepOutcome;
  literalMmap8: StepOutcome;
}

function outcome(s: ChildStepResult | undefined): StepOutcome {
  if (s === undefined) return 'missing';
  if (s.status === 'ok') return 'ok';
  return s.status === 'failed' ? (s.code ?? 'failed') : s.status;
}

function childEnded(r: ChildResult): string | null {
  if (r.timedOut) return 'the child timed out';
  if (r.signal !== null) return `the child was killed by ${r.signal}`;
  if (r.exitCode !== 0) return `the child exited with ${r.exitCode} (a required step failed)`;
  return null;
}

export async function measureRlimitAs(): Promise<{ evidence: RlimitAsEvidence; problem: string | null }> {
  const relative: ChildStep[] = [
    { op: 'mmap', length: LARGE_BYTES, required: true },
    { op: 'munmap', mapping: 0, required: true },
    { op: 'setrlimit', resource: 'as', soft: LIMIT_BYTES, relative: true, required: true },
    { op: 'mmap', length: LARGE_BYTES },
    { op: 'mmap', length: SMALL_BYTES },
    { op: 'mmap', length: LARGE_BYTES, options: { noreserve: true } },
    { op: 'mmap', length: SMALL_BYTES, options: { noreserve: true } },
    { op: 'sbrk', increment: LARGE_BYTES },
    { op: 'sbrk', increment: SMALL_BYTES },
  ];
  // 004's program: rlim_cur = 64 MB, rlim_max = RLIM_INFINITY, then 128 MB and 8 MB.
  // The step reports the child's address-space size (baseBytes) even for an absolute limit.
  const literal: ChildStep[] = [
    { op: 'setrlimit', resource: 'as', soft: LIMIT_BYTES, hard: null, required: true },
    { op: 'mmap', length: LARGE_BYTES },
    { op: 'mmap', length: SMALL_BYTES },
  ];
  const a = await runChild(relative);
  const b = await runChild(literal);
  const s = a.steps;
  const problem = childEnded(a) ?? childEnded(b);
  return {
    problem,
    evidence: {
      limitBytes: s[2]?.limitBytes ?? null,
      baseBytes: s[2]?.baseBytes ?? 0,
      headroomBytes: LIMIT_BYTES,
      controlMmap128: outcome(s[0]),
      mmap128: outcome(s[3]),
      mmap8: outcome(s[4]),
      noreserveMmap128: outcome(s[5]),
      noreserveMmap8: outcome(s[6]),
      sbrk128: outcome(s[7]),
      sbrk8: outcome(s[8]),
      literalLimitBytes: b.steps[0]?.limitBytes ?? null,
      literalBaseBytes: b.steps[0]?.baseBytes ?? 0,
      literalMmap128: outcome(b.steps[1]),
      literalMmap8: outcome(b.steps[2]),
    },
  };
}

export function rlimitAsFindings(e: RlimitAsEvidence, problem: string | null, mode: OvercommitMode): Finding[] {
  const c = rlimitAsClaims;
  const evidence = { mode, ...e };
  if (problem !== null) {
    return Object.values(c).map((claim) => finding(claim, null, `In mode ${mode}: ${problem}.`, evidence, problem));
  }
  const limit = `RLIMIT_AS ${e.limitBytes} B = the child's address space ${e.baseBytes} B (${mib(e.baseBytes)}) + ${mib(e.headroomBytes)}`;
  const pair = (big: StepOutcome, small: StepOutcome): boolean => big === 'ENOMEM' && small === 'ok';
  const out: Finding[] = [];

  out.push(
    finding(
      c.mmapEnomem,
      pair(e.mmap128, e.mmap8),
      `Mode ${mode}, ${limit}: mmap(128 MiB) -> ${e.mmap128}, mmap(8 MiB) -> ${e.mmap8}.`,
      evidence,
    ),
  );
  out.push(
    finding(
      c.brkEnomem,
      pair(e.sbrk128, e.sbrk8),
      `Mode ${mode}, ${limit}: brk(+128 MiB) -> ${e.sbrk128}, brk(+8 MiB) -> ${e.sbrk8}.`,
      evidence,
    ),
  );
  out.push(
    finding(
      c.independent,
      pair(e.noreserveMmap128, e.noreserveMmap8),
      `Measured in mode ${mode} (the runner repeats it per mode): with MAP_NORESERVE, mmap(128 MiB) -> ${e.noreserveMmap128}, mmap(8 MiB) -> ${e.noreserveMmap8}; ` +
        `128 MiB is far below free memory, and the same child mapped 128 MiB before the limit (${e.controlMmap128}).`,
      evidence,
    ),
  );
  out.push(
    finding(
      c.mmapCanFail,
      e.controlMmap128 === 'ok' && e.mmap128 === 'ENOMEM',
      `The child's mmap(128 MiB) -> ${e.controlMmap128} before setrlimit, -> ${e.mmap128} after it (${limit}; mode ${mode}).`,
      evidence,
    ),
  );

  const literalHolds = pair(e.literalMmap128, e.literalMmap8);
  out.push(
    finding(
      c.literalProgram,
      literalHolds,
      `004's program as written, in a forked Node child whose address space is already ${e.literalBaseBytes} B (${mib(e.literalBaseBytes)}): ` +
        `RLIMIT_AS ${e.literalLimitBytes} B, mmap(128MB) -> ${e.literalMmap128}, mmap(8MB) -> ${e.literalMmap8}. ` +
        (literalHolds
          ? 'As the program expects.'
          : e.literalBaseBytes > (e.literalLimitBytes ?? Infinity)
            ? `The limit counts the whole address space, and this process is already past 64 MiB, so even 8 MiB fails: the program's 'should succeed' holds only for a process under ${mib(LIMIT_BYTES - SMALL_BYTES)} of address space, like the small C program itself.`
            : 'Not what the program expects.'),
      evidence,
    ),
  );
  return out;
}

export const rlimitAs = legacyExperiment({
  id: 'rlimit-as',
  title: "004's RLIMIT_AS program in forked children: mmap, MAP_NORESERVE and brk against a 64 MiB headroom",
  claims: Object.values(rlimitAsClaims),
  requires: {},
  async run(ctx: ExperimentContext): Promise<Finding[]> {
    const { evidence, problem } = await measureRlimitAs();
    return rlimitAsFindings(evidence, problem, ctx.mode);
  },
});
