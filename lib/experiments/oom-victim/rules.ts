/**
 * The rules of oom-victim, pure. 003: the OOM killer "tries to choose the best process to kill
 * ... where 'best' is determined by a range of factors. For example, the more memory a process
 * is consuming, the more likely it will be a candidate". A round's victims are the processes the
 * kernel killed (SIGKILL, with the group's OOM-kill count moving); the round decides when exactly
 * one process was killed.
 */
import { mib } from '../../units.js';
import { type ClaimRule, defineRules, type Verdict } from '../../verdict/types.js';
import { DOC_003 } from '../documents.js';
import type { Holder, OomVictimEvidence, RoundKind, VictimRound } from './evidence.js';

/** What a round shows: the one process killed, or why it shows none. */
type Outcome = { victim: Holder | 'trigger'; reason?: undefined } | { victim: null; reason: string };

export function outcomeOf(r: VictimRound): Outcome {
  const killed = r.holders.filter((h) => h.signal === 'SIGKILL');
  const triggerKilled = r.trigger.signal === 'SIGKILL';
  const kills = r.oomKillsAfter - r.oomKillsBefore;
  if (kills === 0)
    return {
      victim: null,
      reason: `the ${r.kind} round: the group's OOM killer killed nothing (oom_kill ${r.oomKillsBefore} → ${r.oomKillsAfter})`,
    };
  if (killed.length + (triggerKilled ? 1 : 0) !== 1 || kills !== 1)
    return {
      victim: null,
      reason: `the ${r.kind} round: ${kills} OOM kills and ${killed.length + (triggerKilled ? 1 : 0)} processes ended by SIGKILL, not one: no single choice to judge`,
    };
  return { victim: killed[0] ?? 'trigger' };
}

const largest = (r: VictimRound): Holder => r.holders.reduce((a, b) => (b.rssBytes > a.rssBytes ? b : a));
/** The holders with the highest oom_score read before the trigger. */
const topScored = (r: VictimRound): Holder[] => {
  const top = Math.max(...r.holders.map((h) => h.oomScore));
  return r.holders.filter((h) => h.oomScore === top);
};

const name = (h: Holder | 'trigger'): string =>
  h === 'trigger' ? 'the allocating process' : `the ${mib(h.sizeBytes)} holder (pid ${h.pid})`;

function roundSentence(r: VictimRound): string {
  const o = outcomeOf(r);
  const holders = r.holders
    .map((h) => `${mib(h.sizeBytes)} (VmRSS ${mib(h.rssBytes)}, oom_score ${h.oomScore}, oom_score_adj ${h.oomScoreAdj})`)
    .join(', ');
  const trigger = `the allocating process wrote ${r.trigger.writtenBlocks} of ${r.trigger.blocks} blocks of ${mib(r.trigger.sizeBytes / r.trigger.blocks)} and ${r.trigger.signal === null ? `exited ${r.trigger.exitCode}` : `was ended by ${r.trigger.signal}`}`;
  const killed = o.victim === null ? o.reason : `killed: ${name(o.victim)}`;
  const log = r.kernelLogLines?.find((l) => l.includes('Killed process'));
  return `${r.kind} round, ${mib(r.cgroupLimitBytes)} cgroup (v${r.cgroupVersion}): holders ${holders}; ${trigger}; ${killed} (oom_kill ${r.oomKillsBefore} → ${r.oomKillsAfter})${log === undefined ? '' : `; kernel log: "${log}"`}`;
}

const round = (e: OomVictimEvidence, kind: RoundKind): VictimRound | undefined => e.rounds.find((r) => r.kind === kind);

/** The victim of a round is `expected`; undecided when the round shows no single victim. */
function victimIs(r: VictimRound, expected: (r: VictimRound) => Holder | string): Verdict {
  const o = outcomeOf(r);
  if (o.victim === null) return { holds: null, reason: o.reason };
  const want = expected(r);
  if (typeof want === 'string') return { holds: null, reason: want };
  return { holds: o.victim !== 'trigger' && o.victim.pid === want.pid };
}

/** The one holder with the highest oom_score, or why there is none. */
function bestScored(r: VictimRound): Holder | string {
  const top = topScored(r);
  return top.length === 1 ? top[0]! : `the ${r.kind} round: ${top.length} holders share the highest oom_score (${top[0]!.oomScore})`;
}

function missingRound(...kinds: RoundKind[]) {
  return (e: OomVictimEvidence): string | undefined => {
    const absent = kinds.filter((k) => round(e, k) === undefined);
    return absent.length === 0 ? undefined : `no ${absent.join(' or ')} round was measured`;
  };
}

const rules: readonly ClaimRule<OomVictimEvidence>[] = [
  {
    claim: {
      id: 'oom-victim-largest',
      text: 'For example, the more memory a process is consuming, the more likely it will be a candidate for the OOM killer: of processes of different sizes in one memory cgroup, the one the OOM killer kills is the largest.',
      source: DOC_003,
    },
    missing: missingRound('sizes'),
    judge: (e) => victimIs(round(e, 'sizes')!, largest),
    observe: (e, v) => {
      const r = round(e, 'sizes')!;
      return `${roundSentence(r)}. ${v.holds === true ? 'The largest process was the one killed.' : v.holds === false ? `The largest, ${name(largest(r))}, was not the one killed.` : 'Undecided.'}`;
    },
  },
  {
    claim: {
      id: 'oom-victim-best-by-factors',
      text: "The OOM killer tries to choose the best process to kill in order to relieve the memory exhaustion, where 'best' is determined by a range of factors: the victim is the process with the highest oom_score, and oom_score_adj (one such factor) changes the choice away from the largest.",
      source: DOC_003,
    },
    missing: missingRound('sizes', 'adjusted'),
    judge: (e) => {
      const sizes = victimIs(round(e, 'sizes')!, bestScored);
      const adjusted = round(e, 'adjusted')!;
      const adj = victimIs(adjusted, bestScored);
      if (sizes.holds === false || adj.holds === false) return { holds: false };
      if (sizes.holds === null || adj.holds === null) return sizes.holds === null ? sizes : adj;
      // The factor must have changed the choice: the adjusted round's victim is not its largest.
      const o = outcomeOf(adjusted);
      return o.victim !== 'trigger' && o.victim !== null && o.victim.pid === largest(adjusted).pid
        ? { holds: null, reason: 'oom_score_adj 1000 went to a holder that was also the largest: the factor changed nothing to see' }
        : { holds: true };
    },
    observe: (e, v) =>
      `${e.rounds.map(roundSentence).join('. ')}. ${v.holds === true ? 'Each time the process with the highest oom_score was killed; raised to oom_score_adj 1000, the smallest was chosen over the largest.' : v.holds === false ? 'A victim was not the process with the highest oom_score.' : 'Undecided.'}`,
  },
];

export const oomVictimRules = defineRules<OomVictimEvidence>({
  id: 'oom-victim',
  title:
    "003's OOM victim choice: processes of 32, 48 and 96 MiB in one memory cgroup, one more allocating past its limit; who is killed against oom_score, then with oom_score_adj 1000 on the smallest",
  requires: { root: true, memoryCgroup: true },
  rules,
});
