import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { capEffHasSysAdmin, hasCapSysAdmin, readStatus } from '../../lib/kernel/status.js';

describe('capabilities', () => {
  it('tests bit 21 (CAP_SYS_ADMIN) only', () => {
    expect(capEffHasSysAdmin(1n << 21n)).toBe(true);
    expect(capEffHasSysAdmin(0x1fffeffffffn)).toBe(true);
    expect(capEffHasSysAdmin(0x1fffeffffffn & ~(1n << 21n))).toBe(false);
    expect(capEffHasSysAdmin(0n)).toBe(false);
  });

  it('hasCapSysAdmin agrees with the live CapEff line', () => {
    const line = readFileSync('/proc/self/status', 'utf8').match(/^CapEff:\s+([0-9a-f]+)$/m)![1]!;
    expect(hasCapSysAdmin()).toBe(((BigInt(`0x${line}`) >> 21n) & 1n) === 1n);
  });
});

describe('live status', () => {
  it('describes this process', () => {
    const s = readStatus();
    expect(s.pid).toBe(process.pid);
    expect(s.uid[0]).toBe(process.getuid!());
    expect(s.vmRss).toBeGreaterThan(0);
    expect(s.vmRss).toBeLessThanOrEqual(s.vmHwm);
    expect(s.vmSize).toBeLessThanOrEqual(s.vmPeak);
    expect(s.vmRss).toBe(s.rssAnon + s.rssFile + s.rssShmem);
  });
});
