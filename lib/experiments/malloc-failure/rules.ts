/**
 * The rules of malloc-failure, pure. 002 tells how malloc(3) gets memory (brk or mmap, VMAs) and
 * why failure locality matters: without overcommit a failed allocation is reported at the call,
 * with its size; with overcommit "this locality is lost by design". The program's own lines say
 * what it saw: a failed-malloc line (size, errno) or nothing before a SIGKILL.
 */
import { mib } from '../../units.js';
import { type ClaimRule, defineRules, type Verdict } from '../../verdict/types.js';
import { DOC_002 } from '../documents.js';
import type { CgroupMallocRun, MallocBlock, MallocFailureEvidence, MallocRun } from './evidence.js';

/** ENOMEM on Linux (every architecture the tool runs on). */
const ENOMEM = 12;

function ended(r: MallocRun): string {
  if (r.timedOut) return 'was killed by the tool after its timeout';
  return r.signal !== null ? `was ended by ${r.signal}` : `exited ${r.exitCode}`;
}

const blockText = (b: MallocBlock): string =>
  `malloc(${mib(b.sizeBytes)}) → ${b.vma === 'heap' ? 'the [heap] (brk)' : b.vma === 'anonymous' ? 'an anonymous mapping (mmap)' : b.vma === 'other' ? `a mapping of ${b.vmaPathname}` : 'no mapping'}`;

/** Every block of both runs, each request size once (the first time it was seen). */
function blocksOf(e: MallocFailureEvidence): MallocBlock[] {
  const all = [...(e.mode2?.blocks ?? []), ...(e.overcommit?.blocks ?? [])];
  return all.filter((b, i) => all.findIndex((x) => x.sizeBytes === b.sizeBytes && x.vma === b.vma) === i);
}

/** The mode-2 run: the last request (the room + 1 GiB) failed at the call, reported by the program itself. */
function judgeMode2(r: MallocRun): Verdict {
  if (r.timedOut) return { holds: null, reason: 'the mode-2 run was still going at its timeout' };
  const last = r.sizesBytes[r.sizesBytes.length - 1]!;
  const reported = r.failure !== null && r.failure.sizeBytes === last && r.failure.errno === ENOMEM;
  const before = r.writtenBlocks === r.sizesBytes.length - 1;
  return { holds: reported && before && r.signal === null && r.exitCode === 1 };
}

/** The cgroup run: every malloc returned, the program died by SIGKILL from the group's OOM killer, and printed no failure. */
function judgeOvercommit(r: CgroupMallocRun): Verdict {
  if (r.timedOut) return { holds: null, reason: `the program was still running after its timeout (${r.writtenBlocks} blocks written)` };
  if (r.failure !== null || r.signal !== 'SIGKILL') return { holds: false };
  if (r.oomKillsAfter <= r.oomKillsBefore)
    return { holds: null, reason: "SIGKILL came, but the group's OOM-kill count did not move: nothing says the OOM killer sent it" };
  return { holds: true };
}

function mode2Sentence(e: MallocFailureEvidence): string {
  const r = e.mode2;
  if (r === null) return `mode 2: not run (${e.mode2Reason ?? 'unknown'})`;
  const room = `CommitLimit ${mib(r.room.commitLimitBytes)}, Committed_AS ${mib(r.room.committedAsBytes)}${r.room.guardRaisedKbytes === null ? '' : `, overcommit_kbytes ${r.room.guardRaisedKbytes} set by the settings guard for headroom`}`;
  const said =
    r.failure === null
      ? 'it printed no failed malloc'
      : `it printed "malloc ${r.failure.sizeBytes} failed ${r.failure.errno} ${r.failure.message}"`;
  return `mode 2 (${room}): the program wrote ${r.writtenBlocks} of ${r.sizesBytes.length} blocks, asked for ${mib(r.sizesBytes[r.sizesBytes.length - 1]!)} (the room + 1 GiB); ${said} and ${ended(r)}`;
}

function overcommitSentence(e: MallocFailureEvidence): string {
  const r = e.overcommit;
  if (r === null) return `under overcommit: not run (${e.overcommitReason ?? 'unknown'})`;
  const said =
    r.failure === null
      ? 'printed no failed malloc'
      : `printed "malloc ${r.failure.sizeBytes} failed ${r.failure.errno} ${r.failure.message}"`;
  return `mode ${e.mode} in a ${mib(r.cgroupLimitBytes)} memory cgroup (v${r.cgroupVersion}): ${r.blocks.length} of ${r.sizesBytes.length} mallocs returned a block, ${r.writtenBlocks} were written; the program ${said} and ${ended(r)} (the group's oom_kill ${r.oomKillsBefore} → ${r.oomKillsAfter}); its last lines: ${r.stdout.slice(-2).join(' / ')}`;
}

const rules: readonly ClaimRule<MallocFailureEvidence>[] = [
  {
    claim: {
      id: 'malloc-calls-brk-or-mmap',
      text: 'At a high level, the allocator calls brk(2) or mmap(2) to request additional virtual address space from the kernel, which is represented by virtual memory area objects (VMAs): each block malloc returns lies in the brk heap or in an anonymous mapping of its own.',
      source: DOC_002,
    },
    missing: (e) => (blocksOf(e).length === 0 ? 'no malloc returned a block to locate' : undefined),
    judge: (e) => ({ holds: blocksOf(e).every((b) => b.vma === 'heap' || b.vma === 'anonymous') }),
    observe: (e, v) =>
      `${blocksOf(e).map(blockText).join('; ')}. ${v.holds ? 'Every block lies in a VMA that brk or mmap made.' : 'A block lies outside both.'}`,
  },
  {
    claim: {
      id: 'mode2-malloc-fails-at-call',
      text: 'When allocations fail fast (overcommit disabled), the failure is synchronous with the request: the program sees malloc fail, with the requested size and the error in hand, and reports it itself.',
      source: DOC_002,
    },
    missing: (e) => (e.mode2 === null ? (e.mode2Reason ?? 'the mode-2 run was not made') : undefined),
    judge: (e) => judgeMode2(e.mode2!),
    observe: (e) => `${mode2Sentence(e)}.`,
  },
  {
    claim: {
      id: 'overcommit-malloc-failure-not-local',
      text: 'With overcommit, this locality is lost by design: every malloc returns, and the program is killed (SIGKILL) while it uses the memory, with no allocation failure of its own to report; without overcommit the same program reports the failed call.',
      source: DOC_002,
      modes: [0, 1],
    },
    missing: (e) =>
      e.overcommit === null
        ? (e.overcommitReason ?? 'the run under overcommit was not made')
        : e.mode2 === null
          ? `the mode-2 contrast was not made (${e.mode2Reason ?? 'unknown'})`
          : undefined,
    judge: (e) => {
      const late = judgeOvercommit(e.overcommit!);
      const local = judgeMode2(e.mode2!);
      if (late.holds === false) return late;
      if (local.holds === false) return { holds: false, reason: 'the mode-2 run did not report its failed malloc: no locality to lose' };
      return late.holds === null ? late : local;
    },
    observe: (e) => `${overcommitSentence(e)}. Against: ${mode2Sentence(e)}.`,
  },
];

export const mallocFailureRules = defineRules<MallocFailureEvidence>({
  id: 'malloc-failure',
  title:
    "002's malloc story and failure locality: a program mallocs and writes in steps, in mode 2 past the commit room, and under overcommit in a memory cgroup",
  requires: { root: true, memoryCgroup: true },
  rules,
});
