/**
 * copy-on-write: 000 explains why Redis can fork a large dataset: after fork the two processes
 * share their pages, and a page is duplicated only when one of them writes it; if every page is
 * written, copy-on-write saved nothing. The child's own /proc/self/smaps says exactly how many
 * of the region's pages it shares (Shared_Dirty) and how many are its own copies (Private_Dirty),
 * right after the fork, after writing one page in four, and after writing them all; its
 * /proc/self/status says how much virtual memory it holds, against the parent's just before.
 */

import { parseMeminfo, readMeminfo } from '../kernel/meminfo.js';
import { findVma, parseSmaps, readVmas } from '../kernel/smaps.js';
import { parseStatus, readStatus } from '../kernel/status.js';
import { type ChildStep, type ChildStepResult, runChild } from '../native/child.js';
import { mmap, pageSize } from '../native/mapping.js';
import { KiB, MiB, mib } from '../units.js';
import { DOC_000 } from './documents.js';
import { legacyExperiment } from './legacy.js';
import { type Claim, type Evidence, type ExperimentContext, type Finding, finding } from './model.js';

/** The parent's dataset: small enough to write in-process on a shared machine, large enough to count exactly. */
const REGION_BYTES = 16 * MiB;
/** The child first writes one page in this many. */
const PARTIAL_STRIDE_PAGES = 4;
/**
 * Node's threads map and unmap a little (a V8 page, an arena trim) around the fork, unseen by the
 * parent's reads before and after it: ~120 KiB was seen here.
 */
const VM_SIZE_TOLERANCE_BYTES = MiB;

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

export interface CopyOnWriteEvidence {
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

function regionPages(step: ChildStepResult | undefined, address: bigint): RegionPages | null {
  if (step?.status !== 'ok' || step.truncated) return null;
  const vma = findVma(parseSmaps(step.data ?? ''), address);
  if (vma === undefined) return null;
  return { sharedPages: (vma.sizes.Shared_Dirty ?? 0) / pageSize, privatePages: (vma.sizes.Private_Dirty ?? 0) / pageSize };
}

export async function measureCopyOnWrite(): Promise<{ evidence: CopyOnWriteEvidence; problem: string | null }> {
  const region = mmap(REGION_BYTES);
  try {
    region.touch();
    const committedBeforeForkBytes = readMeminfo().committedAs;
    const target = { address: region.address, length: region.length };
    const smaps = { op: 'readfile' as const, path: '/proc/self/smaps', maxBytes: 4 * MiB, required: true };
    const steps = [
      { op: 'readfile', path: '/proc/self/status', maxBytes: 64 * KiB, required: true },
      { op: 'readfile', path: '/proc/meminfo', maxBytes: 64 * KiB, required: true },
      smaps,
      { op: 'touch', ...target, stride: PARTIAL_STRIDE_PAGES * pageSize },
      smaps,
      { op: 'touch', ...target },
      smaps,
    ] as const satisfies readonly ChildStep[];
    const resultReadBytes = steps.reduce((sum, step) => sum + (step.op === 'readfile' ? step.maxBytes : 0), 0);
    const parentBefore = forkableSize();
    const r = await runChild(steps);
    const parentAfter = forkableSize();
    const [status, meminfo] = r.steps;
    const regionReads = {
      afterFork: regionPages(r.steps[2], region.address),
      afterPartialWrite: regionPages(r.steps[4], region.address),
      afterFullWrite: regionPages(r.steps[6], region.address),
    };
    const evidence: CopyOnWriteEvidence = {
      regionBytes: REGION_BYTES,
      regionPages: REGION_BYTES / pageSize,
      partialWrittenPages: r.steps[3]?.progress ?? 0,
      ...regionReads,
      resultReadBytes,
      parentVmSizeBytes: parentBefore.vmSize,
      parentDontCopyBytes: parentBefore.dontCopy,
      parentCopyableBeforeBytes: parentBefore.vmSize - parentBefore.dontCopy,
      parentCopyableAfterBytes: parentAfter.vmSize - parentAfter.dontCopy,
      childVmSizeBytes: status?.status === 'ok' ? parseStatus(status.data ?? '').vmSize : null,
      vmSizeToleranceBytes: VM_SIZE_TOLERANCE_BYTES,
      committedBeforeForkBytes,
      committedInChildBytes: meminfo?.status === 'ok' ? parseMeminfo(meminfo.data ?? '').committedAs : null,
      exitCode: r.exitCode,
      signal: r.signal,
    };
    // A missing read is no measurement: zeros in its place would make a false verdict.
    const missing = Object.entries(regionReads)
      .filter(([, v]) => v === null)
      .map(([k]) => `smaps ${k}`);
    if (evidence.childVmSizeBytes === null) missing.push('/proc/self/status');
    const problem =
      r.exitCode !== 0
        ? `the child did not finish (exit ${r.exitCode}, signal ${r.signal})`
        : missing.length > 0
          ? `the child's reads did not show the region: ${missing.join(', ')} (failed, truncated, or no VMA at 0x${region.address.toString(16)})`
          : null;
    return { evidence, problem };
  } finally {
    region.unmap();
  }
}

const counts = (p: RegionPages | null): string => (p === null ? 'unknown' : `${p.sharedPages} shared, ${p.privatePages} private`);

export function copyOnWriteFindings(e: CopyOnWriteEvidence, problem: string | null): Finding[] {
  const pages = (p: RegionPages | null): Evidence[string] => (p === null ? null : { ...p });
  const evidence = {
    ...e,
    afterFork: pages(e.afterFork),
    afterPartialWrite: pages(e.afterPartialWrite),
    afterFullWrite: pages(e.afterFullWrite),
  };
  if (problem !== null) return Object.values(C).map((c) => finding(c, null, problem, evidence, problem));
  const [atFork, partial, full] = [e.afterFork!, e.afterPartialWrite!, e.afterFullWrite!];
  const n = e.regionPages;
  const w = e.partialWrittenPages;
  const sharedAtFork = atFork.sharedPages === n && atFork.privatePages === 0;
  const onlyWrittenCopied = partial.privatePages === w && partial.sharedPages === n - w;
  const story =
    `The parent wrote all ${n} pages of a ${mib(REGION_BYTES)} private region, then forked. In the child's smaps the region had ${counts(atFork)} pages right after the fork; ` +
    `after the child wrote ${w} of them (one in ${PARTIAL_STRIDE_PAGES}): ${counts(partial)}; after it wrote all of them: ${counts(full)}.`;
  // The child holds a copy of every mapping fork copies (virtual doubled) yet, at first, no page
  // of the region of its own (physical not). The fork happened between the parent's two reads.
  const childVm = e.childVmSizeBytes!;
  const copyable = Math.min(e.parentCopyableBeforeBytes, e.parentCopyableAfterBytes);
  const virtualDoubled = childVm >= copyable - e.vmSizeToleranceBytes;
  const charge = e.committedInChildBytes === null ? 'not read' : `${e.committedInChildBytes - e.committedBeforeForkBytes} B`;
  return [
    finding(
      C.shared,
      sharedAtFork && onlyWrittenCopied,
      `${story} ${sharedAtFork && onlyWrittenCopied ? 'Exactly the written pages were copied.' : 'The copies do not match the pages written.'}`,
      evidence,
    ),
    finding(
      C.virtualNotPhysical,
      virtualDoubled && sharedAtFork,
      `The child's VmSize right after the fork was ${childVm} B (${mib(childVm)}); the parent's was ${e.parentVmSizeBytes} B (${mib(e.parentVmSizeBytes)}) just before it, ` +
        `of which ${mib(e.parentDontCopyBytes)} is in VMAs marked 'dc' (MADV_DONTFORK), which fork never copies: the rest, ${mib(copyable)} (the smaller of the reads before and after), is what a copy holds (besides runChild's result area, ${mib(e.resultReadBytes)} for the child's reads). ` +
        `${virtualDoubled ? 'The child holds all of it: with the parent, twice the virtual memory' : `The child is short of it by more than ${mib(e.vmSizeToleranceBytes)}: the virtual memory is not doubled`}; ` +
        `of the region the child had ${counts(atFork)} pages (${sharedAtFork ? 'all still shared: no physical copy' : 'not all shared'}). Committed_AS grew by ${charge} across the fork (evidence only: other processes move it too).`,
      evidence,
    ),
    finding(
      C.allWritten,
      full.privatePages === n && full.sharedPages === 0,
      `${story} With every page written the child holds its own copy of all ${n} pages: as much memory as without copy-on-write.`,
      evidence,
    ),
  ];
}

export const copyOnWrite = legacyExperiment({
  id: 'copy-on-write',
  title: "000's copy-on-write after fork: the pages a child shares with its parent and the ones it copies, from the child's smaps",
  claims: Object.values(C),
  requires: {},
  async run(ctx: ExperimentContext): Promise<Finding[]> {
    ctx.progress('copy-on-write: forking with a 16 MiB written region');
    const { evidence, problem } = await measureCopyOnWrite();
    return copyOnWriteFindings(evidence, problem);
  },
});
