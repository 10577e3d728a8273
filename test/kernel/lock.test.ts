import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { acquireSettingsLock, withSettingsLock } from '../../lib/safety/lock.js';

const dir = mkdtempSync(join(tmpdir(), 'overcommit-lab-lock-'));
const path = join(dir, 'lock');
afterAll(() => rmSync(dir, { recursive: true }));

/** Another process holding the lock, until stopped. */
async function holder(mode: 'shared' | 'exclusive'): Promise<{ child: ChildProcess; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [join(import.meta.dirname, '..', 'fixtures/lock-holder.mjs'), path, mode], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  await once(child.stdout!, 'data');
  return {
    child,
    async stop() {
      child.stdin!.end();
      await once(child, 'exit');
    },
  };
}

describe('settings lock', () => {
  it('shared holders coexist; an exclusive one waits for them, saying so', async () => {
    const other = await holder('shared');
    const mine = await acquireSettingsLock('shared', { path, timeoutMs: 100 });
    mine.release();
    const waits: string[] = [];
    await expect(acquireSettingsLock('exclusive', { path, timeoutMs: 100, onWait: (m) => waits.push(m) })).rejects.toMatchObject({
      code: 'ERR_SETTINGS_LOCK_TIMEOUT',
    });
    expect(waits).toHaveLength(1);
    await other.stop();
    const ex = await acquireSettingsLock('exclusive', { path, timeoutMs: 1000 });
    ex.release();
    ex.release();
  });

  it('an exclusive holder in another process keeps shared ones out until it dies', async () => {
    const other = await holder('exclusive');
    await expect(acquireSettingsLock('shared', { path, timeoutMs: 100 })).rejects.toThrow(/timed out/);
    other.child.kill('SIGKILL');
    await once(other.child, 'exit');
    (await acquireSettingsLock('shared', { path, timeoutMs: 1000 })).release();
  });

  it('is re-entrant in one process: shared upgrades to exclusive and back', async () => {
    const shared = await acquireSettingsLock('shared', { path });
    const ex = await acquireSettingsLock('exclusive', { path, timeoutMs: 100 });
    expect(ex.fd).toBe(shared.fd);
    ex.release();
    // Back to shared: another process may share it, not take it.
    const other = await holder('shared');
    await other.stop();
    const excluded = spawn(process.execPath, [join(import.meta.dirname, '..', 'fixtures/lock-holder.mjs'), path, 'exclusive'], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let took = false;
    excluded.stdout!.on('data', () => (took = true));
    await sleep(300);
    expect(took).toBe(false);
    shared.release();
    await once(excluded.stdout!, 'data');
    excluded.stdin!.end();
    await once(excluded, 'exit');
  });

  it('withSettingsLock releases however the body ends', async () => {
    await expect(withSettingsLock('exclusive', () => Promise.reject(new Error('boom')), { path })).rejects.toThrow('boom');
    const other = await holder('exclusive');
    await other.stop();
    expect(await withSettingsLock('exclusive', () => 42, { path, timeoutMs: 100 })).toBe(42);
  });
});
