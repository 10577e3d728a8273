import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { acquireSettingsLock, withSettingsLock } from '../lib/lock.js';

const dir = mkdtempSync(join(tmpdir(), 'overcommit-lab-lock-'));
const path = join(dir, 'lock');
afterAll(() => rmSync(dir, { recursive: true }));

describe('settings lock', () => {
  it('shared holders coexist; an exclusive one waits for them, saying so', async () => {
    const a = await acquireSettingsLock('shared', { path });
    const b = await acquireSettingsLock('shared', { path, timeoutMs: 100 });
    const waits: string[] = [];
    await expect(acquireSettingsLock('exclusive', { path, timeoutMs: 100, onWait: (m) => waits.push(m) })).rejects.toMatchObject({
      code: 'ERR_SETTINGS_LOCK_TIMEOUT',
    });
    expect(waits).toHaveLength(1);
    a.release();
    b.release();
    const c = await acquireSettingsLock('exclusive', { path, timeoutMs: 100 });
    await expect(acquireSettingsLock('shared', { path, timeoutMs: 100 })).rejects.toThrow(/timed out/);
    c.release();
    c.release();
  });

  it('withSettingsLock releases however the body ends', async () => {
    await expect(withSettingsLock('exclusive', () => Promise.reject(new Error('boom')), { path })).rejects.toThrow('boom');
    expect(await withSettingsLock('exclusive', () => 42, { path, timeoutMs: 100 })).toBe(42);
  });
});
