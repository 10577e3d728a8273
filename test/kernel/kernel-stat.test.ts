import { describe, expect, it } from 'vitest';
import { parseStat, readStat } from '../../lib/kernel/stat.js';

describe('/proc/<pid>/stat', () => {
  it('parses a command name with spaces and parentheses', () => {
    const text = '4242 (a (b) c) T 17 4242 4242 0 -1 4194560 96 0 0 0 0 0 0 0 20 0 1 0 123 2555904 224\n';
    expect(parseStat(text)).toEqual({ pid: 4242, comm: 'a (b) c', state: 'T', ppid: 17 });
  });

  it('refuses text that is not a stat line', () => {
    expect(() => parseStat('no parentheses here')).toThrow(/unexpected text/);
  });

  it('reads this process (running) and its parent; a pid that does not exist is undefined', () => {
    expect(readStat(process.pid)).toMatchObject({ pid: process.pid, state: 'R', ppid: process.ppid });
    expect(readStat(2 ** 22 + 1)).toBeUndefined();
  });
});
