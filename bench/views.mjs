// npm run bench (second part): the cost of handing out buffers and of counting resident pages
// over a huge sparse mapping. Per-view time at 40,000 views against 10,000 (about 1 when each
// view() is O(1); it was O(n) when every view scanned the earlier ones), with plain ArrayBuffers
// of the same size as the baseline; and residentPages() against residentPagesAsync() over 1 TiB
// of NORESERVE address space: total time, and the longest the event loop waited meanwhile. The
// variants alternate within each round. It reports; nothing here asserts.
import { mmap, pageSize } from '../dist/index.js';
import { withSettingsLock } from '../dist/safety/lock.js';
import { median } from '../dist/verdict/stats.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

function perCall(count, make) {
  const keep = new Array(count);
  const t0 = performance.now();
  for (let i = 0; i < count; i++) keep[i] = make(i);
  return ((performance.now() - t0) * 1000) / count; // µs
}

/** Runs fn while a timer ticks every millisecond; returns [ms, longest gap between ticks in ms]. */
async function withLoopWatch(fn) {
  let last = performance.now();
  let gap = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    gap = Math.max(gap, now - last);
    last = now;
  }, 1);
  const t0 = performance.now();
  await fn();
  const ms = performance.now() - t0;
  clearInterval(timer);
  return [ms, Math.max(gap, performance.now() - last)];
}

const m = mmap(64 * pageSize);
const times = { 'view() x 10,000': [], 'view() x 40,000': [], 'ArrayBuffer x 10,000': [], 'ArrayBuffer x 40,000': [] };
for (let round = 0; round < ROUNDS; round++) {
  for (const count of [10_000, 40_000]) {
    times[`view() x ${count.toLocaleString('en')}`].push(perCall(count, (i) => m.view((i % 64) * pageSize, pageSize)));
    times[`ArrayBuffer x ${count.toLocaleString('en')}`].push(perCall(count, () => new ArrayBuffer(pageSize)));
  }
}
m.unmap();
const med = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
console.log(`buffers, median of ${ROUNDS} rounds (µs per call):`);
for (const [k, v] of Object.entries(med)) console.log(`  ${k.padEnd(22)} ${v.toFixed(2)}`);
console.log(`  view(): 40,000 / 10,000 per call = ${(med['view() x 40,000'] / med['view() x 10,000']).toFixed(2)}`);
console.log(`  ArrayBuffer: 40,000 / 10,000 per call = ${(med['ArrayBuffer x 40,000'] / med['ArrayBuffer x 10,000']).toFixed(2)}`);

await withSettingsLock('shared', async () => {
  let huge;
  try {
    huge = mmap(2 ** 40, { noreserve: true });
  } catch (e) {
    console.log(`residentPages over 1 TiB: skipped (${e.code ?? e}; mode 2 refuses a terabyte)`);
    return;
  }
  huge.touch({ offset: 2 ** 39, length: pageSize });
  const sync = [];
  const async = [];
  for (let round = 0; round < ROUNDS; round++) {
    sync.push(await withLoopWatch(async () => huge.residentPages()));
    async.push(await withLoopWatch(() => huge.residentPagesAsync()));
  }
  huge.unmap();
  const row = (name, runs) =>
    console.log(
      `  ${name.padEnd(22)} ${median(runs.map((r) => r[0])).toFixed(0)} ms, loop blocked up to ${median(runs.map((r) => r[1])).toFixed(1)} ms`,
    );
  console.log(`residentPages over 1 TiB NORESERVE, one page touched, median of ${ROUNDS} rounds:`);
  row('residentPages()', sync);
  row('residentPagesAsync()', async);
});
