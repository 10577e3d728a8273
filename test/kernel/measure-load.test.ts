/**
 * The load generator on the real kernel: its process maps and unmaps what it says it does (its
 * own VmData moves by at least a mapping), stop() reaps it, and it never outlives its parent.
 * Nothing here is about the machine's Committed_AS: that is other processes' business too.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { readStatus } from '../../lib/kernel/status.js';
import { resolveLoadOptions, startLoad } from '../../lib/measure/load.js';
import { MiB } from '../../lib/units.js';

const fixture = join(import.meta.dirname, '..', 'fixtures/load-parent.mjs');
// Small sizes: the test checks the tool, and the machine is shared.
const options = { minBytes: 16 * MiB, maxBytes: 32 * MiB, holdMs: 20, pauseMs: 20 };

/** Gone, or a zombie whose parent (not us) has not reaped it yet: either way it runs no more. */
function ended(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

async function waitUntil(condition: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

describe('startLoad', () => {
  it('maps and unmaps in its own process until stop(), which reaps it and reports what it did', async () => {
    const load = await startLoad(options);
    let stats: Awaited<ReturnType<typeof load.stop>> | undefined;
    try {
      expect(load.pid).not.toBe(process.pid);
      expect(readStatus(load.pid).name).toBe('node');
      // Its private writable memory moves by at least one mapping between some two samples...
      const vmData: number[] = [];
      const rssAnon: number[] = [];
      const spread = (v: number[]) => Math.max(...v) - Math.min(...v);
      const moved = () => {
        const s = readStatus(load.pid);
        vmData.push(s.vmData);
        rssAnon.push(s.rssAnon);
        return spread(vmData) >= options.minBytes;
      };
      expect(await waitUntil(moved, 10_000)).toBe(true);
      // ...while its resident memory does not: it maps and never touches.
      expect(spread(rssAnon)).toBeLessThan(options.minBytes);
    } finally {
      stats = await load.stop();
    }
    expect(existsSync(`/proc/${load.pid}`)).toBe(false);
    expect(stats.cycles).toBeGreaterThan(0);
    const mapped = stats.cycles - stats.refused;
    expect(stats.mappedBytes).toBeGreaterThanOrEqual(mapped * options.minBytes);
    expect(stats.mappedBytes).toBeLessThanOrEqual(mapped * options.maxBytes);
    if (mapped > 0) expect(stats.largestBytes).toBeGreaterThanOrEqual(options.minBytes);
    expect(stats.largestBytes).toBeLessThanOrEqual(options.maxBytes);
    expect(await load.stop()).toBe(stats);
  });

  it('checks its options', () => {
    expect(resolveLoadOptions()).toEqual({ minBytes: 64 * MiB, maxBytes: 256 * MiB, holdMs: 50, pauseMs: 50 });
    expect(() => resolveLoadOptions({ minBytes: 2 * MiB, maxBytes: MiB })).toThrow(RangeError);
    expect(() => resolveLoadOptions({ minBytes: 0 })).toThrow(RangeError);
    expect(() => resolveLoadOptions({ holdMs: -1 })).toThrow(RangeError);
  });

  it('does not keep its parent alive, and ends when its parent ends', () => {
    const r = spawnSync(process.execPath, [fixture, 'return'], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(0);
    const pid = Number(r.stdout.trim());
    expect(pid).toBeGreaterThan(0);
    return expect(waitUntil(() => ended(pid), 10_000)).resolves.toBe(true);
  });

  it('ends when its parent is killed', async () => {
    const parent = spawn(process.execPath, [fixture, 'stay'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((resolve) => parent.once('exit', resolve));
    try {
      const line = await new Promise<string>((resolve, reject) => {
        parent.stdout!.once('data', (d: Buffer) => resolve(d.toString()));
        parent.once('exit', () => reject(new Error('the parent exited before starting the load')));
      });
      const pid = Number(line.trim());
      expect(ended(pid)).toBe(false);
      parent.kill('SIGKILL');
      await exited;
      expect(await waitUntil(() => ended(pid), 10_000)).toBe(true);
    } finally {
      parent.kill('SIGKILL');
      await exited;
    }
  });
});
