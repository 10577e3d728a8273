// Misuse of the mapping API (issue 11), each case in its own Node process
// (test/fixtures/misuse-mapping.mjs <case>): the process must exit 0 (no SIGSEGV, SIGBUS,
// SIGABRT), within the timeout (no hang), and report a typed error or the documented behaviour.
//
// Every misuse case, by class:
// Async work still using a view when the mapping goes away
//   randomfill-unmap      crypto.randomFill fills a 64 MiB view; unmap() meanwhile
//   zlib-protect-none     zlib.deflate reads a view chunk by chunk; protect('none') meanwhile
//   zlib-unmap            zlib.deflate reads a view; unmap() meanwhile
//   fsread-unmap-newmap   fs.read into a view waits on a FIFO; unmap(), a new mmap, then the data
//   fsread-remap-newmap   the same with a remap() that moves the mapping
//   placeholder-extent    unmap() with a view over pages 10-11 of 64, and over a 100-byte mapping
//   js-write-after        JS writes through buffers after protect('none'), remap(), unmap()
//   worker-teardown       a worker holding buffers (live and over placeholders) is terminated;
//                         a buffer is put in a structuredClone transfer list
// Views at scale, residentPages on huge mappings
//   views-40000           40,000 view() calls (O(1) each: no scan of the earlier ones)
//   resident-async-huge   residentPagesAsync() over 4 TiB NORESERVE keeps the loop turning;
//                         abort, a move and an unmap during the scan reject with typed errors
// Strings and numbers
//   memfd-nul             memfdCreate('ab\0cd'), through the API and the raw binding
//   rlimit-bigint         a limit of 2^60 comes back as a bigint; unsafe numbers are refused
//   touch-straddle        a touch whose one write straddles two pages counts 2
//   probe-empty           probeLargestMapping with lo > hi, or no multiple of the granularity
// The raw binding (node-gyp-build), past the TypeScript checks
//   raw-buffer-over-limit buffer() longer than Node's buffer limit (was a double free, SIGABRT)
//   raw-advise            advice outside the allow-list (MADV_GUARD_INSTALL, HWPOISON, REMOVE...)
//   raw-args              bad offsets, lengths, strides, protections, flags, `new` on the class
// File mappings
//   file-truncated        the file is truncated under a shared and a private mapping, then touched
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { withSettingsLock } from '../../lib/safety/lock.js';

const root = join(import.meta.dirname, '..', '..');
const fixture = join(import.meta.dirname, '..', 'fixtures', 'misuse-mapping.mjs');

type Outcome = Record<string, unknown> & { skipped?: string };

function runCase(name: string): Outcome {
  const r = spawnSync(process.execPath, ['--expose-gc', fixture, name], { cwd: root, encoding: 'utf8', timeout: 90_000 });
  // A hang ends in the timeout (error ETIMEDOUT, signal SIGTERM); a crash in a signal.
  expect(r.error, `case ${name} hung`).toBeUndefined();
  expect(r.signal, `case ${name} died: ${r.stderr}`).toBeNull();
  expect(r.status, `case ${name} failed: ${r.stderr}`).toBe(0);
  return JSON.parse(r.stdout) as Outcome;
}

const typeError = { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' };
const rangeError = { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' };

describe('async work still using a view when the mapping goes away', () => {
  it('randomFill into a view across unmap(): lands in placeholder memory, released once the view is collected', () => {
    expect(runCase('randomfill-unmap')).toMatchObject({
      mapped: false,
      viewLength: 64 << 20,
      placeholderWhileHeld: true,
      placeholderReleased: true,
    });
  });

  it("zlib reading a view across protect('none'): the mapping moves, the view stays readable", () => {
    expect(runCase('zlib-protect-none')).toMatchObject({ prot: 'none', moved: true, viewLength: 16 << 20, inflatedLength: 16 << 20 });
  });

  it('zlib reading a view across unmap(): completes', () => {
    expect(runCase('zlib-unmap')).toMatchObject({ mapped: false, inflatedLength: 16 << 20 });
  });

  it('fs.read into a view, unmap() and a new mmap: the late read never reaches the new mapping', () => {
    expect(runCase('fsread-unmap-newmap')).toEqual({
      case: 'fsread-unmap-newmap',
      bytesRead: 4096,
      freshAtOldAddress: false,
      freshUntouched: true,
      lateWriteInView: true,
    });
  });

  it('fs.read into a view, a remap() that moves, and a new mmap: neither mapping sees the late read', () => {
    expect(runCase('fsread-remap-newmap')).toMatchObject({
      bytesRead: 4096,
      moved: true,
      mappingIntact: true,
      freshUntouched: true,
      lateWriteInView: true,
    });
  });

  it('only the pages under live buffers stay mapped after unmap(), until they are collected', () => {
    expect(runCase('placeholder-extent')).toMatchObject({ head: false, under: [true, true], tail: false, oddHeld: true, released: true });
  });

  it('JS writes through stale buffers: placeholder memory, lengths kept', () => {
    expect(runCase('js-write-after')).toMatchObject({ reads: [1, 2, 3], lengths: [16384, 16384, 8192] });
  });
});

describe('buffers across worker teardown and transfer', () => {
  it('terminating a worker that holds buffers, and a transfer list with one, leave the process intact', () => {
    const out = runCase('worker-teardown');
    expect(out).toMatchObject({ exitCode: 1, stillUsable: true });
    // Node refuses to transfer an external buffer (DataCloneError) or clones it; either is fine.
    expect(['cloned', 'DataCloneError']).toContain(out.transfer);
  });
});

describe('views at scale, residentPages on a huge mapping', () => {
  it('40,000 views: every one sees its page, and stays writable after unmap()', () => {
    expect(runCase('views-40000')).toMatchObject({ count: 40_000, allSee: true, allWritable: true });
  });

  it('residentPagesAsync over 4 TiB yields to the loop; abort, move and unmap reject with typed errors', async (ctx) => {
    const out = await withSettingsLock('shared', () => runCase('resident-async-huge'));
    if (out.skipped) ctx.skip(out.skipped);
    expect(out).toMatchObject({
      resident: 1,
      loopTurnedDuringScan: true,
      abort: { name: 'AbortError' },
      moved: { name: 'Error', code: 'ERR_MAPPING_MOVED' },
      unmapped: { name: 'Error', code: 'ERR_MAPPING_UNMAPPED' },
    });
  });
});

describe('strings and numbers', () => {
  it('a memfd name with NUL is a TypeError, through the API and the raw binding', () => {
    expect(runCase('memfd-nul')).toMatchObject({ api: typeError, raw: typeError });
  });

  it('an rlimit above 2^53 comes back as a bigint; unsafe numbers and 2^64 are RangeErrors', (ctx) => {
    const out = runCase('rlimit-bigint');
    if (out.skipped) ctx.skip(out.skipped);
    expect(out).toMatchObject({
      soft: (2n ** 60n).toString(),
      type: 'bigint',
      unsafeNumber: rangeError,
      rawUnsafeNumber: rangeError,
      tooBig: rangeError,
      rawTooBig: rangeError,
    });
  });

  it('touch counts both pages of a write that straddles them, as mincore does', () => {
    expect(runCase('touch-straddle')).toMatchObject({ pages: 2, resident: 2 });
  });

  it('probeLargestMapping with nothing to probe is a RangeError, not 0', () => {
    expect(runCase('probe-empty')).toMatchObject({
      loAboveHi: rangeError,
      hiBelowGranularity: rangeError,
      rawLoAboveHi: rangeError,
      rawEmpty: rangeError,
      oneStep: expect.any(Number),
    });
  });
});

describe('the raw binding validates every argument itself', () => {
  it("buffer() past Node's buffer limit is a RangeError, not a double free", async (ctx) => {
    const out = await withSettingsLock('shared', () => runCase('raw-buffer-over-limit'));
    if (out.skipped) ctx.skip(out.skipped);
    expect(out).toMatchObject({ whole: rangeError, nodeLimitPlusOne: rangeError, atLimit: true });
  });

  it('advise takes only the allow-listed advice', () => {
    const out = runCase('raw-advise');
    const refused = out.refused as Record<string, unknown>;
    for (const advice of ['9', '10', '12', '18', '100', '101', '102', '103', '-1', '2147483648', '1.5']) {
      expect(refused[advice], `advice ${advice}`).toEqual(rangeError);
    }
    expect(refused['4']).toEqual(typeError);
    expect(out.allowed).toEqual(['returned', 'returned', 'returned', 'returned']);
    expect(out.stillWorks).toBe(4);
  });

  it('bad offsets, lengths, strides, protections and flags are TypeErrors or RangeErrors', () => {
    expect(runCase('raw-args')).toMatchObject({
      negativeOffset: rangeError,
      zeroLength: rangeError,
      unsafeLength: rangeError,
      pastEnd: rangeError,
      stringOffset: typeError,
      zeroStride: rangeError,
      writeOnly: rangeError,
      protExec: rangeError,
      remapZero: rangeError,
      construct: typeError,
      mmapFixed: rangeError,
    });
  });
});

describe('file mappings', () => {
  it("touching past a truncated file's end is ERR_MAPPING_PAST_END_OF_FILE, not SIGBUS", () => {
    const pastEnd = { name: 'Error', code: 'ERR_MAPPING_PAST_END_OF_FILE' };
    expect(runCase('file-truncated')).toMatchObject({
      sharedTouch: pastEnd,
      privateTouch: pastEnd,
      sharedView: pastEnd,
      withinFile: 2,
      firstByte: 0,
      memfdAfterClose: 4,
    });
  });
});
