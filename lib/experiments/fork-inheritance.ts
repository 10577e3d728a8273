/**
 * fork-inheritance: the parent maps a MAP_NORESERVE region and an ordinary private writable one
 * (untouched), forks, and the child reads its own smaps and /proc/meminfo while it lives.
 *
 * The child's smaps says exactly what it inherited: each region's VmFlags ('nr' for
 * MAP_NORESERVE, 'ac' for a copy charged to the commit). Committed_AS says what the fork charged,
 * set against the prediction: every accountable VMA of the parent (all of Node's, not just ours),
 * since the child duplicates them all. Committed_AS is machine-wide, so the fork is repeated in
 * interleaved trials with controls (lib/measure/committed.ts), and the regions are large (1 GiB,
 * untouched: free in modes 0 and 1) so that a region charged or not stands far above the noise.
 * Where the counter is too noisy, the child's own flags decide; where they disagree, nothing does.
 */
import { MEMINFO_PATH, readMeminfo } from '../kernel/meminfo.js';
import { accountedBytesIn, findVma, parseSmaps, readVmas, smapsPath, type Vma } from '../kernel/smaps.js';
import { runNamedChild } from '../measure/child.js';
import { committedFromReads, readCommitted } from '../measure/committed.js';
import { isSystemCallError } from '../native/errors.js';
import { type Mapping, mmap, pageSize } from '../native/mapping.js';
import { GiB, MiB, mib } from '../units.js';
import { type ChangeHypothesis, classifyCharge } from '../verdict/decide.js';
import { median } from '../verdict/stats.js';
import { type CommittedChange, changeFromDeltas } from '../verdict/tolerance.js';
import { DOC_001, DOC_003, DOC_004 } from './documents.js';
import {
  type Claim,
  type ClaimRule,
  defineExperiment,
  type Evidence,
  type Measured,
  type OvercommitMode,
  type Verdict,
  withCaveat,
} from './model.js';

/** Each region's size; mapped, never touched. */
const REGION_BYTES = GiB;
/** Mode 2: the fork charges both regions twice (the NORESERVE one too): each is at most this fraction of the headroom. */
const MODE2_HEADROOM_FRACTION = 16;
/** Forks measured, and Committed_AS reads per point. */
const TRIALS = 5;
const READS = 3;
/** Room for the child's /proc/self/smaps (Node's is well under 1 MiB). */
const SMAPS_MAX_BYTES = 4 * MiB;

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

/** One fork. */
export interface ForkAttempt {
  /** Committed_AS read by the child while it lived, less the parent's reading just before the fork. */
  forkChargeBytes: number;
  /** The parent's accountable VMAs then, plus runChild's result area where it is charged. */
  predictedChargeBytes: number;
  /** The parent's Committed_AS reading just before the fork (median of its reads); absent from evidence saved before it was kept. */
  committedBeforeBytes?: number;
  /** The parent's reading just after the child was reaped. */
  committedAfterBytes?: number;
  /** The child's reading while it lived. */
  childCommittedBytes?: number;
}

export interface ForkInheritanceEvidence extends Measured {
  mode: OvercommitMode;
  regionBytes: number;
  /** Why the regions are smaller than REGION_BYTES (mode 2), or null. */
  sizeNote: string | null;
  parentNoreserveFlags: string[];
  parentOrdinaryFlags: string[];
  /** The regions' VmFlags in the child's smaps (the last fork's). */
  childNoreserveFlags: string[];
  childOrdinaryFlags: string[];
  /** The bytes of each region in VMAs marked 'ac', in the child: exact, per mapping. */
  childNoreserveAccountedBytes: number | null;
  childOrdinaryAccountedBytes: number | null;
  /** Sum of the parent's VMAs with 'ac' (and without 'dc', which fork does not copy), before the last fork. */
  parentAccountedBytes: number;
  /** The same sum over the child's own smaps (the last fork's). */
  childAccountedBytes: number;
  /** runChild's result area (shared anonymous, MAP_NORESERVE) where it is charged (mode 2), in the last fork. */
  resultAreaBytes: number;
  attempts: ForkAttempt[];
  /** Each fork's charge less its prediction, over the trials, against the parent's control readings. */
  residual: CommittedChange;
}

/** A finished child whose smaps shows both regions, or why not. */
function childView(
  run: Awaited<ReturnType<typeof runNamedChild<string>>>,
  nr: Mapping,
  ord: Mapping,
): { vmas: Vma[]; nr: Vma; ord: Vma } | string {
  if (!run.finished) return run.problem!;
  const smaps = run.step('smaps');
  if (smaps.truncated) return `the child's smaps was longer than ${mib(SMAPS_MAX_BYTES)}`;
  const vmas = parseSmaps(smaps.data ?? '');
  const [n, o] = [findVma(vmas, nr.address), findVma(vmas, ord.address)];
  // A region missing from the child's smaps has no flags: [] in their place would read as "not inherited".
  if (n === undefined || o === undefined) {
    return `the child's smaps has no VMA for the ${n === undefined ? 'MAP_NORESERVE' : 'ordinary'} region`;
  }
  return { vmas, nr: n, ord: o };
}

const accountedBytes = (vmas: readonly Vma[]): number =>
  vmas.filter((v) => v.vmFlags.includes('ac') && !v.vmFlags.includes('dc')).reduce((sum, v) => sum + Number(v.end - v.start), 0);

const isSharedAnon = (v: Vma): boolean => v.vmFlags.includes('sh') && v.pathname.startsWith('/dev/zero');

const regionAccounted = (vmas: readonly Vma[], m: Mapping): number | null =>
  accountedBytesIn(vmas, m.address, m.address + BigInt(m.length));

/** Mode 2: the regions are charged in parent and child, NORESERVE or not: keep them well inside the headroom. */
function regionSize(mode: OvercommitMode): { size: number; note: string | null } {
  if (mode !== 2) return { size: REGION_BYTES, note: null };
  const m = readMeminfo();
  const headroom = m.commitLimit - m.committedAs;
  const cap = Math.floor(headroom / MODE2_HEADROOM_FRACTION / MiB) * MiB;
  if (cap >= REGION_BYTES) return { size: REGION_BYTES, note: null };
  if (cap < 16 * MiB)
    throw new Error(`mode 2 headroom (CommitLimit - Committed_AS = ${mib(headroom)}) is too small to fork with two regions safely`);
  return {
    size: cap,
    note: `regions scaled down from ${mib(REGION_BYTES)} to ${mib(cap)}: one ${MODE2_HEADROOM_FRACTION}th of the mode-2 headroom (${mib(headroom)})`,
  };
}

type Measurement = Omit<ForkInheritanceEvidence, 'mode' | 'sizeNote'>;

async function forkTrials(nr: Mapping, ord: Mapping, size: number): Promise<Measurement | string> {
  const attempts: ForkAttempt[] = [];
  const residuals: number[] = [];
  const controls: number[] = [];
  let last: { parent: Vma[]; child: { vmas: Vma[]; nr: Vma; ord: Vma }; resultArea: number } | undefined;
  const reads = Array.from({ length: READS }, (_, i) => [`committed.${i}`, { op: 'readfile', path: MEMINFO_PATH }] as const);
  // One fork after another: each child reads the machine-wide counter, which another would move.
  for (let t = 0; t < TRIALS; t++) {
    const parent = readVmas();
    const before = readCommitted(READS);
    let run: Awaited<ReturnType<typeof runNamedChild<string>>>;
    try {
      run = await runNamedChild<string>([...reads, ['smaps', { op: 'readfile', path: smapsPath('self'), maxBytes: SMAPS_MAX_BYTES }]]);
    } catch (e) {
      // In mode 2 near the limit the kernel may refuse the fork: nothing about inheritance can be measured then.
      if (!isSystemCallError(e)) throw e;
      return `the fork was refused (${e.code}); Committed_AS was ${mib(before)} before it`;
    }
    const c0 = readCommitted(READS);
    controls.push(readCommitted(READS) - c0);
    const child = childView(run, nr, ord);
    if (typeof child === 'string') return child;
    const parentStarts = new Set(parent.map((v) => v.start));
    // The result area is MAP_NORESERVE: charged only where the kernel ignores that flag (mode 2).
    const resultArea = child.vmas
      .filter((v) => isSharedAnon(v) && !v.vmFlags.includes('nr') && !parentStarts.has(v.start))
      .reduce((sum, v) => sum + Number(v.end - v.start), 0);
    const childCommitted = committedFromReads(reads.map(([name]) => run.step(name).data ?? ''));
    const charge = childCommitted - before;
    const predicted = accountedBytes(parent) + resultArea;
    attempts.push({
      forkChargeBytes: charge,
      predictedChargeBytes: predicted,
      committedBeforeBytes: before,
      committedAfterBytes: c0,
      childCommittedBytes: childCommitted,
    });
    residuals.push(charge - predicted);
    last = { parent, child, resultArea };
  }
  const { parent, child, resultArea } = last!;
  return {
    regionBytes: size,
    parentNoreserveFlags: nr.vmFlags(),
    parentOrdinaryFlags: ord.vmFlags(),
    childNoreserveFlags: child.nr.vmFlags,
    childOrdinaryFlags: child.ord.vmFlags,
    childNoreserveAccountedBytes: regionAccounted(child.vmas, nr),
    childOrdinaryAccountedBytes: regionAccounted(child.vmas, ord),
    parentAccountedBytes: accountedBytes(parent),
    childAccountedBytes: accountedBytes(child.vmas),
    resultAreaBytes: resultArea,
    attempts,
    residual: changeFromDeltas(residuals, controls),
  };
}

const EMPTY: Measurement = {
  regionBytes: 0,
  parentNoreserveFlags: [],
  parentOrdinaryFlags: [],
  childNoreserveFlags: [],
  childOrdinaryFlags: [],
  childNoreserveAccountedBytes: null,
  childOrdinaryAccountedBytes: null,
  parentAccountedBytes: 0,
  childAccountedBytes: 0,
  resultAreaBytes: 0,
  attempts: [],
  residual: changeFromDeltas([0], []),
};

export async function measureForkInheritance(mode: OvercommitMode): Promise<ForkInheritanceEvidence> {
  const { size, note } = regionSize(mode);
  const regions: Mapping[] = [];
  try {
    const nr = mmap(size, { noreserve: true });
    regions.push(nr);
    const ord = mmap(size);
    regions.push(ord);
    const m = await forkTrials(nr, ord, size);
    if (typeof m === 'string') return { mode, sizeNote: note, ...EMPTY, regionBytes: size, problem: m };
    return { mode, sizeNote: note, ...m };
  } finally {
    for (const r of regions) r.unmap();
  }
}

/* rules ----------------------------------------------------------------------------------------- */

/**
 * What the fork charged, less the prediction: as predicted (0), or the ordinary region not charged
 * again (-region): the regions are large so that the two stand far apart. The exact side: the
 * child's copy of the ordinary region is accounted ('ac') whole, or not.
 */
function forkCharge(e: ForkInheritanceEvidence) {
  const asPredicted: ChangeHypothesis = { label: 'as predicted', bytes: 0 };
  const regionLeftOut: ChangeHypothesis = { label: 'the ordinary region not charged again', bytes: -e.regionBytes };
  const exact = e.childOrdinaryAccountedBytes === null ? null : e.childOrdinaryAccountedBytes - e.regionBytes;
  return { asPredicted, c: classifyCharge(e.residual, exact, [asPredicted, regionLeftOut], pageSize) };
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

export const forkInheritance = defineExperiment<ForkInheritanceEvidence>({
  id: 'fork-inheritance',
  title: 'fork with a MAP_NORESERVE and an ordinary 1 GiB region: the flags the child inherits and what the fork charges',
  requires: {},
  measure: async (ctx) => {
    ctx.progress(`fork-inheritance: ${TRIALS} forks with a MAP_NORESERVE and an ordinary region mapped`);
    return measureForkInheritance(ctx.mode);
  },
  // The mode-2 scaling is a caveat on every verdict.
  rules: withCaveat(rules, (e) => e.sizeNote),
});
