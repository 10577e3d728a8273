import { mib } from '../../units.js';
import { both } from '../../verdict/combine.js';
import { type ChangeHypothesis, classifyCharge, judgeCharge, verdictOf } from '../../verdict/decide.js';
import { evidencePageSize, pageSizeNote } from '../../verdict/page-size.js';
import { defineRules } from '../../verdict/types.js';
import { DOC_001, DOC_003, DOC_004 } from '../documents.js';
import { type Claim, type ClaimRule, type Evidence, type OvercommitMode, type Verdict, withCaveat } from '../model.js';
import {
  type AccountingEvidence,
  type BrkEvidence,
  type ChargeReading,
  type ChildPartProblem,
  documentedCharge,
  documentedCharged,
  flagsShowCharge,
  type KindEvidence,
  type MappingKind,
  MPROTECT_LABEL,
  mappingKinds,
  mprotectSteps,
  type StackEvidence,
} from './evidence.js';

const KIND_TEXT: Record<MappingKind, string> = {
  'file-private-rw': 'For a file backed map, PRIVATE WRITABLE: size of mapping per instance',
  'file-shared-rw': 'For a file backed map, SHARED or READ-only: 0 cost (the file is the map not swap)',
  'file-private-ro': 'For a file backed map, SHARED or READ-only: 0 cost (the file is the map not swap)',
  'anon-shared-rw': 'For an anonymous or /dev/zero map, SHARED: size of mapping',
  'anon-shared-ro': 'For an anonymous or /dev/zero map, SHARED: size of mapping (whatever the protection)',
  'anon-private-ro': 'For an anonymous or /dev/zero map, PRIVATE READ-only: 0 cost (but of little use)',
  'anon-private-rw': 'For an anonymous or /dev/zero map, PRIVATE WRITABLE: size of mapping per instance',
};

const kindClaims: Claim[] = mappingKinds.map((kind) => ({ id: `cost-${kind}`, text: KIND_TEXT[kind], source: DOC_001 }));

/** MAP_NORESERVE expectations differ by mode: 004 (Q3, table) for modes 0 and 1, 001 for mode 2. */
const noreserveClaims: Claim[] = mappingKinds.flatMap((kind): Claim[] => [
  {
    id: `noreserve-${kind}`,
    text: `MAP_NORESERVE tells the kernel not to reserve swap space at mmap() time (${kind}: no charge)`,
    source: DOC_004,
    modes: [0, 1],
  },
  {
    id: `noreserve-ignored-${kind}`,
    text: `In mode 2 the MAP_NORESERVE flag is ignored (${kind}: charged as without it)`,
    source: DOC_001,
    modes: [2],
  },
]);

const C = {
  only: {
    id: 'charged-kinds',
    text: 'Overcommit monitoring comes into play only for private writable mappings (file and anonymous) and shared anonymous mappings',
    source: DOC_003,
  },
  notCounted: {
    id: 'not-counted',
    text: 'Not subject to strict overcommit accounting: read-only private mappings and shared file mappings',
    source: DOC_004,
  },
  shmfs: { id: 'shmfs-same-pool', text: 'shmfs memory drawn from the same pool', source: DOC_001 },
  writableCopies: { id: 'writable-copies', text: 'Additional accounting: Pages made writable copies by mmap', source: DOC_001 },
  mprotect: { id: 'mprotect', text: 'We account mprotect changes in commit', source: DOC_001 },
  mremap: { id: 'mremap', text: 'We account mremap changes in size', source: DOC_001 },
  brk: { id: 'brk', text: 'We account brk', source: DOC_001 },
  stack: {
    id: 'stack-growth',
    text: 'Gotchas: the C language stack growth does an implicit mremap (growing the stack is charged to the commit like an mremap growth)',
    source: DOC_001,
  },
  munmap: { id: 'munmap', text: 'We account munmap', source: DOC_001 },
} satisfies Record<string, Claim>;

export const accountingClaims: readonly Claim[] = [...kindClaims, ...noreserveClaims, ...Object.values(C)];

/**
 * The per-step list findings always recorded: each step's change over the trials, with
 * spreadBytes the noise measured around it (tolerance less Node's own jitter).
 */
function stepList(steps: readonly (readonly [string, ChargeReading])[]): Evidence[] {
  return steps.map(([step, r]) => ({
    step,
    deltaBytes: r.change.changeBytes,
    trialDeltaBytes: r.change.actionDeltasBytes,
    spreadBytes: r.change.noiseBytes,
    toleranceBytes: r.change.toleranceBytes,
    accountedDeltaBytes: r.accountedDeltaBytes,
    vmFlags: r.vmFlags,
  }));
}

const charged = (bytes: number): ChangeHypothesis => ({ label: 'charged', bytes });
const NOT_CHARGED: ChangeHypothesis = { label: 'not charged', bytes: 0 };

/** The reading judged against "charged `bytes`" and "not charged", from both sides where the flags show the charge. */
function chargeOf(r: ChargeReading, bytes: number, flagsSpeak: boolean, slackBytes: number) {
  return classifyCharge(r.change, flagsSpeak ? r.accountedDeltaBytes : null, [charged(bytes), NOT_CHARGED], slackBytes);
}

/** The per-mapping side may differ from a hypothesis by the partial pages around an unaligned break. */
const slack = (e: AccountingEvidence): number => 2 * evidencePageSize(e);

/** '+1024.0 MiB (±3.1 MiB; trials 1024.0, ...; 'ac' VMAs +1024.0 MiB)': one reading, in words. */
function reading(r: ChargeReading): string {
  const c = r.change;
  const ac = r.accountedDeltaBytes === null ? '' : `; 'ac' VMAs ${signed(r.accountedDeltaBytes)}`;
  return `${signed(c.changeBytes)} (±${mib(c.toleranceBytes)}; trials ${c.actionDeltasBytes.map((d) => mib(d).replace(' MiB', '')).join(', ')} MiB${ac})`;
}

const signed = (bytes: number): string => `${bytes > 0 ? '+' : ''}${mib(bytes)}`;

/** The old evidence keys of a reading, for the JSON contract. */
function readingEvidence(r: ChargeReading): Evidence {
  return {
    chargedBytes: r.change.changeBytes,
    trialChargedBytes: r.change.actionDeltasBytes,
    controlDeltasBytes: r.change.controlDeltasBytes,
    noiseBytes: r.change.noiseBytes,
    toleranceBytes: r.change.toleranceBytes,
    accountedDeltaBytes: r.accountedDeltaBytes,
    vmFlags: r.vmFlags,
  };
}

/**
 * The finding of a mapping written after its mmap (shmfs, the writable copies): the mmap's
 * reading, the write's change, `extra`, and the steps ending with `last` (keys in this order).
 */
function writtenEvidence(
  kind: string,
  w: { sizeBytes: number; mmap: ChargeReading; touchedBytes: number; write: ChargeReading },
  last: readonly [string, ChargeReading],
  extra: Evidence = {},
): Evidence {
  return {
    kind,
    noreserve: false,
    sizeBytes: w.sizeBytes,
    ...readingEvidence(w.mmap),
    touchedBytes: w.touchedBytes,
    touchChargedBytes: w.write.change.changeBytes,
    touchToleranceBytes: w.write.change.toleranceBytes,
    ...extra,
    steps: stepList([['mmap', w.mmap], ['write', w.write], last]),
  };
}

const kindOf = (e: AccountingEvidence, kind: MappingKind, noreserve: boolean): KindEvidence =>
  e.kinds.find((k) => k.kind === kind && k.noreserve === noreserve)!;

function kindVerdict(k: KindEvidence, mode: OvercommitMode, slackBytes: number): Verdict {
  const c = chargeOf(k.mmap, k.sizeBytes, flagsShowCharge(k.kind), slackBytes);
  return verdictOf(c, (m) => m.bytes > 0 === documentedCharge(k.kind, k.noreserve, mode));
}

function kindRule(kind: MappingKind, noreserve: boolean, claim: Claim): ClaimRule<AccountingEvidence> {
  return {
    claim,
    judge: (e) => kindVerdict(kindOf(e, kind, noreserve), e.mode, slack(e)),
    observe: (e, v) => {
      const k = kindOf(e, kind, noreserve);
      const basis = !noreserve
        ? '001 table'
        : e.mode === 2
          ? 'mode 2: 001 says MAP_NORESERVE is ignored, so the cost without it is expected'
          : `mode ${e.mode}: 004 says MAP_NORESERVE reserves nothing at mmap() time, so 0 is expected`;
      const flags = flagsShowCharge(kind)
        ? `VmFlags ${k.mmap.vmFlags.join(' ')} ('ac' ${k.mmap.vmFlags.includes('ac') ? 'present' : 'absent'}, 'nr' ${k.mmap.vmFlags.includes('nr') ? 'present' : 'absent'})`
        : `VmFlags ${k.mmap.vmFlags.join(' ')} (shared anonymous memory is charged by its shmem file, which VmFlags do not show)`;
      const outcome =
        v.holds === null
          ? 'undecided'
          : v.holds
            ? `as documented (${mib(k.documentedBytes)})`
            : `not as documented (${mib(k.documentedBytes)})`;
      return (
        `${kind}${noreserve ? ' with MAP_NORESERVE' : ''}, ${mib(k.sizeBytes)} mapped in mode ${e.mode}: Committed_AS changed by ${reading(flagsShowCharge(kind) ? k.mmap : { ...k.mmap, accountedDeltaBytes: null })} at mmap ` +
        `and by ${signed(k.munmap.change.changeBytes)} at munmap; ${flags}; ${outcome} (${basis})`
      );
    },
    evidence: (e) => {
      const k = kindOf(e, kind, noreserve);
      return {
        kind,
        noreserve,
        sizeBytes: k.sizeBytes,
        documentedBytes: k.documentedBytes,
        ...readingEvidence(k.mmap),
        unmapChargedBytes: k.munmap.change.changeBytes,
        unmapAccountedDeltaBytes: k.munmap.accountedDeltaBytes,
      };
    },
  };
}

/** The plain kinds' charges, each decided or not (for the two summary claims). */
function plainCharges(e: AccountingEvidence): { kind: MappingKind; charged: boolean | null; reason?: string }[] {
  return mappingKinds.map((kind) => {
    const k = kindOf(e, kind, false);
    const c = chargeOf(k.mmap, k.sizeBytes, flagsShowCharge(kind), slack(e));
    return c.match === null ? { kind, charged: null, reason: c.reason } : { kind, charged: c.match.bytes > 0 };
  });
}

/** Every kind must be as documented: one decided exception refutes; an undecided one leaves it open. */
function allAsDocumented(
  rows: { kind: MappingKind; charged: boolean | null; reason?: string }[],
  expected: (k: MappingKind) => boolean,
): Verdict {
  if (rows.some((r) => r.charged !== null && r.charged !== expected(r.kind))) return { holds: false };
  const open = rows.filter((r) => r.charged === null);
  if (open.length > 0) return { holds: null, reason: open.map((r) => `${r.kind}: ${r.reason}`).join('; ') };
  return { holds: true };
}

const NOT_COUNTED_KINDS: readonly MappingKind[] = ['file-private-ro', 'file-shared-rw', 'anon-private-ro'];

function summaryEvidence(e: AccountingEvidence): Evidence {
  const rows = plainCharges(e);
  return {
    kind: 'all',
    noreserve: false,
    sizeBytes: e.sizeBytes,
    chargedBytes: null,
    chargedBytesByKind: Object.fromEntries(mappingKinds.map((k) => [k, kindOf(e, k, false).mmap.change.changeBytes])),
    toleranceBytes: Math.max(...mappingKinds.map((k) => kindOf(e, k, false).mmap.change.toleranceBytes)),
    chargedKinds: rows.filter((r) => r.charged === true).map((r) => r.kind),
    unchargedKinds: rows.filter((r) => r.charged === false).map((r) => r.kind),
    undecidedKinds: rows.filter((r) => r.charged === null).map((r) => r.kind),
    vmFlags: Object.fromEntries(mappingKinds.map((k) => [k, kindOf(e, k, false).mmap.vmFlags])),
  };
}

const childProblem = (p: BrkEvidence | StackEvidence | ChildPartProblem): string | undefined => ('problem' in p ? p.problem : undefined);

const trialsText = (e: AccountingEvidence): string => `medians of ${e.trials} trials, ${e.reads} reads per point`;

const rules: ClaimRule<AccountingEvidence>[] = [
  ...mappingKinds.map((kind) => kindRule(kind, false, kindClaims.find((c) => c.id === `cost-${kind}`)!)),
  ...mappingKinds.flatMap((kind) => [
    kindRule(kind, true, noreserveClaims.find((c) => c.id === `noreserve-${kind}`)!),
    kindRule(kind, true, noreserveClaims.find((c) => c.id === `noreserve-ignored-${kind}`)!),
  ]),
  {
    claim: C.only,
    judge: (e) => allAsDocumented(plainCharges(e), documentedCharged),
    observe: (e) => {
      const rows = plainCharges(e);
      const list = (v: boolean | null) =>
        rows
          .filter((r) => r.charged === v)
          .map((r) => r.kind)
          .join(', ') || 'none';
      return (
        `charged their size (${mib(e.sizeBytes)}): ${list(true)}; not charged: ${list(false)}; undecided: ${list(null)} ` +
        `(documented as charged: ${mappingKinds.filter(documentedCharged).join(', ')})`
      );
    },
    evidence: summaryEvidence,
  },
  {
    claim: C.notCounted,
    judge: (e) =>
      allAsDocumented(
        plainCharges(e).filter((r) => NOT_COUNTED_KINDS.includes(r.kind)),
        () => false,
      ),
    observe: (e) =>
      NOT_COUNTED_KINDS.map((kind) => {
        const k = kindOf(e, kind, false);
        return `${kind}: ${reading(k.mmap)}, VmFlags ${k.mmap.vmFlags.join(' ')}`;
      }).join('; '),
    evidence: (e) => ({ ...summaryEvidence(e), kind: NOT_COUNTED_KINDS.join(',') }),
  },
  {
    claim: C.shmfs,
    // shmfs pages are charged as they are allocated: the write is what is judged (Committed_AS only).
    judge: (e) => judgeCharge(e.shmfs.write.change, null, charged(e.shmfs.touchedBytes), NOT_CHARGED, slack(e)),
    observe: (e, v) =>
      `memfd of ${mib(e.shmfs.sizeBytes)} mapped MAP_SHARED: Committed_AS changed by ${reading(e.shmfs.mmap)} at mmap; writing ${mib(e.shmfs.touchedBytes)} ` +
      `changed it by ${reading(e.shmfs.write)}; unmapping and truncating the file by ${reading(e.shmfs.release)} (${trialsText(e)}). ` +
      (v.holds === null
        ? 'Undecided.'
        : v.holds
          ? 'The written shmfs pages were charged to Committed_AS as they were allocated.'
          : 'The written shmfs pages were not charged to Committed_AS.'),
    evidence: (e) =>
      writtenEvidence('memfd-shared-rw', e.shmfs, ['munmap and truncate', e.shmfs.release], {
        releasedBytes: e.shmfs.release.change.changeBytes,
      }),
  },
  {
    claim: C.writableCopies,
    // The copies are accounted if the mapping was charged for them up front (at mmap), or as they are made.
    judge: (e) => {
      const w = e.writableCopies;
      const upFront = chargeOf(w.mmap, w.sizeBytes, true, slack(e));
      if (upFront.match === null) return { holds: null, reason: upFront.reason };
      if (upFront.match.bytes > 0) return upFront.reason === undefined ? { holds: true } : { holds: true, reason: upFront.reason };
      return judgeCharge(w.write.change, null, charged(w.touchedBytes), NOT_CHARGED, slack(e));
    },
    observe: (e, v) => {
      const w = e.writableCopies;
      return (
        `file-private-rw of ${mib(w.sizeBytes)}: Committed_AS changed by ${reading(w.mmap)} at mmap (VmFlags ${w.mmap.vmFlags.join(' ')}); ` +
        `writing ${mib(w.touchedBytes)} (pages copied privately) changed it by ${reading(w.write)} (${trialsText(e)}). ` +
        (v.holds === null
          ? 'Undecided.'
          : v.holds
            ? 'The copies are accounted: the whole mapping was charged at mmap.'
            : 'The copies were accounted neither at mmap nor as they were made.')
      );
    },
    evidence: (e) => writtenEvidence('file-private-rw', e.writableCopies, ['munmap', e.writableCopies.munmap]),
  },
  {
    claim: C.mprotect,
    // Making a never-written read-only private mapping writable is the change 001 says is accounted.
    judge: (e) =>
      judgeCharge(
        e.mprotect.steps.writable.change,
        e.mprotect.steps.writable.accountedDeltaBytes,
        charged(e.mprotect.sizeBytes),
        NOT_CHARGED,
        slack(e),
      ),
    observe: (e, v) => {
      const s = e.mprotect.steps;
      return (
        `anon-private-ro of ${mib(e.mprotect.sizeBytes)}: ` +
        mprotectSteps
          .slice(1)
          .map((n) => `${MPROTECT_LABEL[n]} ${reading(s[n])}${n === 'munmap' ? '' : ` [${s[n].vmFlags.join(' ')}]`}`)
          .join('; ') +
        ` (${trialsText(e)}). ${v.holds === null ? 'Undecided.' : v.holds ? 'Making it writable was charged.' : 'Making it writable was not charged.'}`
      );
    },
    evidence: (e) => ({
      kind: 'anon-private-ro',
      noreserve: false,
      sizeBytes: e.mprotect.sizeBytes,
      ...readingEvidence(e.mprotect.steps.writable),
      steps: stepList(mprotectSteps.map((n) => [MPROTECT_LABEL[n], e.mprotect.steps[n]] as const)),
    }),
  },
  {
    claim: C.mremap,
    judge: (e) => {
      const size = e.mremap.sizeBytes;
      const grow = judgeCharge(e.mremap.grow.change, e.mremap.grow.accountedDeltaBytes, charged(size), NOT_CHARGED, slack(e));
      const shrink = judgeCharge(
        e.mremap.shrink.change,
        e.mremap.shrink.accountedDeltaBytes,
        { label: 'given back', bytes: -1.5 * size },
        { label: 'kept', bytes: 0 },
        slack(e),
      );
      return both(grow, shrink);
    },
    observe: (e, v) =>
      `anon-private-rw of ${mib(e.mremap.sizeBytes)}: mremap to ${mib(2 * e.mremap.sizeBytes)} changed Committed_AS by ${reading(e.mremap.grow)} (documented +${mib(e.mremap.sizeBytes)}), ` +
      `mremap to ${mib(e.mremap.sizeBytes / 2)} by ${reading(e.mremap.shrink)} (documented -${mib(1.5 * e.mremap.sizeBytes)}); ${trialsText(e)}. ` +
      `${v.holds === null ? 'Undecided.' : v.holds ? 'Both size changes were accounted.' : 'A size change was not accounted.'}`,
    evidence: (e) => ({
      kind: 'anon-private-rw',
      noreserve: false,
      sizeBytes: e.mremap.sizeBytes,
      ...readingEvidence(e.mremap.grow),
      shrinkChargedBytes: e.mremap.shrink.change.changeBytes,
      shrinkAccountedDeltaBytes: e.mremap.shrink.accountedDeltaBytes,
      shrinkToleranceBytes: e.mremap.shrink.change.toleranceBytes,
      steps: stepList([
        [`grow to ${2 * e.mremap.sizeBytes}`, e.mremap.grow],
        [`shrink to ${e.mremap.sizeBytes / 2}`, e.mremap.shrink],
      ]),
    }),
  },
  {
    claim: C.brk,
    missing: (e) => childProblem(e.brk),
    judge: (e) => {
      const b = e.brk as BrkEvidence;
      const raise = judgeCharge(b.raise.change, b.raise.accountedDeltaBytes, charged(b.sizeBytes), NOT_CHARGED, slack(e));
      const lower = judgeCharge(
        b.lower.change,
        b.lower.accountedDeltaBytes,
        { label: 'given back', bytes: -b.sizeBytes },
        { label: 'kept', bytes: 0 },
        slack(e),
      );
      return both(raise, lower);
    },
    observe: (e, v) => {
      if ('problem' in e.brk) return `Not measured: ${e.brk.problem}`;
      const b = e.brk;
      return (
        `a child raised its break by ${mib(b.sizeBytes)}: Committed_AS changed by ${reading(b.raise)}; lowering it again: ${reading(b.lower)} ` +
        `(${trialsText(e)}, one child per trial); heap VmFlags ${b.raise.vmFlags.join(' ')}. ` +
        `${v.holds === null ? 'Undecided.' : v.holds ? 'brk was accounted both ways.' : 'brk was not accounted both ways.'}`
      );
    },
    evidence: (e): Evidence => {
      if ('problem' in e.brk)
        return {
          kind: 'brk',
          noreserve: false,
          sizeBytes: e.sizeBytes,
          chargedBytes: null,
          vmFlags: null,
          problem: e.brk.problem,
          steps: [],
        };
      const b = e.brk;
      return {
        kind: 'brk',
        noreserve: false,
        sizeBytes: b.sizeBytes,
        ...readingEvidence(b.raise),
        releasedBytes: b.lower.change.changeBytes,
        releasedAccountedDeltaBytes: b.lower.accountedDeltaBytes,
        steps: stepList([
          ['brk +size', b.raise],
          ['brk -size', b.lower],
        ]),
      };
    },
  },
  {
    claim: C.stack,
    missing: (e) => {
      const p = childProblem(e.stack);
      if (p !== undefined) return p;
      const s = e.stack as StackEvidence;
      return s.grownVma === null ? `the stack step used ${mib(s.usedBytes)} but no VMA of the child grew` : undefined;
    },
    // The claim: the growth is charged like an mremap growth, i.e. by what the VMA grew.
    judge: (e) => {
      const s = e.stack as StackEvidence;
      return judgeCharge(s.grow.change, s.grow.accountedDeltaBytes, charged(s.growthBytes), NOT_CHARGED, slack(e));
    },
    observe: (e, v) => {
      if ('problem' in e.stack) return `Not measured: ${e.stack.problem}`;
      const s = e.stack;
      const vma = s.grownVma;
      if (vma === null)
        return `a child's nested calls used ${mib(s.usedBytes)} of stack, and no VMA of the child grew (smaps before and after)`;
      return (
        `a child's nested calls used ${mib(s.usedBytes)} of stack: ${vma.created ? 'a new VMA' : 'its'} ${vma.pathname || 'anonymous VMA'} ${vma.created ? 'of' : 'grew by'} ${mib(s.growthBytes)} (smaps; VmFlags ${vma.vmFlags.join(' ')}) ` +
        `and Committed_AS by ${reading(s.grow)} (${trialsText(e)}, one child per trial). ` +
        (v.holds === null
          ? 'Undecided.'
          : v.holds
            ? 'The growth was charged as it happened, like an mremap growth: in mode 2 a stack can hit the commit limit while it grows.'
            : 'The growth was not charged.')
      );
    },
    evidence: (e): Evidence => {
      if ('problem' in e.stack)
        return { kind: 'stack', noreserve: false, sizeBytes: null, chargedBytes: null, vmFlags: null, problem: e.stack.problem, steps: [] };
      const s = e.stack;
      return {
        kind: 'stack',
        noreserve: false,
        sizeBytes: s.growthBytes,
        ...readingEvidence(s.grow),
        stackUsedBytes: s.usedBytes,
        grownVma: s.grownVma,
        steps: stepList([['stack growth', s.grow]]),
      };
    },
  },
  {
    claim: C.munmap,
    judge: (e) => {
      const k = kindOf(e, 'anon-private-rw', false);
      const mapped = chargeOf(k.mmap, k.sizeBytes, true, slack(e));
      if (mapped.match === null) return { holds: null, reason: mapped.reason };
      // Nothing charged, nothing to give back: the claim cannot be seen on this mapping.
      if (mapped.match.bytes === 0)
        return { holds: null, reason: `the ${mib(k.sizeBytes)} anon-private-rw mapping was not charged at mmap` };
      return judgeCharge(
        k.munmap.change,
        k.munmap.accountedDeltaBytes,
        { label: 'given back', bytes: -k.sizeBytes },
        { label: 'kept', bytes: 0 },
        slack(e),
      );
    },
    observe: (e, v) => {
      const k = kindOf(e, 'anon-private-rw', false);
      return (
        `anon-private-rw of ${mib(k.sizeBytes)}: mmap changed Committed_AS by ${reading(k.mmap)}, munmap by ${reading(k.munmap)} (${trialsText(e)}). ` +
        `${v.holds === null ? 'Undecided.' : v.holds ? 'munmap gave the charge back.' : 'munmap kept the charge.'}`
      );
    },
    evidence: (e) => {
      const k = kindOf(e, 'anon-private-rw', false);
      return {
        kind: 'anon-private-rw',
        noreserve: false,
        sizeBytes: k.sizeBytes,
        documentedBytes: k.documentedBytes,
        ...readingEvidence(k.mmap),
        unmapChargedBytes: k.munmap.change.changeBytes,
        releasedBytes: k.munmap.change.changeBytes,
        releasedAccountedDeltaBytes: k.munmap.accountedDeltaBytes,
      };
    },
  },
];

export const accountingRules = defineRules<AccountingEvidence>({
  id: 'accounting',
  title: 'What each kind of mapping, mprotect, mremap, brk, stack growth, munmap and shmfs cost in Committed_AS',
  requires: {},
  // The mode-2 scaling, and a page size assumed for an old run, are caveats on every verdict.
  rules: withCaveat(
    withCaveat(rules, (e) => e.sizeNote),
    pageSizeNote,
  ),
});
