import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseMeminfo } from '../../lib/kernel/meminfo.js';

const fixture = readFileSync(new URL('../fixtures/proc-meminfo.txt', import.meta.url), 'utf8');

describe('parseMeminfo (captured sample)', () => {
  const m = parseMeminfo(fixture);

  it('converts kB fields to bytes', () => {
    expect(m.memTotal).toBe(24684096 * 1024);
    expect(m.memFree).toBe(23342044 * 1024);
    expect(m.memAvailable).toBe(24310284 * 1024);
    expect(m.commitLimit).toBe(12342048 * 1024);
    expect(m.committedAs).toBe(52912 * 1024);
    expect(m.swapTotal).toBe(0);
    expect(m.swapFree).toBe(0);
    expect(m.hugepagesize).toBe(2048 * 1024);
    expect(m.hugetlb).toBe(0);
  });

  it('keeps every field by its kernel name, unit-less ones as counts', () => {
    expect(Object.keys(m.fields)).toHaveLength(54);
    expect(m.fields['Active(anon)']).toBe(1520 * 1024);
    expect(m.fields.FileHugePages).toBe(2048 * 1024);
    expect(m.fields.HugePages_Total).toBe(0);
    expect(m.hugePagesTotal).toBe(0);
    expect(m.fields.VmallocTotal).toBe(34359738367 * 1024);
  });

  it('counts HugePages_Total as a count, not kB', () => {
    const m2 = parseMeminfo(fixture.replace(/HugePages_Total:\s+0/, 'HugePages_Total:      16'));
    expect(m2.hugePagesTotal).toBe(16);
  });

  it('derives Hugetlb from the default size when the field is absent (kernels < 4.16)', () => {
    const old = fixture.replace(/HugePages_Total:\s+0/, 'HugePages_Total:       3').replace(/^Hugetlb:.*\n/m, '');
    expect(parseMeminfo(old).hugetlb).toBe(3 * 2048 * 1024);
  });

  it('throws naming a missing required field', () => {
    expect(() => parseMeminfo(fixture.replace(/^CommitLimit:.*\n/m, ''))).toThrow(/CommitLimit is missing/);
  });

  it('throws on a line it cannot read', () => {
    expect(() => parseMeminfo('MemTotal: lots\n')).toThrow(/unexpected line/);
  });
});
