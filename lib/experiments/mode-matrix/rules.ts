import { MODE0_RULES, ramSwapRule } from '../../kernel/admission.js';
import { gib, mib, OWN_JITTER_BYTES } from '../../units.js';
import { type ChangeClass, classifyChange } from '../../verdict/decide.js';
import { median } from '../../verdict/stats.js';
import { defineRules } from '../../verdict/types.js';
import { DOC_000, DOC_001, DOC_003, DOC_004 } from '../documents.js';
import type { Claim, ClaimRule, Evidence, Verdict } from '../model.js';
import type { MatrixCell, ModeMatrixEvidence, RootEvidence } from './evidence.js';
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

function matches(c: MatrixCell): boolean {
  return Math.abs(c.largestBytes - c.predictedBytes) <= c.toleranceBytes;
}

function compare(c: MatrixCell): string {
  const d = c.largestBytes - c.predictedBytes;
  const tol = c.toleranceBytes === 0 ? 'exactly' : `within ${c.toleranceBytes} B`;
  return `largest accepted ${c.largestBytes} B (${gib(c.largestBytes)}, ${c.probes} probes); predicted ${c.prediction}; difference ${d} B (${matches(c) ? `matches ${tol}` : `does not match ${tol}`})`;
}

const FREE_LABEL = MODE0_RULES.free;

const RAM_SWAP_LABEL = MODE0_RULES.ramSwap;

/** Which known mode-0 rule the largest accepted mapping matches, by the one tolerance rule. */
export function classifyMode0Rule(e: ModeMatrixEvidence): ChangeClass {
  const z = e.mode0!;
  return classifyChange(
    { changeBytes: e.no.largestBytes, toleranceBytes: z.toleranceBytes },
    [
      { label: FREE_LABEL, bytes: z.freeEstimate.medianBytes },
      { label: RAM_SWAP_LABEL, bytes: z.ramSwap.medianBytes },
    ],
    { noise: 'the two rules’ inputs moved', value: 'the largest accepted mapping was' },
  );
}

/** The limit the two mode-0 rules predict, with the measured one. */
function mode0Numbers(e: ModeMatrixEvidence): string {
  const z = e.mode0!;
  return (
    `The largest mapping mode 0 accepted is ${e.no.largestBytes} B (${gib(e.no.largestBytes)}); ` +
    `RAM + swap predicts ${z.ramSwap.medianBytes} B, the free-memory estimate ${z.freeEstimate.medianBytes} B (${z.freeEstimate.formula}; it moved by ${mib(z.freeEstimate.spreadBytes)} over ${z.readings.length} readings around the probe); tolerance ${mib(z.toleranceBytes)}`
  );
}

const mode0Missing = (e: ModeMatrixEvidence): string | undefined => {
  if (e.mode0 === null) return 'mode 0 was not measured';
  if (e.no.largestBytes < e.pageSize || e.no.largestBytes >= e.no.searchHiBytes) {
    return `the search found no threshold inside [${e.no.searchLoBytes}, ${e.no.searchHiBytes}] B (largest ${e.no.largestBytes} B)`;
  }
  return undefined;
};

/**
 * The root-vs-nobody numbers over the trials. Each trial pairs a probe as root with one as nobody
 * a few milliseconds apart, so the difference is taken per trial; how much those differences
 * disagree is the noise (the limit itself may move between trials: that cancels in a pair).
 */
export function rootDifference(r: RootEvidence): {
  rootBytes: number[];
  userBytes: number[];
  differencesBytes: number[];
  differenceBytes: number;
  noiseBytes: number;
  toleranceBytes: number;
} {
  const rootBytes = r.trials.map((t) => t.rootBytes!);
  const userBytes = r.trials.map((t) => t.userBytes!);
  const differencesBytes = r.trials.map((t) => t.rootBytes! - t.userBytes!);
  const noiseBytes = Math.max(...differencesBytes) - Math.min(...differencesBytes);
  return {
    rootBytes,
    userBytes,
    differencesBytes,
    differenceBytes: median(differencesBytes),
    noiseBytes,
    toleranceBytes: noiseBytes + OWN_JITTER_BYTES,
  };
}

function classifyRoot(r: RootEvidence): ChangeClass {
  const d = rootDifference(r);
  return classifyChange(
    { changeBytes: d.differenceBytes, toleranceBytes: d.toleranceBytes },
    [
      { label: 'no more', bytes: 0 },
      { label: 'more by admin_reserve_kbytes', bytes: r.adminReserveBytes },
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
    { changeBytes: cell.largestBytes, toleranceBytes: cell.toleranceBytes },
    [
      { label: 'CommitLimit - Committed_AS - the reserves', bytes: cell.predictedBytes },
      { label: 'RAM + swap (no strict check)', bytes: ramSwapOf(e) },
      { label: 'the free address space (no check)', bytes: e.addressGapBytes },
    ],
    STRICT_WORDING,
  );
  return cls.match === null ? { holds: null, reason: cls.reason! } : { holds: cls.match.bytes === cell.predictedBytes };
}

const c = modeMatrixClaims;

type Rule = ClaimRule<ModeMatrixEvidence>;

const cellEvidence = (cell: MatrixCell): Evidence => ({ ...cell });

const rules: Rule[] = [
  {
    claim: c.table0No,
    missing: mode0Missing,
    judge: (e) => {
      const z = e.mode0!;
      if (!z.pair.firstAccepted)
        return {
          holds: null,
          reason: `${z.pair.sizeBytes} B, below the largest accepted, was refused on a second try (${z.pair.firstCode}): the limit moved`,
        };
      const obviousRefused = !z.obvious.accepted;
      // A small overcommit: two mappings, each accepted alone, whose total exceeds the free memory.
      const overcommitPassed = z.pair.secondAccepted && 2 * z.pair.sizeBytes > z.freeEstimate.medianBytes;
      return { holds: obviousRefused && overcommitPassed };
    },
    observe: (e, v) => {
      const z = e.mode0!;
      return (
        `A single mapping of ${z.obvious.sizeBytes} B (RAM + swap + 1 page, more than this machine could ever back) was ${z.obvious.accepted ? 'accepted' : `refused (${z.obvious.code})`}; ` +
        `with one mapping of ${z.pair.sizeBytes} B (just below the largest accepted) held untouched, a second of the same size was ${z.pair.secondAccepted ? 'accepted' : `refused (${z.pair.secondCode})`}: ` +
        `together ${gib(2 * z.pair.sizeBytes)} against a free-memory estimate of ${gib(z.freeEstimate.medianBytes)}` +
        (v.holds === true ? ': obvious overcommits are denied, overcommits made of acceptable requests pass.' : '.')
      );
    },
    evidence: (e) => {
      const cls = classifyMode0Rule(e).match;
      const z = e.mode0!;
      return {
        ...cellEvidence(e.no),
        predictedBytes: cls === null ? null : cls.bytes,
        obvious: z.obvious,
        pair: z.pair,
        freeEstimateBytes: z.freeEstimate.medianBytes,
        ramSwapBytes: z.ramSwap.medianBytes,
      };
    },
  },
  {
    claim: c.table0Yes,
    judge: (e) => ({ holds: e.yes.largestBytes > ramSwapOf(e) }),
    observe: (e) =>
      `With MAP_NORESERVE: ${compare(e.yes)}; that is ${(e.yes.largestBytes / ramSwapOf(e)).toFixed(0)} x RAM + swap (${ramSwapOf(e)} B).`,
    evidence: (e) => cellEvidence(e.yes),
  },
  {
    claim: c.q3,
    missing: mode0Missing,
    judge: (e) => {
      const q = e.mode0!.q3;
      if (q.withoutNoreserve === 'accepted')
        return {
          holds: null,
          reason: `${q.sizeBytes} B, above the largest accepted, was accepted on a second try: the limit moved, nothing was denied to test`,
        };
      return { holds: q.withNoreserve === 'accepted' };
    },
    observe: (e) => {
      const q = e.mode0!.q3;
      return `mmap of ${q.sizeBytes} B (${q.sizeBytes - e.no.largestBytes} B above the largest mode 0 accepted): without MAP_NORESERVE ${q.withoutNoreserve}, with MAP_NORESERVE ${q.withNoreserve}.`;
    },
    evidence: (e) => ({ ...e.mode0!.q3, largestBytes: e.no.largestBytes, largestNoreserveBytes: e.yes.largestBytes }),
  },
  {
    claim: c.obvious,
    missing: mode0Missing,
    judge: (e) => ({ holds: !e.mode0!.obvious.accepted }),
    observe: (e, v) => {
      const z = e.mode0!;
      return (
        `One mapping of ${z.obvious.sizeBytes} B, a page more than RAM + swap (${gib(z.ramSwap.medianBytes)}), was ${z.obvious.accepted ? 'accepted' : `refused with ${z.obvious.code}`}; ` +
        `the largest accepted was ${e.no.largestBytes} B (${gib(e.no.largestBytes)}). ` +
        `The heuristic judges each mapping alone: with one of ${z.pair.sizeBytes} B held, a second was ${z.pair.secondAccepted ? 'accepted too' : `refused (${z.pair.secondCode})`}` +
        (v.holds === false ? ': a request more than this machine could ever back passed.' : '.')
      );
    },
    evidence: (e) => ({
      ...cellEvidence(e.no),
      ...e.mode0!.obvious,
      firstHeld: e.mode0!.pair.firstAccepted,
      secondAccepted: e.mode0!.pair.secondAccepted,
      secondCode: e.mode0!.pair.secondCode,
    }),
  },
  {
    claim: c.freeMemory,
    missing: mode0Missing,
    judge: (e) => {
      const cls = classifyMode0Rule(e);
      if (cls.match === null) return { holds: null, reason: cls.reason! };
      return { holds: cls.match.label === FREE_LABEL };
    },
    observe: (e, v) =>
      `${mode0Numbers(e)}. ` +
      (v.holds === true
        ? 'The limit is the free-memory estimate, as 003 says.'
        : v.holds === false
          ? `The limit is RAM + swap, ${gib(e.no.largestBytes - e.mode0!.freeEstimate.medianBytes)} above the free-memory estimate: this kernel does not limit a mapping to free memory.`
          : 'The two rules cannot be told apart on these numbers.'),
    evidence: (e) => ({
      ...cellEvidence(e.no),
      memFreeBytes: e.mode0!.readings[0]!.free.memFreeBytes,
      // Saved evidence from before MemAvailable was read has none.
      memAvailableBytes: e.mode0!.readings[0]!.memAvailableBytes ?? null,
      freeEstimateBytes: e.mode0!.freeEstimate.medianBytes,
      freeEstimateSpreadBytes: e.mode0!.freeEstimate.spreadBytes,
      ramSwapBytes: e.mode0!.ramSwap.medianBytes,
      toleranceBytes: e.mode0!.toleranceBytes,
    }),
  },
  {
    claim: c.ruleInForce,
    missing: mode0Missing,
    judge: (e) => {
      const cls = classifyMode0Rule(e);
      if (cls.match !== null) return { holds: true };
      // Decidable, and neither rule within the tolerance: a rule this tool does not know.
      const z = e.mode0!;
      const apart = Math.abs(z.freeEstimate.medianBytes - z.ramSwap.medianBytes) > 2 * z.toleranceBytes;
      return apart ? { holds: false, reason: cls.reason! } : { holds: null, reason: cls.reason! };
    },
    observe: (e, v) => {
      const cls = classifyMode0Rule(e);
      const which =
        cls.match !== null
          ? `This kernel follows ${cls.match.label}.`
          : v.holds === false
            ? 'This kernel follows neither known rule.'
            : 'Which rule is in force cannot be told on these numbers.';
      return `${mode0Numbers(e)}. ${which}`;
    },
    evidence: (e) => ({
      largestBytes: e.no.largestBytes,
      rule: classifyMode0Rule(e).match?.label ?? null,
      freeEstimateBytes: e.mode0!.freeEstimate.medianBytes,
      freeEstimateSpreadBytes: e.mode0!.freeEstimate.spreadBytes,
      ramSwapBytes: e.mode0!.ramSwap.medianBytes,
      toleranceBytes: e.mode0!.toleranceBytes,
      readings: e.mode0!.readings as unknown as Evidence[],
    }),
  },
  ...(
    [
      [c.table1No, 'no'],
      [c.table1Yes, 'yes'],
    ] as const
  ).map(
    ([claim, key]): Rule => ({
      claim,
      // Beyond RAM + swap no commit check of any mode accepts; the address-space match is told, not required.
      judge: (e) => ({ holds: e[key].largestBytes > ramSwapOf(e) }),
      observe: (e) =>
        `${key === 'yes' ? 'With' : 'Without'} MAP_NORESERVE: ${compare(e[key])}; ${(e[key].largestBytes / ramSwapOf(e)).toFixed(0)} x RAM + swap (${ramSwapOf(e)} B).`,
      evidence: (e) => cellEvidence(e[key]),
    }),
  ),
  {
    claim: c.mode1Always,
    judge: (e) => ({ holds: e.no.largestBytes > ramSwapOf(e) }),
    observe: (e) =>
      `One ordinary mapping (no MAP_NORESERVE) of ${e.no.largestBytes} B, ${(e.no.largestBytes / ramSwapOf(e)).toFixed(0)} x RAM + swap, was accepted; ` +
      `one page more was ${e.no.refusedCode === null ? 'never refused in the search' : `refused with ${e.no.refusedCode}`} (the largest free gap of the address space is ${gib(e.no.predictedBytes)}).`,
    evidence: (e) => cellEvidence(e.no),
  },
  {
    claim: c.mode1Virtual99,
    judge: (e) => ({ holds: e.no.largestBytes / ramSwapOf(e) >= 99 }),
    observe: (e) =>
      `${gib(e.no.largestBytes)} of virtual memory in one mapping, ${(e.no.largestBytes / ramSwapOf(e)).toFixed(0)} times the ${gib(ramSwapOf(e))} of RAM + swap of this machine.`,
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
        { changeBytes: e.yes.largestBytes, toleranceBytes: Math.max(e.no.toleranceBytes, e.yes.toleranceBytes) },
        [
          { label: 'the largest without it (ignored)', bytes: e.no.largestBytes },
          { label: 'the free address space (honoured: not charged)', bytes: e.addressGapBytes },
        ],
        STRICT_WORDING,
      );
      return cls.match === null ? { holds: null, reason: cls.reason! } : { holds: cls.match.bytes === e.no.largestBytes };
    },
    observe: (e, v) => {
      const tol = Math.max(e.no.toleranceBytes, e.yes.toleranceBytes);
      return `Largest without MAP_NORESERVE ${e.no.largestBytes} B, with it ${e.yes.largestBytes} B: difference ${e.yes.largestBytes - e.no.largestBytes} B (tolerance ${tol} B for what other processes commit meanwhile; the free address space is ${gib(e.addressGapBytes)}); ${v.holds === true ? 'the flag changes nothing' : v.holds === false ? 'the flag made the mapping unaccounted' : 'the noise leaves it open'}.`;
    },
    evidence: (e) => ({
      noreserve: true,
      largestBytes: e.yes.largestBytes,
      predictedBytes: e.no.largestBytes,
      largestWithoutBytes: e.no.largestBytes,
      differenceBytes: e.yes.largestBytes - e.no.largestBytes,
      toleranceBytes: Math.max(e.no.toleranceBytes, e.yes.toleranceBytes),
    }),
  },
  {
    claim: c.rootMore,
    missing: (e) => {
      if (e.root === null) return e.rootSkipped ?? 'root vs nobody was not measured';
      const bad = e.root.trials.find((t) => t.problem !== null);
      return bad === undefined ? undefined : `a measurement problem: ${bad.problem} (setuid ${bad.setuid})`;
    },
    judge: (e): Verdict => {
      const cls = classifyRoot(e.root!);
      if (cls.match === null) return { holds: null, reason: cls.reason! };
      return { holds: cls.match.bytes !== 0 };
    },
    observe: (e, v) => {
      const r = e.root;
      if (r === null) return `Not compared: ${e.rootSkipped ?? 'not measured'}.`;
      if (r.trials.some((t) => t.problem !== null)) {
        return `In mode ${r.mode}, the children probing as root and then as uid ${UNPRIVILEGED_UID} gave: ${r.trials
          .map((t) => `root ${t.rootBytes ?? 'failed'}, nobody ${t.userBytes ?? 'failed'} (setuid ${t.setuid})`)
          .join('; ')}.`;
      }
      const d = rootDifference(r);
      const limit = Math.max(...d.rootBytes);
      return (
        `In mode ${r.mode}, ${r.trials.length} children each probed as root (${d.rootBytes.join(', ')} B) and then as uid ${UNPRIVILEGED_UID} (${d.userBytes.join(', ')} B): ` +
        `root may map ${d.differenceBytes} B more (median of ${d.differencesBytes.join(', ')} B; ${((100 * d.differenceBytes) / limit).toFixed(3)}% of its limit; the trials' differences disagree by ${d.noiseBytes} B); admin_reserve_kbytes is ${r.adminReserveBytes} B. ` +
        (v.holds === true
          ? 'Root gets slightly more: the admin reserve.'
          : v.holds === false
            ? `Root gets nothing more in mode ${r.mode} on this kernel.`
            : 'Whether root gets more cannot be told on these numbers.')
      );
    },
    evidence: (e): Evidence => {
      const r = e.root;
      if (r === null || r.trials.some((t) => t.problem !== null))
        return { mode: e.mode, root: r as unknown as Evidence, rootSkipped: e.rootSkipped };
      const d = rootDifference(r);
      return {
        mode: r.mode,
        rootBytes: d.rootBytes,
        userBytes: median(d.userBytes),
        userProbesBytes: d.userBytes,
        differenceBytes: d.differenceBytes,
        differencesBytes: d.differencesBytes,
        noiseBytes: d.noiseBytes,
        toleranceBytes: d.toleranceBytes,
        adminReserveBytes: r.adminReserveBytes,
        setuid: r.trials.map((t) => t.setuid).join(', '),
      };
    },
  },
];

export const modeMatrixRules = defineRules<ModeMatrixEvidence>({
  id: 'mode-matrix',
  title: "004's mode x MAP_NORESERVE table: the largest mapping each mode accepts, beside what the known rules predict",
  requires: {},
  rules,
});
