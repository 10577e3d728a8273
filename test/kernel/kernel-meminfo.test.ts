import { describe, expect, it } from 'vitest';
import { readMeminfo, sampleCommitted } from '../../lib/kernel/meminfo.js';

describe('live /proc/meminfo', () => {
  it('reads plausible values', () => {
    const m = readMeminfo();
    expect(m.memTotal).toBeGreaterThan(64 * 1024 * 1024);
    expect(m.memTotal % 1024).toBe(0);
    expect(m.memFree).toBeLessThanOrEqual(m.memTotal);
    expect(m.committedAs).toBeGreaterThan(0);
  });

  it('sampleCommitted returns n samples with consistent statistics', () => {
    const s = sampleCommitted(7);
    expect(s.samples).toHaveLength(7);
    expect(s.min).toBe(Math.min(...s.samples));
    expect(s.max).toBe(Math.max(...s.samples));
    expect(s.spreadBytes).toBe(s.max - s.min);
    expect(s.spreadBytes).toBeGreaterThanOrEqual(0);
    expect(s.median).toBeGreaterThanOrEqual(s.min);
    expect(s.median).toBeLessThanOrEqual(s.max);
    expect(s.min).toBeGreaterThan(0);
  });

  it('sampleCommitted rejects a non-positive count', () => {
    expect(() => sampleCommitted(0)).toThrow(/positive integer/);
  });
});
