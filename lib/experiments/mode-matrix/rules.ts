import {
  freeMemoryRule,
  MODE0_RULES,
  mode0Tolerance,
  type PredictionSpread,
  predictionSpread,
  ramSwapRule,
} from '../../kernel/admission.js';
import { gib, mib } from '../../units.js';
import { all } from '../../verdict/combine.js';
import { type ChangeClass, type ChangeWording, classifyChange, distinguishable, judgeAbove, verdictOf } from '../../verdict/decide.js';
import { measured, notMeasured, type Part, partRule } from '../../verdict/part.js';
import { median } from '../../verdict/stats.js';
import { spreadOf, type Tolerated, toleranceFromRange, toleranceFromReadings } from '../../verdict/tolerance.js';
import { defineRules } from '../../verdict/types.js';
import { DOC_000, DOC_001, DOC_003, DOC_004 } from '../documents.js';
import type { Claim, ClaimRule, Evidence, Verdict } from '../model.js';
import type { MatrixCell, Mode0Evidence, Mode0Reading, ModeMatrixEvidence, RootEvidence } from './evidence.js';
import { UNPRIVILEGED_UID } from './evidence.js';

export const modeMatrixClaims = {
  table0No: {
    id: 'table-mode0-noreserve-no',
    text: 'Mode 0 (default), MAP_NORESERVE = No: deny obvious overcommits (heuristic check: small overcommits pass).',
    source: DOC_004,
    modes: [0],
  },
  table0Yes: {
    id: 'table-mode0-noreserve-yes',
    text: 'Mode 0 (default), MAP_NORESERVE = Yes: allow overcommits.',
    source: DOC_004,
    modes: [0],
  },
  table1No: {
    id: 'table-mode1-noreserve-no',
    text: 'Mode 1, MAP_NORESERVE = No: always allow overcommits (no check).',
    source: DOC_004,
    modes: [1],
  },
  table1Yes: {
    id: 'table-mode1-noreserve-yes',
    text: 'Mode 1, MAP_NORESERVE = Yes: always allow overcommits (no check).',
    source: DOC_004,
    modes: [1],
  },
  mode1Always: {
    id: 'mode1-malloc-always-succeeds',
    text: 'Setting overcommit to 1: when a program calls something like malloc() to allocate a chunk of memory, it will always succeed regardless if the system knows it will not have all the memory that is being asked for.',
    source: DOC_000,
    modes: [1],
  },
  mode1Virtual99: {
    id: 'mode1-99-times-virtual',
    text: "On peut très bien ne disposer que d'1 Gio de mémoire physique, et allouer 99 Gio de mémoire virtuelle (virtual memory far beyond physical memory).",
    source: DOC_000,
    modes: [1],
  },
  table2No: {
    id: 'table-mode2-noreserve-no',
    text: 'Mode 2 (strict), MAP_NORESERVE = No: strict accounting for ALL mappings.',
    source: DOC_004,
    modes: [2],
  },
  table2Yes: {
    id: 'table-mode2-noreserve-yes',
    text: 'Mode 2 (strict), MAP_NORESERVE = Yes: total <= swap + RAM * overcommit_ratio/100.',
    source: DOC_004,
    modes: [2],
  },
  q3: {
    id: 'q3-noreserve-allows-denied-overcommit',
    text: 'Q3: Under overcommit_memory=0, specifying MAP_NORESERVE allows the overcommit that would otherwise be denied.',
    source: DOC_004,
    modes: [0],
  },
  obvious: {
    id: 'obvious-overcommits-refused',
    text: 'Heuristic overcommit handling. Obvious overcommits of address space are refused.',
    source: DOC_001,
    modes: [0],
  },
  freeMemory: {
    id: 'heuristic-limit-is-free-memory',
    text: "Denying obvious overcommits means that new mappings whose size doesn't exceed the amount of currently available free memory are permitted.",
    source: DOC_003,
    modes: [0],
  },
  ruleInForce: {
    id: 'mode0-rule-in-force',
    text: 'Heuristic overcommit handling: a new mapping is an obvious overcommit when its size exceeds the amount of currently available free memory (003; kernels before 5.2), or RAM + swap (since 5.2). Which one this kernel follows.',
    source: DOC_003,
    modes: [0],
  },
  noreserveIgnored: { id: 'mode2-noreserve-ignored', text: 'In mode 2 the MAP_NORESERVE flag is ignored.', source: DOC_001, modes: [2] },
  rootMore: {
    id: 'root-allocates-slightly-more',
    text: 'root is allowed to allocate slightly more memory in this mode [0].',
    source: DOC_001,
    modes: [0, 2],
  },
} satisfies Record<string, Claim>;

const ramSwapOf = (e: ModeMatrixEvidence): number => ramSwapRule(e.memTotalBytes, e.swapTotalBytes, e.pageSize).largestBytes;

/** Recomputes both mode-0 predictions from recorded readings (also what the tests check). */
export function mode0Predictions(
  readings: readonly Mode0Reading[],
  page: number,
): { freeEstimate: PredictionSpread; ramSwap: PredictionSpread } {
  return {
    freeEstimate: predictionSpread(readings.map((r) => freeMemoryRule(r.free, page))),
    ramSwap: predictionSpread(readings.map((r) => ramSwapRule(r.memTotalBytes, r.swapTotalBytes, page))),
  };
}

/** A cell's tolerance: the spread of its prediction's readings plus its slack, or what older saved evidence recorded. */
export function cellTolerance(c: MatrixCell): number {
  return c.readingsBytes === undefined ? (c.toleranceBytes ?? 0) : toleranceFromRange(spreadOf(c.readingsBytes), c.slackBytes ?? 0);
}

/** The largest mapping a cell found, with its tolerance: what the decision helpers read. */
const largest = (c: MatrixCell): Tolerated => ({ changeBytes: c.largestBytes, toleranceBytes: cellTolerance(c) });

const LARGEST_WORDING: ChangeWording = { noise: 'the prediction’s inputs moved', value: 'the largest accepted mapping was' };

/** Whether the cell's largest mapping is beyond RAM + swap, which no commit check of any mode accepts (undecided within the tolerance). */
const beyondRamSwap = (e: ModeMatrixEvidence, c: MatrixCell, times = 1): Verdict =>
  judgeAbove(largest(c), { label: times === 1 ? 'RAM + swap' : `${times} x RAM + swap`, bytes: times * ramSwapOf(e) }, LARGEST_WORDING);

function compare(c: MatrixCell): string {
  const d = c.largestBytes - c.predictedBytes;
  const t = cellTolerance(c);
  const tol = t === 0 ? 'exactly' : `within ${t} B`;
  return `largest accepted ${c.largestBytes} B (${gib(c.largestBytes)}, ${c.probes} probes); predicted ${c.prediction}; difference ${d} B (${Math.abs(d) <= t ? `matches ${tol}` : `does not match ${tol}`})`;
}

const FREE_LABEL = MODE0_RULES.free;

const RAM_SWAP_LABEL = MODE0_RULES.ramSwap;

/** Mode 0's part of the evidence, with its tolerance, or why there is none to judge. */
interface Mode0Part {
  z: Mode0Evidence;
  toleranceBytes: number;
}

function mode0Part(e: ModeMatrixEvidence): Part<Mode0Part> {
  if (e.mode0 === null) return notMeasured('mode 0 was not measured');
  if (e.no.largestBytes < e.pageSize || e.no.largestBytes >= e.no.searchHiBytes) {
    return notMeasured(
      `the search found no threshold inside [${e.no.searchLoBytes}, ${e.no.searchHiBytes}] B (largest ${e.no.largestBytes} B)`,
    );
  }
  return measured({ z: e.mode0, toleranceBytes: mode0Tolerance(e.mode0, e.pageSize) });
}

const mode0Hypotheses = (z: Mode0Evidence) => [
  { label: FREE_LABEL, bytes: z.freeEstimate.medianBytes },
  { label: RAM_SWAP_LABEL, bytes: z.ramSwap.medianBytes },
];

/** Which known mode-0 rule the largest accepted mapping matches, by the one tolerance rule. */
export function classifyMode0Rule(e: ModeMatrixEvidence, m: Mode0Part): ChangeClass {
  return classifyChange({ changeBytes: e.no.largestBytes, toleranceBytes: m.toleranceBytes }, mode0Hypotheses(m.z), {
    noise: 'the two rules’ inputs moved',
    value: 'the largest accepted mapping was',
  });
}

/** The limit the two mode-0 rules predict, with the measured one. */
function mode0Numbers(e: ModeMatrixEvidence, { z, toleranceBytes }: Mode0Part): string {
  return (
    `The largest mapping mode 0 accepted is ${e.no.largestBytes} B (${gib(e.no.largestBytes)}); ` +
    `RAM + swap predicts ${z.ramSwap.medianBytes} B, the free-memory estimate ${z.freeEstimate.medianBytes} B (${z.freeEstimate.formula}; it moved by ${mib(z.freeEstimate.spreadBytes)} over ${z.readings.length} readings around the probe); tolerance ${mib(toleranceBytes)}`
  );
}

/** The root-vs-nobody trials, each with both numbers, or why they are not all there. */
interface RootPart {
  r: RootEvidence;
  trials: { rootBytes: number; userBytes: number; setuid: string }[];
}

function rootPart(e: ModeMatrixEvidence): Part<RootPart> {
  if (e.root === null) return notMeasured(e.rootSkipped ?? 'root vs nobody was not measured');
  const trials: RootPart['trials'] = [];
  for (const t of e.root.trials) {
    if (t.problem !== null || t.rootBytes === null || t.userBytes === null)
      return notMeasured(`a measurement problem: ${t.problem ?? 'a probe gave no number'} (setuid ${t.setuid})`);
    trials.push({ rootBytes: t.rootBytes, userBytes: t.userBytes, setuid: t.setuid });
  }
  if (trials.length === 0) return notMeasured('no root-vs-nobody trial ran');
  return measured({ r: e.root, trials });
}

/**
 * The root-vs-nobody numbers over the trials. Each trial pairs a probe as root with one as nobody
 * a few milliseconds apart, so the difference is taken per trial; how much those differences
 * disagree is the noise (the limit itself may move between trials: that cancels in a pair).
 */
export function rootDifference({ trials }: Pick<RootPart, 'trials'>): {
  rootBytes: number[];
  userBytes: number[];
  differencesBytes: number[];
  differenceBytes: number;
  noiseBytes: number;
  toleranceBytes: number;
} {
  const differencesBytes = trials.map((t) => t.rootBytes - t.userBytes);
  return {
    rootBytes: trials.map((t) => t.rootBytes),
    userBytes: trials.map((t) => t.userBytes),
    differencesBytes,
    differenceBytes: median(differencesBytes),
    noiseBytes: spreadOf(differencesBytes),
    toleranceBytes: toleranceFromReadings(differencesBytes),
  };
}

function classifyRoot(p: RootPart): ChangeClass {
  const d = rootDifference(p);
  return classifyChange(
    { changeBytes: d.differenceBytes, toleranceBytes: d.toleranceBytes },
    [
      { label: 'no more', bytes: 0 },
      { label: 'more by admin_reserve_kbytes', bytes: p.r.adminReserveBytes },
    ],
    { noise: 'the root-minus-nobody differences of the trials disagreed', value: 'root got more by' },
  );
}

const STRICT_WORDING = { noise: 'other processes moved Committed_AS', value: 'the largest accepted mapping was' };

/**
 * Mode 2's table cells: the largest mapping is the strict prediction, or what a mode without the
 * strict check would give (RAM + swap, or the free address space); null when the noise cannot
 * tell them apart or it is none of them.
 */
function strictVerdict(e: ModeMatrixEvidence, cell: MatrixCell): Verdict {
  const cls = classifyChange(
    largest(cell),
    [
      { label: 'CommitLimit - Committed_AS - the reserves', bytes: cell.predictedBytes },
      { label: 'RAM + swap (no strict check)', bytes: ramSwapOf(e) },
      { label: 'the free address space (no check)', bytes: e.addressGapBytes },
    ],
    STRICT_WORDING,
  );
  return verdictOf(cls, (m) => m.bytes === cell.predictedBytes);
}

/** The tolerance of the two mode-2 cells together: the larger. */
const strictTolerance = (e: ModeMatrixEvidence): number => Math.max(cellTolerance(e.no), cellTolerance(e.yes));

const c = modeMatrixClaims;

type Rule = ClaimRule<ModeMatrixEvidence>;

/** A cell as its finding records it, with the tolerance the rules computed. */
const cellEvidence = (cell: MatrixCell): Evidence => ({ ...cell, toleranceBytes: cellTolerance(cell) });

const ratio = (e: ModeMatrixEvidence, c: MatrixCell): string => (c.largestBytes / ramSwapOf(e)).toFixed(0);

const rules: Rule[] = [
  partRule(mode0Part, {
    claim: c.table0No,
    judge: ({ z, toleranceBytes }) => {
      if (!z.pair.firstAccepted)
        return {
          holds: null,
          reason: `${z.pair.sizeBytes} B, below the largest accepted, was refused on a second try (${z.pair.firstCode}): the limit moved`,
        };
      // A small overcommit: two mappings, each accepted alone, whose total exceeds the free memory.
      const overcommitPassed = z.pair.secondAccepted
        ? judgeAbove(
            { changeBytes: 2 * z.pair.sizeBytes, toleranceBytes },
            { label: 'the free-memory estimate', bytes: z.freeEstimate.medianBytes },
            { noise: 'the two rules’ inputs moved', value: 'the two mappings together were' },
          )
        : { holds: false };
      return all([{ holds: !z.obvious.accepted }, overcommitPassed]);
    },
    observe: ({ z }, _e, v) =>
      `A single mapping of ${z.obvious.sizeBytes} B (RAM + swap + 1 page, more than this machine could ever back) was ${z.obvious.accepted ? 'accepted' : `refused (${z.obvious.code})`}; ` +
      `with one mapping of ${z.pair.sizeBytes} B (just below the largest accepted) held untouched, a second of the same size was ${z.pair.secondAccepted ? 'accepted' : `refused (${z.pair.secondCode})`}: ` +
      `together ${gib(2 * z.pair.sizeBytes)} against a free-memory estimate of ${gib(z.freeEstimate.medianBytes)}` +
      (v.holds === true ? ': obvious overcommits are denied, overcommits made of acceptable requests pass.' : '.'),
    evidence: (m, e) => {
      const cls = classifyMode0Rule(e, m).match;
      return {
        ...cellEvidence(e.no),
        predictedBytes: cls === null ? null : cls.bytes,
        obvious: m.z.obvious,
        pair: m.z.pair,
        freeEstimateBytes: m.z.freeEstimate.medianBytes,
        ramSwapBytes: m.z.ramSwap.medianBytes,
      };
    },
  }),
  {
    claim: c.table0Yes,
    judge: (e) => beyondRamSwap(e, e.yes),
    observe: (e) => `With MAP_NORESERVE: ${compare(e.yes)}; that is ${ratio(e, e.yes)} x RAM + swap (${ramSwapOf(e)} B).`,
    evidence: (e) => cellEvidence(e.yes),
  },
  partRule(mode0Part, {
    claim: c.q3,
    judge: ({ z: { q3: q } }) => {
      if (q.withoutNoreserve === 'accepted')
        return {
          holds: null,
          reason: `${q.sizeBytes} B, above the largest accepted, was accepted on a second try: the limit moved, nothing was denied to test`,
        };
      return { holds: q.withNoreserve === 'accepted' };
    },
    observe: ({ z: { q3: q } }, e) =>
      `mmap of ${q.sizeBytes} B (${q.sizeBytes - e.no.largestBytes} B above the largest mode 0 accepted): without MAP_NORESERVE ${q.withoutNoreserve}, with MAP_NORESERVE ${q.withNoreserve}.`,
    evidence: ({ z }, e) => ({ ...z.q3, largestBytes: e.no.largestBytes, largestNoreserveBytes: e.yes.largestBytes }),
  }),
  partRule(mode0Part, {
    claim: c.obvious,
    judge: ({ z }) => ({ holds: !z.obvious.accepted }),
    observe: ({ z }, e, v) =>
      `One mapping of ${z.obvious.sizeBytes} B, a page more than RAM + swap (${gib(z.ramSwap.medianBytes)}), was ${z.obvious.accepted ? 'accepted' : `refused with ${z.obvious.code}`}; ` +
      `the largest accepted was ${e.no.largestBytes} B (${gib(e.no.largestBytes)}). ` +
      `The heuristic judges each mapping alone: with one of ${z.pair.sizeBytes} B held, a second was ${z.pair.secondAccepted ? 'accepted too' : `refused (${z.pair.secondCode})`}` +
      (v.holds === false ? ': a request more than this machine could ever back passed.' : '.'),
    evidence: ({ z }, e) => ({
      ...cellEvidence(e.no),
      ...z.obvious,
      firstHeld: z.pair.firstAccepted,
      secondAccepted: z.pair.secondAccepted,
      secondCode: z.pair.secondCode,
    }),
  }),
  partRule(mode0Part, {
    claim: c.freeMemory,
    judge: (m, e) => verdictOf(classifyMode0Rule(e, m), (match) => match.label === FREE_LABEL),
    observe: (m, e, v) =>
      `${mode0Numbers(e, m)}. ` +
      (v.holds === true
        ? 'The limit is the free-memory estimate, as 003 says.'
        : v.holds === false
          ? `The limit is RAM + swap, ${gib(e.no.largestBytes - m.z.freeEstimate.medianBytes)} above the free-memory estimate: this kernel does not limit a mapping to free memory.`
          : 'The two rules cannot be told apart on these numbers.'),
    evidence: ({ z, toleranceBytes }, e) => ({
      ...cellEvidence(e.no),
      memFreeBytes: z.readings[0]?.free.memFreeBytes ?? null,
      // Saved evidence from before MemAvailable was read has none.
      memAvailableBytes: z.readings[0]?.memAvailableBytes ?? null,
      freeEstimateBytes: z.freeEstimate.medianBytes,
      freeEstimateSpreadBytes: z.freeEstimate.spreadBytes,
      ramSwapBytes: z.ramSwap.medianBytes,
      toleranceBytes,
    }),
  }),
  partRule(mode0Part, {
    claim: c.ruleInForce,
    judge: (m, e) => {
      const cls = classifyMode0Rule(e, m);
      if (cls.match !== null) return { holds: true };
      // Decidable, and neither rule within the tolerance: a rule this tool does not know.
      return { holds: distinguishable(mode0Hypotheses(m.z), m.toleranceBytes) ? false : null, reason: cls.reason };
    },
    observe: (m, e, v) => {
      const cls = classifyMode0Rule(e, m);
      const which =
        cls.match !== null
          ? `This kernel follows ${cls.match.label}.`
          : v.holds === false
            ? 'This kernel follows neither known rule.'
            : 'Which rule is in force cannot be told on these numbers.';
      return `${mode0Numbers(e, m)}. ${which}`;
    },
    evidence: (m, e) => ({
      largestBytes: e.no.largestBytes,
      rule: classifyMode0Rule(e, m).match?.label ?? null,
      freeEstimateBytes: m.z.freeEstimate.medianBytes,
      freeEstimateSpreadBytes: m.z.freeEstimate.spreadBytes,
      ramSwapBytes: m.z.ramSwap.medianBytes,
      toleranceBytes: m.toleranceBytes,
      readings: m.z.readings as unknown as Evidence[],
    }),
  }),
  ...(
    [
      [c.table1No, 'no'],
      [c.table1Yes, 'yes'],
    ] as const
  ).map(
    ([claim, key]): Rule => ({
      claim,
      // Beyond RAM + swap no commit check of any mode accepts; the address-space match is told, not required.
      judge: (e) => beyondRamSwap(e, e[key]),
      observe: (e) =>
        `${key === 'yes' ? 'With' : 'Without'} MAP_NORESERVE: ${compare(e[key])}; ${ratio(e, e[key])} x RAM + swap (${ramSwapOf(e)} B).`,
      evidence: (e) => cellEvidence(e[key]),
    }),
  ),
  {
    claim: c.mode1Always,
    judge: (e) => beyondRamSwap(e, e.no),
    observe: (e) =>
      `One ordinary mapping (no MAP_NORESERVE) of ${e.no.largestBytes} B, ${ratio(e, e.no)} x RAM + swap, was accepted; ` +
      `one page more was ${e.no.refusedCode === null ? 'never refused in the search' : `refused with ${e.no.refusedCode}`} (the largest free gap of the address space is ${gib(e.no.predictedBytes)}).`,
    evidence: (e) => cellEvidence(e.no),
  },
  {
    claim: c.mode1Virtual99,
    judge: (e) => beyondRamSwap(e, e.no, 99),
    observe: (e) =>
      `${gib(e.no.largestBytes)} of virtual memory in one mapping, ${ratio(e, e.no)} times the ${gib(ramSwapOf(e))} of RAM + swap of this machine.`,
    evidence: (e) => cellEvidence(e.no),
  },
  {
    claim: c.table2No,
    judge: (e) => strictVerdict(e, e.no),
    observe: (e) => `Without MAP_NORESERVE: ${compare(e.no)}.`,
    evidence: (e) => cellEvidence(e.no),
  },
  {
    claim: c.table2Yes,
    judge: (e) => strictVerdict(e, e.yes),
    observe: (e) => `With MAP_NORESERVE: ${compare(e.yes)}.`,
    evidence: (e) => cellEvidence(e.yes),
  },
  {
    claim: c.noreserveIgnored,
    judge: (e) => {
      const cls = classifyChange(
        { changeBytes: e.yes.largestBytes, toleranceBytes: strictTolerance(e) },
        [
          { label: 'the largest without it (ignored)', bytes: e.no.largestBytes },
          { label: 'the free address space (honoured: not charged)', bytes: e.addressGapBytes },
        ],
        STRICT_WORDING,
      );
      return verdictOf(cls, (m) => m.bytes === e.no.largestBytes);
    },
    observe: (e, v) =>
      `Largest without MAP_NORESERVE ${e.no.largestBytes} B, with it ${e.yes.largestBytes} B: difference ${e.yes.largestBytes - e.no.largestBytes} B (tolerance ${strictTolerance(e)} B for what other processes commit meanwhile; the free address space is ${gib(e.addressGapBytes)}); ${v.holds === true ? 'the flag changes nothing' : v.holds === false ? 'the flag made the mapping unaccounted' : 'the noise leaves it open'}.`,
    evidence: (e) => ({
      noreserve: true,
      largestBytes: e.yes.largestBytes,
      predictedBytes: e.no.largestBytes,
      largestWithoutBytes: e.no.largestBytes,
      differenceBytes: e.yes.largestBytes - e.no.largestBytes,
      toleranceBytes: strictTolerance(e),
    }),
  },
  partRule(rootPart, {
    claim: c.rootMore,
    judge: (p) => verdictOf(classifyRoot(p), (m) => m.bytes !== 0),
    observe: (p, _e, v) => {
      const d = rootDifference(p);
      const limit = Math.max(...d.rootBytes);
      return (
        `In mode ${p.r.mode}, ${p.trials.length} children each probed as root (${d.rootBytes.join(', ')} B) and then as uid ${UNPRIVILEGED_UID} (${d.userBytes.join(', ')} B): ` +
        `root may map ${d.differenceBytes} B more (median of ${d.differencesBytes.join(', ')} B; ${((100 * d.differenceBytes) / limit).toFixed(3)}% of its limit; the trials' differences disagree by ${d.noiseBytes} B); admin_reserve_kbytes is ${p.r.adminReserveBytes} B. ` +
        (v.holds === true
          ? 'Root gets slightly more: the admin reserve.'
          : v.holds === false
            ? `Root gets nothing more in mode ${p.r.mode} on this kernel.`
            : 'Whether root gets more cannot be told on these numbers.')
      );
    },
    evidence: (p) => {
      const d = rootDifference(p);
      return {
        mode: p.r.mode,
        rootBytes: d.rootBytes,
        userBytes: median(d.userBytes),
        userProbesBytes: d.userBytes,
        differenceBytes: d.differenceBytes,
        differencesBytes: d.differencesBytes,
        noiseBytes: d.noiseBytes,
        toleranceBytes: d.toleranceBytes,
        adminReserveBytes: p.r.adminReserveBytes,
        setuid: p.trials.map((t) => t.setuid).join(', '),
      };
    },
    evidenceWhenMissing: (e) => ({ mode: e.mode, root: e.root as unknown as Evidence, rootSkipped: e.rootSkipped }),
  }),
];

export const modeMatrixRules = defineRules<ModeMatrixEvidence>({
  id: 'mode-matrix',
  title: "004's mode x MAP_NORESERVE table: the largest mapping each mode accepts, beside what the known rules predict",
  requires: {},
  rules,
});
