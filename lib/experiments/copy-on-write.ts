/**
 * copy-on-write: 000 explains why Redis can fork a large dataset: after fork the two processes
 * share their pages, and a page is duplicated only when one of them writes it; if every page is
 * written, copy-on-write saved nothing. The child's own /proc/self/smaps says exactly how many
 * of the region's pages it shares (Shared_Dirty) and how many are its own copies (Private_Dirty),
 * right after the fork, after writing one page in four, and after writing them all; its
 * /proc/self/status says how much virtual memory it holds, against the parent's just before.
 */

import { MEMINFO_PATH, parseMeminfo, readCommittedAs } from '../kernel/meminfo.js';
import { findVma, parseSmaps, readVmas, smapsPath } from '../kernel/smaps.js';
import { parseStatus, readStatus, statusPath } from '../kernel/status.js';
import { runNamedChild } from '../measure/child.js';
import type { ChildStepResult } from '../native/child.js';
import { isSystemCallError } from '../native/errors.js';
import { type Mapping, mmap, pageSize } from '../native/mapping.js';
import { KiB, MiB, mib } from '../units.js';
import { DOC_000 } from './documents.js';
import { type Claim, defineExperiment, type Measured } from './model.js';

/**
 * The parent's dataset. The claims are about pages, counted exactly in smaps: a few MiB are as
 * exact as a gigabyte, and every page the child writes is a copy-on-write fault (dear in a VM).
 */
const REGION_BYTES = 4 * MiB;
/** The child first writes one page in this many. */
const PARTIAL_STRIDE_PAGES = 4;
/**
 * Node's threads map and unmap a little (a V8 page, an arena trim) around the fork, unseen by the
 * parent's reads before and after it: ~120 KiB was seen here.
 */
const VM_SIZE_TOLERANCE_BYTES = MiB;
/** Room for the child's /proc/self/smaps (Node's is well under 1 MiB). */
const SMAPS_MAX_BYTES = 4 * MiB;

const C = {
  shared: {
    id: 'fork-shares-pages',
    text: 'Avec le mécanisme de copy-on-write, les pages ne sont dupliquées que si le fork (ou le process original) écrit dessus (the parent and child share the common memory pages; a page is duplicated only when it changes)',
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

export interface CopyOnWriteEvidence extends Measured {
  regionBytes: number;
  regionPages: number;
  /** Pages the child wrote in the partial step, then in all. */
  partialWrittenPages: number;
  /** null when that smaps read failed or did not show the region. */
  afterFork: RegionPages | null;
  afterPartialWrite: RegionPages | null;
  afterFullWrite: RegionPages | null;
  /** The parent's VmSize just before the fork, and its VMAs marked 'dc' (MADV_DONTFORK: fork does not copy them). */
  parentVmSizeBytes: number;
  parentDontCopyBytes: number;
  /** VmSize minus 'dc' VMAs, just before and just after the fork: what a full copy holds. */
  parentCopyableBeforeBytes: number;
  parentCopyableAfterBytes: number;
  /**
   * The room runChild's result area holds for the child's reads (the readfile steps' maxBytes):
   * the area is mapped before the fork, so the child's VmSize holds it on top of the parent's.
   */
  resultReadBytes: number;
  /** The child's VmSize right after the fork (null if not read). */
  childVmSizeBytes: number | null;
  vmSizeToleranceBytes: number;
  /** Committed_AS: the parent's reading before the fork, the child's right after it (evidence only). */
  committedBeforeForkBytes: number;
  committedInChildBytes: number | null;
  exitCode: number | null;
  signal: string | null;
}

/** This process's VmSize, and how much of it fork does not copy (VMAs marked 'dc': Node has hundreds of MiB of them). */
function forkableSize(): { vmSize: number; dontCopy: number } {
  const dontCopy = readVmas()
    .filter((v) => v.vmFlags.includes('dc'))
    .reduce((sum, v) => sum + Number(v.end - v.start), 0);
  return { vmSize: readStatus().vmSize, dontCopy };
}

function regionPages(step: ChildStepResult, region: Mapping): RegionPages | null {
  if (step.status !== 'ok' || step.truncated) return null;
  const vma = findVma(parseSmaps(step.data ?? ''), region.address);
  // A VMA merged with a neighbour would count the neighbour's pages too.
  if (vma === undefined || vma.start !== region.address || vma.end !== region.address + BigInt(region.length)) return null;
  return { sharedPages: (vma.sizes.Shared_Dirty ?? 0) / pageSize, privatePages: (vma.sizes.Private_Dirty ?? 0) / pageSize };
}

/** Writes every page of `m`: MADV_POPULATE_WRITE (a tenth of a write per page in a VM), else (before Linux 5.14) page by page. */
function writeAll(m: Mapping): void {
  try {
    m.advise('populate-write');
  } catch (e) {
    if (!isSystemCallError(e) || e.code !== 'EINVAL') throw e;
    m.touch();
  }
}

export async function measureCopyOnWrite(): Promise<CopyOnWriteEvidence> {
  const region = mmap(REGION_BYTES);
  try {
    writeAll(region);
    const committedBeforeForkBytes = readCommittedAs();
    const target = { address: region.address, length: region.length };
    const smaps = { op: 'readfile', path: smapsPath('self'), maxBytes: SMAPS_MAX_BYTES } as const;
    const steps = [
      ['status', { op: 'readfile', path: statusPath('self'), maxBytes: 64 * KiB }],
      ['meminfo', { op: 'readfile', path: MEMINFO_PATH, maxBytes: 64 * KiB }],
      ['smaps-after-fork', smaps],
      ['write-partial', { op: 'touch', ...target, stride: PARTIAL_STRIDE_PAGES * pageSize }],
      ['smaps-after-partial', smaps],
      ['write-all', { op: 'touch', ...target }],
      ['smaps-after-all', smaps],
    ] as const;
    const resultReadBytes = steps.reduce((sum, [, step]) => sum + (step.op === 'readfile' ? step.maxBytes : 0), 0);
    const parentBefore = forkableSize();
    const run = await runNamedChild(steps);
    const parentAfter = forkableSize();
    const [status, meminfo] = [run.step('status'), run.step('meminfo')];
    const regionReads = {
      afterFork: regionPages(run.step('smaps-after-fork'), region),
      afterPartialWrite: regionPages(run.step('smaps-after-partial'), region),
      afterFullWrite: regionPages(run.step('smaps-after-all'), region),
    };
    const evidence: CopyOnWriteEvidence = {
      regionBytes: REGION_BYTES,
      regionPages: REGION_BYTES / pageSize,
      partialWrittenPages: run.step('write-partial').progress,
      ...regionReads,
      resultReadBytes,
      parentVmSizeBytes: parentBefore.vmSize,
      parentDontCopyBytes: parentBefore.dontCopy,
      parentCopyableBeforeBytes: parentBefore.vmSize - parentBefore.dontCopy,
      parentCopyableAfterBytes: parentAfter.vmSize - parentAfter.dontCopy,
      childVmSizeBytes: status.status === 'ok' ? parseStatus(status.data ?? '').vmSize : null,
      vmSizeToleranceBytes: VM_SIZE_TOLERANCE_BYTES,
      committedBeforeForkBytes,
      committedInChildBytes: meminfo.status === 'ok' ? parseMeminfo(meminfo.data ?? '').committedAs : null,
      exitCode: run.result.exitCode,
      signal: run.result.signal,
    };
    // A missing read is no measurement: zeros in its place would make a false verdict.
    const missing = Object.entries(regionReads)
      .filter(([, v]) => v === null)
      .map(([k]) => `smaps ${k}`);
    if (evidence.childVmSizeBytes === null) missing.push('/proc/self/status');
    if (!run.finished) evidence.problem = run.problem!;
    else if (missing.length > 0) {
      evidence.problem = `the child's reads did not show the region as one VMA: ${missing.join(', ')} (failed, truncated, merged with a neighbour, or no VMA at 0x${region.address.toString(16)})`;
    }
    return evidence;
  } finally {
    region.unmap();
  }
}

const counts = (p: RegionPages | null): string => (p === null ? 'unknown' : `${p.sharedPages} shared, ${p.privatePages} private`);

const story = (e: CopyOnWriteEvidence): string =>
  `The parent wrote all ${e.regionPages} pages of a ${mib(e.regionBytes)} private region, then forked. In the child's smaps the region had ${counts(e.afterFork)} pages right after the fork; ` +
  `after the child wrote ${e.partialWrittenPages} of them (one in ${PARTIAL_STRIDE_PAGES}): ${counts(e.afterPartialWrite)}; after it wrote all of them: ${counts(e.afterFullWrite)}.`;

const sharedAtFork = (e: CopyOnWriteEvidence): boolean => e.afterFork!.sharedPages === e.regionPages && e.afterFork!.privatePages === 0;
const onlyWrittenCopied = (e: CopyOnWriteEvidence): boolean =>
  e.afterPartialWrite!.privatePages === e.partialWrittenPages && e.afterPartialWrite!.sharedPages === e.regionPages - e.partialWrittenPages;
const allCopied = (e: CopyOnWriteEvidence): boolean =>
  e.afterFullWrite!.privatePages === e.regionPages && e.afterFullWrite!.sharedPages === 0;
/** The copy a fork makes: the parent's VmSize less its 'dc' VMAs (the smaller of the reads around the fork). */
const copyable = (e: CopyOnWriteEvidence): number => Math.min(e.parentCopyableBeforeBytes, e.parentCopyableAfterBytes);
const virtualDoubled = (e: CopyOnWriteEvidence): boolean => e.childVmSizeBytes! >= copyable(e) - e.vmSizeToleranceBytes;

export const copyOnWrite = defineExperiment<CopyOnWriteEvidence>({
  id: 'copy-on-write',
  title: "000's copy-on-write after fork: the pages a child shares with its parent and the ones it copies, from the child's smaps",
  requires: {},
  measure: async (ctx) => {
    ctx.progress(`copy-on-write: forking with a ${mib(REGION_BYTES)} written region`);
    return measureCopyOnWrite();
  },
  rules: [
    {
      claim: C.shared,
      judge: (e) => ({ holds: sharedAtFork(e) && onlyWrittenCopied(e) }),
      observe: (e, v) => `${story(e)} ${v.holds ? 'Exactly the written pages were copied.' : 'The copies do not match the pages written.'}`,
    },
    {
      // The child holds a copy of every mapping fork copies (virtual doubled) yet, at first, no
      // page of the region of its own (physical not).
      claim: C.virtualNotPhysical,
      judge: (e) => ({ holds: virtualDoubled(e) && sharedAtFork(e) }),
      observe: (e) => {
        const childVm = e.childVmSizeBytes!;
        const charge = e.committedInChildBytes === null ? 'not read' : `${e.committedInChildBytes - e.committedBeforeForkBytes} B`;
        return (
          `The child's VmSize right after the fork was ${childVm} B (${mib(childVm)}); the parent's was ${e.parentVmSizeBytes} B (${mib(e.parentVmSizeBytes)}) just before it, ` +
          `of which ${mib(e.parentDontCopyBytes)} is in VMAs marked 'dc' (MADV_DONTFORK), which fork never copies: the rest, ${mib(copyable(e))} (the smaller of the reads before and after), is what a copy holds (besides runChild's result area, ${mib(e.resultReadBytes)} for the child's reads). ` +
          `${virtualDoubled(e) ? 'The child holds all of it: with the parent, twice the virtual memory' : `The child is short of it by more than ${mib(e.vmSizeToleranceBytes)}: the virtual memory is not doubled`}; ` +
          `of the region the child had ${counts(e.afterFork)} pages (${sharedAtFork(e) ? 'all still shared: no physical copy' : 'not all shared'}). Committed_AS grew by ${charge} across the fork (evidence only: other processes move it too).`
        );
      },
    },
    {
      claim: C.allWritten,
      judge: (e) => ({ holds: allCopied(e) }),
      observe: (e, v) =>
        `${story(e)} ${
          v.holds
            ? `With every page written the child holds its own copy of all ${e.regionPages} pages: as much memory as without copy-on-write.`
            : `With every page written the child holds ${counts(e.afterFullWrite)} pages: not a copy of each.`
        }`,
    },
  ],
});
