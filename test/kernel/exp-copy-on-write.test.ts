import { describe, expect, it } from 'vitest';
import { measureCopyOnWrite } from '../../lib/experiments/copy-on-write/index.js';
import { pageSize } from '../../lib/native/mapping.js';
import { MiB, OWN_JITTER_BYTES } from '../../lib/units.js';

describe('copy-on-write on this kernel', () => {
  it("counts the child's pages consistently with what it wrote, and its VmSize with the parent's", async () => {
    const e = await measureCopyOnWrite();
    expect(e.problem).toBeUndefined();
    const n = e.regionPages;
    expect(n).toBe(e.regionBytes / pageSize);
    // The touch step reports the pages it wrote: one in four.
    expect(e.partialWrittenPages).toBe(n / 4);
    // Every page of the region is accounted for, shared or private, at each point.
    for (const p of [e.afterFork!, e.afterPartialWrite!, e.afterFullWrite!]) expect(p.sharedPages + p.privatePages).toBe(n);
    // Writing only adds private pages.
    expect(e.afterPartialWrite!.privatePages).toBeGreaterThanOrEqual(e.afterFork!.privatePages);
    expect(e.afterFullWrite!.privatePages).toBeGreaterThanOrEqual(e.afterPartialWrite!.privatePages);
    // The child holds no more than a copy of the parent plus runChild's result area (the reads'
    // room and a page of step results) and Node's threads' own maps around the fork.
    expect(e.resultReadBytes).toBe(64 * 1024 * 2 + 3 * 4 * MiB);
    expect(e.childVmSizeBytes).toBeLessThanOrEqual(
      Math.max(e.parentCopyableBeforeBytes, e.parentCopyableAfterBytes) + e.resultReadBytes + pageSize + OWN_JITTER_BYTES,
    );
    expect(e.exitCode).toBe(0);
    expect(JSON.parse(JSON.stringify(e))).toEqual(e);
  });
});
