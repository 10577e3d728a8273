import { MEMINFO_PATH, readMeminfo } from '../../kernel/meminfo.js';
import { accountedBytesIn, findVma, parseSmaps, readVmas, smapsPath, type Vma } from '../../kernel/smaps.js';
import { runNamedChild } from '../../measure/child.js';
import { committedFromReads, readCommitted } from '../../measure/committed.js';
import { isSystemCallError } from '../../native/errors.js';
import { type Mapping, mmap, pageSize } from '../../native/mapping.js';
import { GiB, MiB, mib } from '../../units.js';
import { changeFromDeltas } from '../../verdict/tolerance.js';
import type { OvercommitMode } from '../model.js';
import type { ForkAttempt, ForkInheritanceEvidence } from './evidence.js';

/** Each region's size; mapped, never touched. */
const REGION_BYTES = GiB;

/** Mode 2: the fork charges both regions twice (the NORESERVE one too): each is at most this fraction of the headroom. */
const MODE2_HEADROOM_FRACTION = 16;

/** Forks measured, and Committed_AS reads per point. */
export const TRIALS = 5;

const READS = 3;

/** Room for the child's /proc/self/smaps (Node's is well under 1 MiB). */
const SMAPS_MAX_BYTES = 4 * MiB;

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
    if (typeof m === 'string') return { mode, pageSize, sizeNote: note, ...EMPTY, regionBytes: size, problem: m };
    return { mode, pageSize, sizeNote: note, ...m };
  } finally {
    for (const r of regions) r.unmap();
  }
}

/* rules ----------------------------------------------------------------------------------------- */
