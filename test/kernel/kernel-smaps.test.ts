import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readMaps, readVmas, readVmFlags } from '../../lib/kernel/smaps.js';

describe('live smaps', () => {
  /** The [stack] line of /proc/self/maps, read independently of the parser under test. */
  const stackRange = (): [bigint, bigint] => {
    const line = readFileSync('/proc/self/maps', 'utf8')
      .split('\n')
      .find((l) => l.endsWith('[stack]'));
    if (!line) throw new Error('no [stack] in /proc/self/maps');
    const [start, end] = line.split(' ')[0]!.split('-');
    return [BigInt(`0x${start}`), BigInt(`0x${end}`)];
  };

  it('readVmFlags on the main stack: readable, writable, grows down, accounted', () => {
    const [start, end] = stackRange();
    const flags = readVmFlags(end - 1n);
    expect(flags).toContain('rd');
    expect(flags).toContain('wr');
    expect(flags).toContain('gd');
    expect(readVmFlags(start)).toEqual(flags);
  });

  it('readVmas finds the stack with its size', () => {
    const [start, end] = stackRange();
    const stack = readVmas().find((v) => v.pathname === '[stack]');
    expect(stack?.start).toBe(start);
    expect(stack?.end).toBe(end);
    expect(stack?.sizes.Size).toBe(Number(end - start));
  });

  it('readMaps finds the stack, without sizes or flags', () => {
    const [start, end] = stackRange();
    const stack = readMaps().find((v) => v.pathname === '[stack]');
    expect(stack).toMatchObject({ start, end, sizes: {}, vmFlags: [] });
  });

  it('readVmFlags throws for an unmapped address', () => {
    expect(() => readVmFlags(0n)).toThrow(/no mapping of this process contains address 0x0/);
  });
});
