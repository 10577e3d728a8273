// Property-based tests (fast-check): random sequences of public API calls, valid and not, each
// sequence in its own Node process (test/fixtures/api-sequence.mjs) with the settings guard's
// writes recorded and refused (vm-recorder-hooks.mjs). For every sequence: no signal, no hang,
// a typed error (or the documented result) for every call, no write to /proc/sys/vm by a call
// whose arguments are invalid, address space and map count back near the start after unmap and
// gc. A failure prints the seed and the shrunk sequence; make it a case of
// hardening-classes.test.ts. `npm run fuzz` runs many more (OCL_FUZZ_RUNS, OCL_FUZZ_SEED).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const fixtures = join(import.meta.dirname, '..', 'fixtures');
const runs = Number(process.env.OCL_FUZZ_RUNS ?? 40);
const seed = process.env.OCL_FUZZ_SEED === undefined ? Date.now() % 2 ** 31 : Number(process.env.OCL_FUZZ_SEED);
const dir = mkdtempSync(join(tmpdir(), 'ocl-fuzz-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const page = 4096;
// Values a caller may pass by mistake; the fixture turns '$nan', '$inf', '$fn', '$lockdir' into
// NaN, Infinity, a function and a lock path in a temporary directory.
const junk = fc.constantFrom<unknown>(null, '$nan', '$inf', -1, 0, 1.5, 'x', [], {}, true, 2 ** 53, '$fn');
const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
const length = fc.oneof(fc.constantFrom(page, 2 * page, 16 * page, 1 << 20, 64 << 20, 100), junk);
const offset = fc.oneof(fc.constantFrom(0, page, 100, 5 * page), junk);
const bool = fc.oneof(fc.boolean(), junk);
const prot = fc.oneof(fc.constantFrom('none', 'r', 'rw'), junk);
const mmapOptions = fc.oneof(
  fc.record(
    { prot, shared: bool, noreserve: bool, populate: bool, fd: fc.oneof(fc.constantFrom(0, 1e9), junk), offset },
    { requiredKeys: [] },
  ),
  junk,
);
const range = fc.oneof(fc.record({ offset, length }, { requiredKeys: [] }), junk);
const m = fc.nat(3);
const timeout = fc.oneof(fc.constantFrom(50, 300, 1500), junk);

const mappingCommand = fc.oneof(
  fc.record({ op: fc.constant('mmap'), args: fc.tuple(length, maybe(mmapOptions)) }),
  fc.record({ op: fc.constant('mmap'), args: fc.tuple(fc.constantFrom(2 * page, 1 << 20), fc.constant({ noreserve: true })) }),
  fc.record({ op: fc.constant('view'), m, args: fc.tuple(offset, length) }),
  fc.record({ op: fc.constant('buffer'), m }),
  fc.record({
    op: fc.constant('touch'),
    m,
    args: fc.tuple(maybe(fc.oneof(fc.record({ stride: length, offset, length }, { requiredKeys: [] }), junk))),
  }),
  fc.record({ op: fc.constantFrom('residentPages', 'residentPagesAsync'), m, args: fc.tuple(maybe(range)) }),
  fc.record({ op: fc.constant('protect'), m, args: fc.tuple(prot) }),
  fc.record({ op: fc.constant('remap'), m, args: fc.tuple(length) }),
  fc.record({
    op: fc.constant('advise'),
    m,
    args: fc.tuple(fc.oneof(fc.constantFrom('dontneed', 'willneed', 'hugepage', 'populate-write', 'remove'), junk), maybe(range)),
  }),
  fc.record({ op: fc.constant('unmap'), m }),
  fc.record({ op: fc.constantFrom('dropViews', 'gc') }),
);

const childStep = fc.oneof(
  fc.record({ op: fc.constant('mmap'), length, options: maybe(mmapOptions) }),
  fc.record({ op: fc.constant('touch'), mapping: fc.oneof(fc.constant(0), junk), offset: maybe(offset) }),
  fc.record({ op: fc.constant('munmap'), mapping: fc.oneof(fc.constant(0), junk) }),
  fc.record({ op: fc.constant('sleep'), ms: fc.oneof(fc.constantFrom(1, 100), junk) }),
  fc.record({ op: fc.constantFrom('sbrk', 'nope'), increment: fc.oneof(fc.constantFrom(0, page), junk) }),
);

const otherCommand = fc.oneof(
  fc.record({ op: fc.constant('worker'), loop: fc.constantFrom('getrlimit', 'touch', 'view', 'runChild'), ms: fc.nat(30) }),
  fc.record({ op: fc.constant('getrlimit'), args: fc.tuple(fc.oneof(fc.constantFrom('as', 'data', 'stack', 'cpu'), junk)) }),
  fc.record({
    op: fc.constant('probe'),
    args: fc.tuple(
      maybe(
        fc.oneof(
          fc.record(
            { lo: length, hi: fc.constantFrom(1 << 20, 1 << 30), granularity: maybe(length), noreserve: bool },
            { requiredKeys: ['hi'] },
          ),
          junk,
        ),
      ),
    ),
  }),
  fc.record({
    op: fc.constant('runChild'),
    args: fc.tuple(fc.oneof(fc.array(childStep, { maxLength: 4 }), junk), maybe(fc.oneof(fc.record({ timeoutMs: timeout }), junk))),
  }),
  fc.record({
    op: fc.constant('runProgram'),
    args: fc.tuple(
      fc.oneof(fc.constantFrom('sparse', 'settings', 'rlimit'), junk),
      // A hanging onPause always comes with a timeout: without one the default is 60 s.
      fc.oneof(
        fc.record(
          {
            bytes: fc.oneof(fc.constantFrom(8192, 1 << 20), junk),
            onPause: fc.constantFrom('hang', 'ok', 'throw'),
            timeoutMs: timeout,
            mincore: maybe(bool),
          },
          { requiredKeys: ['bytes', 'onPause', 'timeoutMs'] },
        ),
        junk,
      ),
    ),
  }),
  fc.record({
    op: fc.constant('guard'),
    args: fc.tuple(
      fc.oneof(
        fc.record(
          {
            mode: fc.oneof(fc.constantFrom(0, 1, 2, 3), junk),
            ratio: maybe(fc.oneof(fc.constantFrom(50, 100), junk)),
            kbytes: maybe(fc.oneof(fc.constant(1 << 20), junk)),
          },
          { requiredKeys: [] },
        ),
        junk,
      ),
      fc.oneof(fc.constant('$fn'), junk),
      maybe(
        fc.oneof(
          fc.record(
            {
              marginBytes: fc.oneof(fc.constant(2 ** 31), junk),
              lockTimeoutMs: fc.oneof(fc.constant(1000), junk),
              onWait: fc.oneof(fc.constant('$fn'), junk),
            },
            { requiredKeys: [] },
          ),
          junk,
        ),
      ),
    ),
  }),
  fc.record({
    op: fc.constant('lock'),
    args: fc.tuple(
      fc.oneof(fc.constantFrom('shared', 'exclusive'), junk),
      maybe(fc.oneof(fc.record({ path: fc.oneof(fc.constant('$lockdir'), junk), timeoutMs: timeout }), junk)),
    ),
  }),
);

const sequence = fc.array(fc.oneof({ weight: 4, arbitrary: mappingCommand }, { weight: 1, arbitrary: otherCommand }), {
  minLength: 1,
  maxLength: 14,
});

function runSequence(commands: unknown[]): { violations: unknown[] } {
  const r = spawnSync(
    process.execPath,
    ['--expose-gc', '--import', join(fixtures, 'vm-recorder-hooks.mjs'), join(fixtures, 'api-sequence.mjs'), JSON.stringify(commands)],
    {
      cwd: root,
      encoding: 'utf8',
      timeout: 60_000,
      env: {
        ...process.env,
        OCL_VM_RECORD: join(dir, `record-${process.pid}`),
        OVERCOMMIT_LAB_LOCK: join(dir, 'settings.lock'),
        OCL_FUZZ_DIR: dir,
      },
    },
  );
  if (r.error) throw new Error(`the sequence hung: ${r.error.message}`);
  if (r.signal !== null || r.status !== 0)
    throw new Error(`the sequence ended with ${r.signal ?? `exit code ${r.status}`}: ${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { violations: unknown[] };
}

describe('random sequences of API calls', () => {
  it(`neither crash, hang, write early nor leak (${runs} sequences, seed ${seed})`, { timeout: Math.max(120_000, runs * 10_000) }, () => {
    process.stdout.write(`property-api: seed ${seed}, ${runs} runs (OCL_FUZZ_SEED=${seed} replays them)\n`);
    fc.assert(
      fc.property(sequence, (commands) => {
        expect(runSequence(commands).violations).toEqual([]);
      }),
      { seed, numRuns: runs, endOnFailure: false },
    );
  });
});
