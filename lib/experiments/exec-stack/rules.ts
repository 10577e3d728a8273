/**
 * The rule of exec-stack, pure. 001's Status lists "Review stack handling/building on exec": the
 * stack exec builds for the new program is charged to the commit. At the program's first
 * instruction its [stack] VMA must be marked 'ac', and the child's charge must have changed by its
 * new 'ac' bytes less the old ones (the forked copy exec dropped), stack included: classifyCharge
 * decides between that and the same without the stack, from the VmFlags (exact) and the
 * interleaved Committed_AS change (noisy).
 */
import { kib, mib } from '../../units.js';
import { type ChargeClass, classifyCharge } from '../../verdict/decide.js';
import { evidencePageSize } from '../../verdict/page-size.js';
import { median } from '../../verdict/stats.js';
import { type ClaimRule, defineRules, type Verdict } from '../../verdict/types.js';
import { DOC_001 } from '../documents.js';
import type { ExecStackEvidence, ExecTrial } from './evidence.js';

const SIGTRAP = 5;

/** A trial with everything the rule reads. */
type Complete = ExecTrial & { accountedBeforeBytes: number; accountedAfterBytes: number; stack: NonNullable<ExecTrial['stack']> };

const complete = (t: ExecTrial): t is Complete => t.accountedBeforeBytes !== null && t.accountedAfterBytes !== null && t.stack !== null;

export interface ExecJudgement {
  /** The stack's size (median) and whether every trial's stack was marked 'ac'. */
  stackBytes: number;
  stackAccounted: boolean;
  /** The exact change in 'ac' bytes (median) and the two hypotheses it is judged against. */
  accountedDeltaBytes: number;
  withStackBytes: number;
  withoutStackBytes: number;
  charge: ChargeClass;
}

/** Every numeric comparison of the rule. */
export function judgeExec(e: ExecStackEvidence, trials: readonly Complete[]): ExecJudgement {
  const stackBytes = median(trials.map((t) => t.stack.sizeBytes));
  const stackAccounted = trials.every((t) => t.stack.vmFlags.includes('ac'));
  // The new image's other charged bytes, less the old image's: what exec charges besides its stack.
  const others = median(
    trials.map((t) => t.accountedAfterBytes - (t.stack.vmFlags.includes('ac') ? t.stack.sizeBytes : 0) - t.accountedBeforeBytes),
  );
  const accountedDeltaBytes = median(trials.map((t) => t.accountedAfterBytes - t.accountedBeforeBytes));
  const withStack = { label: 'the new image charged with its stack', bytes: others + stackBytes };
  const withoutStack = { label: 'the new image charged without its stack', bytes: others };
  return {
    stackBytes,
    stackAccounted,
    accountedDeltaBytes,
    withStackBytes: withStack.bytes,
    withoutStackBytes: withoutStack.bytes,
    charge: classifyCharge(e.committed, accountedDeltaBytes, [withStack, withoutStack], evidencePageSize(e)),
  };
}

function open(e: ExecStackEvidence): string | undefined {
  if (e.trials.length === 0) return 'no exec was measured';
  const notExec = e.trials.find((t) => t.stopSignal !== SIGTRAP);
  if (notExec !== undefined)
    return `a child stopped with signal ${notExec.stopSignal}, not SIGTRAP: it was not stopped at an exec'd program's first instruction`;
  if (e.trials.some((t) => t.stack === null)) return 'a child showed no [stack] VMA at its first instruction';
  if (!e.trials.every(complete)) return 'the kernel shows no VmFlags: nothing says what is charged';
  return undefined;
}

function judge(e: ExecStackEvidence): Verdict {
  const j = judgeExec(e, e.trials as Complete[]);
  if (j.charge.match === null) return { holds: null, reason: j.charge.reason };
  const holds = j.charge.match.bytes === j.withStackBytes && j.stackAccounted;
  return j.charge.reason === undefined ? { holds } : { holds, reason: j.charge.reason };
}

function observe(e: ExecStackEvidence, v: Verdict): string {
  const j = judgeExec(e, e.trials as Complete[]);
  const t = e.trials[0] as Complete;
  const end =
    v.holds === true
      ? 'exec builds the stack as a charged VMA: it is in the commit from the first instruction.'
      : v.holds === false
        ? 'the stack exec built is not charged.'
        : 'Undecided.';
  return (
    `At the exec'd program's first instruction (a SIGTRAP stop, ${e.trials.length} trials) its [stack] VMA was ${kib(j.stackBytes)} (${kib(t.stack.rssBytes)} in memory), VmFlags ${t.stack.vmFlags.join(' ')}; ` +
    `the child's 'ac' bytes went from ${kib(t.accountedBeforeBytes)} (the forked copy) to ${kib(t.accountedAfterBytes)} (median change ${kib(j.accountedDeltaBytes)}: with its stack ${kib(j.withStackBytes)}, without it ${kib(j.withoutStackBytes)}); ` +
    `Committed_AS changed by ${kib(e.committed.changeBytes)} (±${mib(e.committed.toleranceBytes)}) against the same program with no exec. ${end}`
  );
}

const rules: readonly ClaimRule<ExecStackEvidence>[] = [
  {
    claim: {
      id: 'exec-stack-accounted',
      text: "Status: Review stack handling/building on exec: the stack exec builds for the new program is charged to the commit: at the program's first instruction its [stack] VMA is accounted ('ac') and Committed_AS counts it.",
      source: DOC_001,
    },
    missing: open,
    judge,
    observe,
  },
];

export const execStackRules = defineRules<ExecStackEvidence>({
  id: 'exec-stack',
  title:
    "001's Status, stack building on exec: a traced child stopped at an exec'd program's first instruction; its [stack] VMA (size, VmFlags) and the charge against the same program with no exec",
  requires: {},
  rules,
});
