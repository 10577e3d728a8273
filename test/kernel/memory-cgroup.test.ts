import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { findMemoryCgroup } from '../../lib/kernel/cgroup.js';
import { runChild } from '../../lib/native/child.js';
import {
  createMemoryCgroup,
  memoryCgroupAvailability,
  sweepStaleCgroups,
  withMemoryCgroup,
  withProcessInMemoryCgroup,
} from '../../lib/safety/memory-cgroup.js';

const root = join(import.meta.dirname, '..', '..');
const cgroup = findMemoryCgroup();
const { available: usable, reason: skipReason } = memoryCgroupAvailability();

/** Starts the fixture that creates a group and waits; resolves with the process and the group's path. */
function startHolder(): Promise<{ child: ReturnType<typeof spawn>; path: string }> {
  const child = spawn(process.execPath, [join(root, 'test/fixtures/cgroup-hold.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve({ child, path: out.trim() });
    });
    child.on('exit', (code, signal) => reject(new Error(`fixture exited early: ${code ?? signal}`)));
  });
}

function exited(child: ReturnType<typeof spawn>): Promise<{ code: number | null; signal: string | null }> {
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
}

describe.skipIf(!usable)(`temporary memory cgroups (root, memory controller)${usable ? '' : ` — skipped: ${skipReason}`}`, () => {
  it('moves this process into a group for fn and back out before removing it', async () => {
    const own = () =>
      readFileSync('/proc/self/cgroup', 'utf8')
        .split('\n')
        .find((l) => /:memory:/.test(l) || l.startsWith('0::'));
    const before = own();
    let inside: string | undefined;
    let path = '';
    await withProcessInMemoryCgroup(64 << 20, async (cg) => {
      path = cg.path;
      inside = own();
      expect(readFileSync(cg.procsFile, 'utf8').split('\n')).toContain(String(process.pid));
    });
    expect(inside).toContain(path.slice(path.lastIndexOf('/')));
    expect(own()).toBe(before);
    expect(existsSync(path)).toBe(false);
  });

  it('creates a group under our own cgroup with the limit, and removes it', () => {
    const cg = createMemoryCgroup(32 << 20);
    try {
      expect(existsSync(cg.path)).toBe(true);
      // join: the cgroup v2 root's ownDir ends in '/'.
      expect(cg.path.startsWith(join((cgroup as { ownDir: string }).ownDir, `overcommit-lab-${process.pid}-`))).toBe(true);
      expect(cg.procsFile).toBe(join(cg.path, 'cgroup.procs'));
      expect(readFileSync(cg.procsFile, 'utf8').trim()).toBe('');
      expect(cg.oomKills()).toBe(0);
      expect(cg.memoryEvents()).toHaveProperty('oom_kill', 0);
    } finally {
      cg.remove();
    }
    expect(existsSync(cg.path)).toBe(false);
    cg.remove(); // idempotent
  });

  it('the limit file reads back the limit, rounded down to whole pages', async () => {
    const limit = 32 * 1024 * 1024 + 1000;
    const file = cgroup.available && cgroup.version === 2 ? 'memory.max' : 'memory.limit_in_bytes';
    const pageSize = 4096;
    const read = await withMemoryCgroup(limit, async (cg) => Number(readFileSync(join(cg.path, file), 'utf8').trim()));
    expect(read).toBe(Math.floor(limit / pageSize) * pageSize);
  });

  it('removes the group when fn throws', async () => {
    let path = '';
    await expect(
      withMemoryCgroup(16 << 20, async (cg) => {
        path = cg.path;
        throw new Error('injected');
      }),
    ).rejects.toThrow('injected');
    expect(path).not.toBe('');
    expect(existsSync(path)).toBe(false);
  });

  it('remove() kills our own child still in the group, then removes it', async () => {
    const cg = createMemoryCgroup(16 << 20);
    try {
      const running = runChild(
        [
          { op: 'writefile', path: cg.procsFile, data: '0', required: true },
          { op: 'sleep', ms: 20_000 },
        ],
        { timeoutMs: 30_000 },
      );
      for (let i = 0; i < 200 && readFileSync(cg.procsFile, 'utf8').trim() === ''; i++) await sleep(10);
      expect(readFileSync(cg.procsFile, 'utf8').trim()).toMatch(/^\d+$/);
      cg.remove();
      expect(existsSync(cg.path)).toBe(false);
      const result = await running;
      expect(result.signal).toBe('SIGKILL');
      expect(result.timedOut).toBe(false);
    } finally {
      cg.remove();
    }
  });

  it.each([
    ['SIGTERM', 15],
    ['SIGINT', 2],
    ['SIGHUP', 1],
  ] as const)('a process holding a group and sent %s removes it before exiting', async (signal, number) => {
    const { child, path } = await startHolder();
    expect(existsSync(path)).toBe(true);
    const done = exited(child);
    child.kill(signal);
    const { code } = await done;
    expect(code).toBe(128 + number);
    expect(existsSync(path)).toBe(false);
  });

  it('a SIGKILLed holder leaves its group, which sweepStaleCgroups removes', async () => {
    const { child, path } = await startHolder();
    const done = exited(child);
    child.kill('SIGKILL');
    expect((await done).signal).toBe('SIGKILL');
    expect(existsSync(path)).toBe(true);
    expect(sweepStaleCgroups()).toContain(path);
    expect(existsSync(path)).toBe(false);
  });
});
