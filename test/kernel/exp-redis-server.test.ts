import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { judgeEvidence } from '../../lib/experiments/judge.js';
import { redisServer } from '../../lib/experiments/redis-server/index.js';
import { findRedisServer, REDIS_SERVER_ENV, setRedisServerPath, startRedisServer, sweepStaleRedis } from '../../lib/redis/server.js';
import { withSettingsLock } from '../../lib/safety/lock.js';
import { sweepStaleCgroups } from '../../lib/safety/memory-cgroup.js';
import { MiB } from '../../lib/units.js';
import { currentMode } from '../helpers.js';

const root = join(import.meta.dirname, '..', '..');

/** The process has ended: no /proc entry, or a zombie that its new parent (PID 1) has not reaped yet. */
function ended(pid: number): boolean {
  try {
    return /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return true;
  }
}

describe('finding redis-server', () => {
  afterEach(() => setRedisServerPath(undefined));

  it('says how to install it when it is missing, and refuses a named file that is not executable', () => {
    const saved = { path: process.env.PATH, named: process.env[REDIS_SERVER_ENV] };
    try {
      process.env.PATH = '/nonexistent';
      delete process.env[REDIS_SERVER_ENV];
      const missing = findRedisServer();
      expect('missing' in missing && missing.missing).toMatch(/apt-get install redis-server/);
      expect(redisServer.requires.program?.missing?.()).toMatch(/apt-get install redis-server/);
      const text = fake('redis-server', 'not a program');
      chmodSync(text.path, 0o644);
      setRedisServerPath(text.path);
      expect('missing' in findRedisServer()).toBe(true);
      text.dispose();
    } finally {
      process.env.PATH = saved.path;
      if (saved.named !== undefined) process.env[REDIS_SERVER_ENV] = saved.named;
    }
  });
});

/** A fake redis-server in a directory others may traverse (the server may run as the redis user). */
function fake(name: string, text: string): { path: string; dispose(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'ocl-fake-redis-'));
  chmodSync(dir, 0o755);
  const path = join(dir, name);
  writeFileSync(path, text, { mode: 0o755 });
  return { path, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

/** This process's server directories still on disk (there must be none once a measurement returns). */
const leftovers = () => readdirSync(tmpdir()).filter((n) => n.startsWith(`overcommit-lab-redis-${process.pid}-`));

describe('bad redis-servers give no verdict, with the reason', () => {
  afterEach(() => setRedisServerPath(undefined));

  it('one that exits at once', async () => {
    const f = fake('redis-server', '#!/bin/sh\necho "FATAL CONFIG FILE ERROR (fake)"\nexit 1\n');
    try {
      setRedisServerPath(f.path);
      const e = await redisServer.measure({ mode: currentMode(), progress: () => {} });
      expect(e.problem).toMatch(/exited \(1\) before listening.*FATAL CONFIG FILE ERROR/);
      expect(judgeEvidence(redisServer, e, e.mode).every((x) => x.holds === null)).toBe(true);
    } finally {
      f.dispose();
    }
    expect(leftovers()).toEqual([]);
  });

  it('one that answers garbage', async () => {
    const f = fake('redis-server', readFileSync(join(root, 'test/fixtures/redis-garbage.mjs'), 'utf8'));
    try {
      setRedisServerPath(f.path);
      const e = await redisServer.measure({ mode: currentMode(), progress: () => {} });
      expect(e.problem).toMatch(/^redis-server: /);
      expect(judgeEvidence(redisServer, e, e.mode).every((x) => x.holds === null)).toBe(true);
    } finally {
      f.dispose();
    }
    expect(leftovers()).toEqual([]);
  });
});

const real = findRedisServer();
const realPath = 'path' in real ? real.path : null;

describe.skipIf(realPath === null)(
  `the real redis-server's lifecycle${realPath === null ? ' — skipped: no redis-server installed' : ''}`,
  () => {
    it('stop() leaves no process and no file', async () => {
      const s = await startRedisServer({ path: realPath!, memoryLimitBytes: 64 * MiB });
      expect(await s.client.ping()).toBe('PONG');
      expect(existsSync(s.dir)).toBe(true);
      await s.stop();
      expect(existsSync(s.dir)).toBe(false);
      expect(existsSync(`/proc/${s.pid}`)).toBe(false);
    });

    it('after the tool is SIGKILLed, the next run sweeps its server and directory', async () => {
      const holder = spawn(process.execPath, [join(root, 'test/fixtures/redis-hold.mjs'), realPath!], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        holder.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('\n')) resolve(out.trim());
        });
        holder.on('exit', (code, signal) => reject(new Error(`fixture exited early: ${code ?? signal}`)));
      });
      const [pid, dir] = line.split(' ') as [string, string];
      const gone = new Promise((r) => holder.once('exit', r));
      holder.kill('SIGKILL');
      await gone;
      expect(existsSync(`/proc/${pid}`)).toBe(true); // orphaned, still running
      expect(sweepStaleRedis()).toEqual([dir]);
      expect(existsSync(dir)).toBe(false);
      expect(ended(Number(pid))).toBe(true);
      sweepStaleCgroups();
    });
  },
);

describe.skipIf(realPath === null)(`redis-server on this kernel${realPath === null ? ' — skipped: no redis-server installed' : ''}`, () => {
  it('measures consistent evidence under the current mode and judges every claim of it', async () => {
    await withSettingsLock('shared', async () => {
      const mode = currentMode();
      const e = await redisServer.measure({ mode, progress: () => {} });
      if (e.problem !== undefined) throw new Error(e.problem);
      expect(e.redisVersion).toMatch(/^\d+\.\d+/);
      expect(e.bgsaveLog.length).toBeGreaterThan(0);
      expect(e.bgsave === 'ok').toBe(e.bgsaveLog.some((l) => l.includes('Background saving terminated with success')));
      if (e.cowBytes !== null) expect(e.cowBytes).toBeLessThanOrEqual(e.rssBytes! + 64 * MiB);
      // Mode 0's free estimate was read several times before BGSAVE, the last one kept as the reading.
      expect(e.freeEstimateReadings!.length).toBeGreaterThan(1);
      expect(e.freeEstimateReadings!.at(-1)).toEqual(e.freeEstimate);
      for (const f of judgeEvidence(redisServer, e, mode)) expect(typeof f.observed).toBe('string');
    });
    expect(leftovers()).toEqual([]);
  });
});
