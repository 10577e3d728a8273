/**
 * Runs the malloc program (native/programs/malloc.c) twice: in mode 2, with a small block, a
 * large one and then a request of the commit room + 1 GiB (the kernel refuses it at the call;
 * measure/mode2.ts); and, in the run's own mode 0 or 1, inside a fresh memory cgroup, with blocks
 * several times the group's limit, which the cgroup's OOM killer ends while they are written.
 * At the program's pause after each malloc the block's VMA is read in its smaps: [heap] (brk) or
 * an anonymous mapping of its own (mmap).
 */
import { findVma, readVmas } from '../../kernel/smaps.js';
import { inMode2 } from '../../measure/mode2.js';
import { pageSize } from '../../native/mapping.js';
import { runProgram } from '../../native/programs.js';
import { withMemoryCgroup } from '../../safety/memory-cgroup.js';
import { KiB, MiB, mib } from '../../units.js';
import type { ExperimentContext } from '../model.js';
import type { BlockVma, CgroupMallocRun, MallocBlock, MallocFailureEvidence, MallocRun } from './evidence.js';

/** Below glibc's mmap threshold (128 KiB): served from the brk heap. */
export const SMALL_BYTES = 64 * KiB;
/** Above it: a mapping of its own. */
export const LARGE_BYTES = 8 * MiB;
/** The cgroup's limit, and how many large blocks the program asks for in it (several times the limit). */
export const CGROUP_LIMIT_BYTES = 32 * MiB;
const CGROUP_BLOCKS = 12;

function blockVma(pid: number, address: bigint): Pick<MallocBlock, 'vma' | 'vmaPathname'> {
  const vma = findVma(readVmas(pid), address);
  if (vma === undefined) return { vma: 'none', vmaPathname: null };
  const kind: BlockVma = vma.pathname === '[heap]' ? 'heap' : vma.pathname === '' ? 'anonymous' : 'other';
  return { vma: kind, vmaPathname: vma.pathname };
}

/** Runs the program on `sizes` (joining `cgroupProcs` when given) and reads it back. */
export async function runMalloc(sizes: readonly number[], cgroupProcs?: string): Promise<MallocRun> {
  const blocks: MallocBlock[] = [];
  const r = await runProgram('malloc', {
    sizes,
    ...(cgroupProcs === undefined ? {} : { cgroupProcs }),
    onPause: ({ point, pid, stdout }) => {
      if (point !== 'allocated') return;
      const m = /^malloc (\d+) (0x[0-9a-f]+)$/.exec(stdout[stdout.length - 1] ?? '');
      if (m == null) throw new Error(`the malloc program stopped after no malloc line: ${JSON.stringify(stdout)}`);
      blocks.push({ sizeBytes: Number(m[1]), address: m[2]!, ...blockVma(pid, BigInt(m[2]!)) });
    },
  });
  // 2: the program did not start its allocations (bad arguments, or it could not join the group).
  if (r.exitCode === 2) throw new Error(`the malloc program did not run: ${r.stderr.trim() || r.stdout.join('; ')}`);
  const failed = r.stdout.map((l) => /^malloc (\d+) failed (\d+) (.*)$/.exec(l)).find((m) => m !== null);
  return {
    pid: r.pid,
    sizesBytes: [...sizes],
    blocks,
    writtenBlocks: r.stdout.filter((l) => l.startsWith('wrote ')).length,
    failure: failed == null ? null : { sizeBytes: Number(failed[1]), errno: Number(failed[2]), message: failed[3]! },
    exitCode: r.exitCode,
    signal: r.signal,
    timedOut: r.timedOut,
    stdout: r.stdout,
  };
}

async function runInCgroup(): Promise<CgroupMallocRun> {
  return withMemoryCgroup(CGROUP_LIMIT_BYTES, async (cg) => {
    const oomKillsBefore = cg.oomKills();
    const run = await runMalloc([SMALL_BYTES, ...Array.from({ length: CGROUP_BLOCKS }, () => LARGE_BYTES)], cg.procsFile);
    return { ...run, cgroupVersion: cg.version, cgroupLimitBytes: CGROUP_LIMIT_BYTES, oomKillsBefore, oomKillsAfter: cg.oomKills() };
  });
}

export async function measureMallocFailure(ctx: ExperimentContext): Promise<MallocFailureEvidence> {
  const base = { mode: ctx.mode, pageSize, mode2: null, mode2Reason: null, overcommit: null, overcommitReason: null };
  try {
    ctx.progress('malloc-failure: mode 2, a request larger than the commit room');
    const m2 = await inMode2(ctx.mode, (room) => runMalloc([SMALL_BYTES, LARGE_BYTES, room.overRoomBytes]));
    let overcommit: CgroupMallocRun | null = null;
    let overcommitReason: string | null = null;
    if (ctx.mode === 2) overcommitReason = 'mode 2 is in force: the run under overcommit is made in modes 0 and 1';
    else {
      ctx.progress(
        `malloc-failure: mode ${ctx.mode}, ${CGROUP_BLOCKS} blocks of ${mib(LARGE_BYTES)} in a ${mib(CGROUP_LIMIT_BYTES)} cgroup`,
      );
      overcommit = await runInCgroup();
    }
    return {
      ...base,
      mode2: m2.ran ? { ...m2.value, room: m2.room } : null,
      mode2Reason: m2.ran ? null : m2.reason,
      overcommit,
      overcommitReason,
    };
  } catch (e) {
    return { ...base, problem: e instanceof Error ? e.message : String(e) };
  }
}
