/**
 * runChild misuse, each case in its own Node process (test/fixtures/child-misuse.mjs), asserting
 * the documented behaviour and that the process neither crashes nor hangs. Bounds on time are
 * generous: they catch the pathology (a wait for a 30-60 s child), not a slow machine.
 *
 * Misuse cases covered here (issue 11, "a pending child ties up the process", "the child
 * inherits everything", "strings and numbers"):
 * - worker.terminate() with a runChild pending in that worker: resolves, the child is killed and
 *   reaped by the worker's teardown, the process does not abort (pidfd and thread watchers).
 * - worker.terminate() while the worker's children are ending (settling races the teardown):
 *   every terminate resolves, no abort, no child left.
 * - process.exit() in a worker's parent with a runChild pending in the worker: exits at once,
 *   the child is gone.
 * - process.exit() with a runChild pending: exits at once, the child is killed and reaped
 *   (pidfd and thread watchers).
 * - four pending children: fs.promises.readFile is not stalled (no pool thread is held).
 * - every pool thread busy: a child's timeoutMs is honoured anyway (pidfd and thread watchers).
 * - a listening socket closed while a child lives: its port is free (the child holds no
 *   descriptor but 0-2 and the fd its mmap step maps); the child has no handler, nothing blocked
 *   and nothing ignored.
 * - SIGKILL of the parent after the child's setuid step: the child dies too (root only).
 * - NUL inside readfile/writefile paths (and the op name), through the API and the raw binding:
 *   TypeError before fork, and the file the cut path names is untouched; a NUL in writefile data
 *   is data. Numbers beyond 2^53 (ms, increment, length, soft, timeoutMs): RangeError. A
 *   useThread that is not a boolean, steps that are not an array: TypeError.
 * - a stack step from a worker thread: grows [stack] without crashing; one past RLIMIT_STACK
 *   ends the child with SIGSEGV, not the process.
 * - the thread watcher (pre-5.3 kernels) on its own: reaps, reports, honours timeouts.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isRoot } from '../helpers.js';

const fixture = join(import.meta.dirname, '..', 'fixtures', 'child-misuse.mjs');
const root = join(import.meta.dirname, '..', '..');
const MiB = 1 << 20;

interface Run {
  out: Record<string, unknown>;
  status: number | null;
  signal: string | null;
  ms: number;
  stderr: string;
}

function runCase(kase: string, reaper?: 'thread'): Run {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [fixture, kase, ...(reaper ? [reaper] : [])], {
    cwd: root,
    encoding: 'utf8',
    timeout: 45_000, // inside the test's 60 s: a hang fails the case, not the run
    env: { ...process.env, UV_THREADPOOL_SIZE: '4' },
  });
  const ms = performance.now() - t0;
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  let out: Record<string, unknown> = {};
  try {
    out = JSON.parse(line) as Record<string, unknown>;
  } catch {
    // reported by the status assertions below
  }
  return { out, status: r.status, signal: r.signal, ms, stderr: r.stderr };
}

/** Exited normally with 0: no abort, no signal, no hang past the spawn timeout. */
function expectClean(r: Run): void {
  expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
}

const gone = (pid: number) => !existsSync(`/proc/${pid}`);

describe.each([undefined, 'thread' as const])('a pending child does not tie up the process (watcher: %s)', (reaper) => {
  it('worker.terminate() with a runChild pending resolves; the child is killed and reaped; no abort', () => {
    const r = runCase('worker-terminate', reaper);
    expectClean(r);
    expect(r.out.children).toHaveLength(1);
    expect(r.out.terminateMs).toBeLessThan(10_000);
    expect(r.out.remaining).toEqual([]); // reaped, not a zombie, while the process still ran
  });

  it('terminating workers while their children end: every terminate resolves, nothing aborts, nothing left', () => {
    const r = runCase('terminate-race', reaper);
    expectClean(r);
    expect(r.out).toEqual({ terminated: 8, remaining: [] });
  });

  it('process.exit() with a runChild pending exits at once; the child is killed and reaped', () => {
    const r = runCase('exit', reaper);
    expectClean(r);
    expect(r.ms).toBeLessThan(30_000); // the child sleeps 60 s
    const children = r.out.children as number[];
    expect(children).toHaveLength(1);
    expect(children.filter((pid) => !gone(pid))).toEqual([]);
  });

  it("a child's timeoutMs is honoured while every pool thread is busy", () => {
    const r = runCase('timeout-pool-busy', reaper);
    expectClean(r);
    expect(r.out).toMatchObject({ timedOut: true, signal: 9, remaining: false });
    expect(r.out.elapsedMs).toBeGreaterThanOrEqual(200);
    expect(r.out.elapsedMs).toBeLessThan(10_000); // with the pool it waited for a free thread
  });
});

describe('runChild hardening, in forked Node processes', () => {
  it('process.exit() with a runChild pending in a worker exits at once; the child is gone', () => {
    const r = runCase('worker-exit');
    expectClean(r);
    expect(r.ms).toBeLessThan(30_000);
    const children = r.out.children as number[];
    expect(children).toHaveLength(1);
    expect(children.filter((pid) => !gone(pid))).toEqual([]);
  });

  it('four pending children do not stall fs.promises.readFile', () => {
    const r = runCase('pending-readfile');
    expectClean(r);
    expect(r.out.children).toHaveLength(4);
    expect(r.out.readFileMs).toBeLessThan(10_000); // it used to wait for the 30 s children
    expect((r.out.children as number[]).filter((pid) => !gone(pid))).toEqual([]);
  });

  it('the child holds none of the parent descriptors but 0-2 and its mapped fd; no handler, nothing blocked', () => {
    const r = runCase('inherit');
    expectClean(r);
    expect(r.out.fds).toEqual([0, 1, 2, r.out.keepFd]);
    expect(r.out.relisten).toBe('ok'); // the closed server's port is free while the child lives
    expect(r.out).toMatchObject({ sigBlk: '0000000000000000', sigIgn: '0000000000000000', sigCgt: '0000000000000000' });
  });

  it('NUL in paths: TypeError before fork, nothing written; numbers beyond 2^53: RangeError', () => {
    const r = runCase('nul');
    expectClean(r);
    expect(r.out.errors).toEqual({
      readfile: 'TypeError',
      writefile: 'TypeError',
      rawReadfile: 'TypeError',
      rawWritefile: 'TypeError',
      rawOp: 'TypeError',
      sleepBeyond2p53: 'RangeError',
      sbrkBeyond2p53: 'RangeError',
      rawLengthBeyond2p53: 'RangeError',
      rawSoftBeyond2p53: 'RangeError',
      rawTimeoutBeyond2p53: 'RangeError',
      rawUseThread: 'TypeError',
      rawStepsNotArray: 'TypeError',
    });
    // 'keep' overwritten in place by the data step only: no refused step wrote 'lost' into it.
    expect(r.out).toMatchObject({ dataStatus: 'ok', writtenBytes: [97, 0, 98, 112] });
  });

  it('a stack step from a worker grows [stack] and does not crash; past RLIMIT_STACK only the child dies', () => {
    const r = runCase('stack-worker');
    expectClean(r);
    expect(r.out).toMatchObject({ exitCode: 0, signal: null, status: 'ok', overflowSignal: 'SIGSEGV' });
    expect(r.out.stackBytes).toBeGreaterThanOrEqual(4 * MiB);
    expect(r.out.growth).toBeGreaterThan(3 * MiB);
  });

  it('the thread watcher reaps and reports like the pidfd one', () => {
    const r = runCase('thread-basic', 'thread');
    expectClean(r);
    expect(r.out).toEqual({ ok: { exitCode: 0, status: 'ok' }, slow: { timedOut: true, signal: 9 }, remaining: [] });
  });

  it.skipIf(!isRoot)('a child that dropped root still dies with its parent', async () => {
    const p = spawn(process.execPath, [fixture, 'pdeath-setuid'], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    const line = await new Promise<string>((resolve, reject) => {
      p.stdout.on('data', (d) => {
        text += String(d);
        if (text.includes('\n')) resolve(text.split('\n')[0]!);
      });
      p.once('exit', (code, signal) => reject(new Error(`fixture ended early: ${code} ${signal}`)));
    });
    const [child] = (JSON.parse(line) as { children: number[] }).children;
    expect(child).toBeGreaterThan(0);
    const exited = new Promise((resolve) => p.once('exit', resolve));
    p.kill('SIGKILL');
    await exited;
    // Gone, or a zombie of init (nothing reaps it once its parent is gone): not sleeping on.
    const state = () => {
      try {
        const stat = readFileSync(`/proc/${child}/stat`, 'utf8');
        return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      } catch {
        return 'gone';
      }
    };
    const deadline = Date.now() + 10_000;
    while (!['gone', 'Z', 'X'].includes(state()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(['gone', 'Z', 'X']).toContain(state());
  });
});
