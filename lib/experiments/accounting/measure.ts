import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MEMINFO_PATH, readMeminfo } from '../../kernel/meminfo.js';
import { accountedBytesIn, findVma, largestGrowth, parseSmaps, readVmas, smapsPath, type Vma } from '../../kernel/smaps.js';
import { runNamedChild } from '../../measure/child.js';
import { committedFromReads, measureCommittedSteps } from '../../measure/committed.js';
import type { ChildStep } from '../../native/child.js';
import { isSystemCallError } from '../../native/errors.js';
import { type Mapping, type MmapOptions, memfdCreate, mmap, pageSize } from '../../native/mapping.js';
import { GiB, MiB, mib } from '../../units.js';
import { changeFromDeltas } from '../../verdict/tolerance.js';
import type { OvercommitMode } from '../model.js';
import {
  type AccountingEvidence,
  type BrkEvidence,
  type ChargeReading,
  type ChildPartProblem,
  documentedCharge,
  type KindEvidence,
  type MappingKind,
  type MprotectEvidence,
  type MprotectStep,
  type MremapEvidence,
  mappingKinds,
  mprotectSteps,
  type ShmfsEvidence,
  type StackEvidence,
  shapeOf,
  type WritableCopiesEvidence,
} from './evidence.js';

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
    pageSize,
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
