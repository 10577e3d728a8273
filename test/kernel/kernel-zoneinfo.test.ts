import { describe, expect, it } from 'vitest';
import { readZoneinfo, totalReservePages } from '../../lib/kernel/zoneinfo.js';

describe('live /proc/zoneinfo', () => {
  it('has zones with managed pages', () => {
    const zones = readZoneinfo();
    expect(zones.some((z) => z.managed > 0)).toBe(true);
    expect(totalReservePages(zones)).toBeLessThanOrEqual(zones.reduce((s, z) => s + z.managed, 0));
  });
});
