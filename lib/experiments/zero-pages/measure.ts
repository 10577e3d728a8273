import { readMeminfo, sampleCommitted } from '../../kernel/meminfo.js';
import { findVma, readVmas } from '../../kernel/smaps.js';
import { readStatus } from '../../kernel/status.js';
import { readThpSettings } from '../../kernel/thp.js';
import { mmap, pageSize } from '../../native/mapping.js';
import { memoryCgroupAvailability, withProcessInMemoryCgroup } from '../../safety/memory-cgroup.js';
import { mib } from '../../units.js';
import { REGION_BYTES, type ZeroPagesEvidence } from './evidence.js';

/** The process is confined to the region plus this much while it reads. */
const CONFINE_SLACK_BYTES = 512 * 1024 * 1024;

/** Without a memory cgroup, the reads run only when MemAvailable is this many times the region. */
const UNCONFINED_MARGIN = 8;

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
      pageSize,
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
      thpSizeBytes: thp.sizeBytes,
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
