// Issue 16's classes, each case in its own Node process (test/fixtures/hardening2.mjs <case>):
// the process must exit 0 (no SIGABRT, SIGSEGV), within the timeout (no hang), and report a
// typed error or the documented result. The settings-guard cases run with the guard's writes to
// /proc/sys/vm and its watchdog replaced by a recorder that refuses them (vm-recorder-hooks.mjs).
//   placeholder-sync-loop      100,000 synchronous rounds of mmap, view, unmap (aborted at ~65,000)
//   placeholder-protect-remap  protect/remap cycles with a dropped 64 MiB view (grew 128 GiB)
//   worker-terminate           a worker calling getrlimit, residentPages, touch, view or runChild
//                              in a loop is terminated (aborted: Napi::Error not thrown)
//   program-pause-timeout      runProgram's timeout with an onPause that never settles (never settled)
//   guard-invalid              the guard with invalid arguments (wrote /proc/sys/vm, started a watchdog)
//   lock-timeout-nan           acquireSettingsLock with a NaN timeout (waited forever on a busy lock)
//   child-mmap-options         runChild's mmap step with options mmap() refuses (accepted)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const fixtures = join(import.meta.dirname, '..', 'fixtures');

function runCase(name: string, nodeArgs: string[] = [], env: Record<string, string> = {}): Record<string, unknown> {
  const r = spawnSync(process.execPath, ['--expose-gc', ...nodeArgs, join(fixtures, 'hardening2.mjs'), name], {
    cwd: root,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, ...env },
  });
  expect(r.error, `case ${name} hung`).toBeUndefined();
  expect(r.signal, `case ${name} died: ${r.stderr}`).toBeNull();
  expect(r.status, `case ${name} failed: ${r.stderr}`).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

const typeError = { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' };
const rangeError = { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' };

describe('placeholder memory is bounded without waiting for the event loop', () => {
  it('a synchronous loop of mmap, view, unmap: at most 1024 placeholders, then ERR_MAPPING_PLACEHOLDER_LIMIT', () => {
    const out = runCase('placeholder-sync-loop') as { rounds: number; refused: number; addedMaps: number };
    expect(out.rounds).toBe(100_000);
    expect(out.refused).toBeGreaterThan(0);
    // 1024 placeholders and the mappings of the loop's own round, whatever else Node maps meanwhile.
    expect(out.addedMaps).toBeLessThan(1024 + 512);
  });

  it('protect and remap cycles under dropped 64 MiB views add at most 4 GiB (and one view) of address space', () => {
    const out = runCase('placeholder-protect-remap') as { maxAddedBytes: number };
    expect(out.maxAddedBytes).toBeLessThanOrEqual(4 * 2 ** 30 + 3 * 64 * 2 ** 20);
  });
});

describe('a worker terminated while it calls the addon', () => {
  it('ends the worker, not the process', () => {
    expect(runCase('worker-terminate')).toEqual({
      ended: { getrlimit: 1, residentPages: 1, touch: 1, view: 1, runChild: 1 },
    });
  });
});

describe('every timeout bounds the whole call', () => {
  it("runProgram's timeout settles the call while onPause never does", () => {
    expect(runCase('program-pause-timeout')).toEqual({ settled: 'resolved', timedOut: true, signal: 'SIGKILL' });
  });
});

describe('arguments are checked before any lock, watchdog or write', () => {
  it('the settings guard refuses every invalid argument with a typed error, and records no write, watchdog or lock', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ocl-guard-'));
    try {
      const record = join(dir, 'record');
      const lock = join(dir, 'lock');
      const out = runCase('guard-invalid', ['--import', join(fixtures, 'vm-recorder-hooks.mjs')], {
        OCL_VM_RECORD: record,
        OVERCOMMIT_LAB_LOCK: lock,
      });
      expect(out).toEqual({
        errors: {
          'fn not a function': typeError,
          'fn undefined': typeError,
          'margin NaN': rangeError,
          'margin negative': rangeError,
          'margin string': typeError,
          'change not an object': typeError,
          'change null': typeError,
          'change array': typeError,
          'lock timeout NaN': rangeError,
          'lock timeout negative': rangeError,
          'onWait not a function': typeError,
          'options not an object': typeError,
          'mode 3': rangeError,
          'ratio NaN': rangeError,
        },
        recorded: '',
        lockFileMade: false,
      });
      expect(existsSync(record) ? readFileSync(record, 'utf8') : '').toBe('');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('acquireSettingsLock refuses a NaN, negative, string or infinite timeout and an unknown mode before opening the lock', () => {
    expect(runCase('lock-timeout-nan')).toEqual({
      errors: { NaN: rangeError, negative: rangeError, string: typeError, infinity: rangeError, mode: rangeError },
      lockFileMade: false,
    });
  });

  it("runChild's mmap step refuses what mmap() refuses, before the fork", () => {
    expect(runCase('child-mmap-options')).toEqual({
      errors: {
        'offset without fd': typeError,
        'unaligned offset': rangeError,
        'negative fd': rangeError,
        'fd not a number': typeError,
        'prot bad': rangeError,
      },
    });
  });
});
