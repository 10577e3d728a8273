/**
 * accounting: what each kind of mapping costs in Committed_AS, with and without MAP_NORESERVE,
 * set beside the "How It Works" table of 001 (and 003, 004 Q5); then shmfs (memfd), mprotect,
 * mremap, brk, stack growth and munmap, from 001's "Additional accounting", "Status" and
 * "Gotchas".
 *
 * Every action is measured from two sides. Committed_AS is machine-wide, so each sequence of
 * actions runs in interleaved trials with controls (lib/measure/committed.ts) and a change is
 * judged only when it stands clear of the noise measured in this run. The mapping's own smaps
 * is exact: the bytes of its range in VMAs marked 'ac' (VM_ACCOUNT, charged to the commit). Where
 * the kernel charges through VM_ACCOUNT (private mappings, brk, the stack, mremap, mprotect),
 * that per-mapping fact decides and Committed_AS confirms it; where it does not (shared anonymous
 * and shmfs memory, charged by their shmem file), Committed_AS alone decides, or nothing does.
 *
 * The mappings are large (1 GiB; less in mode 2) and untouched, so they cost no memory, and a
 * charge stands far above what other processes move the counter by. Nothing here overlaps: every
 * step reads Committed_AS, which any other work of this process (or a second child) would move.
 */
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MEMINFO_PATH, readMeminfo } from '../kernel/meminfo.js';
import { accountedBytesIn, findVma, largestGrowth, parseSmaps, readVmas, smapsPath, type Vma } from '../kernel/smaps.js';
import { runNamedChild } from '../measure/child.js';
import { committedFromReads, measureCommittedSteps } from '../measure/committed.js';
import type { ChildStep } from '../native/child.js';
import { isSystemCallError } from '../native/errors.js';
import { type Mapping, type MmapOptions, memfdCreate, mmap, pageSize } from '../native/mapping.js';
import { GiB, MiB, mib } from '../units.js';
import { type ChangeHypothesis, classifyCharge, judgeCharge } from '../verdict/decide.js';
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

export const mappingKinds = [
  'file-private-rw',
  'file-shared-rw',
  'file-private-ro',
  'anon-shared-rw',
  'anon-shared-ro',
  'anon-private-ro',
  'anon-private-rw',
] as const;

export type MappingKind = (typeof mappingKinds)[number];

interface KindShape {
  file: boolean;
  shared: boolean;
  writable: boolean;
}

function shapeOf(kind: MappingKind): KindShape {
  const [backing, sharing, prot] = kind.split('-');
  return { file: backing === 'file', shared: sharing === 'shared', writable: prot === 'rw' };
}

/** 001's table: private writable mappings (file or anonymous) and shared anonymous ones cost their size; the rest 0. */
function documentedCharged(kind: MappingKind): boolean {
  const s = shapeOf(kind);
  return (!s.shared && s.writable) || (!s.file && s.shared);
}

/** What the documents say a kind costs: 001's table; with MAP_NORESERVE nothing in modes 0 and 1 (004), ignored in mode 2 (001). */
function documentedCharge(kind: MappingKind, noreserve: boolean, mode: OvercommitMode): boolean {
  return documentedCharged(kind) && !(noreserve && mode !== 2);
}

/**
 * Shared anonymous memory is charged by the shmem file behind it, not through VM_ACCOUNT: its
 * VmFlags never show the charge, so only Committed_AS can.
 */
const flagsShowCharge = (kind: MappingKind): boolean => shapeOf(kind).file || !shapeOf(kind).shared;

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

/** Size of each mapping: a charge this large stands out of a load that churns Committed_AS by a few hundred MiB. */
const SIZE_BYTES = GiB;
/** Mode 2 charges everything against CommitLimit: each mapping is at most this fraction of the headroom. */
const MODE2_HEADROOM_FRACTION = 8;
/** Trials of each sequence, and Committed_AS reads per point (their median). */
const TRIALS = 5;
const READS = 3;
/** Bytes written into the memfd: shmfs is charged page by page as it is written, so this is the effect judged. */
const SHMFS_TOUCH_BYTES = 64 * MiB;
/**
 * Bytes written into the private file mapping (the copies made). The verdict rests on the charge
 * at mmap; what the writes add decides only when there was none, so a few MiB are enough.
 */
const COPIES_TOUCH_BYTES = 8 * MiB;
/** How far a child grows its stack: a C call chain this deep needs RLIMIT_STACK raised above the usual 8 MiB. */
const STACK_GROWTH_BYTES = 8 * MiB;
/** Room for a child's /proc/self/smaps (Node's is well under 1 MiB). */
const CHILD_SMAPS_MAX_BYTES = 4 * MiB;
/** The per-mapping side may differ from a hypothesis by the partial pages around an unaligned break. */
const ACCOUNTED_SLACK_BYTES = 2 * pageSize;

/** One action, from both sides. */
export interface ChargeReading {
  /** Committed_AS over the trials (action and control deltas, change, noise, tolerance). */
  change: CommittedChange;
  /**
   * What the action changed in the bytes of its range in VMAs marked 'ac' (exact, from smaps,
   * read once, outside the Committed_AS readings); null when the kernel shows no VmFlags.
   */
  accountedDeltaBytes: number | null;
  /** The VmFlags of the mapping after the action ([] once unmapped). */
  vmFlags: string[];
}

export interface KindEvidence {
  kind: MappingKind;
  noreserve: boolean;
  sizeBytes: number;
  /** What the documents predict for this kind, flag and mode. */
  documentedBytes: number;
  mmap: ChargeReading;
  munmap: ChargeReading;
}

export interface ShmfsEvidence {
  sizeBytes: number;
  touchedBytes: number;
  mmap: ChargeReading;
  write: ChargeReading;
  /** munmap and ftruncate to 0: the written pages freed. */
  release: ChargeReading;
}

export interface WritableCopiesEvidence {
  sizeBytes: number;
  touchedBytes: number;
  mmap: ChargeReading;
  write: ChargeReading;
  munmap: ChargeReading;
}

export const mprotectSteps = ['mmap', 'writable', 'readOnly', 'writableAgain', 'pageWritten', 'readOnlyAfterWrite', 'munmap'] as const;
export type MprotectStep = (typeof mprotectSteps)[number];
const MPROTECT_LABEL: Record<MprotectStep, string> = {
  mmap: 'mmap (read-only)',
  writable: 'rw (never written)',
  readOnly: 'r (never written)',
  writableAgain: 'rw again',
  pageWritten: 'one page written',
  readOnlyAfterWrite: 'r (after a write)',
  munmap: 'munmap',
};

export interface MprotectEvidence {
  sizeBytes: number;
  steps: Record<MprotectStep, ChargeReading>;
}

export interface MremapEvidence {
  sizeBytes: number;
  /** To twice the size, then to half of it. */
  grow: ChargeReading;
  shrink: ChargeReading;
}

/** Measured in forked children (one per trial), which read /proc/meminfo and their smaps around each step. */
export interface ChildPartProblem {
  problem: string;
}

export interface BrkEvidence {
  sizeBytes: number;
  raise: ChargeReading;
  lower: ChargeReading;
}

export interface StackEvidence {
  /** What the stack step reports it used (its stackBytes). */
  usedBytes: number;
  /** The VMA the step grew most (smaps before and after it), as after the step; null if none grew. */
  grownVma: { start: string; end: string; pathname: string; vmFlags: string[]; created: boolean } | null;
  growthBytes: number;
  grow: ChargeReading;
}

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

export interface AccountingEvidence extends Measured {
  mode: OvercommitMode;
  sizeBytes: number;
  /** Why the size is smaller than SIZE_BYTES (mode 2), or null. */
  sizeNote: string | null;
  trials: number;
  reads: number;
  kinds: KindEvidence[];
  shmfs: ShmfsEvidence;
  writableCopies: WritableCopiesEvidence;
  mprotect: MprotectEvidence;
  mremap: MremapEvidence;
  brk: BrkEvidence | ChildPartProblem;
  stack: StackEvidence | ChildPartProblem;
  /** Milliseconds each part took, and the CPU time this process spent on it (children not included). */
  spentMs: Record<string, number>;
  cpuMs: Record<string, number>;
}

/* ------------------------------------------------------------------------------------------ */
/* measure                                                                                     */

interface Range {
  address: bigint;
  length: number;
}

const rangeOf = (m: Mapping): Range => ({ address: m.address, length: m.length });

/** The per-mapping side after a step: accounted bytes of the range, and the VmFlags at its start. */
interface Spot {
  accounted: number | null;
  vmFlags: string[];
}

function spotIn(vmas: readonly Vma[], r: Range): Spot {
  return {
    accounted: accountedBytesIn(vmas, r.address, r.address + BigInt(r.length)),
    vmFlags: findVma(vmas, r.address)?.vmFlags ?? [],
  };
}

const accountedDelta = (after: Spot, before: Spot | null): number | null =>
  after.accounted === null || (before !== null && before.accounted === null) ? null : after.accounted - (before?.accounted ?? 0);

/** A step the smaps of this process is not read after (a read costs ~10 ms: only where a rule uses it). */
const UNWATCHED: Spot = { accounted: null, vmFlags: [] };

/**
 * Runs a sequence of actions on one mapping in interleaved trials (measureCommittedSteps); in the
 * last trial, after each step in `watched` and outside its readings, reads this process's smaps
 * for the range the step returns (the mapping as it is then). The first step starts from nothing
 * mapped; a step after an unwatched one has no per-mapping side.
 */
function chargeSteps<N extends string>(
  names: readonly N[],
  sequence: (step: (name: N, action: () => Range) => void) => void,
  watched: readonly N[] = names,
): Record<N, ChargeReading> {
  const spots = new Map<N, Spot>();
  const changes = measureCommittedSteps(
    names,
    (measure, trial) => {
      sequence((name, action) => {
        let range: Range | undefined;
        measure(name, () => {
          range = action();
        });
        if (trial === TRIALS - 1 && watched.includes(name)) spots.set(name, spotIn(readVmas(), range!));
      });
    },
    { trials: TRIALS, reads: READS },
  );
  let before: Spot | null = null;
  const out = {} as Record<N, ChargeReading>;
  for (const name of names) {
    const spot = spots.get(name) ?? UNWATCHED;
    out[name] = { change: changes[name], accountedDeltaBytes: accountedDelta(spot, before), vmFlags: spot.vmFlags };
    before = spot;
  }
  return out;
}

/** Unmaps `m` (again: a no-op) and returns the range it had, so the step's spot shows it unmapped. */
function unmapped(m: Mapping, r: Range): Range {
  m.unmap();
  return r;
}

/**
 * Writes the first `length` bytes of `m`: with MADV_POPULATE_WRITE, a tenth of the time of a write
 * per page where faults are dear (a VM), else (before Linux 5.14: EINVAL) page by page.
 */
function populate(m: Mapping, length: number): void {
  try {
    m.advise('populate-write', { length });
  } catch (e) {
    if (!isSystemCallError(e) || e.code !== 'EINVAL') throw e;
    m.touch({ length });
  }
}

/** A sparse temporary file of `size` bytes (ftruncate: no blocks), removed by the returned function. */
function sparseFile(size: number): { fd: number; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'overcommit-lab-accounting-'));
  const remove = (): void => rmSync(dir, { recursive: true, force: true });
  let fd: number;
  try {
    fd = openSync(join(dir, 'sparse'), 'w+');
  } catch (e) {
    remove();
    throw e;
  }
  try {
    ftruncateSync(fd, size);
  } catch (e) {
    closeSync(fd);
    remove();
    throw e;
  }
  return {
    fd,
    remove() {
      closeSync(fd);
      remove();
    },
  };
}

function measureKind(kind: MappingKind, noreserve: boolean, size: number, fd: number, mode: OvercommitMode): KindEvidence {
  const s = shapeOf(kind);
  const options: MmapOptions = { prot: s.writable ? 'rw' : 'r', shared: s.shared, noreserve, ...(s.file ? { fd } : {}) };
  const r = chargeSteps(
    ['mmap', 'munmap'] as const,
    (step) => {
      let m: Mapping | undefined;
      try {
        step('mmap', () => {
          m = mmap(size, options);
          return rangeOf(m);
        });
        const range = rangeOf(m!);
        step('munmap', () => unmapped(m!, range));
      } finally {
        m?.unmap();
      }
      // The munmap claim reads the per-mapping side of one kind's munmap only.
    },
    kind === 'anon-private-rw' && !noreserve ? ['mmap', 'munmap'] : ['mmap'],
  );
  return {
    kind,
    noreserve,
    sizeBytes: size,
    documentedBytes: documentedCharge(kind, noreserve, mode) ? size : 0,
    mmap: r.mmap,
    munmap: r.munmap,
  };
}

/** memfd (shmfs) mapped shared: the cost at mmap, after `touch` bytes are written, and when they are freed. */
function measureShmfs(size: number, touch: number): ShmfsEvidence {
  const r = chargeSteps(
    ['mmap', 'write', 'release'] as const,
    (step) => {
      const fd = memfdCreate('overcommit-lab-accounting');
      let m: Mapping | undefined;
      try {
        ftruncateSync(fd, size);
        step('mmap', () => {
          m = mmap(size, { shared: true, fd });
          return rangeOf(m);
        });
        const range = rangeOf(m!);
        step('write', () => {
          populate(m!, touch);
          return range;
        });
        step('release', () => {
          m!.unmap();
          ftruncateSync(fd, 0);
          return range;
        });
      } finally {
        m?.unmap();
        closeSync(fd);
      }
      // shmfs is charged through its file, which VmFlags do not show: no smaps read.
    },
    [],
  );
  return { sizeBytes: size, touchedBytes: touch, mmap: r.mmap, write: r.write, release: r.release };
}

/** A private writable file mapping: its charge at mmap, and what writing pages (private copies) adds. */
function measureWritableCopies(size: number, touch: number, fd: number): WritableCopiesEvidence {
  const r = chargeSteps(
    ['mmap', 'write', 'munmap'] as const,
    (step) => {
      let m: Mapping | undefined;
      try {
        step('mmap', () => {
          m = mmap(size, { fd });
          return rangeOf(m);
        });
        const range = rangeOf(m!);
        step('write', () => {
          populate(m!, touch);
          return range;
        });
        step('munmap', () => unmapped(m!, range));
      } finally {
        m?.unmap();
      }
    },
    ['mmap'],
  );
  return { sizeBytes: size, touchedBytes: touch, mmap: r.mmap, write: r.write, munmap: r.munmap };
}

/**
 * mprotect on a private anonymous mapping, read-only -> writable -> read-only before any page is
 * written, then writable, a page written, and read-only again.
 */
function measureMprotect(size: number): MprotectEvidence {
  const steps = chargeSteps(
    mprotectSteps,
    (step) => {
      let m: Mapping | undefined;
      try {
        step('mmap', () => {
          m = mmap(size, { prot: 'r' });
          return rangeOf(m);
        });
        const range = rangeOf(m!);
        const act = (name: MprotectStep, action: () => void) =>
          step(name, () => {
            action();
            return range;
          });
        act('writable', () => m!.protect('rw'));
        act('readOnly', () => m!.protect('r'));
        act('writableAgain', () => m!.protect('rw'));
        act('pageWritten', () => m!.touch({ length: pageSize }));
        act('readOnlyAfterWrite', () => m!.protect('r'));
        step('munmap', () => unmapped(m!, range));
      } finally {
        m?.unmap();
      }
    },
    mprotectSteps.slice(0, -1),
  );
  return { sizeBytes: size, steps };
}

/** mremap of a private writable anonymous mapping: grown to twice its size, then shrunk to half. */
function measureMremap(size: number): MremapEvidence {
  const r = chargeSteps(
    ['mmap', 'grow', 'shrink', 'munmap'] as const,
    (step) => {
      let m: Mapping | undefined;
      try {
        step('mmap', () => {
          m = mmap(size);
          return rangeOf(m);
        });
        step('grow', () => {
          m!.remap(2 * size);
          return rangeOf(m!);
        });
        step('shrink', () => {
          m!.remap(size / 2);
          return rangeOf(m!);
        });
        const range = rangeOf(m!);
        step('munmap', () => unmapped(m!, range));
      } finally {
        m?.unmap();
      }
    },
    ['mmap', 'grow', 'shrink'],
  );
  return { sizeBytes: size, grow: r.grow, shrink: r.shrink };
}

/** Committed_AS read points in a child: each is READS readfile steps named `${point}.${i}`. */
function readPoint(point: string): [string, { op: 'readfile'; path: string }][] {
  return Array.from({ length: READS }, (_, i) => [`${point}.${i}`, { op: 'readfile', path: MEMINFO_PATH }]);
}

/**
 * One child: its break raised by `size` and lowered again, then its stack grown, with Committed_AS
 * read around each move. With `smaps`, it also reads its smaps after each move (the exact side);
 * one child does, since every child moves its break and stack the same way.
 */
async function childTrial(size: number, smaps: boolean) {
  const smapsStep = (name: string): [string, ChildStep][] =>
    smaps ? [[name, { op: 'readfile', path: smapsPath('self'), maxBytes: CHILD_SMAPS_MAX_BYTES }]] : [];
  const run = await runNamedChild<string>(
    [
      ['rlimit', { op: 'setrlimit', resource: 'stack', soft: 2 * STACK_GROWTH_BYTES }],
      ...readPoint('raise-before'),
      ['raise', { op: 'sbrk', increment: size }],
      ...readPoint('raise-after'),
      ...smapsStep('smaps-raised'),
      ['lower', { op: 'sbrk', increment: -size }],
      ...readPoint('lower-after'),
      // Nothing between these two points: the control of this trial.
      ...readPoint('control-after'),
      ...smapsStep('smaps-lowered'),
      ...readPoint('stack-before'),
      ['stack', { op: 'stack', bytes: STACK_GROWTH_BYTES }],
      ...readPoint('stack-after'),
      ...smapsStep('smaps-stack'),
    ],
    { timeoutMs: 30_000 },
  );
  const ok = (...names: string[]) => names.every((n) => run.step(n).status === 'ok' && run.step(n).truncated !== true);
  const pointNames = (p: string) => Array.from({ length: READS }, (_, i) => `${p}.${i}`);
  const at = (point: string) => committedFromReads(pointNames(point).map((n) => run.step(n).data ?? ''));
  const points = (...ps: string[]) => ps.every((p) => ok(...pointNames(p)));
  const describe = run.problem ?? `steps: ${run.result.steps.map((s) => `${s.op} ${s.code ?? s.status}`).join(', ')}`;
  const vmas = (name: string) => (smaps ? parseSmaps(run.step(name).data ?? '') : []);
  const control = points('lower-after', 'control-after') ? at('control-after') - at('lower-after') : null;

  let brk: { raise: number; lower: number; raised: Spot; lowered: Spot } | string;
  if (!ok('raise', 'lower') || (smaps && !ok('smaps-raised', 'smaps-lowered')) || !points('raise-before', 'raise-after', 'lower-after')) {
    brk = `a child could not move its break by ${mib(size)} and back (${describe})`;
  } else {
    const heap: Range = { address: run.step('raise').previousBreak!, length: size };
    brk = {
      raise: at('raise-after') - at('raise-before'),
      lower: at('lower-after') - at('raise-after'),
      raised: smaps ? spotIn(vmas('smaps-raised'), heap) : UNWATCHED,
      lowered: smaps ? spotIn(vmas('smaps-lowered'), heap) : UNWATCHED,
    };
  }

  let stack: { grow: number; usedBytes: number; before: Vma[]; after: Vma[] } | string;
  if (!ok('stack') || (smaps && !ok('smaps-lowered', 'smaps-stack')) || !points('stack-before', 'stack-after')) {
    stack = `a child could not grow its stack by ${mib(STACK_GROWTH_BYTES)} (${describe})`;
  } else {
    stack = {
      grow: at('stack-after') - at('stack-before'),
      usedBytes: run.step('stack').stackBytes ?? 0,
      before: vmas('smaps-lowered'),
      after: vmas('smaps-stack'),
    };
  }
  return { control, brk, stack };
}

/** brk and stack growth, one child per trial; the controls are the children's readings with nothing between. */
async function measureInChildren(size: number): Promise<{ brk: BrkEvidence | ChildPartProblem; stack: StackEvidence | ChildPartProblem }> {
  const controls: number[] = [];
  const brks: Exclude<Awaited<ReturnType<typeof childTrial>>['brk'], string>[] = [];
  const stacks: Exclude<Awaited<ReturnType<typeof childTrial>>['stack'], string>[] = [];
  let brkProblem: string | undefined;
  let stackProblem: string | undefined;
  // One child after another: each reads the machine-wide counter, which another would move.
  for (let i = 0; i < TRIALS; i++) {
    const t = await childTrial(size, i === TRIALS - 1);
    if (t.control !== null) controls.push(t.control);
    if (typeof t.brk === 'string') brkProblem ??= t.brk;
    else brks.push(t.brk);
    if (typeof t.stack === 'string') stackProblem ??= t.stack;
    else stacks.push(t.stack);
  }
  let brk: BrkEvidence | ChildPartProblem;
  if (brkProblem !== undefined) brk = { problem: brkProblem };
  else {
    // The exact side from the last child (every child's break moves the same way).
    const last = brks[brks.length - 1]!;
    brk = {
      sizeBytes: size,
      raise: {
        change: changeFromDeltas(
          brks.map((b) => b.raise),
          controls,
        ),
        accountedDeltaBytes: accountedDelta(last.raised, last.lowered),
        vmFlags: last.raised.vmFlags,
      },
      lower: {
        change: changeFromDeltas(
          brks.map((b) => b.lower),
          controls,
        ),
        accountedDeltaBytes: accountedDelta(last.lowered, last.raised),
        vmFlags: last.lowered.vmFlags,
      },
    };
  }
  let stack: StackEvidence | ChildPartProblem;
  if (stackProblem !== undefined) stack = { problem: stackProblem };
  else {
    const last = stacks[stacks.length - 1]!;
    // Whichever VMA the step grew (the process's [stack], or one the child set up for it).
    const g = largestGrowth(last.before, last.after);
    const range: Range | null = g === undefined ? null : { address: g.vma.start, length: Number(g.vma.end - g.vma.start) };
    stack = {
      usedBytes: last.usedBytes,
      grownVma:
        g === undefined
          ? null
          : {
              start: `0x${g.vma.start.toString(16)}`,
              end: `0x${g.vma.end.toString(16)}`,
              pathname: g.vma.pathname,
              vmFlags: g.vma.vmFlags,
              created: g.created,
            },
      growthBytes: g?.growthBytes ?? 0,
      grow: {
        change: changeFromDeltas(
          stacks.map((s) => s.grow),
          controls,
        ),
        accountedDeltaBytes: range === null ? null : accountedDelta(spotIn(last.after, range), spotIn(last.before, range)),
        vmFlags: g?.vma.vmFlags ?? [],
      },
    };
  }
  return { brk, stack };
}

/** Mode 2 charges everything against CommitLimit: keep each mapping (and mremap's doubling) well inside the headroom. */
function sizeFor(requested: number, mode: OvercommitMode): { size: number; note: string | null } {
  if (mode !== 2) return { size: requested, note: null };
  const m = readMeminfo();
  const headroom = m.commitLimit - m.committedAs;
  const cap = Math.floor(headroom / MODE2_HEADROOM_FRACTION / MiB) * MiB;
  if (requested <= cap) return { size: requested, note: null };
  if (cap < 8 * MiB) throw new Error(`mode 2 headroom (CommitLimit - Committed_AS = ${mib(headroom)}) is too small to map anything safely`);
  return {
    size: cap,
    note: `scaled down from ${mib(requested)} to ${mib(cap)}: one ${MODE2_HEADROOM_FRACTION}th of the mode-2 headroom (CommitLimit - Committed_AS = ${mib(headroom)})`,
  };
}

export async function measureAccounting(ctx: { mode: OvercommitMode; progress(message: string): void }): Promise<AccountingEvidence> {
  const { size, note } = sizeFor(SIZE_BYTES, ctx.mode);
  if (note !== null) ctx.progress(note);
  const spentMs: Record<string, number> = {};
  const cpuMs: Record<string, number> = {};
  const timed = async <T>(part: string, f: () => T | Promise<T>): Promise<T> => {
    const [t0, c0] = [performance.now(), process.cpuUsage()];
    try {
      return await f();
    } finally {
      const c = process.cpuUsage(c0);
      spentMs[part] = Math.round(performance.now() - t0);
      cpuMs[part] = Math.round((c.user + c.system) / 1000);
    }
  };
  const file = sparseFile(size);
  let kinds: KindEvidence[];
  let writableCopies: WritableCopiesEvidence;
  try {
    ctx.progress('accounting: each kind of mapping');
    kinds = await timed('kinds', () =>
      [false, true].flatMap((noreserve) => mappingKinds.map((kind) => measureKind(kind, noreserve, size, file.fd, ctx.mode))),
    );
    writableCopies = await timed('writableCopies', () => measureWritableCopies(size, COPIES_TOUCH_BYTES, file.fd));
  } finally {
    file.remove();
  }
  ctx.progress('accounting: shmfs, mprotect, mremap');
  const shmfs = await timed('shmfs', () => measureShmfs(size, SHMFS_TOUCH_BYTES));
  const mprotect = await timed('mprotect', () => measureMprotect(size));
  const mremap = await timed('mremap', () => measureMremap(size));
  ctx.progress('accounting: brk and stack growth in children');
  const { brk, stack } = await timed('children', () => measureInChildren(size));
  return {
    mode: ctx.mode,
    sizeBytes: size,
    sizeNote: note,
    trials: TRIALS,
    reads: READS,
    kinds,
    shmfs,
    writableCopies,
    mprotect,
    mremap,
    brk,
    stack,
    spentMs,
    cpuMs,
  };
}

/* ------------------------------------------------------------------------------------------ */
/* rules                                                                                       */

const charged = (bytes: number): ChangeHypothesis => ({ label: 'charged', bytes });
const NOT_CHARGED: ChangeHypothesis = { label: 'not charged', bytes: 0 };

/** The reading judged against "charged `bytes`" and "not charged", from both sides where the flags show the charge. */
function chargeOf(r: ChargeReading, bytes: number, flagsSpeak: boolean) {
  return classifyCharge(r.change, flagsSpeak ? r.accountedDeltaBytes : null, [charged(bytes), NOT_CHARGED], ACCOUNTED_SLACK_BYTES);
}

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

const kindOf = (e: AccountingEvidence, kind: MappingKind, noreserve: boolean): KindEvidence =>
  e.kinds.find((k) => k.kind === kind && k.noreserve === noreserve)!;

function kindVerdict(k: KindEvidence, mode: OvercommitMode): Verdict {
  const c = chargeOf(k.mmap, k.sizeBytes, flagsShowCharge(k.kind));
  if (c.match === null) return { holds: null, reason: c.reason! };
  const holds = c.match.bytes > 0 === documentedCharge(k.kind, k.noreserve, mode);
  return c.reason === undefined ? { holds } : { holds, reason: c.reason };
}

function kindRule(kind: MappingKind, noreserve: boolean, claim: Claim): ClaimRule<AccountingEvidence> {
  return {
    claim,
    judge: (e) => kindVerdict(kindOf(e, kind, noreserve), e.mode),
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
    const c = chargeOf(k.mmap, k.sizeBytes, flagsShowCharge(kind));
    return c.match === null ? { kind, charged: null, reason: c.reason! } : { kind, charged: c.match.bytes > 0 };
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
    judge: (e) => judgeCharge(e.shmfs.write.change, null, charged(e.shmfs.touchedBytes), NOT_CHARGED, ACCOUNTED_SLACK_BYTES),
    observe: (e, v) =>
      `memfd of ${mib(e.shmfs.sizeBytes)} mapped MAP_SHARED: Committed_AS changed by ${reading(e.shmfs.mmap)} at mmap; writing ${mib(e.shmfs.touchedBytes)} ` +
      `changed it by ${reading(e.shmfs.write)}; unmapping and truncating the file by ${reading(e.shmfs.release)} (${trialsText(e)}). ` +
      (v.holds === null
        ? 'Undecided.'
        : v.holds
          ? 'The written shmfs pages were charged to Committed_AS as they were allocated.'
          : 'The written shmfs pages were not charged to Committed_AS.'),
    evidence: (e) => ({
      kind: 'memfd-shared-rw',
      noreserve: false,
      sizeBytes: e.shmfs.sizeBytes,
      ...readingEvidence(e.shmfs.mmap),
      touchedBytes: e.shmfs.touchedBytes,
      touchChargedBytes: e.shmfs.write.change.changeBytes,
      touchToleranceBytes: e.shmfs.write.change.toleranceBytes,
      releasedBytes: e.shmfs.release.change.changeBytes,
      steps: stepList([
        ['mmap', e.shmfs.mmap],
        ['write', e.shmfs.write],
        ['munmap and truncate', e.shmfs.release],
      ]),
    }),
  },
  {
    claim: C.writableCopies,
    // The copies are accounted if the mapping was charged for them up front (at mmap), or as they are made.
    judge: (e) => {
      const w = e.writableCopies;
      const upFront = chargeOf(w.mmap, w.sizeBytes, true);
      if (upFront.match === null) return { holds: null, reason: upFront.reason! };
      if (upFront.match.bytes > 0) return upFront.reason === undefined ? { holds: true } : { holds: true, reason: upFront.reason };
      return judgeCharge(w.write.change, null, charged(w.touchedBytes), NOT_CHARGED, ACCOUNTED_SLACK_BYTES);
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
    evidence: (e) => ({
      kind: 'file-private-rw',
      noreserve: false,
      sizeBytes: e.writableCopies.sizeBytes,
      ...readingEvidence(e.writableCopies.mmap),
      touchedBytes: e.writableCopies.touchedBytes,
      touchChargedBytes: e.writableCopies.write.change.changeBytes,
      touchToleranceBytes: e.writableCopies.write.change.toleranceBytes,
      steps: stepList([
        ['mmap', e.writableCopies.mmap],
        ['write', e.writableCopies.write],
        ['munmap', e.writableCopies.munmap],
      ]),
    }),
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
        ACCOUNTED_SLACK_BYTES,
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
      const grow = judgeCharge(e.mremap.grow.change, e.mremap.grow.accountedDeltaBytes, charged(size), NOT_CHARGED, ACCOUNTED_SLACK_BYTES);
      const shrink = judgeCharge(
        e.mremap.shrink.change,
        e.mremap.shrink.accountedDeltaBytes,
        { label: 'given back', bytes: -1.5 * size },
        { label: 'kept', bytes: 0 },
        ACCOUNTED_SLACK_BYTES,
      );
      return bothSteps(grow, shrink);
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
      const raise = judgeCharge(b.raise.change, b.raise.accountedDeltaBytes, charged(b.sizeBytes), NOT_CHARGED, ACCOUNTED_SLACK_BYTES);
      const lower = judgeCharge(
        b.lower.change,
        b.lower.accountedDeltaBytes,
        { label: 'given back', bytes: -b.sizeBytes },
        { label: 'kept', bytes: 0 },
        ACCOUNTED_SLACK_BYTES,
      );
      return bothSteps(raise, lower);
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
      return judgeCharge(s.grow.change, s.grow.accountedDeltaBytes, charged(s.growthBytes), NOT_CHARGED, ACCOUNTED_SLACK_BYTES);
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
      const mapped = chargeOf(k.mmap, k.sizeBytes, true);
      if (mapped.match === null) return { holds: null, reason: mapped.reason! };
      // Nothing charged, nothing to give back: the claim cannot be seen on this mapping.
      if (mapped.match.bytes === 0)
        return { holds: null, reason: `the ${mib(k.sizeBytes)} anon-private-rw mapping was not charged at mmap` };
      return judgeCharge(
        k.munmap.change,
        k.munmap.accountedDeltaBytes,
        { label: 'given back', bytes: -k.sizeBytes },
        { label: 'kept', bytes: 0 },
        ACCOUNTED_SLACK_BYTES,
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

/** Two steps that must both be as documented: one decided failure refutes; otherwise any undecided leaves it open. */
function bothSteps(a: Verdict, b: Verdict): Verdict {
  if (a.holds === false || b.holds === false) return { holds: false };
  if (a.holds === null || b.holds === null) return { holds: null, reason: [a.reason, b.reason].filter(Boolean).join('; ') };
  const reason = [a.reason, b.reason].filter(Boolean).join('; ');
  return reason === '' ? { holds: true } : { holds: true, reason };
}

export const accounting = defineExperiment<AccountingEvidence>({
  id: 'accounting',
  title: 'What each kind of mapping, mprotect, mremap, brk, stack growth, munmap and shmfs cost in Committed_AS',
  requires: {},
  measure: measureAccounting,
  // The mode-2 scaling is a caveat on every verdict.
  rules: withCaveat(rules, (e) => e.sizeNote),
});
