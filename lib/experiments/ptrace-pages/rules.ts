/**
 * The rule of ptrace-pages, pure (evidence in, verdict out). 001 lists "Account ptrace pages
 * (this is hard)" under To Do: the pages a tracer writes into its tracee's private read-only
 * mappings are not charged to the commit. Per kind and method the writes must first have made
 * private pages (the VMA's Anonymous grew by the mapping, exact); the charge is then judged by
 * classifyCharge (the VMA's 'ac' bytes, exact, confirmed by the interleaved Committed_AS change).
 */
import { mib } from '../../units.js';
import { type ChangeClass, type ChargeClass, classifyChange, classifyCharge } from '../../verdict/decide.js';
import { median } from '../../verdict/stats.js';
import { type ClaimRule, defineRules, type Verdict } from '../../verdict/types.js';
import { DOC_001 } from '../documents.js';
import type { PtraceCase, PtracePagesEvidence, PtracePastLimit } from './evidence.js';

/** The VMA's Anonymous may differ from the pages written by a few pages (a huge page's remainder, the first page faulted by the tracee). */
const GROWTH_SLACK_PAGES = 16;

export interface CaseJudgement {
  /** The tracee's Anonymous growth (median over trials), classified: every page, or none. */
  growthBytes: number;
  growth: ChangeClass;
  /** The change in the mapping's 'ac' bytes (median), null without VmFlags. */
  accountedDeltaBytes: number | null;
  charge: ChargeClass;
  /** Every trial wrote every page. */
  allWritten: boolean;
}

/** Every numeric comparison of the rule. */
export function judgeCase(c: PtraceCase, e: Pick<PtracePagesEvidence, 'pageSize' | 'mappedBytes'>): CaseJudgement {
  const pages = e.mappedBytes / e.pageSize;
  const growthBytes = median(c.trials.map((t) => t.after.anonymousBytes - t.before.anonymousBytes));
  const growth = classifyChange(
    { changeBytes: growthBytes, toleranceBytes: GROWTH_SLACK_PAGES * e.pageSize },
    [
      { label: 'every page written', bytes: e.mappedBytes },
      { label: 'no page', bytes: 0 },
    ],
    { noise: "the tracee's Anonymous moved", value: "the tracee's Anonymous grew by" },
  );
  const accounted = c.trials.map((t) =>
    t.after.accountedBytes === null || t.before.accountedBytes === null ? null : t.after.accountedBytes - t.before.accountedBytes,
  );
  const accountedDeltaBytes = accounted.some((a) => a === null) ? null : median(accounted as number[]);
  const charge = classifyCharge(
    c.committed,
    accountedDeltaBytes,
    [
      { label: 'charged', bytes: e.mappedBytes },
      { label: 'not charged', bytes: 0 },
    ],
    e.pageSize,
  );
  return {
    growthBytes,
    growth,
    accountedDeltaBytes,
    charge,
    allWritten: c.trials.every((t) => t.writeErrno === 0 && t.writtenPages === pages),
  };
}

const METHOD = { mem: '/proc/<pid>/mem', poke: 'PTRACE_POKEDATA' } as const;
const label = (c: PtraceCase) => `${c.kind} through ${METHOD[c.method]}`;

/** One case's verdict: not charged holds, charged fails; no private pages made, or noise, is undecided. */
function caseVerdict(c: PtraceCase, j: CaseJudgement): Verdict {
  if (!j.allWritten) {
    const t = c.trials.find((x) => x.writeErrno !== 0) ?? c.trials[0]!;
    return { holds: null, reason: `${label(c)}: the tracer wrote ${t.writtenPages} pages (errno ${t.writeErrno}), not every page` };
  }
  if (j.growth.match === null) return { holds: null, reason: `${label(c)}: ${j.growth.reason}` };
  if (j.growth.match.bytes === 0) return { holds: null, reason: `${label(c)}: the writes made no private page: nothing to account` };
  if (j.charge.match === null) return { holds: null, reason: `${label(c)}: ${j.charge.reason}` };
  const holds = j.charge.match.bytes === 0;
  return j.charge.reason === undefined ? { holds } : { holds, reason: `${label(c)}: ${j.charge.reason}` };
}

export const PTRACE_CLAIM = {
  id: 'ptrace-pages-not-accounted',
  text: "To Do: Account ptrace pages (this is hard): the pages a tracer writes into its tracee's private read-only mappings (PTRACE_POKEDATA, /proc/<pid>/mem) become the tracee's private pages without being charged to the commit.",
  source: DOC_001,
};

function judge(e: PtracePagesEvidence): Verdict {
  if (e.cases.length === 0) return { holds: null, reason: 'no case was measured' };
  const verdicts = e.cases.map((c) => ({ c, v: caseVerdict(c, judgeCase(c, e)) }));
  const charged = verdicts.filter((x) => x.v.holds === false);
  if (charged.length > 0) return { holds: false, reason: `charged: ${charged.map((x) => label(x.c)).join(', ')}` };
  const open = verdicts.filter((x) => x.v.holds === null);
  if (open.length > 0) return { holds: null, reason: open.map((x) => x.v.reason).join('; ') };
  const caveats = verdicts.flatMap((x) => (x.v.reason === undefined ? [] : [x.v.reason]));
  return caveats.length === 0 ? { holds: true } : { holds: true, reason: caveats.join('; ') };
}

function observe(e: PtracePagesEvidence, v: Verdict): string {
  const parts = e.cases.map((c) => {
    const j = judgeCase(c, e);
    const flags = c.trials[0]?.after.vmFlags.join(' ') ?? '';
    return (
      `${label(c)}: Anonymous +${mib(j.growthBytes)} of ${mib(e.mappedBytes)}, 'ac' bytes ${j.accountedDeltaBytes === null ? 'not shown' : `+${mib(j.accountedDeltaBytes)}`} (VmFlags after: ${flags}), ` +
      `Committed_AS ${mib(c.committed.changeBytes)} (±${mib(c.committed.toleranceBytes)})`
    );
  });
  const end =
    v.holds === true
      ? 'The tracer made private pages the commit does not count: the To Do still stands.'
      : v.holds === false
        ? 'The kernel charged the pages the tracer made: ptrace pages are accounted.'
        : 'Undecided.';
  return `A tracee mapped ${mib(e.mappedBytes)} read-only and private; its tracer wrote one word in every page. ${parts.join('; ')}. ${end}`;
}

/** ENOMEM: what a write the kernel held to the commit limit would fail with. */
const ENOMEM = 12;

function judgePastLimit(p: PtracePastLimit, page: number): Verdict {
  const all = p.writtenPages * page >= p.mappedBytes && p.writeErrno === 0;
  if (!all) {
    const refused = p.writeErrno === ENOMEM;
    return refused
      ? {
          holds: false,
          reason: `the writes were refused with ENOMEM after ${mib(p.writtenPages * page)}: the commit limit held the tracer`,
        }
      : { holds: null, reason: `the tracer wrote ${p.writtenPages} pages, then errno ${p.writeErrno}` };
  }
  if (p.anonymousGrowthBytes <= p.roomBytes)
    return {
      holds: null,
      reason: `the writes made ${mib(p.anonymousGrowthBytes)} of private pages, not more than the ${mib(p.roomBytes)} room: nothing passed the limit`,
    };
  return { holds: true };
}

function observePastLimit(p: PtracePastLimit): string {
  return (
    `In mode 2 with CommitLimit ${mib(p.commitLimitBytes)} and Committed_AS ${mib(p.committedBeforeBytes)} (a room of ${mib(p.roomBytes)}${p.guardKbytes === null ? '' : `, overcommit_kbytes ${p.guardKbytes} written by the settings guard`}), ` +
    `a tracer wrote ${p.writtenPages} pages (errno ${p.writeErrno}) of a ${mib(p.mappedBytes)} private read-only anonymous mapping: the tracee's Anonymous grew by ${mib(p.anonymousGrowthBytes)}; ` +
    `afterwards Committed_AS was ${mib(p.committedAfterBytes)} against CommitLimit ${mib(p.commitLimitAfterBytes)}.`
  );
}

export const PTRACE_PAST_LIMIT_CLAIM = {
  id: 'ptrace-pages-pass-commit-limit',
  text: 'To Do: Account ptrace pages (this is hard): in mode 2 the private pages a tracer makes are not held to CommitLimit: it can make more of them than the room CommitLimit - Committed_AS leaves.',
  source: DOC_001,
};

const rules: readonly ClaimRule<PtracePagesEvidence>[] = [
  { claim: PTRACE_CLAIM, judge, observe },
  {
    claim: PTRACE_PAST_LIMIT_CLAIM,
    missing: (e) => (e.pastLimit == null ? (e.pastLimitReason ?? 'the mode-2 part was not measured in this run') : undefined),
    judge: (e) => judgePastLimit(e.pastLimit!, e.pageSize),
    observe: (e, v) =>
      `${observePastLimit(e.pastLimit!)} ${v.holds === true ? 'The pages the tracer made passed the room the commit limit left: mode 2 does not bound them.' : v.holds === false ? 'The commit limit held the tracer.' : 'Undecided.'}`,
  },
];

export const ptracePagesRules = defineRules<PtracePagesEvidence>({
  id: 'ptrace-pages',
  title:
    "001's To Do, ptrace pages: a tracer writes every page of its tracee's private read-only mappings (/proc/<pid>/mem, PTRACE_POKEDATA); Anonymous, VmFlags, Committed_AS",
  requires: {},
  rules,
});
