import { MEMINFO_PATH, parseMeminfo, readCommittedAs } from '../../kernel/meminfo.js';
import { findVma, parseSmaps, readVmas, smapsPath } from '../../kernel/smaps.js';
import { parseStatus, readStatus, statusPath } from '../../kernel/status.js';
import { runNamedChild } from '../../measure/child.js';
import type { ChildStepResult } from '../../native/child.js';
import { isSystemCallError } from '../../native/errors.js';
import { type Mapping, mmap, pageSize } from '../../native/mapping.js';
import { KiB } from '../../units.js';
import { type CopyOnWriteEvidence, PARTIAL_STRIDE_PAGES, REGION_BYTES, type RegionPages, SMAPS_MAX_BYTES } from './evidence.js';

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
    if (!run.finished) evidence.problem = run.problem ?? 'the child did not finish';
    else if (missing.length > 0) {
      evidence.problem = `the child's reads did not show the region as one VMA: ${missing.join(', ')} (failed, truncated, merged with a neighbour, or no VMA at 0x${region.address.toString(16)})`;
    }
    return evidence;
  } finally {
    region.unmap();
  }
}
