import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseZoneinfo, totalReservePages } from '../../lib/kernel/zoneinfo.js';

const fixture = readFileSync(new URL('../fixtures/proc-zoneinfo.txt', import.meta.url), 'utf8');

describe('parseZoneinfo (captured sample)', () => {
  const zones = parseZoneinfo(fixture);

  it('reads each zone\'s high watermark, managed pages and lowmem reserves, not the per-cpu "high:"', () => {
    expect(zones.map((z) => z.name)).toEqual(['DMA', 'DMA32', 'Normal', 'Movable', 'Device']);
    expect(zones[0]).toEqual({ node: 0, name: 'DMA', high: 39, managed: 3840, protection: [0, 3018, 9290, 9290, 9290] });
    expect(zones[2]).toMatchObject({ high: 17079, managed: 1605632, protection: [0, 0, 0, 0, 0] });
  });

  it('totalreserve_pages: per zone the largest reserve plus the high watermark, at most its managed pages', () => {
    // DMA: min(9290 + 39, 3840) = 3840; DMA32: 6272 + 8221; Normal: 17079; Movable and Device manage nothing.
    expect(totalReservePages(zones)).toBe(3840 + 14493 + 17079);
  });

  it('throws on text without zones', () => {
    expect(() => parseZoneinfo('nothing\n')).toThrow(/no zone/);
  });
});
