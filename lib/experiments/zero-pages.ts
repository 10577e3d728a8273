/**
 * zero-pages: 001 calls mode 1 right for "code using sparse arrays and just relying on the
 * virtual memory consisting almost entirely of zero pages". An untouched anonymous page reads
 * as zero; whether reading it costs memory is the kernel's choice (the shared zero page, the
 * huge zero page, or a fresh page on builds that map neither). This reads one int in every page
 * of a never-written region and measures what that cost: the region's Rss and Anonymous in smaps
 * (exact, per mapping), the process's RSS, and what mincore reports.
 * The claim is about the cost per page, so a 64 MiB region is as exact as a gigabyte. Should the
 * reads allocate, 64 MiB is charged: inside a memory cgroup when this machine has one, else only
 * when MemAvailable leaves a wide margin.
 */
import { readMeminfo, sampleCommitted } from '../kernel/meminfo.js';
import { findVma, readVmas } from '../kernel/smaps.js';
import { readStatus } from '../kernel/status.js';
import { readThpSettings } from '../kernel/thp.js';
import { mmap, pageSize } from '../native/mapping.js';
import { memoryCgroupAvailability, withProcessInMemoryCgroup } from '../safety/memory-cgroup.js';
import { mib } from '../units.js';
import { DOC_001 } from './documents.js';
import { defineExperiment, type Measured } from './model.js';

/** The region read. */
const REGION_BYTES = 64 * 1024 * 1024;
/** The process is confined to the region plus this much while it reads. */
const CONFINE_SLACK_BYTES = 512 * 1024 * 1024;
/** Without a memory cgroup, the reads run only when MemAvailable is this many times the region. */
const UNCONFINED_MARGIN = 8;
/** A growth below this fraction of the region is no allocation; above (1 - it), every page was allocated. */
const DECISION_FRACTION = 0.1;

export interface ZeroPagesEvidence extends Measured {
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
  /** mincore after the reads: a page mapped to a zero page counts as resident. */
  residentPages: number;
  committedDeltaBytes: number;
  committedToleranceBytes: number;
  vmFlags: string[];
  readMs: number;
  /** THP `enabled` and `use_zero_page`: what a read fault may map. */
  thpEnabled: string | null;
  thpUseZeroPage: number | null;
  /** Where the reads happened. */
  confinement: string;
}

function readRegion(confinement: string): ZeroPagesEvidence {
  const before = sampleCommitted(3);
  const m = mmap(REGION_BYTES, { noreserve: true });
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
    const thp = readThpSettings();
    return {
      mappedBytes: REGION_BYTES,
      readPages: REGION_BYTES / pageSize,
      allZero: nonZero === 0,
      vmaRssDeltaBytes: (v1.Rss ?? 0) - (v0.Rss ?? 0),
      vmaAnonymousDeltaBytes: (v1.Anonymous ?? 0) - (v0.Anonymous ?? 0),
      rssDeltaBytes: s1.vmRss - s0.vmRss,
      residentPages: m.residentPages(),
      committedDeltaBytes: afterMmap.median - before.median,
      committedToleranceBytes: before.spreadBytes + afterMmap.spreadBytes,
      vmFlags: m.vmFlags(),
      readMs,
      thpEnabled: thp.enabled,
      thpUseZeroPage: thp.useZeroPage,
      confinement,
    };
  } finally {
    m.unmap();
  }
}

export async function measureZeroPages(): Promise<ZeroPagesEvidence> {
  if (memoryCgroupAvailability().available) {
    const limit = REGION_BYTES + CONFINE_SLACK_BYTES;
    return withProcessInMemoryCgroup(limit, async (group) =>
      readRegion(`this process, in memory cgroup ${group.path} limited to ${limit} B while reading`),
    );
  }
  const available = readMeminfo().memAvailable;
  if (available < UNCONFINED_MARGIN * REGION_BYTES) {
    throw new Error(
      `no memory cgroup to confine the reads, and MemAvailable ${mib(available)} is under ${UNCONFINED_MARGIN} x the ${mib(REGION_BYTES)} region`,
    );
  }
  return readRegion(`this process, unconfined: MemAvailable was ${mib(available)}, over ${UNCONFINED_MARGIN} x the region`);
}

/** The growth the verdict reads: the mapping's own Anonymous memory, exact per VMA. */
const grewBy = (e: ZeroPagesEvidence): number => Math.max(e.vmaAnonymousDeltaBytes, 0);

export const zeroPages = defineExperiment<ZeroPagesEvidence>({
  id: 'zero-pages',
  title: "001's sparse arrays of zero pages: reading every page of a region never written, and what it costs",
  requires: {},
  measure: async (ctx) => {
    ctx.progress(`zero-pages: reading every page of a ${mib(REGION_BYTES)} mapping`);
    return measureZeroPages();
  },
  rules: [
    {
      claim: {
        id: 'sparse-virtual-memory-is-zero-pages',
        text: 'Always overcommit: classic example is code using sparse arrays and just relying on the virtual memory consisting almost entirely of zero pages',
        source: DOC_001,
      },
      judge: (e) => {
        if (!e.allZero) return { holds: false, reason: 'a page never written did not read as zero' };
        const grown = grewBy(e);
        if (grown <= DECISION_FRACTION * e.mappedBytes) return { holds: true };
        if (grown >= (1 - DECISION_FRACTION) * e.mappedBytes) return { holds: false };
        return {
          holds: null,
          reason: `the reads added ${mib(grown)} of Anonymous memory to a ${mib(e.mappedBytes)} region: neither none nor all of it`,
        };
      },
      observe: (e, v) => {
        const grown = grewBy(e);
        const zeroBacked = v.holds === true && e.residentPages === e.readPages;
        const cost = !e.allZero
          ? 'pages never written did not all read as zero'
          : v.holds === true
            ? zeroBacked
              ? `mincore counts all ${e.residentPages} pages resident while smaps gives them no Anonymous memory: they are backed by a zero page, not memory of their own`
              : `mincore counts ${e.residentPages} of ${e.readPages} pages resident, and smaps gives them no Anonymous memory of their own`
            : v.holds === false
              ? `the kernel gave the region ${mib(grown)} of memory of its own for pages that were only read (THP ${e.thpEnabled ?? 'absent'}, use_zero_page ${e.thpUseZeroPage ?? 'absent'})`
              : 'the growth is between the two outcomes';
        return (
          `Reading one int in each of the ${e.readPages} pages of a ${mib(e.mappedBytes)} MAP_NORESERVE mapping took ${e.readMs.toFixed(0)} ms and read ${e.allZero ? 'only zeros' : 'non-zero values'}; ` +
          `it added ${e.vmaAnonymousDeltaBytes} B of Anonymous and ${e.vmaRssDeltaBytes} B of Rss to the mapping's VMA (smaps), and moved the process's RSS by ${mib(e.rssDeltaBytes)}: ${cost}. ` +
          `Read in ${e.confinement}.`
        );
      },
    },
  ],
});
