import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { describe, expect, it } from 'vitest';
import { hasCapSysAdmin } from '../../lib/kernel/status.js';
import { systemInfo } from '../../lib/kernel/system.js';

const kb = (field: string): number =>
  Number(readFileSync('/proc/meminfo', 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm'))![1]) * 1024;

describe('systemInfo', () => {
  it('reports this machine', () => {
    const s = systemInfo(4096);
    expect(s.kernel).toBe(release());
    expect(s.kernel).toBe(readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim());
    expect(s.pageSize).toBe(4096);
    expect(s.cpus).toBeGreaterThanOrEqual(1);
    expect(s.memTotalBytes).toBe(kb('MemTotal'));
    expect(s.swapTotalBytes).toBe(kb('SwapTotal'));
    expect(s.root).toBe(hasCapSysAdmin());
  });
});
