import { describe, expect, it } from 'vitest';
import { getrlimit, mmap, pageSize, runChild, setrlimit } from '../../lib/index.js';
import { parseMeminfo } from '../../lib/kernel/meminfo.js';
import { parseSmaps } from '../../lib/kernel/smaps.js';

const MiB = 1 << 20;

describe('runChild', () => {
  it('RLIMIT_AS in the child makes a later mmap fail with ENOMEM; the parent is unaffected', async () => {
    const parentBefore = getrlimit('as');
    const r = await runChild([
      { op: 'setrlimit', resource: 'as', soft: 64 * MiB, relative: true, required: true },
      { op: 'mmap', length: 128 * MiB },
      { op: 'mmap', length: 8 * MiB },
      { op: 'touch', mapping: 2 },
      { op: 'mmap', length: 128 * MiB, options: { noreserve: true } },
      { op: 'sbrk', increment: 128 * MiB },
    ]);
    expect(r.exitCode).toBe(0);
    expect(r.signal).toBeNull();
    const [lim, big, small, touch, bigNr, brk] = r.steps;
    expect(lim!.status).toBe('ok');
    expect(lim!.limitBytes).toBe(lim!.baseBytes! + 64 * MiB);
    expect(lim!.baseBytes).toBeGreaterThan(64 * MiB);
    expect(big).toMatchObject({ status: 'failed', code: 'ENOMEM', errno: -12 });
    expect(small!.status).toBe('ok');
    expect(typeof small!.address).toBe('bigint');
    expect(touch).toMatchObject({ status: 'ok', progress: (8 * MiB) / pageSize });
    expect(bigNr).toMatchObject({ status: 'failed', code: 'ENOMEM' });
    expect(brk).toMatchObject({ status: 'failed', code: 'ENOMEM' });
    expect(getrlimit('as')).toEqual(parentBefore);
    const m = mmap(128 * MiB);
    expect(m.touch({ stride: 16 * pageSize })).toBe((128 * MiB) / pageSize / 16);
    m.unmap();
  });

  it('reports a child killed by a signal, and how far its touch got', async () => {
    const r = await runChild([
      { op: 'mmap', length: 16 * pageSize, options: { prot: 'r' } },
      { op: 'touch', mapping: 0 },
      { op: 'sleep', ms: 1 },
    ]);
    expect(r.signal).toBe('SIGSEGV');
    expect(r.exitCode).toBeNull();
    expect(r.stepsStarted).toBe(2);
    expect(r.steps[1]).toMatchObject({ status: 'not-run', progress: 0 });
    expect(r.steps[2]!.status).toBe('not-run');
  });

  it('kills and reaps a child that outlives its timeout', async () => {
    const r = await runChild([{ op: 'sleep', ms: 60_000 }], { timeoutMs: 100 });
    expect(r).toMatchObject({ timedOut: true, signal: 'SIGKILL', exitCode: null });
    expect(r.reapedMs).toBeGreaterThanOrEqual(100);
  });

  it('stops at a required step that fails, and skips steps on a mapping that was not made', async () => {
    const r = await runChild([
      { op: 'readfile', path: '/nonexistent/file' },
      { op: 'mmap', length: 1 << 30, options: { prot: 'rw' } },
      { op: 'munmap', mapping: 1 },
      { op: 'writefile', path: '/nonexistent/file', data: 'x', required: true },
      { op: 'fork' },
    ]);
    expect(r.steps[0]).toMatchObject({ status: 'failed', code: 'ENOENT' });
    expect(r.steps[2]!.status).toBe('ok');
    expect(r.steps[3]).toMatchObject({ status: 'failed', code: 'ENOENT' });
    expect(r.exitCode).toBe(1);
    expect(r.steps[4]!.status).toBe('not-run');
    const s = await runChild([
      { op: 'mmap', length: 1 << 20, options: { prot: 'none' } },
      { op: 'touch', mapping: 0 },
    ]);
    expect(s.signal).toBe('SIGSEGV');
    const skip = await runChild([
      { op: 'setrlimit', resource: 'as', soft: 0, relative: true },
      { op: 'mmap', length: 1 << 20 },
      { op: 'touch', mapping: 1 },
    ]);
    expect(skip.exitCode).toBe(0);
    expect(skip.steps[1]!.code).toBe('ENOMEM');
    expect(skip.steps[2]!.status).toBe('skipped');
    const huge = await runChild([{ op: 'setrlimit', resource: 'as', soft: Number.MAX_SAFE_INTEGER, relative: true }]);
    expect(huge.steps[0]).toMatchObject({ status: 'failed', code: 'EOVERFLOW' });
  });

  it('forks a grandchild, reads files, and reads the VmFlags of a mapping inherited from the parent', async () => {
    const nr = mmap(4 * MiB, { noreserve: true });
    const r = await runChild([
      { op: 'fork' },
      { op: 'readfile', path: '/proc/meminfo', maxBytes: 64 * 1024 },
      { op: 'vmflags', address: nr.address },
      { op: 'touch', address: nr.address, length: nr.length },
    ]);
    expect(r.exitCode).toBe(0);
    expect(r.steps[0]!.status).toBe('ok');
    expect(r.steps[0]!.pid).toBeGreaterThan(0);
    expect(parseMeminfo(r.steps[1]!.data!).memTotal).toBeGreaterThan(0);
    expect(r.steps[2]!.vmFlags).toEqual(nr.vmFlags());
    expect(r.steps[3]!.progress).toBe(nr.length / pageSize);
    // The child's writes were its own copies: the parent's pages are untouched.
    expect(nr.residentPages()).toBe(0);
    nr.unmap();
  });

  it('grows its stack, and a stack past RLIMIT_STACK ends in SIGSEGV', async () => {
    const stackSize = (data: string | undefined) => {
      const v = parseSmaps(data ?? '').find((x) => x.pathname === '[stack]')!;
      return Number(v.end - v.start);
    };
    const r = await runChild([
      { op: 'readfile', path: '/proc/self/smaps', maxBytes: 4 * MiB },
      { op: 'stack', bytes: 4 * MiB },
      { op: 'readfile', path: '/proc/self/smaps', maxBytes: 4 * MiB },
    ]);
    expect(r.exitCode).toBe(0);
    expect(r.steps[1]!.stackBytes).toBeGreaterThanOrEqual(4 * MiB);
    expect(stackSize(r.steps[2]!.data) - stackSize(r.steps[0]!.data)).toBeGreaterThan(3 * MiB);
    const overflow = await runChild([
      { op: 'setrlimit', resource: 'stack', soft: 2 * MiB, required: true },
      { op: 'stack', bytes: 16 * MiB },
    ]);
    expect(overflow.signal).toBe('SIGSEGV');
  });

  it('a touch of an inherited range starts at its offset and stays inside the range', async () => {
    const m = mmap(8 * pageSize);
    const r = await runChild([
      { op: 'touch', address: m.address, length: 4 * pageSize, offset: 2 * pageSize },
      { op: 'mmap', length: 8 * pageSize },
      { op: 'touch', mapping: 1, length: 4 * pageSize, offset: pageSize },
    ]);
    expect(r.exitCode).toBe(0);
    expect(r.steps[0]!.progress).toBe(2);
    expect(r.steps[2]!.progress).toBe(3);
    m.unmap();
  });

  it('validates steps before forking', async () => {
    await expect(runChild([{ op: 'nope' } as never])).rejects.toThrow(RangeError);
    await expect(runChild([{ op: 'mmap', length: -1 }])).rejects.toThrow(RangeError);
    await expect(runChild([{ op: 'stack', bytes: 0 }])).rejects.toThrow(RangeError);
    await expect(runChild([{ op: 'setuid' } as never])).rejects.toThrow(TypeError);
    await expect(runChild([{ op: 'setrlimit', resource: 'as', hard: -5 }])).rejects.toThrow(RangeError);
    await expect(
      runChild([
        { op: 'mmap', length: 4096, options: { prot: 'rw' } },
        { op: 'touch', mapping: 0, offset: 4096 },
      ]),
    ).rejects.toThrow(RangeError);
    await expect(runChild([{ op: 'touch', mapping: 0 }])).rejects.toThrow(RangeError);
    await expect(runChild([{ op: 'touch', address: 4096 as unknown as bigint, length: 1 }])).rejects.toThrow(TypeError);
    await expect(runChild([{ op: 'setrlimit', resource: 'cpu' as 'as', soft: 1 }])).rejects.toThrow(RangeError);
    await expect(runChild('x' as never)).rejects.toThrow(TypeError);
    await expect(runChild([], { timeoutMs: 0 })).rejects.toThrow(RangeError);
  });
});

describe('getrlimit / setrlimit', () => {
  it('reads and sets limits on this process; null is unlimited', () => {
    const before = getrlimit('data');
    setrlimit('data', { soft: 64 * 1024 ** 3 });
    expect(getrlimit('data')).toEqual({ soft: 64 * 1024 ** 3, hard: before.hard });
    setrlimit('data', { soft: before.soft });
    expect(getrlimit('data')).toEqual(before);
    expect(() => getrlimit('cpu' as 'as')).toThrow(RangeError);
    expect(() => setrlimit('data', { soft: -1 })).toThrow(RangeError);
    expect(() => setrlimit('data', null as never)).toThrow(TypeError);
  });

  it('a failing setrlimit is a system error', () => {
    const before = getrlimit('stack');
    // A soft limit above the hard one is EINVAL whatever the current limits are.
    expect(() => setrlimit('stack', { soft: null, hard: 1 << 20 })).toThrow(
      expect.objectContaining({ code: 'EINVAL', errno: -22, syscall: 'setrlimit' }),
    );
    expect(getrlimit('stack')).toEqual(before);
  });
});
