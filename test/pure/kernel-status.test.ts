import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseStatus } from '../../lib/kernel/status.js';

const fixture = readFileSync(new URL('../fixtures/proc-status.txt', import.meta.url), 'utf8');

describe('parseStatus (captured sample)', () => {
  const s = parseStatus(fixture);

  it('reads identity and capabilities', () => {
    expect(s.name).toBe('cat');
    expect(s.pid).toBe(5341);
    expect(s.threads).toBe(1);
    expect(s.uid).toEqual([0, 0, 0, 0]);
    expect(s.gid).toEqual([0, 0, 0, 0]);
    expect(s.capEff).toBe(0x1fffeffffffn);
    expect(s.capPrm).toBe(0x1fffeffffffn);
  });

  it('converts memory fields to bytes', () => {
    expect(s.vmPeak).toBe(3060 * 1024);
    expect(s.vmSize).toBe(3060 * 1024);
    expect(s.vmHwm).toBe(1712 * 1024);
    expect(s.vmRss).toBe(1712 * 1024);
    expect(s.rssAnon).toBe(116 * 1024);
    expect(s.rssFile).toBe(1596 * 1024);
    expect(s.rssShmem).toBe(0);
    expect(s.vmData).toBe(360 * 1024);
    expect(s.vmStk).toBe(132 * 1024);
    expect(s.vmSwap).toBe(0);
    expect(s.sizes.VmPTE).toBe(44 * 1024);
    expect(s.sizes.HugetlbPages).toBe(0);
    expect(s.sizes.Threads).toBeUndefined();
  });

  it('throws when a kernel thread lacks the Vm fields', () => {
    expect(() => parseStatus(fixture.replace(/^VmSize:.*\n/m, ''))).toThrow(/VmSize missing/);
  });
});
