import { mib } from '../../units.js';
import { type ChangeHypothesis, classifyCharge } from '../../verdict/decide.js';
import { evidencePageSize, pageSizeNote } from '../../verdict/page-size.js';
import { median } from '../../verdict/stats.js';
import { defineRules } from '../../verdict/types.js';
import { DOC_001, DOC_003, DOC_004 } from '../documents.js';
import { type Claim, type ClaimRule, type Evidence, type Verdict, withCaveat } from '../model.js';
import type { ForkAttempt, ForkInheritanceEvidence } from './evidence.js';

export const forkInheritanceClaims = {
  inherits003: {
    id: 'child-inherits-noreserve',
    text: 'When a child process inherits a mapping across a fork(), it inherits the MAP_NORESERVE setting for the mapping.',
    source: DOC_003,
  },
  inherits004: {
    id: 'fork-inherits-noreserve-q7',
    text: 'Fork behavior (Q7): a child created via fork() inherits the MAP_NORESERVE setting of each mapping.',
    source: DOC_004,
  },
  accounted: {
    id: 'fork-accounted',
    text: "Account and check on fork: a fork charges the commit with the child's copy of every accountable mapping.",
    source: DOC_001,
  },
  perProcess: {
    id: 'private-writable-charged-per-process',
    text: 'For private writable mappings the swap cost of the mapping is equal to the size of the mapping for each process that employs the mapping.',
    source: DOC_003,
  },
} satisfies Record<string, Claim>;

/**
 * What the fork charged, less the prediction: as predicted (0), or the ordinary region not charged
 * again (-region): the regions are large so that the two stand far apart. The exact side: the
 * child's copy of the ordinary region is accounted ('ac') whole, or not.
 */
function forkCharge(e: ForkInheritanceEvidence) {
  const asPredicted: ChangeHypothesis = { label: 'as predicted', bytes: 0 };
  const regionLeftOut: ChangeHypothesis = { label: 'the ordinary region not charged again', bytes: -e.regionBytes };
  const exact = e.childOrdinaryAccountedBytes === null ? null : e.childOrdinaryAccountedBytes - e.regionBytes;
  return { asPredicted, c: classifyCharge(e.residual, exact, [asPredicted, regionLeftOut], evidencePageSize(e)) };
}

function chargeVerdict(e: ForkInheritanceEvidence, also: boolean, why: string): Verdict {
  const { asPredicted, c } = forkCharge(e);
  if (c.match === null) return { holds: null, reason: c.reason! };
  const holds = c.match === asPredicted && also;
  const reasons = [c.reason, holds || c.match !== asPredicted ? undefined : why].filter((r): r is string => r !== undefined);
  return reasons.length === 0 ? { holds } : { holds, reason: reasons.join('; ') };
}

const flagList = (f: readonly string[]): string => `[${f.join(' ')}]`;

function chargeText(e: ForkInheritanceEvidence): string {
  const { c } = forkCharge(e);
  const charges = e.attempts.map((a) => mib(a.forkChargeBytes).replace(' MiB', '')).join(', ');
  return (
    `Committed_AS while each child lived was ${charges} MiB above the parent's reading before its fork; predicted ${mib(median(e.attempts.map((a) => a.predictedChargeBytes)))} ` +
    `(the parent's accountable VMAs, ${mib(e.parentAccountedBytes)} in the last fork: all of Node's, with the ${mib(e.regionBytes)} ordinary region, ` +
    `plus runChild's result area where charged, ${mib(e.resultAreaBytes)}); off by ${mib(e.residual.changeBytes)} ± ${mib(e.residual.toleranceBytes)} ` +
    `(median of ${e.attempts.length} forks against controls): ${c.basis === 'VmFlags' ? `too noisy to tell; the child's flags say ${c.match!.label}` : (c.match?.label ?? 'undecided')}. ` +
    `In the child, the ordinary region has ${mib(e.childOrdinaryAccountedBytes ?? 0)} in 'ac' VMAs; all its accountable VMAs sum to ${mib(e.childAccountedBytes)}.`
  );
}

function inheritVerdict(e: ForkInheritanceEvidence): Verdict {
  // In mode 2 the kernel drops MAP_NORESERVE at mmap (no 'nr'): there is no setting to inherit.
  if (!e.parentNoreserveFlags.includes('nr')) {
    return {
      holds: null,
      reason: `the parent's mapping has no 'nr' in mode ${e.mode} (MAP_NORESERVE ignored), so there is nothing to inherit`,
    };
  }
  return { holds: e.childNoreserveFlags.includes('nr') };
}

const inheritObserve = (e: ForkInheritanceEvidence): string =>
  `Mode ${e.mode}: the parent's MAP_NORESERVE region has ${flagList(e.parentNoreserveFlags)}, the child's copy ${flagList(e.childNoreserveFlags)}` +
  (e.childNoreserveFlags.includes('nr') ? ": the child keeps 'nr'." : '.');

/** The fork whose charge is the median one (forkChargeBytes): its readings are the ones a single fork reported. */
function medianAttempt(e: ForkInheritanceEvidence): ForkAttempt | undefined {
  if (e.attempts.length === 0) return undefined;
  const m = median(e.attempts.map((a) => a.forkChargeBytes));
  return e.attempts.reduce((best, a) => (Math.abs(a.forkChargeBytes - m) < Math.abs(best.forkChargeBytes - m) ? a : best));
}

/** The finding's evidence: the keys it always had, and the trials. */
function findingEvidence(e: ForkInheritanceEvidence): Evidence {
  const { c } = forkCharge(e);
  const last = e.attempts[e.attempts.length - 1];
  const judged = medianAttempt(e);
  return {
    mode: e.mode,
    regionBytes: e.regionBytes,
    parentNoreserveFlags: e.parentNoreserveFlags,
    parentOrdinaryFlags: e.parentOrdinaryFlags,
    childNoreserveFlags: e.childNoreserveFlags,
    childOrdinaryFlags: e.childOrdinaryFlags,
    childNoreserveAccountedBytes: e.childNoreserveAccountedBytes,
    childOrdinaryAccountedBytes: e.childOrdinaryAccountedBytes,
    forkChargeBytes: median(e.attempts.map((a) => a.forkChargeBytes)),
    predictedChargeBytes: last?.predictedChargeBytes ?? 0,
    parentAccountedBytes: e.parentAccountedBytes,
    childAccountedBytes: e.childAccountedBytes,
    committedBeforeBytes: judged?.committedBeforeBytes ?? null,
    committedAfterBytes: judged?.committedAfterBytes ?? null,
    childCommittedBytes: judged?.childCommittedBytes ?? null,
    resultAreaBytes: e.resultAreaBytes,
    residualBytes: e.residual.changeBytes,
    noiseBytes: e.residual.noiseBytes,
    toleranceBytes: e.residual.toleranceBytes,
    chargeMatches: c.match?.label === 'as predicted',
    chargeBasis: c.basis,
    attempts: e.attempts.map((a) => ({ ...a, toleranceBytes: e.residual.toleranceBytes })),
  };
}

const rules: ClaimRule<ForkInheritanceEvidence>[] = [
  { claim: forkInheritanceClaims.inherits003, judge: inheritVerdict, observe: inheritObserve, evidence: findingEvidence },
  { claim: forkInheritanceClaims.inherits004, judge: inheritVerdict, observe: inheritObserve, evidence: findingEvidence },
  {
    claim: forkInheritanceClaims.accounted,
    judge: (e) => {
      // Every accountable copy: the NORESERVE region is charged again exactly when it is accountable in the parent.
      const nrConsistent = e.childNoreserveFlags.includes('ac') === e.parentNoreserveFlags.includes('ac');
      const v = chargeVerdict(e, nrConsistent, "the MAP_NORESERVE region's 'ac' differs between parent and child");
      if (v.holds === null) return v;
      const note = 'only the accounting half is measured here: a fork refused by the check needs a mode-2 limit the fork exceeds';
      return { holds: v.holds, reason: v.reason === undefined ? note : `${v.reason}; ${note}` };
    },
    observe: (e) => {
      const childNrAc = e.childNoreserveFlags.includes('ac');
      const childOrdAc = e.childOrdinaryFlags.includes('ac');
      return (
        `Mode ${e.mode}. ${chargeText(e)} The MAP_NORESERVE region ${childNrAc ? "is 'ac' in the child" : "is not 'ac' in the child"}; ` +
        `the ordinary one ${childOrdAc ? "is 'ac'" : "is not 'ac'"}.`
      );
    },
    evidence: findingEvidence,
  },
  {
    claim: forkInheritanceClaims.perProcess,
    judge: (e) =>
      chargeVerdict(
        e,
        e.parentOrdinaryFlags.includes('ac') && e.childOrdinaryFlags.includes('ac'),
        "the ordinary region is not 'ac' in both processes",
      ),
    observe: (e) =>
      `Mode ${e.mode}: the ordinary ${mib(e.regionBytes)} region is ${flagList(e.parentOrdinaryFlags)} in the parent and ${flagList(e.childOrdinaryFlags)} in the child, untouched by both. ${chargeText(e)}`,
    evidence: findingEvidence,
  },
];

export const forkInheritanceRules = defineRules<ForkInheritanceEvidence>({
  id: 'fork-inheritance',
  title: 'fork with a MAP_NORESERVE and an ordinary 1 GiB region: the flags the child inherits and what the fork charges',
  requires: {},
  // The mode-2 scaling, and a page size assumed for an old run, are caveats on every verdict.
  rules: withCaveat(
    withCaveat(rules, (e) => e.sizeNote),
    pageSizeNote,
  ),
});
