import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type CgroupFs, findMemoryCgroup, parseProcCgroup } from '../../lib/kernel/cgroup.js';

const fixture = (name: string): string => readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');

/** A fake machine: fixed mountinfo and /proc/self/cgroup, files by path, writable dirs. */
function fakeFs(mountinfo: string, procCgroup: string, files: Record<string, string>, writable: string[]): CgroupFs {
  return {
    mountinfo: () => mountinfo,
    procCgroup: () => procCgroup,
    readFile: (path) => files[path],
    writableDir: (path) => writable.includes(path),
  };
}

const V1_DIR = '/sys/fs/cgroup/memory/process_api/01c92565f894b563c79b9a96b9387e60';
const V2_DIR = '/sys/fs/cgroup/user.slice/user-1000.slice/session-3.scope';

describe('parseProcCgroup', () => {
  it('reads v1 and v2 lines of the captured sample', () => {
    const lines = parseProcCgroup(fixture('proc-cgroup.txt'));
    expect(lines).toHaveLength(10);
    expect(lines.find((l) => l.controllers.includes('memory'))).toEqual({
      hierarchyId: 4,
      controllers: ['memory'],
      path: '/process_api/01c92565f894b563c79b9a96b9387e60',
    });
    expect(lines[0]).toEqual({ hierarchyId: 9, controllers: ['name=systemd'], path: '/' });
    expect(lines[9]).toEqual({ hierarchyId: 0, controllers: [], path: '/' });
  });

  it('splits comma-joined controllers and rejects garbage', () => {
    expect(parseProcCgroup('3:cpu,cpuacct:/a\n')[0]!.controllers).toEqual(['cpu', 'cpuacct']);
    expect(() => parseProcCgroup('nonsense\n')).toThrow(/unexpected line/);
  });
});

describe('findMemoryCgroup on captured samples', () => {
  it('v1 hybrid (this machine): picks the v1 memory hierarchy', () => {
    const fs = fakeFs(
      fixture('proc-mountinfo.txt'),
      fixture('proc-cgroup.txt'),
      { [`${V1_DIR}/memory.limit_in_bytes`]: '9223372036854771712\n' },
      [V1_DIR],
    );
    expect(findMemoryCgroup(fs)).toEqual({
      available: true,
      version: 1,
      mountPoint: '/sys/fs/cgroup/memory',
      ownPath: '/process_api/01c92565f894b563c79b9a96b9387e60',
      ownDir: V1_DIR,
      limitFile: 'memory.limit_in_bytes',
      canCreateChild: true,
    });
  });

  it('v1 without write permission cannot create a child', () => {
    const fs = fakeFs(fixture('proc-mountinfo.txt'), fixture('proc-cgroup.txt'), { [`${V1_DIR}/memory.limit_in_bytes`]: '0\n' }, []);
    const cg = findMemoryCgroup(fs);
    expect(cg).toMatchObject({ available: true, version: 1, canCreateChild: false });
    expect(cg.reason).toMatch(/no write permission/);
  });

  it('v1 with a mount exposing only a subtree (container): strips the mount root', () => {
    const mountinfo = '35 31 0:32 /process_api /sys/fs/cgroup/memory ro,relatime - cgroup cgroup rw,memory\n';
    const dir = '/sys/fs/cgroup/memory/01c92565f894b563c79b9a96b9387e60';
    const fs = fakeFs(mountinfo, fixture('proc-cgroup.txt'), { [`${dir}/memory.limit_in_bytes`]: '0\n' }, [dir]);
    const cg = findMemoryCgroup(fs);
    expect(cg).toMatchObject({ available: true, ownDir: dir, canCreateChild: false });
    expect(cg.reason).toMatch(/read-only/);
  });

  it('v2 with memory delegated to children', () => {
    const fs = fakeFs(
      fixture('cgroup2-mountinfo.txt'),
      fixture('cgroup2-cgroup.txt'),
      { [`${V2_DIR}/cgroup.controllers`]: 'cpu io memory pids\n', [`${V2_DIR}/cgroup.subtree_control`]: 'memory pids\n' },
      [V2_DIR],
    );
    expect(findMemoryCgroup(fs)).toEqual({
      available: true,
      version: 2,
      mountPoint: '/sys/fs/cgroup',
      ownPath: '/user.slice/user-1000.slice/session-3.scope',
      ownDir: V2_DIR,
      limitFile: 'memory.max',
      canCreateChild: true,
    });
  });

  it('v2 without memory in subtree_control: the no-internal-processes rule blocks children', () => {
    const fs = fakeFs(
      fixture('cgroup2-mountinfo.txt'),
      fixture('cgroup2-cgroup.txt'),
      { [`${V2_DIR}/cgroup.controllers`]: 'cpu io memory pids\n', [`${V2_DIR}/cgroup.subtree_control`]: '\n' },
      [V2_DIR],
    );
    const cg = findMemoryCgroup(fs);
    expect(cg).toMatchObject({ available: true, version: 2, canCreateChild: false });
    expect(cg.reason).toMatch(/no internal processes/);
  });

  it('v2 at a (namespace) root without memory in subtree_control cannot create a limited child', () => {
    const fs = fakeFs(
      '30 1 0:27 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw\n',
      '0::/\n',
      { '/sys/fs/cgroup/cgroup.controllers': 'cpu io memory pids\n', '/sys/fs/cgroup/cgroup.subtree_control': 'cpu\n' },
      ['/sys/fs/cgroup/'],
    );
    const cg = findMemoryCgroup(fs);
    expect(cg).toMatchObject({ available: true, version: 2, canCreateChild: false });
    expect(cg.reason).toMatch(/no memory\.max/);
  });

  it('v2 without the memory controller is unavailable', () => {
    const fs = fakeFs(fixture('cgroup2-mountinfo.txt'), fixture('cgroup2-cgroup.txt'), { [`${V2_DIR}/cgroup.controllers`]: 'cpu pids\n' }, [
      V2_DIR,
    ]);
    const cg = findMemoryCgroup(fs);
    expect(cg.available).toBe(false);
    expect(cg.reason).toMatch(/memory controller is not enabled/);
  });

  it('no cgroup mounts at all is unavailable', () => {
    const fs = fakeFs('26 1 253:0 / / rw - ext4 /dev/root rw\n', '0::/\n', {}, []);
    expect(findMemoryCgroup(fs)).toMatchObject({ available: false, reason: expect.stringMatching(/no memory cgroup/) });
  });
});

describe('findMemoryCgroup on this machine', () => {
  it('finds the group named in /proc/self/cgroup, and its limit file exists (below the v2 root)', (ctx) => {
    const cg = findMemoryCgroup();
    if (!cg.available) return ctx.skip(`no memory cgroup here: ${cg.reason}`);
    const memLine = readFileSync('/proc/self/cgroup', 'utf8')
      .split('\n')
      .find((l) => /^\d+:([^:]*,)?memory(,[^:]*)?:/.test(l));
    if (memLine) {
      expect(cg.version).toBe(1);
      expect(cg.ownPath).toBe(memLine.split(':')[2]);
    } else {
      expect(cg.version).toBe(2);
    }
    // The cgroup v2 root (a process there: a guest without systemd) has no memory.max of its own.
    if (!(cg.version === 2 && cg.ownPath === '/')) expect(existsSync(`${cg.ownDir}/${cg.limitFile}`)).toBe(true);
    expect(cg.ownDir.startsWith(cg.mountPoint)).toBe(true);
  });
});
