/**
 * Runs the exec program (native/programs/exec.c): a traced child stops before exec, then at the
 * first instruction of the program it exec'd (the kernel's SIGTRAP stop after exec). At both stops
 * the child's smaps and Committed_AS are read; each run is followed by a control run whose child
 * stops twice without exec'ing, so that the charge is the usual interleaved change.
 */
import { accountedBytesIn, readVmas } from '../../kernel/smaps.js';
import { readCommitted } from '../../measure/committed.js';
import { pageSize } from '../../native/mapping.js';
import { runProgram } from '../../native/programs.js';
import { changeFromDeltas } from '../../verdict/tolerance.js';
import type { ExperimentContext } from '../model.js';
import type { ExecStackEvidence, ExecStackVma, ExecTrial } from './evidence.js';

const TRIALS = 7;
const READS = 3;
const WHOLE = [0n, 2n ** 64n] as const;

function childOf(stdout: readonly string[]): number {
  const m = stdout.map((l) => /^child (\d+)$/.exec(l)).find((x) => x !== null);
  if (m == null) throw new Error(`the exec program named no child: ${JSON.stringify(stdout)}`);
  return Number(m[1]);
}

function stackOf(pid: number): { accounted: number | null; stack: ExecStackVma | null } {
  const vmas = readVmas(pid);
  const s = vmas.find((v) => v.pathname === '[stack]');
  return {
    accounted: accountedBytesIn(vmas, ...WHOLE),
    stack: s === undefined ? null : { sizeBytes: Number(s.end - s.start), rssBytes: s.sizes.Rss ?? 0, vmFlags: s.vmFlags },
  };
}

/** One run: the child's VMAs and Committed_AS at its two stops. */
async function runOnce(exec: boolean): Promise<{ trial: ExecTrial; deltaBytes: number }> {
  let before = 0;
  let after = 0;
  let accountedBefore: number | null = null;
  let atStop: ReturnType<typeof stackOf> | undefined;
  const result = await runProgram('exec', {
    noExec: !exec,
    onPause: ({ point, stdout }) => {
      const pid = childOf(stdout);
      if (point === 'forked') {
        accountedBefore = stackOf(pid).accounted;
        before = readCommitted(READS);
      } else {
        after = readCommitted(READS);
        atStop = stackOf(pid);
      }
    },
  });
  const stopped = result.stdout.map((l) => /^stopped (-?\d+)$/.exec(l)).find((x) => x !== null);
  if (atStop === undefined || stopped == null) {
    throw new Error(
      `the exec program (${exec ? 'exec' : 'control'}) ended ${result.signal ?? `with ${result.exitCode}`} without its measurements: ${result.stderr.trim() || result.stdout.join('; ')}`,
    );
  }
  return {
    trial: {
      stopSignal: Number(stopped[1]),
      accountedBeforeBytes: accountedBefore,
      accountedAfterBytes: atStop.accounted,
      stack: atStop.stack,
    },
    deltaBytes: after - before,
  };
}

export async function measureExecStack(ctx: ExperimentContext): Promise<ExecStackEvidence> {
  ctx.progress(`exec-stack: ${TRIALS} execs stopped at their first instruction, each with a control`);
  const trials: ExecTrial[] = [];
  const action: number[] = [];
  const control: number[] = [];
  try {
    for (let t = 0; t < TRIALS; t++) {
      const a = await runOnce(true);
      trials.push(a.trial);
      action.push(a.deltaBytes);
      control.push((await runOnce(false)).deltaBytes);
    }
    return { pageSize, trials, committed: changeFromDeltas(action, control) };
  } catch (e) {
    return { pageSize, trials, committed: changeFromDeltas([0], [0]), problem: e instanceof Error ? e.message : String(e) };
  }
}
