import { beforeAll, describe, expect, it } from 'vitest';
import { measureZeroPages, type ZeroPagesEvidence, zeroPages, zeroPagesFindings } from '../lib/experiments/zero-pages.js';
import { memoryCgroupAvailability } from '../lib/safety/memory-cgroup.js';

// The experiment reads 1 GiB only inside a memory cgroup it makes (root and a controller).
const cgroups = memoryCgroupAvailability();

describe.skipIf(!cgroups.available)(`zero-pages experiment${cgroups.available ? '' : ` (skipped: ${cgroups.reason})`}`, () => {
  let e: ZeroPagesEvidence;

  beforeAll(async () => {
    e = await measureZeroPages();
  });

  it('needs a memory cgroup, and read inside one', () => {
    expect(zeroPages.requires).toEqual({ memoryCgroup: true });
    expect(e.confinement).toMatch(/^this process, in memory cgroup \S+ limited to \d+ B while reading$/);
  });

  it('reads zeros from every page of 1 GiB without the mapping gaining memory', () => {
    expect(e.readPages).toBe(e.mappedBytes / 4096);
    expect(e.allZero).toBe(true);
    expect(e.vmaAnonymousDeltaBytes).toBeLessThan(e.mappedBytes / 100);
    // mincore counts a page mapped to the shared zero page as resident.
    expect(e.residentPages).toBe(e.readPages);
    expect(zeroPagesFindings(e)[0]!.holds).toBe(true);
  });

  it('says so when the reads did allocate', () => {
    expect(zeroPagesFindings({ ...e, vmaAnonymousDeltaBytes: e.mappedBytes })[0]!.holds).toBe(false);
  });
});
