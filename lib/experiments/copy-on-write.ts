/**
 * copy-on-write: 000 explains why Redis can fork a large dataset: after fork the two processes
 * share their pages, and a page is duplicated only when one of them writes it; if every page is
 * written, copy-on-write saved nothing. The child's own /proc/self/smaps says exactly how many
 * of the region's pages it shares (Shared_Dirty) and how many are its own copies (Private_Dirty),
 * right after the fork, after writing one page in four, and after writing them all.
 */
import { runChild } from '../child.js';
import { finding, type Claim, type Experiment, type ExperimentContext, type Finding } from '../experiment.js';
import { parseMeminfo, readMeminfo } from '../kernel/meminfo.js';
import { findVma, parseSmaps } from '../kernel/smaps.js';
import { mmap, pageSize } from '../mapping.js';
import { DOC_000 } from '../documents.js';
import { MiB, mib } from '../units.js';

/** The parent's dataset: small enough to write in-process on a shared machine, large enough to count exactly. */
const REGION_BYTES = 16 * MiB;
/** The child first writes one page in this many. */
const PARTIAL_STRIDE_PAGES = 4;

const C = {
  shared: {
    id: 'fork-shares-pages',
    text: "Avec le mécanisme de copy-on-write, les pages ne sont dupliquées que si le fork (ou le process original) écrit dessus (the parent and child share the common memory pages; a page is duplicated only when it changes)",
    source: DOC_000,
  },
  virtualNotPhysical: {
    id: 'fork-doubles-virtual-not-physical',
    text: 'Redis forke le process, ce qui a pour effet de doubler la mémoire virtuelle nécessaire, mais pas nécessairement la mémoire physique',
    source: DOC_000,
  },
  allWritten: {
    id: 'all-pages-written-cow-saves-nothing',
    text: "Dans le cas extrême où quelqu'un aura écrit sur TOUTES les pages de RAM utilisées par la DB, le copy-on-write n'aura servi à rien",
    source: DOC_000,
  },
} satisfies Record<string, Claim>;

/** The region as the child's smaps shows it at one point. */
export interface RegionPages {
  /** Pages of the region the child shares with its parent (Shared_Dirty / page size). */
  sharedPages: number;
  /** Pages that are the child's own copies (Private_Dirty / page size). */
  privatePages: number;
}

export interface CopyOnWriteEvidence {
  regionBytes: number;
  regionPages: number;
  /** Pages the child wrote in the partial step, then in all. */
  partialWrittenPages: number;
  afterFork: RegionPages;
  afterPartialWrite: RegionPages;
  afterFullWrite: RegionPages;
  /** Committed_AS: the parent's reading before the fork, the child's right after it. */
  committedBeforeForkBytes: number;
  committedInChildBytes: number;
  exitCode: number | null;
  signal: string | null;
}

function regionPages(smaps: string | undefined, address: bigint): RegionPages | undefined {
  const vma = findVma(parseSmaps(smaps ?? ''), address);
  if (vma === undefined) return undefined;
  return { sharedPages: (vma.sizes.Shared_Dirty ?? 0) / pageSize, privatePages: (vma.sizes.Private_Dirty ?? 0) / pageSize };
}

export async function measureCopyOnWrite(): Promise<CopyOnWriteEvidence> {
  const region = mmap(REGION_BYTES);
  try {
    region.touch();
    const committedBeforeForkBytes = readMeminfo().committedAs;
    const target = { address: region.address, length: region.length };
    const smaps = { op: 'readfile' as const, path: '/proc/self/smaps', maxBytes: 4 * MiB, required: true };
    const r = await runChild([
      { op: 'readfile', path: '/proc/meminfo', required: true },
      smaps,
      { op: 'touch', ...target, stride: PARTIAL_STRIDE_PAGES * pageSize },
      smaps,
      { op: 'touch', ...target },
      smaps,
    ]);
    const at = (i: number): RegionPages => regionPages(r.steps[i]?.data, region.address) ?? { sharedPages: 0, privatePages: 0 };
    return {
      regionBytes: REGION_BYTES,
      regionPages: REGION_BYTES / pageSize,
      partialWrittenPages: r.steps[2]?.progress ?? 0,
      afterFork: at(1),
      afterPartialWrite: at(3),
      afterFullWrite: at(5),
      committedBeforeForkBytes,
      committedInChildBytes: r.steps[0]?.data === undefined ? 0 : parseMeminfo(r.steps[0].data).committedAs,
      exitCode: r.exitCode,
      signal: r.signal,
    };
  } finally {
    region.unmap();
  }
}

const counts = (p: RegionPages): string => `${p.sharedPages} shared, ${p.privatePages} private`;

export function copyOnWriteFindings(e: CopyOnWriteEvidence): Finding[] {
  const evidence = { ...e, afterFork: { ...e.afterFork }, afterPartialWrite: { ...e.afterPartialWrite }, afterFullWrite: { ...e.afterFullWrite } };
  if (e.exitCode !== 0) {
    const why = `the child did not finish (exit ${e.exitCode}, signal ${e.signal})`;
    return Object.values(C).map((c) => finding(c, null, why, evidence, why));
  }
  const n = e.regionPages;
  const w = e.partialWrittenPages;
  const sharedAtFork = e.afterFork.sharedPages === n && e.afterFork.privatePages === 0;
  const onlyWrittenCopied = e.afterPartialWrite.privatePages === w && e.afterPartialWrite.sharedPages === n - w;
  const story =
    `The parent wrote all ${n} pages of a ${mib(REGION_BYTES)} private region, then forked. In the child's smaps the region had ${counts(e.afterFork)} pages right after the fork; ` +
    `after the child wrote ${w} of them (one in ${PARTIAL_STRIDE_PAGES}): ${counts(e.afterPartialWrite)}; after it wrote all of them: ${counts(e.afterFullWrite)}.`;
  const charge = e.committedInChildBytes - e.committedBeforeForkBytes;
  return [
    finding(C.shared, sharedAtFork && onlyWrittenCopied, `${story} ${sharedAtFork && onlyWrittenCopied ? 'Exactly the written pages were copied.' : 'The copies do not match the pages written.'}`, evidence),
    finding(
      C.virtualNotPhysical,
      sharedAtFork && charge >= REGION_BYTES,
      `Right after the fork the child's copy of the region used no memory of its own (${counts(e.afterFork)} pages), while Committed_AS grew by ${charge} B, at least the region's ${REGION_BYTES} B ` +
        `(the fork charges the child's copy of every accountable mapping of the parent: the virtual memory is doubled, the physical memory is not).`,
      evidence,
      'Committed_AS also moves with other processes; the verdict rests on the exact smaps counts and on the charge being at least the region',
    ),
    finding(
      C.allWritten,
      e.afterFullWrite.privatePages === n && e.afterFullWrite.sharedPages === 0,
      `${story} With every page written the child holds its own copy of all ${n} pages: as much memory as without copy-on-write.`,
      evidence,
    ),
  ];
}

export const copyOnWrite: Experiment = {
  id: 'copy-on-write',
  title: "000's copy-on-write after fork: the pages a child shares with its parent and the ones it copies, from the child's smaps",
  claims: Object.values(C),
  requires: {},
  async run(ctx: ExperimentContext): Promise<Finding[]> {
    ctx.progress('copy-on-write: forking with a 16 MiB written region');
    return copyOnWriteFindings(await measureCopyOnWrite());
  },
};
