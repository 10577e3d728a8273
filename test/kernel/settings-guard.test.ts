import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { readMeminfo } from '../../lib/kernel/meminfo.js';
import { type OvercommitSettings, readOvercommitSettings, sysctlWritability } from '../../lib/kernel/sysctl.js';
import { withSettingsLock } from '../../lib/safety/lock.js';
import {
  type GuardWindow,
  guardAvailability,
  readSettingsSnapshot,
  type SettingsChange,
  type SettingsSnapshot,
  withMode,
  withOvercommitSettings,
} from '../../lib/safety/settings-guard.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const fixture = join(root, 'test/fixtures/guard-window.mjs');
const avail = guardAvailability();
const noGuard = !avail.available;
const why = noGuard ? ` (skipped: ${avail.reason})` : '';

interface Spawned {
  child: ChildProcess;
  /** The fixture's first stdout line: its window, once the change is in force. */
  ready: Promise<{ pid: number; window: GuardWindow }>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr: () => string;
}

function spawnWindow(change: SettingsChange, how: 'hold' | 'stdin' | 'brief', env: NodeJS.ProcessEnv = process.env): Spawned {
  const child = spawn(process.execPath, [fixture, JSON.stringify(change), how], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const ready = new Promise<{ pid: number; window: GuardWindow }>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', (line) => resolve(JSON.parse(line)));
    void exit.then(({ code, signal }) => reject(new Error(`fixture ended (code ${code}, signal ${signal}) before its window: ${err}`)));
  });
  ready.catch(() => {});
  return { child, ready, exit, stderr: () => err };
}

/** Polls until the settings equal `want` or `ms` pass; returns how long it took, or null. */
async function settingsBackWithin(want: OvercommitSettings, ms: number): Promise<number | null> {
  const t0 = Date.now();
  for (;;) {
    const waited = Date.now() - t0;
    if (JSON.stringify(readOvercommitSettings()) === JSON.stringify(want)) return waited;
    if (waited > ms) return null;
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('settings guard', () => {
  let start: OvercommitSettings;

  beforeEach(() => {
    start = readOvercommitSettings();
  });

  afterEach(() => {
    // Every test leaves /proc/sys/vm exactly as it found it.
    expect(readOvercommitSettings()).toEqual(start);
  });

  it('reports availability as sysctlWritability does', () => {
    const w = sysctlWritability();
    expect(avail.available).toBe(w.writable);
    if (!avail.available) expect(avail.reason).toBe(w.reason);
  });

  it('refuses a change that sets both ratio and kbytes, before touching anything', async () => {
    await expect(withOvercommitSettings({ ratio: 60, kbytes: 1024 }, async () => 1)).rejects.toThrow(/ratio or kbytes/);
    await expect(withOvercommitSettings({ mode: 3 as 0 }, async () => 1)).rejects.toThrow(RangeError);
  });

  it.skipIf(noGuard)(`applies a change, returns fn's value and restores on success${why}`, async () => {
    const other = start.mode === 1 ? 0 : 1;
    const result = await withOvercommitSettings({ mode: other, ratio: start.ratio === 77 ? 78 : 77 }, async (w) => {
      const now = readSettingsSnapshot();
      expect(now.mode).toBe(other);
      expect(now.ratio).toBe(w.applied.ratio);
      expect(now.kbytes).toBe(0);
      expect(w.original).toEqual({ mode: start.mode, ratio: start.ratio, kbytes: start.kbytes });
      expect(w.nested).toBe(false);
      return 'value';
    });
    expect(result).toBe('value');
    expect(readOvercommitSettings()).toEqual(start);
  });

  it.skipIf(noGuard)(`restores when fn throws${why}`, async () => {
    await expect(
      withOvercommitSettings({ ratio: start.ratio === 33 ? 34 : 33 }, async () => {
        expect(readSettingsSnapshot().ratio).not.toBe(start.ratio);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(readOvercommitSettings()).toEqual(start);
  });

  it.skipIf(noGuard)(`nests: an inner window restores what the outer one set${why}`, async () => {
    await withMode(1, async () => {
      await withOvercommitSettings({ ratio: 61 }, async (inner) => {
        expect(inner.nested).toBe(true);
        expect(inner.original.mode).toBe(1);
        expect(readSettingsSnapshot()).toEqual({ mode: 1, ratio: 61, kbytes: 0 });
      });
      expect(readSettingsSnapshot()).toEqual({ mode: 1, ratio: start.ratio, kbytes: start.kbytes });
    });
    expect(readOvercommitSettings()).toEqual(start);
  });

  it.skipIf(noGuard)(`concurrent windows of one process take turns${why}`, async () => {
    const seen: SettingsSnapshot[] = [];
    await Promise.all([
      withOvercommitSettings({ ratio: 71 }, async (w) => {
        seen.push(w.original);
        await new Promise((r) => setTimeout(r, 50));
      }),
      withOvercommitSettings({ ratio: 72 }, async (w) => {
        seen.push(w.original);
      }),
    ]);
    const original = { mode: start.mode, ratio: start.ratio, kbytes: start.kbytes };
    expect(seen).toEqual([original, original]);
  });

  it.skipIf(noGuard)(`switches while this process holds the lock shared (as a runner does)${why}`, async () => {
    await withSettingsLock('shared', () =>
      withMode(1, async (w) => {
        expect(w.nested).toBe(false);
        expect(readSettingsSnapshot().mode).toBe(1);
      }),
    );
    expect(readOvercommitSettings()).toEqual(start);
  });

  it.skipIf(noGuard)(`restores kbytes when kbytes was in force, and the ratio when it was${why}`, async () => {
    const kb = 8 * 1024 * 1024;
    await withOvercommitSettings({ kbytes: kb }, async () => {
      expect(readSettingsSnapshot()).toMatchObject({ ratio: 0, kbytes: kb });
      await withOvercommitSettings({ ratio: 70 }, async () => {
        expect(readSettingsSnapshot()).toMatchObject({ ratio: 70, kbytes: 0 });
      });
      expect(readSettingsSnapshot()).toMatchObject({ ratio: 0, kbytes: kb });
    });
    expect(readOvercommitSettings()).toEqual(start);
  });

  it.skipIf(noGuard)(`raises the commit limit before a mode-2 window that would leave too little headroom${why}`, async () => {
    // ratio 1 would make CommitLimit about 1% of RAM: the guard must raise it to Committed_AS + margin.
    await withOvercommitSettings({ mode: 2, ratio: 1 }, async (w) => {
      const m = readMeminfo();
      expect(w.headroom).not.toBeNull();
      expect(w.applied).toEqual({ mode: 2, ratio: 0, kbytes: w.headroom!.kbytes });
      expect(m.commitLimit).toBe(w.headroom!.commitLimitBytes);
      expect(w.headroom!.commitLimitBytes).toBeGreaterThanOrEqual(w.headroom!.committedAsBytes + w.headroom!.marginBytes);
    });
    expect(readOvercommitSettings()).toEqual(start);
  });

  it.skipIf(noGuard)(`a process SIGKILLed in a mode-2 window: the watchdog restores within 1 s${why}`, async () => {
    const p = spawnWindow({ mode: 2 }, 'hold');
    const { window } = await p.ready;
    expect(window.applied.mode).toBe(2);
    expect(readSettingsSnapshot().mode).toBe(2);
    p.child.kill('SIGKILL');
    expect(await settingsBackWithin(start, 1000)).not.toBeNull();
    expect((await p.exit).signal).toBe('SIGKILL');
  });

  it.skipIf(noGuard)(`a process SIGTERMed in a mode-2 window restores and exits 143${why}`, async () => {
    const p = spawnWindow({ mode: 2 }, 'hold');
    await p.ready;
    expect(readSettingsSnapshot().mode).toBe(2);
    p.child.kill('SIGTERM');
    expect(await p.exit).toEqual({ code: 143, signal: null });
    expect(readOvercommitSettings()).toEqual(start);
  });

  it.skipIf(noGuard)(`the watchdog restores kbytes when kbytes was the original${why}`, async () => {
    const kb = 9 * 1024 * 1024;
    await withOvercommitSettings({ kbytes: kb }, async () => {
      // This process holds the machine's lock; the fixture, a switcher inside our window, takes a
      // private one, so that its originals are ours (kbytes in force).
      const lock = `/tmp/overcommit-lab-guard-test-${process.pid}.lock`;
      onTestFinished(() => rmSync(lock, { force: true }));
      const p = spawnWindow({ mode: 2, ratio: 60 }, 'hold', { ...process.env, OVERCOMMIT_LAB_LOCK: lock });
      const { window } = await p.ready;
      expect(window.original).toEqual({ mode: start.mode, ratio: 0, kbytes: kb });
      p.child.kill('SIGKILL');
      expect(await settingsBackWithin({ ...start, ratio: 0, kbytes: kb }, 1000)).not.toBeNull();
      await p.exit;
    });
    expect(readOvercommitSettings()).toEqual(start);
  });

  it.skipIf(noGuard)(`two switching processes at once: one after the other, and the settings end where they began${why}`, async () => {
    // A holds its window until we close its stdin; B starts meanwhile and must wait for the lock.
    const a = spawnWindow({ mode: start.mode === 1 ? 0 : 1 }, 'stdin');
    const ra = await a.ready;
    const b = spawnWindow({ ratio: start.ratio === 62 ? 63 : 62 }, 'brief');
    while (!b.stderr().includes('waiting for another overcommit-lab process')) {
      expect(b.child.exitCode).toBeNull();
      await new Promise((r) => setTimeout(r, 10));
    }
    a.child.stdin!.end();
    const rb = await b.ready;
    expect(await a.exit).toEqual({ code: 0, signal: null });
    expect(await b.exit).toEqual({ code: 0, signal: null });
    // Had the windows overlapped, B would have recorded A's change as its original.
    const original = { mode: start.mode, ratio: start.ratio, kbytes: start.kbytes };
    expect(ra.window.original).toEqual(original);
    expect(rb.window.original).toEqual(original);
    expect(readOvercommitSettings()).toEqual(start);
  });
});
