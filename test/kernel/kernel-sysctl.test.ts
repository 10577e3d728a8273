import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { OvercommitMode } from '../../lib/experiments/model.js';
import { readMountinfo } from '../../lib/kernel/mountinfo.js';
import { hasCapSysAdmin } from '../../lib/kernel/status.js';
import {
  modeDescription,
  modeName,
  parseOvercommitMode,
  readMmapMinAddr,
  readOvercommitSettings,
  sysctlWritability,
} from '../../lib/kernel/sysctl.js';

const vm = (name: string): number => Number(readFileSync(`/proc/sys/vm/${name}`, 'utf8'));

describe('overcommit sysctls', () => {
  it('reads the live values of /proc/sys/vm', () => {
    const s = readOvercommitSettings();
    expect(s).toEqual({
      mode: vm('overcommit_memory'),
      ratio: vm('overcommit_ratio'),
      kbytes: vm('overcommit_kbytes'),
      adminReserveKbytes: vm('admin_reserve_kbytes'),
      userReserveKbytes: vm('user_reserve_kbytes'),
    });
    expect([0, 1, 2]).toContain(s.mode);
  });

  it('reads vm.mmap_min_addr', () => {
    expect(readMmapMinAddr()).toBe(vm('mmap_min_addr'));
  });

  it('rejects an unknown mode', () => {
    expect(parseOvercommitMode(2)).toBe(2);
    expect(() => parseOvercommitMode(3)).toThrow(/only defines modes 0, 1 and 2/);
  });

  it('names and describes each mode', () => {
    const modes: OvercommitMode[] = [0, 1, 2];
    expect(modes.map(modeName)).toEqual(['heuristic', 'always', 'never']);
    expect(modes.map(modeDescription)).toEqual([
      'Heuristic (deny obvious overcommits)',
      'Always allow overcommits',
      'Strict (ratio-based accounting)',
    ]);
  });

  it('reports writability consistently with the capability, without changing the setting', () => {
    const before = readFileSync('/proc/sys/vm/overcommit_memory', 'utf8');
    const w = sysctlWritability();
    expect(readFileSync('/proc/sys/vm/overcommit_memory', 'utf8')).toBe(before);
    if (!hasCapSysAdmin()) {
      expect(w).toEqual({ writable: false, reason: expect.stringMatching(/CAP_SYS_ADMIN/) });
      return;
    }
    // With CAP_SYS_ADMIN, only a read-only /proc or /proc/sys mount (containers) stands in the way.
    const proc = readMountinfo().filter((m) => m.mountPoint === '/proc' || m.mountPoint === '/proc/sys');
    const readOnly = proc.some((m) => m.mountOptions.includes('ro'));
    expect(w.writable).toBe(!readOnly);
    if (readOnly) expect(w.reason).toMatch(/read-only/);
    else expect(w.reason).toBeUndefined();
  });
});
