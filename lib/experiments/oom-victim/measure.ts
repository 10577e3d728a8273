/**
 * Puts processes of different sizes in one memory cgroup (the malloc program, each stopped at
 * its 'held' point with its block written), reads their oom_score, then runs one more process
 * that allocates and writes in small steps until the group's limit is passed and its OOM killer
 * chooses. Twice: as they are, then with the smallest raised to oom_score_adj 1000. Every process
 * is ours, ends (killed or not) before its round returns, and the group is removed on every path.
 */
import { readFileSync } from 'node:fs';
import { readKernelLog } from '../../kernel/kmsg.js';
import { readStatus } from '../../kernel/status.js';
import { pageSize } from '../../native/mapping.js';
import { runProgram } from '../../native/programs.js';
import { withMemoryCgroup } from '../../safety/memory-cgroup.js';
import { raiseOomScoreAdj } from '../../safety/touch-confinement.js';
import { MiB, mib } from '../../units.js';
import { runMalloc } from '../malloc-failure/measure.js';
import type { ExperimentContext } from '../model.js';
import type { Holder, OomVictimEvidence, RoundKind, Trigger, VictimRound } from './evidence.js';

/**
 * The group's limit and the holders' blocks (together all but 16 MiB of it). The trigger's steps
 * pass the limit whatever the processes' other charges (page tables, stacks, kernel memory: up
 * to ~13 MiB seen), stay below the smallest holder when the OOM killer chooses, and fit once even
 * the smallest holder is gone: one kill per round.
 */
export const LIMIT_BYTES = 192 * MiB;
export const HOLDER_BYTES = [32 * MiB, 48 * MiB, 96 * MiB] as const;
const TRIGGER_STEP_BYTES = MiB;
const TRIGGER_STEPS = 24;
const TIMEOUT_MS = 120_000;

type Held = Pick<Holder, 'sizeBytes' | 'pid'>;

function readNumber(file: string): number {
  return Number(readFileSync(file, 'utf8').trim());
}

/**
 * Starts a holder for each size in turn, each in the group and stopped with its block written,
 * runs `fn` with them all held, then lets them go on (those still alive exit by themselves).
 */
async function withHolders<T>(
  sizes: readonly number[],
  procs: string,
  fn: (held: Held[]) => Promise<T>,
): Promise<{ value: T; ends: Pick<Holder, 'signal' | 'exitCode'>[] }> {
  if (sizes.length === 0) return { value: await fn([]), ends: [] };
  const size = sizes[0]!;
  let inner: { value: T; ends: Pick<Holder, 'signal' | 'exitCode'>[] } | undefined;
  const r = await runProgram('malloc', {
    sizes: [size],
    cgroupProcs: procs,
    timeoutMs: TIMEOUT_MS,
    onPause: async ({ point, pid }) => {
      if (point === 'held') inner = await withHolders(sizes.slice(1), procs, (held) => fn([{ sizeBytes: size, pid }, ...held]));
    },
  });
  if (inner === undefined)
    throw new Error(
      `the ${mib(size)} holder ended (${r.signal ?? `exit ${r.exitCode}`}) before it held its block: ${r.stderr.trim() || r.stdout.join('; ')}`,
    );
  return { value: inner.value, ends: [{ signal: r.signal, exitCode: r.exitCode }, ...inner.ends] };
}

/** Kernel log lines that name one of `pids` as killed or chosen. */
function killLines(pids: readonly number[]): Pick<VictimRound, 'kernelLogLines' | 'kernelLogReason'> {
  const log = readKernelLog();
  if (log.lines === null) return { kernelLogLines: null, kernelLogReason: log.reason };
  const re = new RegExp(`(Killed process (${pids.join('|')}) |,pid=(${pids.join('|')}),)`);
  return { kernelLogLines: log.lines.filter((l) => re.test(l)), kernelLogReason: null };
}

export async function measureRound(kind: RoundKind): Promise<VictimRound> {
  return withMemoryCgroup(LIMIT_BYTES, async (cg) => {
    const { value, ends } = await withHolders(HOLDER_BYTES, cg.procsFile, async (held) => {
      if (kind === 'adjusted') raiseOomScoreAdj(held[0]!.pid);
      const readings = held.map((h) => ({
        ...h,
        rssBytes: readStatus(h.pid).vmRss,
        oomScore: readNumber(`/proc/${h.pid}/oom_score`),
        oomScoreAdj: readNumber(`/proc/${h.pid}/oom_score_adj`),
      }));
      const oomKillsBefore = cg.oomKills();
      const t = await runMalloc(
        Array.from({ length: TRIGGER_STEPS }, () => TRIGGER_STEP_BYTES),
        cg.procsFile,
      );
      const trigger: Trigger = {
        pid: t.pid,
        sizeBytes: TRIGGER_STEPS * TRIGGER_STEP_BYTES,
        writtenBlocks: t.writtenBlocks,
        blocks: TRIGGER_STEPS,
        signal: t.signal,
        exitCode: t.exitCode,
      };
      return { readings, trigger, oomKillsBefore, oomKillsAfter: cg.oomKills() };
    });
    const holders: Holder[] = value.readings.map((h, i) => ({ ...h, ...ends[i]! }));
    const pids = [...holders.map((h) => h.pid), value.trigger.pid];
    return {
      kind,
      cgroupVersion: cg.version,
      cgroupLimitBytes: LIMIT_BYTES,
      holders,
      trigger: value.trigger,
      oomKillsBefore: value.oomKillsBefore,
      oomKillsAfter: value.oomKillsAfter,
      ...killLines(pids),
    };
  });
}

export async function measureOomVictim(ctx: ExperimentContext): Promise<OomVictimEvidence> {
  const rounds: VictimRound[] = [];
  try {
    for (const kind of ['sizes', 'adjusted'] as const) {
      ctx.progress(
        `oom-victim: ${HOLDER_BYTES.map(mib).join(', ')} held in a ${mib(LIMIT_BYTES)} cgroup${kind === 'adjusted' ? ', the smallest at oom_score_adj 1000' : ''}; one more allocates past the limit`,
      );
      rounds.push(await measureRound(kind));
    }
    return { pageSize, rounds };
  } catch (e) {
    return { pageSize, rounds, problem: e instanceof Error ? e.message : String(e) };
  }
}
