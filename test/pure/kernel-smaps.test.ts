import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { accountedBytesIn, findVma, largestGrowth, parseSmaps, type Vma } from '../../lib/kernel/smaps.js';

const fixture = readFileSync(new URL('../fixtures/proc-smaps.txt', import.meta.url), 'utf8');

describe('parseSmaps (captured sample)', () => {
  const vmas = parseSmaps(fixture);

  it('reads every mapping with its header fields', () => {
    expect(vmas.map((v) => v.pathname)).toEqual(['/usr/bin/cat', '[heap]', '', '[stack]', '[vsyscall]']);
    const cat = vmas[0]!;
    expect(cat.start).toBe(0x557e280e9000n);
    expect(cat.end).toBe(0x557e280eb000n);
    expect(cat.perms).toBe('r--p');
    expect(cat.offset).toBe(0n);
    expect(cat.dev).toBe('fe:00');
    expect(cat.inode).toBe(260131);
    expect(vmas[4]!.start).toBe(0xffffffffff600000n);
  });

  it('converts sizes to bytes and keeps unit-less fields', () => {
    const heap = vmas[1]!;
    expect(heap.sizes.Size).toBe(132 * 1024);
    expect(heap.sizes.Rss).toBe(16 * 1024);
    expect(heap.sizes.Anonymous).toBe(16 * 1024);
    expect(heap.sizes.KernelPageSize).toBe(4096);
    expect(heap.sizes.THPeligible).toBe(0);
    expect(heap.sizes.Size).toBe(Number(heap.end - heap.start));
  });

  it('reads VmFlags', () => {
    expect(vmas[0]!.vmFlags).toEqual(['rd', 'mr', 'mw', 'me']);
    expect(vmas[1]!.vmFlags).toEqual(['rd', 'wr', 'mr', 'mw', 'me', 'ac']);
    expect(vmas[3]!.vmFlags).toEqual(['rd', 'wr', 'mr', 'mw', 'me', 'gd', 'ac']);
    expect(vmas[4]!.vmFlags).toEqual(['ex']);
  });

  it('findVma: start inclusive, end exclusive', () => {
    expect(findVma(vmas, 0x557e334e6000n)?.pathname).toBe('[heap]');
    expect(findVma(vmas, 0x557e33506fffn)?.pathname).toBe('[heap]');
    expect(findVma(vmas, 0x557e33507000n)).toBeUndefined();
    expect(findVma(vmas, 0n)).toBeUndefined();
  });

  it('throws on text before the first mapping', () => {
    expect(() => parseSmaps('Size: 4 kB\n')).toThrow(/before the first mapping/);
  });
});

describe('accountedBytesIn and largestGrowth', () => {
  const vma = (start: number, end: number, flags: string[], pathname = ''): Vma => ({
    start: BigInt(start),
    end: BigInt(end),
    perms: 'rw-p',
    offset: 0n,
    dev: '00:00',
    inode: 0,
    pathname,
    sizes: {},
    vmFlags: flags,
  });

  it("counts the bytes of a range in 'ac' VMAs, whatever they were merged with", () => {
    const vmas = [vma(0x1000, 0x5000, ['rd', 'wr', 'ac']), vma(0x5000, 0x8000, ['rd'])];
    expect(accountedBytesIn(vmas, 0x2000n, 0x7000n)).toBe(0x3000);
    expect(accountedBytesIn(vmas, 0x9000n, 0xa000n)).toBe(0);
    // A kernel that shows no VmFlags says nothing.
    expect(accountedBytesIn([vma(0x1000, 0x5000, [])], 0x1000n, 0x5000n)).toBeNull();
    expect(accountedBytesIn([], 0x1000n, 0x5000n)).toBeNull();
  });

  it('finds the VMA that grew most, and a new one as created', () => {
    const before = [vma(0x10000, 0x20000, ['ac'], '[stack]'), vma(0x1000, 0x2000, [])];
    const grown = largestGrowth(before, [vma(0x8000, 0x20000, ['ac'], '[stack]'), vma(0x1000, 0x2000, [])]);
    expect(grown).toMatchObject({ growthBytes: 0x8000, created: false });
    expect(grown!.vma.pathname).toBe('[stack]');
    expect(largestGrowth(before, [...before, vma(0x30000, 0x40000, ['ac'])])).toMatchObject({ growthBytes: 0x10000, created: true });
    expect(largestGrowth(before, before)).toBeUndefined();
  });
});
