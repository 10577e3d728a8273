import { closeSync, ftruncateSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isSystemCallError, type Mapping, maxBufferLength, memfdCreate, mmap, pageSize } from '../../lib/index.js';
import { readMeminfo } from '../../lib/kernel/meminfo.js';
import { findVma, readVmas } from '../../lib/kernel/smaps.js';
import { withSettingsLock } from '../../lib/safety/lock.js';
import { memoryCgroupAvailability, withProcessInMemoryCgroup } from '../../lib/safety/memory-cgroup.js';
import { currentMode } from '../helpers.js';

const MiB = 1 << 20;
const GiB = 1 << 30;
const cgroups = memoryCgroupAvailability();

/**
 * `m` with transparent hugepages off: where THP is 'always' one write may fault in a whole
 * 2 MiB page, and these tests count what single 4 KiB writes make resident. A kernel without
 * THP refuses the advice (EINVAL) and has nothing to turn off.
 */
function smallPages(m: Mapping): Mapping {
  try {
    m.advise('nohugepage');
  } catch (e) {
    if (!isSystemCallError(e, 'EINVAL')) throw e;
  }
  return m;
}

/** The AnonHugePages of the VMA holding `m`'s start, in bytes (0 where smaps has no such field). */
const anonHugeBytes = (m: Mapping) => findVma(readVmas(), m.address)?.sizes.AnonHugePages ?? 0;

describe('mmap and Mapping', () => {
  it('maps anonymous read-write memory that JS can read and write', () => {
    const m = mmap(4 * pageSize);
    expect(typeof m.address).toBe('bigint');
    expect(m.address % BigInt(pageSize)).toBe(0n);
    expect(m.length).toBe(4 * pageSize);
    expect(m.mapped).toBe(true);
    expect(m.prot).toBe('rw');
    const bytes = new Uint8Array(m.buffer);
    expect(bytes.length).toBe(4 * pageSize);
    expect(bytes[100]).toBe(0);
    bytes[100] = 42;
    expect(new Uint8Array(m.view(0, pageSize))[100]).toBe(42);
    m.unmap();
  });

  it('touch writes the int index per stride, as the sparse program does, and counts pages', () => {
    const m = mmap(16 * pageSize);
    expect(m.residentPages()).toBe(0);
    expect(m.touch()).toBe(16);
    expect(m.residentPages()).toBe(16);
    const ints = new Int32Array(m.buffer);
    expect(ints[0]).toBe(0);
    expect(ints[pageSize / 4]).toBe(pageSize / 4);
    expect(ints[1]).toBe(0);
    // Several writes in one page count as one page; a range counts only its own pages.
    expect(m.touch({ stride: 64, offset: 0, length: pageSize })).toBe(1);
    expect(m.residentPages({ offset: 2 * pageSize, length: 3 * pageSize })).toBe(3);
    m.unmap();
  });

  it('residentPagesAsync counts what residentPages counts, over the same ranges', async () => {
    const m = smallPages(mmap(64 * pageSize));
    m.touch({ stride: 3 * pageSize });
    for (const range of [{}, { offset: 5, length: 10 * pageSize }, { offset: 63 * pageSize }]) {
      expect(await m.residentPagesAsync(range)).toBe(m.residentPages(range));
    }
    expect(await m.residentPagesAsync()).toBe(22);
    await expect(m.residentPagesAsync({ length: 0 })).rejects.toThrow(RangeError);
    m.unmap();
    await expect(m.residentPagesAsync()).rejects.toMatchObject({ code: 'ERR_MAPPING_UNMAPPED' });
  });

  it('passes every advice of the Advice type to madvise', () => {
    const m = mmap(4 * pageSize);
    m.touch();
    const advices = [
      'normal',
      'random',
      'sequential',
      'willneed',
      'hugepage',
      'nohugepage',
      'cold',
      'pageout',
      'free',
      'populate-read',
      'populate-write',
      'dontneed',
    ] as const;
    for (const advice of advices) {
      try {
        m.advise(advice);
      } catch (e) {
        // A kernel built without the feature (THP; cold and pageout before 5.4) says EINVAL.
        expect(isSystemCallError(e, 'EINVAL') && e.syscall === 'madvise', `${advice}: ${String(e)}`).toBe(true);
      }
    }
    expect(m.residentPages()).toBe(0);
    m.unmap();
  });

  it('residentPages follows madvise dontneed and populate-write', () => {
    const m = mmap(32 * pageSize);
    m.advise('populate-write');
    expect(m.residentPages()).toBe(32);
    m.advise('dontneed', { offset: 0, length: 16 * pageSize });
    expect(m.residentPages()).toBe(16);
    m.unmap();
  });

  it('reports the VMA flags of the mapping', async () => {
    await withSettingsLock('shared', () => {
      const mode = currentMode();
      const plain = mmap(MiB);
      const nr = mmap(MiB, { noreserve: true });
      const ro = mmap(MiB, { prot: 'r' });
      expect(plain.vmFlags()).toEqual(expect.arrayContaining(['rd', 'wr', 'ac']));
      // In mode 2 the kernel ignores MAP_NORESERVE: the mapping is accounted like any other.
      if (mode === 2) {
        expect(nr.vmFlags()).toContain('ac');
        expect(nr.vmFlags()).not.toContain('nr');
      } else {
        expect(nr.vmFlags()).toContain('nr');
        expect(nr.vmFlags()).not.toContain('ac');
      }
      expect(ro.vmFlags()).not.toContain('wr');
      expect(ro.vmFlags()).not.toContain('ac');
      for (const m of [plain, nr, ro]) m.unmap();
    });
  });

  it('protect to less than read-write moves the mapping away from the buffers handed out, which stay writable', () => {
    const m = mmap(2 * pageSize);
    m.touch();
    const ab = m.buffer;
    const before = m.address;
    m.protect('r');
    expect(m.prot).toBe('r');
    // The buffer keeps its range, now placeholder memory: fresh zeros, writable, not the mapping.
    expect(m.address).not.toBe(before);
    expect(ab.byteLength).toBe(2 * pageSize);
    expect(new Int32Array(ab)[pageSize / 4]).toBe(0);
    new Uint8Array(ab)[0] = 1;
    expect(m.residentPages()).toBe(2);
    expect(() => m.buffer).toThrow(expect.objectContaining({ code: 'ERR_MAPPING_PROTECTION' }));
    expect(() => m.touch()).toThrow(expect.objectContaining({ code: 'ERR_MAPPING_PROTECTION' }));
    m.protect('none');
    expect(() => m.view(0, 8)).toThrow(expect.objectContaining({ code: 'ERR_MAPPING_PROTECTION' }));
    m.protect('rw');
    expect(m.touch()).toBe(2);
    // No buffer was handed out at the new address: protect works in place.
    const at = m.address;
    m.protect('r');
    expect(m.address).toBe(at);
    m.unmap();
  });

  it('remap grows and shrinks the mapping; old buffers keep their range, no longer the mapping', () => {
    const m = mmap(4 * pageSize);
    m.touch();
    const ab = m.buffer;
    m.remap(64 * pageSize);
    expect(ab.byteLength).toBe(4 * pageSize);
    new Int32Array(ab)[pageSize / 4] = -1;
    expect(m.length).toBe(64 * pageSize);
    expect(new Int32Array(m.buffer)[pageSize / 4]).toBe(pageSize / 4);
    expect(m.touch()).toBe(64);
    m.remap(pageSize);
    expect(m.length).toBe(pageSize);
    expect(m.residentPages()).toBe(1);
    m.unmap();
  });

  it('remap refuses to grow file and shared mappings, whose new pages would raise SIGBUS', () => {
    const shared = mmap(2 * pageSize, { shared: true });
    expect(() => shared.remap(4 * pageSize)).toThrow(RangeError);
    shared.remap(pageSize);
    expect(shared.touch()).toBe(1);
    shared.unmap();
    const fd = memfdCreate('overcommit-lab-remap');
    ftruncateSync(fd, 2 * pageSize);
    const file = mmap(2 * pageSize, { fd, shared: true });
    expect(() => file.remap(8 * pageSize)).toThrow(RangeError);
    expect(file.touch()).toBe(2);
    file.unmap();
    closeSync(fd);
  });

  it('unmap leaves buffers over placeholder memory; afterwards methods throw and a second unmap is harmless', () => {
    const m = mmap(2 * pageSize);
    m.touch();
    const whole = m.buffer;
    const part = m.view(pageSize, pageSize);
    m.unmap();
    // A stale buffer reads fresh zeros and writes where nobody looks, never a segfault.
    expect(whole.byteLength).toBe(2 * pageSize);
    expect(new Int32Array(part)[0]).toBe(0);
    new Uint8Array(whole)[0] = 1;
    expect(new Uint8Array(whole)[0]).toBe(1);
    expect(m.mapped).toBe(false);
    m.unmap();
    const unmapped = expect.objectContaining({ code: 'ERR_MAPPING_UNMAPPED' });
    expect(() => m.buffer).toThrow(unmapped);
    expect(() => m.view(0, 1)).toThrow(unmapped);
    expect(() => m.touch()).toThrow(unmapped);
    expect(() => m.residentPages()).toThrow(unmapped);
    expect(() => m.vmFlags()).toThrow(unmapped);
    expect(() => m.protect('r')).toThrow(unmapped);
    expect(() => m.remap(pageSize)).toThrow(unmapped);
    expect(() => m.advise('dontneed')).toThrow(unmapped);
  });

  it('maps files, shared and private, and memfd', () => {
    const dir = mkdtempSync(join(tmpdir(), 'overcommit-lab-test-'));
    try {
      const path = join(dir, 'f');
      const fd = openSync(path, 'w+');
      writeSync(fd, Buffer.alloc(2 * pageSize, 7));
      const shared = mmap(2 * pageSize, { fd, shared: true });
      expect(new Uint8Array(shared.buffer)[0]).toBe(7);
      new Uint8Array(shared.buffer)[0] = 9;
      shared.unmap();
      expect(readFileSync(path)[0]).toBe(9);
      const priv = mmap(pageSize, { fd, offset: pageSize });
      new Uint8Array(priv.buffer)[0] = 1;
      priv.unmap();
      expect(readFileSync(path)[pageSize]).toBe(7);
      // A page past the end of the file would raise SIGBUS on access: refused up front.
      expect(() => mmap(4 * pageSize, { fd })).toThrow(RangeError);
      closeSync(fd);
    } finally {
      rmSync(dir, { recursive: true });
    }
    const mfd = memfdCreate('overcommit-lab-test');
    ftruncateSync(mfd, MiB);
    const m = mmap(MiB, { fd: mfd, shared: true });
    expect(m.touch()).toBe(MiB / pageSize);
    m.unmap();
    closeSync(mfd);
  });

  it('rejects bad arguments with TypeError or RangeError before any syscall', () => {
    for (const bad of [-1, 0, 1.5, NaN, Infinity, -Infinity, 2 ** 53]) {
      expect(() => mmap(bad)).toThrow(RangeError);
    }
    for (const bad of ['4096', null, undefined, {}, 4096n]) {
      expect(() => mmap(bad as unknown as number)).toThrow(TypeError);
    }
    expect(() => mmap(pageSize, { prot: 'x' as 'r' })).toThrow(RangeError);
    expect(() => mmap(pageSize, { prot: 'rwx' as 'r' })).toThrow(RangeError);
    expect(() => mmap(pageSize, { fd: -1 })).toThrow(RangeError);
    expect(() => mmap(pageSize, { fd: 1.5 })).toThrow(RangeError);
    expect(() => mmap(pageSize, { offset: pageSize })).toThrow(TypeError);
    expect(() => mmap(pageSize, null as unknown as object)).toThrow(TypeError);
    const m = mmap(4 * pageSize);
    expect(() => m.touch({ stride: 0 })).toThrow(RangeError);
    expect(() => m.touch({ stride: -4 })).toThrow(RangeError);
    expect(() => m.touch({ offset: 4 * pageSize })).toThrow(RangeError);
    expect(() => m.touch({ offset: pageSize, length: 4 * pageSize })).toThrow(RangeError);
    expect(() => m.view(0, 0)).toThrow(RangeError);
    expect(() => m.view(4 * pageSize - 1, 2)).toThrow(RangeError);
    expect(() => m.view(-1, 1)).toThrow(RangeError);
    expect(() => m.residentPages({ length: 0 })).toThrow(RangeError);
    expect(() => m.remap(0)).toThrow(RangeError);
    expect(() => m.advise('nope' as 'normal')).toThrow(RangeError);
    expect(() => m.protect('wx' as 'r')).toThrow(RangeError);
    // Still intact after all of that.
    expect(m.touch()).toBe(4);
    m.unmap();
  });

  it('a failing syscall throws an Error with code, errno and syscall', () => {
    let err: unknown;
    try {
      mmap(pageSize, { fd: 987654 });
    } catch (e) {
      err = e;
    }
    expect(isSystemCallError(err, 'EBADF')).toBe(true);
    expect(err).toMatchObject({ code: 'EBADF', errno: -9, syscall: 'fstat' });
    const m = mmap(2 * pageSize);
    expect(() => m.advise('dontneed', { offset: 1, length: pageSize })).toThrow(RangeError);
    m.unmap();
  });

  it("buffer beyond Node's buffer limit is a RangeError; view works there", () => {
    const m = mmap(maxBufferLength + pageSize, { noreserve: true, prot: 'rw' });
    expect(() => m.buffer).toThrow(RangeError);
    const v = new Uint8Array(m.view(maxBufferLength, pageSize));
    v[0] = 5;
    expect(m.residentPages({ offset: maxBufferLength, length: pageSize })).toBe(1);
    m.unmap();
  });

  // Touching 1 GiB happens only inside a memory cgroup, so the machine's other processes are never at risk.
  it.skipIf(!cgroups.available)(
    `1 GiB MAP_NORESERVE touched once per page: every touched page is resident; one in 64: only those${cgroups.available ? '' : ` (skipped: ${cgroups.reason})`}`,
    async () => {
      await withProcessInMemoryCgroup(GiB + 512 * MiB, async () => touchOneGiB());
    },
  );

  function touchOneGiB(): void {
    const dense = mmap(GiB, { noreserve: true });
    expect(dense.residentPages()).toBe(0);
    const pages = dense.touch();
    expect(pages).toBe(GiB / pageSize);
    expect(dense.residentPages()).toBe(pages);
    dense.unmap();
    const sparse = smallPages(mmap(GiB, { noreserve: true }));
    const sparsePages = sparse.touch({ stride: 64 * pageSize });
    expect(sparsePages).toBe(GiB / pageSize / 64);
    expect(sparse.residentPages()).toBe(sparsePages);
    sparse.unmap();
  }

  it("a mapping of several times the machine's memory: refused or accepted as the mode says", async () => {
    await withSettingsLock('shared', () => {
      const mode = currentMode();
      const m = readMeminfo();
      const huge = Math.ceil((4 * (m.memTotal + m.swapTotal)) / pageSize) * pageSize;
      const attempt = (noreserve: boolean) => {
        try {
          mmap(huge, { noreserve }).unmap();
          return 'ok';
        } catch (e) {
          if (isSystemCallError(e)) return e.code;
          throw e;
        }
      };
      // Mode 0 refuses one mapping above RAM + swap unless MAP_NORESERVE; mode 1 never
      // refuses; mode 2 refuses both (NORESERVE is ignored there).
      const expected = { 0: ['ENOMEM', 'ok'], 1: ['ok', 'ok'], 2: ['ENOMEM', 'ENOMEM'] }[mode];
      expect([attempt(false), attempt(true)]).toEqual(expected);
    });
  });

  it('residentPages agrees with the huge pages the kernel says it mapped (MADV_HUGEPAGE, one write per 256 KiB)', () => {
    const huge = readMeminfo().hugepagesize;
    const m = mmap(16 * MiB);
    try {
      m.advise('hugepage');
    } catch (e) {
      // A kernel without THP: every write makes one page resident.
      if (!isSystemCallError(e, 'EINVAL')) throw e;
    }
    const touched = m.touch({ stride: 64 * pageSize });
    expect(touched).toBe((16 * MiB) / (64 * pageSize));
    // khugepaged may collapse a region meanwhile: count between two equal smaps readings.
    let hugeBytes: number;
    let resident: number;
    let tries = 0;
    do {
      hugeBytes = anonHugeBytes(m);
      resident = m.residentPages();
      tries++;
    } while (anonHugeBytes(m) !== hugeBytes && tries < 5);
    // Each huge page the kernel mapped holds huge / 256 KiB of the writes and makes all its pages resident.
    const perHuge = huge / pageSize - huge / (64 * pageSize);
    expect(resident).toBe(touched + (hugeBytes / huge) * perHuge);
    m.unmap();
  });

  it('residentPages works over a terabyte-sized MAP_NORESERVE mapping (in chunks)', async () => {
    await withSettingsLock('shared', () => {
      // Mode 2 charges the terabyte, so refuses it; elsewhere it is only address space.
      if (currentMode() === 2) {
        expect(() => mmap(2 ** 40, { noreserve: true })).toThrow(expect.objectContaining({ code: 'ENOMEM' }));
        return;
      }
      const m = smallPages(mmap(2 ** 40, { noreserve: true }));
      m.touch({ offset: 2 ** 39, length: pageSize });
      expect(m.residentPages()).toBe(1);
      m.unmap();
    });
  });

  it("10,000 map/unmap cycles leave the process's mappings as they were", () => {
    const count = () => readFileSync('/proc/self/maps', 'utf8').split('\n').length;
    const before = count();
    for (let i = 0; i < 10_000; i++) {
      const m = mmap(64 * 1024);
      if (i % 100 === 0) void m.buffer;
      m.unmap();
    }
    // V8 may map or unmap a few regions of its own meanwhile.
    expect(Math.abs(count() - before)).toBeLessThan(20);
  });
});
