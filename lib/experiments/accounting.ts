/**
 * accounting: what each kind of mapping costs in Committed_AS, with and without MAP_NORESERVE,
 * set beside the "How It Works" table of 001 (and 003, 004 Q5); then shmfs (memfd), mprotect,
 * mremap, brk and munmap, from 001's "Additional accounting" and "Status" lists.
 *
 * Everything is mapped, not touched (a page, or a few MiB at most), so it runs in this process.
 * Committed_AS is system-wide: each measurement reads it several times before and after and
 * compares medians, over several trials; the per-mapping VmFlags ('ac' = VM_ACCOUNT, 'nr' =
 * VM_NORESERVE) are exact and are reported beside it.
 */
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMeminfo, readMeminfo, sampleCommitted } from '../kernel/meminfo.js';
import { findVma, parseSmaps } from '../kernel/smaps.js';
import { median } from '../measure/stats.js';
import { type ChildResult, runChild } from '../native/child.js';
import { type Mapping, type MmapOptions, memfdCreate, mmap, pageSize } from '../native/mapping.js';
import { MiB, mib } from '../units.js';
import { DOC_001, DOC_003, DOC_004 } from './documents.js';
import { legacyExperiment } from './legacy.js';
import { type Claim, type Evidence, type ExperimentContext, type Finding, finding, type OvercommitMode } from './model.js';

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

/** Size of each mapping (scaled down in mode 2 to stay well inside the headroom). */
const SIZE_BYTES = 512 * MiB;
/** Committed_AS reads before and after each action. */
const SAMPLES = 3;
/** Trials of each sequence of actions; each change reported is their median. */
const TRIALS = 5;
/** Bytes written into the memfd and the private file mapping. */
const TOUCH_BYTES = 16 * MiB;

/**
 * This process's own small allocations (V8, libuv) between two reads, which the spread of
 * back-to-back reads cannot see, are allowed on top of it.
 */
const NOISE_FLOOR_BYTES = 2 * MiB;

/** A change in Committed_AS around one action. */
export interface CommitDelta {
  /** median(after) - median(before). */
  deltaBytes: number;
  /** The larger spread of the two sets of reads. */
  spreadBytes: number;
}

/** One action of a trial: its Committed_AS change and the mapping's VmFlags after it. */
export interface StepDelta extends CommitDelta {
  step: string;
  vmFlags: string[];
}

/** One action over all trials. */
export interface StepSummary extends StepDelta {
  /** Each trial's change; deltaBytes is their median, spreadBytes the median of the trials' read spreads. */
  trialDeltaBytes: number[];
}

function measure<T>(samples: number, action: () => T): { result: T } & CommitDelta {
  const before = sampleCommitted(samples);
  const result = action();
  const after = sampleCommitted(samples);
  return { result, deltaBytes: after.median - before.median, spreadBytes: Math.max(before.spreadBytes, after.spreadBytes) };
}

/**
 * One trial: how many reads per point, and whether to read VmFlags (a full /proc/self/smaps
 * read, ~10 ms for Node: only the last trial reads them; they do not vary between trials).
 */
interface Trial {
  samples: number;
  flags: boolean;
}

function flagsOf(t: Trial, m: Mapping): string[] {
  return t.flags && m.mapped ? m.vmFlags() : [];
}

/** measure() for an action on `m`, with the VmFlags after it (none once unmapped). */
function step(t: Trial, m: Mapping, name: string, action: () => void): StepDelta {
  const d = measure(t.samples, action);
  return { step: name, deltaBytes: d.deltaBytes, spreadBytes: d.spreadBytes, vmFlags: flagsOf(t, m) };
}

/** Maps with measure(), as the first step of a trial. */
function mapStep(t: Trial, length: number, options: MmapOptions): { m: Mapping; first: StepDelta } {
  const d = measure(t.samples, () => mmap(length, options));
  return { m: d.result, first: { step: 'mmap', deltaBytes: d.deltaBytes, spreadBytes: d.spreadBytes, vmFlags: flagsOf(t, d.result) } };
}

/**
 * Per action over trials: the median change and the median read spread. Another process that
 * maps or unmaps during one trial moves that trial, not the median of all of them.
 */
function summarize(runs: readonly StepDelta[][]): StepSummary[] {
  return runs[0]!.map((first, i) => {
    const deltas = runs.map((r) => r[i]!.deltaBytes);
    return {
      step: first.step,
      deltaBytes: median(deltas),
      trialDeltaBytes: deltas,
      spreadBytes: median(runs.map((r) => r[i]!.spreadBytes)),
      vmFlags: runs[runs.length - 1]![i]!.vmFlags,
    };
  });
}

/** Runs the same sequence of actions `trials` times and summarizes it. */
function overTrials(samples: number, trials: number, once: (t: Trial) => StepDelta[]): StepSummary[] {
  return summarize(Array.from({ length: trials }, (_, i) => once({ samples, flags: i === trials - 1 })));
}

/** Tolerance: the largest (median-trial) spread of back-to-back reads over the steps, plus NOISE_FLOOR_BYTES. */
function tolerance(steps: readonly CommitDelta[]): number {
  return Math.max(0, ...steps.map((d) => d.spreadBytes)) + NOISE_FLOOR_BYTES;
}

const near = (value: number, expected: number, tol: number): boolean => Math.abs(value - expected) <= tol;

/** Noise too large to tell a charge of `size` from none. */
function tooNoisy(tol: number, size: number): string | undefined {
  return tol >= size / 4
    ? `Committed_AS moved by up to ${mib(tol)} between back-to-back reads (other processes), too much to judge a ${mib(size)} charge`
    : undefined;
}

function stepEvidence(steps: readonly StepSummary[]): Evidence['steps'] {
  return steps.map((s) => ({
    step: s.step,
    deltaBytes: s.deltaBytes,
    trialDeltaBytes: s.trialDeltaBytes,
    spreadBytes: s.spreadBytes,
    vmFlags: s.vmFlags,
  }));
}

export interface KindMeasurement {
  kind: MappingKind;
  noreserve: boolean;
  sizeBytes: number;
  /** What the documents predict for this kind, flag and mode. */
  documentedBytes: number;
  /** Median over trials of the Committed_AS change at mmap. */
  chargedBytes: number;
  trialChargedBytes: number[];
  /** Median over trials of the Committed_AS change at munmap. */
  unmapChargedBytes: number;
  toleranceBytes: number;
  vmFlags: string[];
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

function measureKind(
  kind: MappingKind,
  noreserve: boolean,
  size: number,
  fd: number,
  mode: OvercommitMode,
  samples: number,
  trials: number,
): KindMeasurement {
  const s = shapeOf(kind);
  const [mapped, unmapped] = overTrials(samples, trials, (t) => {
    const { m, first } = mapStep(t, size, { prot: s.writable ? 'rw' : 'r', shared: s.shared, noreserve, ...(s.file ? { fd } : {}) });
    try {
      return [first, step(t, m, 'munmap', () => m.unmap())];
    } finally {
      m.unmap();
    }
  }) as [StepSummary, StepSummary];
  // MAP_NORESERVE: no charge in modes 0 and 1 (004); ignored in mode 2 (001).
  const expectCharge = documentedCharged(kind) && !(noreserve && mode !== 2);
  return {
    kind,
    noreserve,
    sizeBytes: size,
    documentedBytes: expectCharge ? size : 0,
    chargedBytes: mapped.deltaBytes,
    trialChargedBytes: mapped.trialDeltaBytes,
    unmapChargedBytes: unmapped.deltaBytes,
    toleranceBytes: tolerance([mapped, unmapped]),
    vmFlags: mapped.vmFlags,
  };
}

function kindEvidence(k: KindMeasurement): Evidence {
  return {
    kind: k.kind,
    noreserve: k.noreserve,
    sizeBytes: k.sizeBytes,
    documentedBytes: k.documentedBytes,
    chargedBytes: k.chargedBytes,
    trialChargedBytes: k.trialChargedBytes,
    unmapChargedBytes: k.unmapChargedBytes,
    toleranceBytes: k.toleranceBytes,
    vmFlags: k.vmFlags,
  };
}

/**
 * The verdict rests on Committed_AS; for private mappings the exact 'ac' flag must agree (shared
 * anonymous memory is charged by shmem, not through VM_ACCOUNT, so it never shows 'ac').
 */
function kindFinding(claim: Claim, k: KindMeasurement, mode: OvercommitMode): Finding {
  const noisy = tooNoisy(k.toleranceBytes, k.sizeBytes);
  const chargedOk = near(k.chargedBytes, k.documentedBytes, k.toleranceBytes);
  const s = shapeOf(k.kind);
  const ac = k.vmFlags.includes('ac');
  const flagOk = s.shared || ac === k.documentedBytes > 0;
  const basis = !k.noreserve
    ? '001 table'
    : mode === 2
      ? 'mode 2: 001 says MAP_NORESERVE is ignored, so the cost without it is expected'
      : `mode ${mode}: 004 says MAP_NORESERVE reserves nothing at mmap() time, so 0 is expected`;
  const observed =
    `${k.kind}${k.noreserve ? ' with MAP_NORESERVE' : ''}, ${mib(k.sizeBytes)} mapped in mode ${mode}: ` +
    `Committed_AS changed by ${mib(k.chargedBytes)} (trials ${k.trialChargedBytes.map(mib).join(', ')}; ` +
    `munmap ${mib(k.unmapChargedBytes)}), documented ${mib(k.documentedBytes)} (${basis}), tolerance ±${mib(k.toleranceBytes)}; ` +
    `VmFlags ${k.vmFlags.join(' ')} ('ac' ${ac ? 'present' : 'absent'}, 'nr' ${k.vmFlags.includes('nr') ? 'present' : 'absent'})`;
  if (noisy) return finding(claim, null, observed, kindEvidence(k), noisy);
  const reason = chargedOk && !flagOk ? `Committed_AS agrees but VmFlags ${ac ? 'has' : 'lacks'} 'ac'` : undefined;
  return finding(claim, chargedOk && flagOk, observed, kindEvidence(k), reason);
}

/** memfd (shmfs) mapped shared: the cost at mmap, and after `touch` bytes are written. */
function shmfs(size: number, touch: number, samples: number, trials: number): Finding {
  const steps = overTrials(samples, trials, (t) => {
    const fd = memfdCreate('overcommit-lab-accounting');
    try {
      ftruncateSync(fd, size);
      const { m, first } = mapStep(t, size, { shared: true, fd });
      try {
        return [
          first,
          step(t, m, 'write', () => m.touch({ length: touch })),
          step(t, m, 'munmap and truncate', () => {
            m.unmap();
            ftruncateSync(fd, 0);
          }),
        ];
      } finally {
        m.unmap();
      }
    } finally {
      closeSync(fd);
    }
  });
  const [at, written, freed] = steps as [StepSummary, StepSummary, StepSummary];
  const tol = tolerance(steps);
  const holds = near(written.deltaBytes, touch, tol);
  const observed =
    `memfd of ${mib(size)} mapped MAP_SHARED: Committed_AS changed by ${mib(at.deltaBytes)} at mmap; writing ${mib(touch)} ` +
    `changed it by ${mib(written.deltaBytes)}; unmapping and truncating the file by ${mib(freed.deltaBytes)} ` +
    `(medians of ${trials} trials, tolerance ±${mib(tol)}). ${holds ? 'shmfs pages are charged to the same Committed_AS pool, page by page as they are allocated, not at mmap' : 'the written shmfs pages were not charged to Committed_AS'}`;
  const noisy = tooNoisy(tol, touch);
  return finding(
    C.shmfs,
    noisy ? null : holds,
    observed,
    {
      kind: 'memfd-shared-rw',
      noreserve: false,
      sizeBytes: size,
      chargedBytes: at.deltaBytes,
      touchedBytes: touch,
      touchChargedBytes: written.deltaBytes,
      releasedBytes: freed.deltaBytes,
      toleranceBytes: tol,
      vmFlags: at.vmFlags,
      steps: stepEvidence(steps),
    },
    noisy,
  );
}

/** A private writable file mapping: charged at mmap; writing pages (private copies) adds nothing. */
function writableCopies(size: number, touch: number, fd: number, samples: number, trials: number): Finding {
  const steps = overTrials(samples, trials, (t) => {
    const { m, first } = mapStep(t, size, { fd });
    try {
      return [first, step(t, m, 'write', () => m.touch({ length: touch })), step(t, m, 'munmap', () => m.unmap())];
    } finally {
      m.unmap();
    }
  });
  const [at, written] = steps as [StepSummary, StepSummary, StepSummary];
  const tol = tolerance(steps);
  const holds = near(at.deltaBytes, size, tol) && near(written.deltaBytes, 0, tol) && at.vmFlags.includes('ac');
  const noisy = tooNoisy(tol, touch);
  const observed =
    `file-private-rw of ${mib(size)}: Committed_AS changed by ${mib(at.deltaBytes)} at mmap (VmFlags ${at.vmFlags.join(' ')}); ` +
    `writing ${mib(touch)} (pages copied privately) changed it by ${mib(written.deltaBytes)} ` +
    `(medians of ${trials} trials, tolerance ±${mib(tol)}): the copies ${holds ? 'are accounted up front, at mmap, for the whole mapping' : 'are not accounted as documented'}`;
  return finding(
    C.writableCopies,
    noisy ? null : holds,
    observed,
    {
      kind: 'file-private-rw',
      noreserve: false,
      sizeBytes: size,
      chargedBytes: at.deltaBytes,
      touchedBytes: touch,
      touchChargedBytes: written.deltaBytes,
      toleranceBytes: tol,
      vmFlags: at.vmFlags,
      steps: stepEvidence(steps),
    },
    noisy,
  );
}

/**
 * mprotect on a private anonymous mapping, read-only -> writable -> read-only before any page is
 * written, then writable, a page written, and read-only again (the kernel keeps the charge
 * once the mapping has anonymous pages).
 */
function mprotectFinding(size: number, samples: number, trials: number): Finding {
  const steps = overTrials(samples, trials, (t) => {
    const { m, first } = mapStep(t, size, { prot: 'r' });
    try {
      return [
        first,
        step(t, m, 'rw (never written)', () => m.protect('rw')),
        step(t, m, 'r (never written)', () => m.protect('r')),
        step(t, m, 'rw again', () => m.protect('rw')),
        step(t, m, 'one page written', () => m.touch({ length: pageSize })),
        step(t, m, 'r (after a write)', () => m.protect('r')),
        step(t, m, 'munmap', () => m.unmap()),
      ];
    } finally {
      m.unmap();
    }
  });
  const [, toRw, toRo, again, , toRoWritten, unmap] = steps as [
    StepSummary,
    StepSummary,
    StepSummary,
    StepSummary,
    StepSummary,
    StepSummary,
    StepSummary,
  ];
  const tol = tolerance(steps);
  const holds = near(toRw.deltaBytes, size, tol) && toRw.vmFlags.includes('ac');
  const noisy = tooNoisy(tol, size);
  const uncharged = near(toRo.deltaBytes, -size, tol);
  const kept = near(toRoWritten.deltaBytes, 0, tol);
  const observed =
    `anon-private-ro of ${mib(size)} made writable: ${mib(toRw.deltaBytes)} (VmFlags ${toRw.vmFlags.join(' ')}); ` +
    `read-only again before any write: ${mib(toRo.deltaBytes)} (${uncharged ? 'charge given back' : 'charge kept'}); writable again: ${mib(again.deltaBytes)}; ` +
    `read-only after a page was written: ${mib(toRoWritten.deltaBytes)} (${kept ? 'charge kept: the mapping has private pages' : 'charge changed'}; VmFlags ${toRoWritten.vmFlags.join(' ')}); ` +
    `munmap ${mib(unmap.deltaBytes)}; medians of ${trials} trials, tolerance ±${mib(tol)}`;
  return finding(
    C.mprotect,
    noisy ? null : holds,
    observed,
    {
      kind: 'anon-private-ro',
      noreserve: false,
      sizeBytes: size,
      chargedBytes: toRw.deltaBytes,
      toleranceBytes: tol,
      vmFlags: toRw.vmFlags,
      steps: stepEvidence(steps),
    },
    noisy,
  );
}

/** mremap of a private writable anonymous mapping: grown to twice its size, then shrunk to half. */
function mremapFinding(size: number, samples: number, trials: number): Finding {
  const steps = overTrials(samples, trials, (t) => {
    const { m, first } = mapStep(t, size, {});
    try {
      return [
        first,
        step(t, m, `grow to ${2 * size}`, () => m.remap(2 * size)),
        step(t, m, `shrink to ${size / 2}`, () => m.remap(size / 2)),
        step(t, m, 'munmap', () => m.unmap()),
      ];
    } finally {
      m.unmap();
    }
  });
  const [, grow, shrink] = steps as [StepSummary, StepSummary, StepSummary, StepSummary];
  const tol = tolerance(steps);
  const holds = near(grow.deltaBytes, size, tol) && near(shrink.deltaBytes, -1.5 * size, tol);
  const noisy = tooNoisy(tol, size);
  const observed =
    `anon-private-rw of ${mib(size)}: mremap to ${mib(2 * size)} changed Committed_AS by ${mib(grow.deltaBytes)} (expected +${mib(size)}), ` +
    `mremap to ${mib(size / 2)} by ${mib(shrink.deltaBytes)} (expected -${mib(1.5 * size)}); medians of ${trials} trials, tolerance ±${mib(tol)}`;
  return finding(
    C.mremap,
    noisy ? null : holds,
    observed,
    {
      kind: 'anon-private-rw',
      noreserve: false,
      sizeBytes: size,
      chargedBytes: grow.deltaBytes,
      shrinkChargedBytes: shrink.deltaBytes,
      toleranceBytes: tol,
      vmFlags: grow.vmFlags,
      steps: stepEvidence(steps),
    },
    noisy,
  );
}

/** Committed_AS from a child's `count` /proc/meminfo reads starting at step `from`: their median and spread. */
function committedReads(r: ChildResult, from: number, count: number): { median: number; spread: number } {
  const v = r.steps.slice(from, from + count).map((x) => parseMeminfo(x.data ?? '').committedAs);
  return { median: median(v), spread: Math.max(...v) - Math.min(...v) };
}

/** One child: the break raised by `size`, then lowered, with /proc/meminfo read `samples` times around each move. */
async function brkOnce(size: number, samples: number): Promise<{ raised: StepDelta; lowered: StepDelta } | string> {
  const reads = Array.from({ length: samples }, () => ({ op: 'readfile' as const, path: '/proc/meminfo' }));
  const r = await runChild(
    [
      ...reads,
      { op: 'sbrk', increment: size, required: true },
      ...reads,
      { op: 'readfile', path: '/proc/self/smaps', maxBytes: 16 * MiB, required: true },
      { op: 'sbrk', increment: -size, required: true },
      ...reads,
    ],
    { timeoutMs: 30_000 },
  );
  const grow = r.steps[samples]!;
  const smaps = r.steps[2 * samples + 1]!;
  const shrink = r.steps[2 * samples + 2]!;
  if (grow.status !== 'ok' || smaps.status !== 'ok' || shrink.status !== 'ok') {
    return `brk ${grow.status} ${grow.code ?? ''}, smaps ${smaps.status}, shrink ${shrink.status} (exit ${r.exitCode}, signal ${r.signal})`;
  }
  const [b0, b1, b2] = [
    committedReads(r, 0, samples),
    committedReads(r, samples + 1, samples),
    committedReads(r, 2 * samples + 3, samples),
  ];
  const heap = findVma(parseSmaps(smaps.data ?? ''), grow.break! - 1n);
  return {
    raised: {
      step: 'brk +size',
      deltaBytes: b1.median - b0.median,
      spreadBytes: Math.max(b0.spread, b1.spread),
      vmFlags: heap?.vmFlags ?? [],
    },
    lowered: { step: 'brk -size', deltaBytes: b2.median - b1.median, spreadBytes: Math.max(b1.spread, b2.spread), vmFlags: [] },
  };
}

/** brk in children (one per trial): the break raised by `size` and lowered again. */
async function brkFinding(size: number, samples: number, trials: number): Promise<Finding> {
  const runs: StepDelta[][] = [];
  for (let i = 0; i < trials; i++) {
    const r = await brkOnce(size, samples);
    if (typeof r === 'string') {
      return finding(
        C.brk,
        null,
        `a child could not move its break by ${mib(size)} and back: ${r}`,
        { kind: 'brk', noreserve: false, sizeBytes: size, chargedBytes: null, vmFlags: null },
        'brk did not complete',
      );
    }
    runs.push([r.raised, r.lowered]);
  }
  const steps = summarize(runs);
  const [raised, lowered] = steps as [StepSummary, StepSummary];
  const tol = tolerance(steps);
  const holds = near(raised.deltaBytes, size, tol) && near(lowered.deltaBytes, -size, tol);
  const noisy = tooNoisy(tol, size);
  const observed =
    `a child raised its break by ${mib(size)}: Committed_AS changed by ${mib(raised.deltaBytes)}; lowering it again: ${mib(lowered.deltaBytes)} ` +
    `(medians of ${trials} children, ${samples} reads per point, tolerance ±${mib(tol)}); heap VmFlags ${raised.vmFlags.join(' ')}`;
  return finding(
    C.brk,
    noisy ? null : holds,
    observed,
    {
      kind: 'brk',
      noreserve: false,
      sizeBytes: size,
      chargedBytes: raised.deltaBytes,
      releasedBytes: lowered.deltaBytes,
      toleranceBytes: tol,
      vmFlags: raised.vmFlags,
      steps: stepEvidence(steps),
    },
    noisy,
  );
}

/** How far a child grows its stack: a C call chain this deep needs RLIMIT_STACK raised above the usual 8 MiB. */
const STACK_GROWTH_BYTES = 32 * MiB;

/** One child grows its stack; Committed_AS around it, and the [stack] VMA before and after (exact, from smaps). */
async function stackOnce(samples: number): Promise<{ grown: StepDelta; vmaGrowthBytes: number } | string> {
  const reads = Array.from({ length: samples }, () => ({ op: 'readfile' as const, path: '/proc/meminfo' }));
  const smaps = { op: 'readfile' as const, path: '/proc/self/smaps', maxBytes: 16 * MiB, required: true };
  const r = await runChild(
    [
      { op: 'setrlimit', resource: 'stack', soft: 2 * STACK_GROWTH_BYTES, required: true },
      smaps,
      ...reads,
      { op: 'stack', bytes: STACK_GROWTH_BYTES, required: true },
      ...reads,
      smaps,
    ],
    { timeoutMs: 30_000 },
  );
  const stackVma = (i: number) => parseSmaps(r.steps[i]?.data ?? '').find((v) => v.pathname === '[stack]');
  const [before, after] = [stackVma(1), stackVma(samples + 3 + samples)];
  if (r.exitCode !== 0 || before === undefined || after === undefined) {
    return `the child ended with exit ${r.exitCode}, signal ${r.signal} (steps: ${r.steps.map((x) => `${x.op} ${x.code ?? x.status}`).join(', ')})`;
  }
  const [b0, b1] = [committedReads(r, 2, samples), committedReads(r, samples + 3, samples)];
  return {
    grown: { step: 'stack growth', deltaBytes: b1.median - b0.median, spreadBytes: Math.max(b0.spread, b1.spread), vmFlags: after.vmFlags },
    vmaGrowthBytes: Number(after.end - after.start) - Number(before.end - before.start),
  };
}

/** Stack growth in children (one per trial), against the growth of their [stack] VMA. */
async function stackFinding(samples: number, trials: number): Promise<Finding> {
  const runs: StepDelta[][] = [];
  const growths: number[] = [];
  for (let i = 0; i < trials; i++) {
    const r = await stackOnce(samples);
    if (typeof r === 'string') {
      return finding(
        C.stack,
        null,
        `a child could not grow its stack by ${mib(STACK_GROWTH_BYTES)}: ${r}`,
        { kind: 'stack', noreserve: false, sizeBytes: STACK_GROWTH_BYTES, chargedBytes: null, vmFlags: null },
        'the stack did not grow',
      );
    }
    runs.push([r.grown]);
    growths.push(r.vmaGrowthBytes);
  }
  const [grown] = summarize(runs) as [StepSummary];
  const vmaGrowth = median(growths);
  const tol = tolerance([grown]);
  const noisy = tooNoisy(tol, vmaGrowth);
  const holds = vmaGrowth > 0 && near(grown.deltaBytes, vmaGrowth, tol);
  const observed =
    `a child's nested calls used ${mib(STACK_GROWTH_BYTES)} of stack: its [stack] VMA grew by ${mib(vmaGrowth)} (smaps) and Committed_AS by ${mib(grown.deltaBytes)} ` +
    `(medians of ${trials} children, ${samples} reads per point, tolerance ±${mib(tol)}); [stack] VmFlags ${grown.vmFlags.join(' ')}. ` +
    `${holds ? 'The growth is charged as it happens, like an mremap growth: in mode 2 a stack can hit the commit limit while it grows.' : 'The charge does not follow the growth.'}`;
  return finding(
    C.stack,
    noisy ? null : holds,
    observed,
    {
      kind: 'stack',
      noreserve: false,
      sizeBytes: vmaGrowth,
      chargedBytes: grown.deltaBytes,
      stackUsedBytes: STACK_GROWTH_BYTES,
      toleranceBytes: tol,
      vmFlags: grown.vmFlags,
      steps: stepEvidence([grown]),
    },
    noisy,
  );
}

/** Mode 2 charges everything against CommitLimit: keep each mapping (and mremap's doubling) well inside the headroom. */
function sizeFor(requested: number, mode: OvercommitMode): { size: number; note?: string } {
  if (mode !== 2) return { size: requested };
  const m = readMeminfo();
  const headroom = m.commitLimit - m.committedAs;
  const cap = Math.floor(headroom / 8 / MiB) * MiB;
  if (requested <= cap) return { size: requested };
  if (cap < 8 * MiB) throw new Error(`mode 2 headroom (CommitLimit - Committed_AS = ${mib(headroom)}) is too small to map anything safely`);
  return {
    size: cap,
    note: `scaled down from ${mib(requested)} to ${mib(cap)}: one eighth of the mode-2 headroom (CommitLimit - Committed_AS = ${mib(headroom)})`,
  };
}

async function run(ctx: ExperimentContext): Promise<Finding[]> {
  const { size, note } = sizeFor(SIZE_BYTES, ctx.mode);
  if (note) ctx.progress(note);
  const file = sparseFile(size);
  const out: Finding[] = [];
  try {
    const plain: KindMeasurement[] = [];
    for (const kind of mappingKinds) {
      ctx.progress(`accounting: ${kind}`);
      const k = measureKind(kind, false, size, file.fd, ctx.mode, SAMPLES, TRIALS);
      plain.push(k);
      out.push(kindFinding(kindClaims.find((c) => c.id === `cost-${kind}`)!, k, ctx.mode));
    }
    for (const kind of mappingKinds) {
      const k = measureKind(kind, true, size, file.fd, ctx.mode, SAMPLES, TRIALS);
      const id = ctx.mode === 2 ? `noreserve-ignored-${kind}` : `noreserve-${kind}`;
      out.push(kindFinding(noreserveClaims.find((c) => c.id === id)!, k, ctx.mode));
    }
    out.push(...summaryFindings(plain, size));
    out.push(munmapFinding(plain.find((k) => k.kind === 'anon-private-rw')!));
    out.push(writableCopies(size, TOUCH_BYTES, file.fd, SAMPLES, TRIALS));
  } finally {
    file.remove();
  }
  out.push(shmfs(size, TOUCH_BYTES, SAMPLES, TRIALS));
  out.push(mprotectFinding(size, SAMPLES, TRIALS));
  out.push(mremapFinding(size, SAMPLES, TRIALS));
  out.push(await brkFinding(size, SAMPLES, TRIALS));
  out.push(await stackFinding(SAMPLES, TRIALS));
  if (note) for (const f of out) f.reason = f.reason ? `${f.reason}; ${note}` : note;
  return out;
}

/** munmap of the charged private writable anonymous mappings above: the charge given back. */
function munmapFinding(k: KindMeasurement): Finding {
  const noisy = tooNoisy(k.toleranceBytes, k.sizeBytes);
  const holds = near(k.unmapChargedBytes, -k.chargedBytes, k.toleranceBytes) && near(k.chargedBytes, k.sizeBytes, k.toleranceBytes);
  const observed =
    `anon-private-rw of ${mib(k.sizeBytes)}: mmap changed Committed_AS by ${mib(k.chargedBytes)}, munmap by ${mib(k.unmapChargedBytes)} ` +
    `(median of ${k.trialChargedBytes.length} trials, tolerance ±${mib(k.toleranceBytes)})`;
  return finding(C.munmap, noisy ? null : holds, observed, { ...kindEvidence(k), releasedBytes: k.unmapChargedBytes }, noisy);
}

/** 003's "only these kinds" and 004's "not counted", judged over the kinds measured without MAP_NORESERVE. */
function summaryFindings(plain: readonly KindMeasurement[], size: number): Finding[] {
  const charged = (k: KindMeasurement): boolean => k.chargedBytes > k.sizeBytes / 2;
  const chargedKinds = plain.filter(charged).map((k) => k.kind);
  const free = plain.filter((k) => !charged(k)).map((k) => k.kind);
  const perKind = Object.fromEntries(plain.map((k) => [k.kind, k.chargedBytes]));
  const tol = Math.max(...plain.map((k) => k.toleranceBytes));
  const noisy = tooNoisy(tol, size);
  const expected = plain.filter((k) => documentedCharged(k.kind)).map((k) => k.kind);
  const onlyHolds = chargedKinds.length === expected.length && expected.every((k) => chargedKinds.includes(k));
  const notCountedKinds: MappingKind[] = ['file-private-ro', 'file-shared-rw', 'anon-private-ro'];
  const notCounted = plain.filter((k) => notCountedKinds.includes(k.kind));
  const notCountedHolds = notCounted.every((k) => near(k.chargedBytes, 0, k.toleranceBytes));
  const base = { noreserve: false, sizeBytes: size, chargedBytesByKind: perKind, toleranceBytes: tol };
  return [
    finding(
      C.only,
      noisy ? null : onlyHolds,
      `charged about their size (${mib(size)}): ${chargedKinds.join(', ') || 'none'}; charged about 0: ${free.join(', ') || 'none'} (documented as charged: ${expected.join(', ')})`,
      { ...base, kind: 'all', chargedBytes: null, vmFlags: null, chargedKinds, unchargedKinds: free },
      noisy,
    ),
    finding(
      C.notCounted,
      noisy ? null : notCountedHolds,
      notCounted.map((k) => `${k.kind}: ${mib(k.chargedBytes)} (±${mib(k.toleranceBytes)})`).join('; '),
      {
        ...base,
        kind: notCountedKinds.join(','),
        chargedBytes: null,
        vmFlags: Object.fromEntries(notCounted.map((k) => [k.kind, k.vmFlags])),
      },
      noisy,
    ),
  ];
}

export const accounting = legacyExperiment({
  id: 'accounting',
  title: 'What each kind of mapping, mprotect, mremap, brk, stack growth, munmap and shmfs cost in Committed_AS',
  claims: accountingClaims,
  requires: {},
  run,
});
