import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { mountContaining, parseMountinfo, readMountinfo } from '../../lib/kernel/mountinfo.js';

const fixture = (name: string): string => readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');

describe('parseMountinfo', () => {
  it('reads the captured mountinfo of this machine', () => {
    const mounts = parseMountinfo(fixture('proc-mountinfo.txt'));
    expect(mounts).toHaveLength(20);
    const memory = mounts.find((m) => m.mountPoint === '/sys/fs/cgroup/memory');
    expect(memory).toEqual({
      mountId: 35,
      parentId: 31,
      root: '/',
      mountPoint: '/sys/fs/cgroup/memory',
      mountOptions: ['rw', 'relatime'],
      fsType: 'cgroup',
      source: 'cgroup',
      superOptions: ['rw', 'memory'],
    });
    expect(mounts.find((m) => m.fsType === 'cgroup2')?.mountPoint).toBe('/sys/fs/cgroup/unified');
  });

  it('skips optional fields and unescapes octal in paths', () => {
    const mounts = parseMountinfo(fixture('cgroup2-mountinfo.txt'));
    expect(mounts[0]!.fsType).toBe('proc');
    expect(mounts[3]!.superOptions).toEqual(['rw', 'nsdelegate', 'memory_recursiveprot']);
    expect(mounts[5]!.mountPoint).toBe('/mnt/my disk');
    expect(mounts[5]!.source).toBe('tmp fs');
  });

  it('finds the mount containing a path, preferring the deepest', () => {
    const mounts = parseMountinfo(fixture('cgroup2-mountinfo.txt'));
    const sys = mountContaining(mounts, '/proc/sys/vm/overcommit_memory');
    expect(sys?.mountPoint).toBe('/proc/sys');
    expect(sys?.mountOptions).toContain('ro');
    expect(mountContaining(mounts, '/proc/meminfo')?.mountPoint).toBe('/proc');
    expect(mountContaining(mounts, '/proc/system')?.mountPoint).toBe('/proc');
    expect(mountContaining(mounts, '/etc/passwd')?.mountPoint).toBe('/');
  });

  it('throws on a malformed line', () => {
    expect(() => parseMountinfo('22 27 0:21 / /proc rw\n')).toThrow(/malformed/);
  });

  it('reads the live mountinfo, which has a root mount', () => {
    const mounts = readMountinfo();
    expect(mounts.some((m) => m.mountPoint === '/')).toBe(true);
    expect(mountContaining(mounts, '/proc/sys/vm/overcommit_memory')?.fsType).toBe('proc');
  });
});
