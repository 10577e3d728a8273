import { mib } from '../../units.js';
import { defineRules } from '../../verdict/types.js';
import { DOC_003, DOC_004 } from '../documents.js';
import type { Claim, ClaimRule, Evidence } from '../model.js';
import { LIMIT_BYTES, type ProgramMmap, type RlimitAsEvidence, type StepOutcome } from './evidence.js';

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

export const rlimitAsRules = defineRules<RlimitAsEvidence>({
  id: 'rlimit-as',
  title: "004's RLIMIT_AS program as a process, and mmap, MAP_NORESERVE and brk against a 64 MiB headroom in a forked child",
  requires: {},
  rules: rules.map((r) => ({ ...r, evidence: findingEvidence })),
});
