import { describe, expect, it } from 'vitest';
import { measureZeroPages, zeroPagesFindings } from '../lib/experiments/zero-pages.js';

describe('zero-pages experiment', () => {
  it('reads zeros from every page of 1 GiB without the mapping gaining memory', () => {
    const e = measureZeroPages();
    expect(e.readPages).toBe(e.mappedBytes / 4096);
    expect(e.allZero).toBe(true);
    expect(e.vmaAnonymousDeltaBytes).toBeLessThan(e.mappedBytes / 100);
    // mincore counts a page mapped to the shared zero page as resident.
    expect(e.residentPages).toBe(e.readPages);
    expect(zeroPagesFindings(e)[0]!.holds).toBe(true);
  });

  it('says so when the reads did allocate', () => {
    const e = measureZeroPages();
    expect(zeroPagesFindings({ ...e, vmaAnonymousDeltaBytes: e.mappedBytes })[0]!.holds).toBe(false);
  });
});
