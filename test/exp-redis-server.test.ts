import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { judgeEvidence } from '../lib/experiments/judge.js';
import type { OvercommitMode } from '../lib/experiments/model.js';
import { type RedisServerEvidence, redisServer } from '../lib/experiments/redis-server/index.js';
import { findRedisServer, REDIS_SERVER_ENV, setRedisServerPath, startRedisServer, sweepStaleRedis } from '../lib/redis/server.js';
import { withSettingsLock } from '../lib/safety/lock.js';
import { sweepStaleCgroups } from '../lib/safety/memory-cgroup.js';
import { MiB } from '../lib/units.js';
import { currentMode } from './helpers.js';

const root = join(import.meta.dirname, '..');
/** `run redis-server --mode all --json` on this project's 6.18 VM with Debian 12's redis-server 7.0.15. */
const captured = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures/redis-server/run-all-6.18.json'), 'utf8')) as {
  runs: { mode: OvercommitMode; evidence: RedisServerEvidence; findings: { claim: string; holds: boolean | null }[] }[];
};
const at = (mode: OvercommitMode): RedisServerEvidence => captured.runs.find((r) => r.mode === mode)!.evidence;
const verdict = (e: RedisServerEvidence, claim: string) => judgeEvidence(redisServer, e, e.mode).find((f) => f.claim === claim)!;

/** The process has ended: no /proc entry, or a zombie that its new parent (PID 1) has not reaped yet. */
function ended(pid: number): boolean {
  try {
    return /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return true;
  }
}

describe('redis-server rules on captured and constructed evidence', () => {
  it('re-judges the captured run to its own verdicts', () => {
    for (const r of captured.runs) {
      // Claims added since the capture are judged too (redis-bgsave-mode0-rule: no readings, no verdict).
      const again = judgeEvidence(redisServer, r.evidence, r.mode).filter((f) => r.findings.some((g) => g.claim === f.claim));
      expect(again.map((f) => [f.claim, f.holds])).toEqual(r.findings.map((f) => [f.claim, f.holds]));
    }
  });

  it('overcommit warning: holds when Redis warns in mode 0 only, fails otherwise', () => {
    expect(verdict(at(0), 'redis-overcommit-warning').holds).toBe(true);
    expect(verdict(at(1), 'redis-overcommit-warning').holds).toBe(true);
    expect(verdict({ ...at(0), overcommitWarning: false, warningLines: [] }, 'redis-overcommit-warning').holds).toBe(false);
    expect(verdict({ ...at(1), overcommitWarning: true, warningLines: at(0).warningLines }, 'redis-overcommit-warning').holds).toBe(false);
  });

  it('mode 1: BGSAVE ok holds, err fails', () => {
    expect(verdict(at(1), 'redis-bgsave-mode1').holds).toBe(true);
    expect(verdict({ ...at(1), bgsave: 'err' }, 'redis-bgsave-mode1').holds).toBe(false);
  });

  it("mode 0: no verdict while the dataset fits in free RAM; the FAQ's case holds on a refused fork, fails on a save", () => {
    const small = verdict(at(0), 'redis-bgsave-mode0-free-ram');
    expect(small.holds).toBeNull();
    expect(small.reason).toMatch(/FAQ predicts nothing/);
    const faq = { ...at(0), memAvailableBytes: at(0).rssBytes! / 2 };
    expect(verdict(faq, 'redis-bgsave-mode0-free-ram').holds).toBe(false);
    const refused = { ...faq, bgsave: 'err' as const, bgsaveLog: at(2).bgsaveLog };
    expect(verdict(refused, 'redis-bgsave-mode0-free-ram').holds).toBe(true);
  });

  it('mode 2: a refused copy that does not fit holds; one let through fails; too close to CommitLimit is undecided', () => {
    expect(verdict(at(2), 'redis-bgsave-mode2-enomem').holds).toBe(true);
    expect(
      verdict({ ...at(2), bgsave: 'ok', bgsaveLog: [], bgsaveReply: 'Background saving started' }, 'redis-bgsave-mode2-enomem').holds,
    ).toBe(false);
    const fits = { ...at(2), commitLimitBytes: at(2).committedAsBytes! + at(2).serverAccountedBytes! + 512 * MiB };
    expect(verdict(fits, 'redis-bgsave-mode2-enomem').holds).toBe(false);
    const close = { ...at(2), commitLimitBytes: at(2).committedAsBytes! + at(2).serverAccountedBytes! + MiB / 2 };
    const v = verdict(close, 'redis-bgsave-mode2-enomem');
    expect(v.holds).toBeNull();
    expect(v.reason).toMatch(/within/);
  });

  it('copy-on-write: the written pages hold, the whole dataset fails, a noisy baseline or an early end is undecided', () => {
    expect(verdict(at(1), 'redis-cow-written-pages').holds).toBe(true);
    expect(verdict({ ...at(1), cowBytes: at(1).usedMemoryBytes! }, 'redis-cow-written-pages').holds).toBe(false);
    const noisy = verdict({ ...at(1), cowBaselineBytes: 64 * MiB, cowBytes: 80 * MiB }, 'redis-cow-written-pages');
    expect(noisy.holds).toBeNull();
    const early = verdict({ ...at(1), savingAfterWrites: false }, 'redis-cow-written-pages');
    expect(early.holds).toBeNull();
    expect(early.reason).toMatch(/ended before/);
  });

  it('a problem gives no verdict, with the reason', () => {
    for (const f of judgeEvidence(redisServer, { ...at(1), problem: 'redis-server: it crashed' }, 1)) {
      expect(f.holds).toBeNull();
      expect(f.reason).toBe('redis-server: it crashed');
    }
  });
});

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
      for (const f of judgeEvidence(redisServer, e, mode)) expect(typeof f.observed).toBe('string');
    });
    expect(leftovers()).toEqual([]);
  });
});
