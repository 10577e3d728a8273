import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { commitLimitFormula, parseMeminfo, readMeminfo, sampleCommitted } from '../lib/kernel/meminfo.js';
import { readOvercommitSettings } from '../lib/kernel/sysctl.js';

const fixture = readFileSync(new URL('./fixtures/proc-meminfo.txt', import.meta.url), 'utf8');

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

describe('commitLimitFormula', () => {
  const m = parseMeminfo(fixture);

  it('ratio: (totalram - hugetlb) * ratio / 100 + swap, in whole pages', () => {
    const r = commitLimitFormula(m, { ratio: 50, kbytes: 0 });
    // 24684096 kB = 6171024 pages; * 50 / 100 = 3085512 pages.
    expect(r.bytes).toBe(3085512 * 4096);
    expect(r.bytes).toBe(m.commitLimit);
    expect(r.formula).toContain('6171024 pages');
    expect(r.formula).toContain('3085512 pages');
  });

  it('rounds down in pages like the kernel', () => {
    // 6171024 * 33 / 100 = 2036437.92 -> 2036437 pages.
    expect(commitLimitFormula(m, { ratio: 33, kbytes: 0 }).bytes).toBe(2036437 * 4096);
  });

  it('subtracts hugetlb pages and adds swap pages', () => {
    const withHuge = parseMeminfo(
      fixture.replace(/^Hugetlb:.*$/m, 'Hugetlb:         1048576 kB').replace(/^SwapTotal:.*$/m, 'SwapTotal:       4194304 kB'),
    );
    // (6171024 - 262144) * 50 / 100 + 1048576 = 2954440 + 1048576 pages.
    expect(commitLimitFormula(withHuge, { ratio: 50, kbytes: 0 }).bytes).toBe((2954440 + 1048576) * 4096);
  });

  it('kbytes overrides ratio: kbytes >> (PAGE_SHIFT - 10)', () => {
    const r = commitLimitFormula(m, { ratio: 50, kbytes: 1000003 });
    expect(r.bytes).toBe(250000 * 4096);
    expect(r.formula).toContain('overcommit_kbytes 1000003');
  });

  it('honours another page size', () => {
    // 64 KiB pages: 24684096 kB / 64 = 385689 pages; * 50 / 100 = 192844 pages.
    expect(commitLimitFormula(m, { ratio: 50, kbytes: 0 }, 65536).bytes).toBe(192844 * 65536);
  });

  it('equals the live CommitLimit of this machine exactly', () => {
    const live = readMeminfo();
    const s = readOvercommitSettings();
    const r = commitLimitFormula(live, s);
    expect(r.bytes, r.formula).toBe(live.commitLimit);
  });
});

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
