/**
 * 000's claims judged on what the real redis-server did. Pure: only the evidence is read (its
 * own page size included), so a saved run re-judges anywhere. Every numeric comparison is in
 * the `compare` section below.
 */
import { freeMemoryRule, MODE0_RULES, mode0Tolerance, predictionSpread, ramSwapRule } from '../../kernel/admission.js';
import { gib, mib } from '../../units.js';
import { classifyChange, verdictOf } from '../../verdict/decide.js';
import { type CommitRoom, copyFits } from '../../verdict/fits.js';
import { measured, notMeasured, type Part, partRule } from '../../verdict/part.js';
import { toleranceFromRange } from '../../verdict/tolerance.js';
import { type ClaimRule, defineRules, type Evidence } from '../../verdict/types.js';
import { DOC_000, DOC_003 } from '../documents.js';
import type { RedisServerEvidence as E } from './evidence.js';

// --- every numeric comparison of the rules ---

/** BGSAVE failed and the log says the fork did ("Can't save in background: fork: ..."). */
const forkRefused = (e: E): boolean => e.bgsave === 'err' && e.bgsaveLog.some((l) => /Can't save in background: fork/.test(l));
const enomem = (e: E): boolean => e.bgsave === 'err' && e.bgsaveLog.some((l) => /Cannot allocate memory/.test(l));

/** Mode 0: was the server's memory more than the free RAM at the fork (the FAQ's premise)? */
function datasetOverFree(e: E): boolean {
  return (e.rssBytes ?? e.datasetBytes) > e.memAvailableBytes;
}

/**
 * Copy-on-write: the copied bytes less the child's own (the save with nothing written) against
 * the pages written and the whole dataset. The tolerance: the child's own pages once more, an
 * eighth of the written bytes (values that share a page with unwritten ones), Node's jitter.
 */
function cowClass(e: E, cow: number, baseline: number) {
  return classifyChange(
    { changeBytes: cow - baseline, toleranceBytes: toleranceFromRange(baseline, e.overwrittenBytes / 8) },
    [
      { label: 'the pages written', bytes: e.overwrittenBytes },
      { label: 'every page of the dataset', bytes: e.usedMemoryBytes ?? e.datasetBytes },
    ],
    { noise: 'the child dirtied pages of its own', value: 'copy-on-write duplicated (less the child’s own)' },
  );
}

/** Mode 2's readings around BGSAVE, or why they are missing. */
interface Mode2Part {
  room: CommitRoom;
  accountedBytes: number;
}

function mode2Part(e: E): Part<Mode2Part> {
  const why = unsaved(e);
  if (why !== undefined) return notMeasured(why);
  if (e.commitLimitBytes === null || e.committedAsBytes === null) return notMeasured('CommitLimit was not read before BGSAVE');
  if (e.serverAccountedBytes === null) return notMeasured("the server's smaps show no VmFlags: its accounted memory is unknown");
  return measured({
    room: { commitLimitBytes: e.commitLimitBytes, committedAsBytes: e.committedAsBytes, committedAsAfterBytes: e.committedAsAfterBytes },
    accountedBytes: e.serverAccountedBytes,
  });
}

/** Mode 2: does a copy of the server's accounted memory fit under CommitLimit? Undecided within the noise. */
const copyFitsHere = (p: Mode2Part) => copyFits(p.room, { label: "a copy of the server's accounted memory", bytes: p.accountedBytes });

/** The copy-on-write sizes of a save during the writes and of one without, or why there are none. */
function cowPart(e: E): Part<{ cow: number; baseline: number }> {
  if (e.scenario === 'disposable' && e.fill === 'setrange')
    return notMeasured(
      "the FAQ's scenario (a throwaway VM) saves once, with nothing written meanwhile: copy-on-write is measured on a shared machine's dataset",
    );
  if (e.bgsave !== 'ok' || e.cowBytes === null || e.cowBaselineBytes === null)
    return notMeasured('no background save completed with its copy-on-write size');
  if (e.savingAfterWrites !== true)
    return notMeasured(`the save ended before the ${mib(e.overwrittenBytes)} of writes did: the pages were no longer shared`);
  return measured({ cow: e.cowBytes, baseline: e.cowBaselineBytes });
}

/** What one mode-0 rule says of the fork's largest request: accept, refuse, or too close to tell. */
type Prediction = 'accept' | 'refuse' | null;

export interface Mode0Reading {
  /** The fork's largest single request: the server's largest accounted mapping. */
  requestBytes: number;
  /** The largest request each rule accepts, from the readings just before BGSAVE. */
  free: { largestBytes: number; formula: string; predicts: Prediction };
  ramSwap: { largestBytes: number; formula: string; predicts: Prediction };
  toleranceBytes: number;
}

/**
 * Mode 0's check, as each rule reads this run: dup_mmap asks it once per accounted mapping, so the
 * largest one decides. The free estimate is the median of the readings just before BGSAVE; the
 * tolerance is how far they moved by themselves, the tool's jitter and a page of rounding. Runs
 * saved with one reading measured no movement: theirs is the bound they were judged with, a
 * 32nd of the estimate for the pages the kernel frees or takes before the fork.
 */
export function mode0Reading(e: E): Mode0Reading | { missing: string } {
  if (e.largestAccountedBytes == null || e.freeEstimate == null || e.memTotalBytes == null || e.swapTotalBytes == null)
    return { missing: "the server's mappings and free memory were not read before BGSAVE" };
  const request = e.largestAccountedBytes;
  const predictions = (e.freeEstimateReadings ?? [e.freeEstimate]).map((r) => freeMemoryRule(r, e.pageSize));
  const free = predictionSpread(predictions);
  const ramSwap = ramSwapRule(e.memTotalBytes, e.swapTotalBytes, e.pageSize);
  const tolerance =
    predictions.length > 1
      ? mode0Tolerance({ freeEstimate: free, ramSwap: predictionSpread([ramSwap]) }, e.pageSize)
      : toleranceFromRange(0, free.medianBytes / 32);
  const predicts = (largest: number): Prediction =>
    request < largest - tolerance ? 'accept' : request > largest + tolerance ? 'refuse' : null;
  // The formula of the reading the median is (one of them: there are an odd number).
  const median = predictions.find((p) => p.largestBytes === free.medianBytes) ?? predictions[0];
  const moved = predictions.length > 1 ? `; the median of ${predictions.length} readings, which moved by ${mib(free.spreadBytes)}` : '';
  return {
    requestBytes: request,
    free: { largestBytes: free.medianBytes, formula: `${median?.formula ?? free.formula}${moved}`, predicts: predicts(free.medianBytes) },
    ramSwap: { largestBytes: ramSwap.largestBytes, formula: ramSwap.formula, predicts: predicts(ramSwap.largestBytes) },
    toleranceBytes: tolerance,
  };
}

/** The known mode-0 rules that predicted what the fork did (refused: BGSAVE's fork failed; else the save ran). */
function rulesMatching(e: E, r: Mode0Reading): string[] {
  const outcome: Prediction = forkRefused(e) ? 'refuse' : 'accept';
  return [...(r.free.predicts === outcome ? [MODE0_RULES.free] : []), ...(r.ramSwap.predicts === outcome ? [MODE0_RULES.ramSwap] : [])];
}

// --- the rules ---

function server(e: E): string {
  const cg = e.cgroupLimitBytes === null ? `no memory cgroup (${e.cgroupNote})` : `in a ${mib(e.cgroupLimitBytes)} memory cgroup`;
  return `redis-server ${e.redisVersion} (as ${e.runAs}, ${cg}) holding ${e.keys} keys of ${e.valueBytes} bytes (used_memory ${mib(e.usedMemoryBytes ?? 0)}, RSS ${mib(e.rssBytes ?? 0)})`;
}

function save(e: E): string {
  const log =
    e.bgsaveLog.length === 0
      ? 'nothing in its log'
      : `its log: ${e.bgsaveLog.map((l) => `"${l.replace(/^\d+:[A-Z] \d+ \w+ \d+ [\d:.]+ [*#.-] /, '')}"`).join(', ')}`;
  return `BGSAVE ${e.bgsave} (reply "${e.bgsaveReply}"; ${log})`;
}

const unsaved = (e: E): string | undefined => (e.bgsaveLog.length === 0 && e.bgsaveReply === '' ? 'BGSAVE was not run' : undefined);

/** The numbers mode 0's check read: the request, both rules' limits, the heap the fork never charges. */
function mode0Numbers(e: E, r: Mode0Reading): string {
  const heap = e.mallocConf ? `, MALLOC_CONF ${e.mallocConf}` : '';
  const nr = e.noReserveBytes ? `; ${mib(e.noReserveBytes)} of MAP_NORESERVE mappings, which no fork's check charges` : '';
  return (
    `The fork's largest request was ${mib(r.requestBytes)} (the server's largest accounted mapping; allocator ${e.memAllocator ?? 'unknown'}${heap}${nr}); ` +
    `MemFree ${gib(e.memFreeBytes ?? 0)}, MemAvailable ${gib(e.memAvailableBytes)}, CommitLimit ${gib(e.commitLimitBytes ?? 0)}, Committed_AS ${gib(e.committedAsBytes ?? 0)} before it. ` +
    `Mode 0 by ${MODE0_RULES.free} accepts up to ${mib(r.free.largestBytes)} (${r.free.formula}): ${r.free.predicts ?? 'too close to tell'}; ` +
    `by ${MODE0_RULES.ramSwap} up to ${mib(r.ramSwap.largestBytes)}: ${r.ramSwap.predicts ?? 'too close to tell'} (tolerance ${mib(r.toleranceBytes)})`
  );
}

/**
 * Mode 0's reading for telling the two rules apart, or why this run cannot: no save, a failure
 * that is not the fork's, a request within the tolerance of a limit, or rules that agree (while
 * matching what the fork did). Rules that agree and were both wrong leave the part: neither holds.
 */
function mode0RulePart(e: E): Part<Mode0Reading> {
  const why = unsaved(e);
  if (why !== undefined) return notMeasured(why);
  const r = mode0Reading(e);
  if ('missing' in r) return notMeasured(r.missing);
  if (e.bgsave === 'err' && !forkRefused(e)) return notMeasured(`BGSAVE failed without the log's fork line: ${save(e)}`);
  if (r.free.predicts === null || r.ramSwap.predicts === null)
    return notMeasured(
      `the fork's largest request (${mib(r.requestBytes)}) is within ${mib(r.toleranceBytes)} of a rule's limit (${MODE0_RULES.free}: ${mib(r.free.largestBytes)}, ${MODE0_RULES.ramSwap}: ${mib(r.ramSwap.largestBytes)})`,
    );
  if (r.free.predicts === r.ramSwap.predicts && rulesMatching(e, r).length > 0) {
    const nr = e.noReserveBytes
      ? ` (${mib(e.noReserveBytes)} of the server's mappings are MAP_NORESERVE, which no fork's check charges)`
      : '';
    return notMeasured(
      `both rules ${r.free.predicts} the fork's largest request (${mib(r.requestBytes)}${nr}; ${MODE0_RULES.free}: ${mib(r.free.largestBytes)}, ${MODE0_RULES.ramSwap}: ${mib(r.ramSwap.largestBytes)}): it tells them not apart`,
    );
  }
  return measured(r);
}

const rules: ClaimRule<E>[] = [
  {
    claim: {
      id: 'redis-overcommit-warning',
      text: 'Setting overcommit_memory to 1 tells Linux to relax and perform the fork in a more optimistic allocation fashion, and this is indeed what you want for Redis (Redis itself warns at start when it is 0)',
      source: DOC_000,
      modes: [0, 1],
    },
    judge: (e) => ({ holds: e.overcommitWarning === (e.mode === 0) }),
    observe: (e, v) =>
      `${server(e)} started in mode ${e.mode} ${e.overcommitWarning ? `and warned: "${(e.warningLines[0] ?? '(no line kept)').replace(/^.*WARNING /, 'WARNING ')}"` : 'without an overcommit warning'}${
        v.holds ? '' : e.mode === 0 ? ': it did not ask for overcommit_memory=1' : ': it warned although overcommit_memory is 1'
      }.`,
  },
  {
    claim: {
      id: 'redis-bgsave-mode0-free-ram',
      text: 'If the overcommit_memory setting is set to zero the fork will fail unless there is as much free RAM as required to really duplicate all the parent memory pages. If you have a Redis dataset of 3 GB and just 2 GB of free memory it will fail',
      source: DOC_000,
      modes: [0],
    },
    missing: (e) =>
      unsaved(e) ??
      (datasetOverFree(e)
        ? undefined
        : `the server's ${mib(e.rssBytes ?? e.datasetBytes)} was not more than MemAvailable (${gib(e.memAvailableBytes)}): the FAQ predicts nothing (its own case runs in a throwaway VM, \`overcommit-lab vm\`)`),
    judge: (e) => ({ holds: forkRefused(e) }),
    observe: (e, v) => {
      const r = mode0Reading(e);
      const numbers = 'missing' in r ? '' : ` ${mode0Numbers(e, r)}.`;
      return `${server(e)}, MemAvailable ${gib(e.memAvailableBytes)} before the fork: ${save(e)}. ${v.holds ? 'The fork was refused, as the FAQ says' : 'The fork went through with less free RAM than the dataset'}.${numbers}`;
    },
  },
  partRule(mode0RulePart, {
    claim: {
      id: 'redis-bgsave-mode0-rule',
      text: "Heuristic overcommit handling: a new mapping is an obvious overcommit when its size exceeds the amount of currently available free memory (003; kernels before 5.2), or RAM + swap (since 5.2). Which one this kernel follows, as Redis's fork for BGSAVE meets it.",
      source: DOC_003,
      modes: [0],
    },
    judge: (r, e) => ({ holds: rulesMatching(e, r).length === 1 }),
    observe: (r, e, v) => {
      const which = v.holds ? `This kernel follows ${rulesMatching(e, r)[0]}` : 'This kernel follows neither known rule';
      return `${save(e)}. ${mode0Numbers(e, r)}. ${which}.`;
    },
    evidence: (r, e) => ({ ...e, rule: rulesMatching(e, r)[0] ?? null }) as unknown as Evidence,
    evidenceWhenMissing: (e) => ({ ...e, rule: null }) as unknown as Evidence,
  }),
  {
    claim: {
      id: 'redis-bgsave-mode1',
      text: 'Setting overcommit_memory to 1 tells Linux to relax and perform the fork in a more optimistic allocation fashion',
      source: DOC_000,
      modes: [1],
    },
    missing: unsaved,
    judge: (e) => ({ holds: e.bgsave === 'ok' }),
    observe: (e) => `${server(e)}: ${save(e)}.`,
  },
  partRule(mode2Part, {
    claim: {
      id: 'redis-bgsave-mode2-enomem',
      text: '2 = le kernel checke systématiquement (mode 2: the kernel always checks; a BGSAVE whose fork would copy more than fits under CommitLimit fails)',
      source: DOC_000,
      modes: [2],
    },
    judge: (p, e) => {
      const fits = copyFitsHere(p);
      return fits.side === null ? { holds: null, reason: fits.reason } : { holds: enomem(e) === (fits.side === 'below') };
    },
    observe: (p, e, v) => {
      const fits = copyFitsHere(p).side;
      return `${server(e)}, its accounted ('ac') memory ${gib(p.accountedBytes)}; CommitLimit ${gib(p.room.commitLimitBytes)}, Committed_AS ${gib(p.room.committedAsBytes)} before the fork: a copy ${fits === null ? 'lands too close to CommitLimit to tell whether it fits' : fits === 'above' ? 'fits' : 'does not fit'}. ${save(e)}${
        v.holds !== false ? '' : fits === 'above' ? ': refused though it fit' : ': the kernel let a copy through that passes CommitLimit'
      }.`;
    },
  }),
  partRule(cowPart, {
    claim: {
      id: 'redis-cow-written-pages',
      text: 'A page will be duplicated only when it changes in the child or in the parent (avec le mécanisme de copy-on-write, les pages ne sont dupliquées que si le fork (ou le process original) écrit dessus)',
      source: DOC_000,
      modes: [0, 1],
    },
    judge: ({ cow, baseline }, e) => verdictOf(cowClass(e, cow, baseline), (m) => m.label === 'the pages written'),
    observe: ({ cow, baseline }, e, v) =>
      `${server(e)}: during a BGSAVE slowed to ${e.saveDelayUs} µs per key the test rewrote ${e.overwrittenKeys} keys (${mib(e.overwrittenBytes)}); rdb_last_cow_size ${mib(cow)}, ${mib(baseline)} in a save with nothing written${
        v.holds === null ? '' : v.holds ? ': only the written pages were duplicated' : ': far more than the written pages were duplicated'
      }.`,
  }),
];

export const redisServerRules = defineRules<E>({
  id: 'redis-server',
  title: "The real redis-server: its overcommit warning, BGSAVE's fork and copy-on-write, in the mode in force",
  requires: { program: { name: 'redis-server' } },
  rules,
});
