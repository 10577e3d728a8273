/**
 * zero-pages: 001 calls mode 1 right for "code using sparse arrays and just relying on the
 * virtual memory consisting almost entirely of zero pages". An untouched anonymous page reads
 * as zero; reading it maps the kernel's shared zero page instead of allocating one. This reads
 * one int in every page of a 1 GiB mapping and measures what that cost: the mapping's Rss and
 * Anonymous in smaps (exact, per mapping), the process's RSS, and what mincore reports.
 * The reads run with this process in a memory cgroup: should they allocate (THP 'always' with
 * use_zero_page 0, the case the verdict exists to catch), the 1 GiB is charged there.
 */

import { sampleCommitted } from '../kernel/meminfo.js';
import { findVma, readVmas } from '../kernel/smaps.js';
import { readStatus } from '../kernel/status.js';
import { mmap, pageSize } from '../native/mapping.js';
import { withProcessInMemoryCgroup } from '../safety/memory-cgroup.js';
import { GiB, MiB, mib } from '../units.js';
import { DOC_001 } from './documents.js';
import { type Claim, type Experiment, type ExperimentContext, type Finding, finding } from './model.js';

/** The process is confined to the mapping plus this much while it reads. */
const CONFINE_SLACK_BYTES = 512 * MiB;

const C = {
  zeroPages: {
    id: 'sparse-virtual-memory-is-zero-pages',
    text: 'Always overcommit: classic example is code using sparse arrays and just relying on the virtual memory consisting almost entirely of zero pages',
    source: DOC_001,
  },
} satisfies Record<string, Claim>;

export interface ZeroPagesEvidence {
  mappedBytes: number;
  readPages: number;
  /** Every int read was 0. */
  allZero: boolean;
  /**
   * What the reads added to the VMA's Rss and Anonymous (smaps). A difference: the kernel may
   * merge the mapping with a neighbour of the same flags (V8 maps its heap NORESERVE too).
   */
  vmaRssDeltaBytes: number;
  vmaAnonymousDeltaBytes: number;
  rssDeltaBytes: number;
  /** mincore after the reads: a page mapped to the zero page counts as resident. */
  residentPages: number;
  committedDeltaBytes: number;
  committedToleranceBytes: number;
  vmFlags: string[];
  readMs: number;
  /** Where the reads happened: the memory cgroup made for them. */
  confinement: string;
}

export async function measureZeroPages(): Promise<ZeroPagesEvidence> {
  const limit = GiB + CONFINE_SLACK_BYTES;
  return withProcessInMemoryCgroup(limit, async (group) => {
    const before = sampleCommitted(3);
    const m = mmap(GiB, { noreserve: true });
    try {
      const afterMmap = sampleCommitted(3);
      const vmaSizes = () => findVma(readVmas(), m.address)?.sizes ?? {};
      const v0 = vmaSizes();
      const s0 = readStatus();
      const ints = new Int32Array(m.buffer);
      const step = pageSize / Int32Array.BYTES_PER_ELEMENT;
      let nonZero = 0;
      const t0 = performance.now();
      for (let i = 0; i < ints.length; i += step) if (ints[i] !== 0) nonZero++;
      const readMs = performance.now() - t0;
      const s1 = readStatus();
      const v1 = vmaSizes();
      return {
        mappedBytes: GiB,
        readPages: GiB / pageSize,
        allZero: nonZero === 0,
        vmaRssDeltaBytes: (v1.Rss ?? 0) - (v0.Rss ?? 0),
        vmaAnonymousDeltaBytes: (v1.Anonymous ?? 0) - (v0.Anonymous ?? 0),
        rssDeltaBytes: s1.vmRss - s0.vmRss,
        residentPages: m.residentPages(),
        committedDeltaBytes: afterMmap.median - before.median,
        committedToleranceBytes: before.spreadBytes + afterMmap.spreadBytes,
        vmFlags: m.vmFlags(),
        readMs,
        confinement: `this process, in memory cgroup ${group.path} limited to ${limit} B while reading`,
      };
    } finally {
      m.unmap();
    }
  });
}

export function zeroPagesFindings(e: ZeroPagesEvidence): Finding[] {
  // Page tables and Node's own allocations move RSS a little; 1% of the mapping is far below any real allocation.
  const small = (bytes: number): boolean => bytes < e.mappedBytes / 100;
  const costsNothing = e.allZero && small(e.vmaAnonymousDeltaBytes) && small(e.vmaRssDeltaBytes) && small(e.rssDeltaBytes);
  return [
    finding(
      C.zeroPages,
      costsNothing,
      `Reading one int in each of the ${e.readPages} pages of a 1 GiB MAP_NORESERVE mapping took ${e.readMs.toFixed(0)} ms and read ${e.allZero ? 'only zeros' : 'non-zero values'}; ` +
        `the reads added ${e.vmaAnonymousDeltaBytes} B of Anonymous and ${e.vmaRssDeltaBytes} B of Rss to the mapping's VMA (smaps), the process's RSS moved by ${mib(e.rssDeltaBytes)} ` +
        `(less than 1% of the mapping counts as nothing: page tables, Node's own allocations), ` +
        `while mincore called ${e.residentPages} pages resident: they are all mapped to the one shared zero page, which mincore counts and smaps does not. ` +
        `Committed_AS moved by ${e.committedDeltaBytes} B at mmap (±${e.committedToleranceBytes} B; VmFlags ${e.vmFlags.join(' ')}). Read in ${e.confinement}.`,
      { ...e },
    ),
  ];
}

export const zeroPages: Experiment = {
  id: 'zero-pages',
  title: "001's sparse arrays of zero pages: reading every page of 1 GiB never written, and what it costs",
  claims: Object.values(C),
  // The 1 GiB read happens inside a memory cgroup only (root and a memory controller).
  requires: { memoryCgroup: true },
  async run(ctx: ExperimentContext): Promise<Finding[]> {
    ctx.progress('zero-pages: reading every page of a 1 GiB mapping');
    return zeroPagesFindings(await measureZeroPages());
  },
};
