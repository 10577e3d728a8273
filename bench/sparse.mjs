// npm run bench: 004's sparse program (bench/sparse.c, verbatim, so its comments keep the
// document's encoding damage), compiled with the system's cc -O2, against
//  - the tool's mmap+touch+unmap of the same 1 GiB MAP_NORESERVE workload, MAP_POPULATE, and the
//    kernel's floor for the same pages (MADV_POPULATE_WRITE), in this process;
//  - whole processes: `overcommit-lab run` and `run --mode all` against the C program, and
//    `overcommit-lab settings` against `node -e 0`;
// and the noise the verdicts face: how far Committed_AS moves in 1 s, quiet and under the load
// generator. Variants alternate within each round so that drift on this shared machine falls on
// all of them alike; it prints medians and ratios. It reports; nothing here asserts.
// BENCH_SECTIONS=touch,whole,startup,noise (the default: all) picks sections; BENCH_*_ROUNDS
// below set the rounds.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { mmap, startLoad } from '../dist/index.js';
import { readMeminfo } from '../dist/kernel/meminfo.js';
import { memoryCgroupAvailability, withProcessInMemoryCgroup } from '../dist/safety/memory-cgroup.js';
import { guardAvailability } from '../dist/safety/settings-guard.js';
import { GiB, MiB } from '../dist/units.js';
import { median } from '../dist/verdict/stats.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const CLI_ROUNDS = Number(process.env.BENCH_CLI_ROUNDS ?? 3);
const STARTUP_ROUNDS = Number(process.env.BENCH_STARTUP_ROUNDS ?? 21);
const NOISE_ROUNDS = Number(process.env.BENCH_NOISE_ROUNDS ?? 3);
const SECTIONS = new Set((process.env.BENCH_SECTIONS ?? 'touch,whole,startup,noise').split(','));
const BYTES = GiB;
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'dist/cli/main.js');

/** Runs `fn` with this process (and the C program it spawns) in a memory cgroup: 1 GiB is touched only there. */
async function confined(fn) {
  const cgroups = memoryCgroupAvailability();
  if (!cgroups.available) throw new Error(`the benchmark touches 1 GiB, which it does only inside a memory cgroup: ${cgroups.reason}`);
  return withProcessInMemoryCgroup(BYTES + 512 * MiB, async () => fn());
}

function timed(fn) {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

/** Runs a command to completion; a failure stops the benchmark with its output. */
function spawnChecked(file, args) {
  const r = spawnSync(file, args, { encoding: 'utf8', maxBuffer: 64 * MiB });
  if (r.status !== 0) throw new Error(`${[file, ...args].join(' ')} exited ${r.status ?? r.signal}: ${r.stderr}`);
}

const ms = (t) => `${t.toFixed(1).padStart(8)} ms`;
const all = (times) => `[${times.map((t) => t.toFixed(0)).join(' ')}]`;
const ratio = (a, b) => `${(a / b).toFixed(3)}x`;
const summary = [];

/** Max minus min of Committed_AS read every few ms for `durationMs`. */
async function committedSpread(durationMs) {
  const values = [];
  const end = performance.now() + durationMs;
  while (performance.now() < end) {
    values.push(readMeminfo().committedAs);
    await sleep(5);
  }
  return Math.max(...values) - Math.min(...values);
}

const dir = mkdtempSync(join(tmpdir(), 'overcommit-lab-bench-'));
try {
  const binary = join(dir, 'sparse');
  execFileSync('cc', ['-O2', '-o', binary, join(root, 'bench/sparse.c')], { stdio: 'inherit' });
  const cProgram = () => spawnChecked(binary, []);

  if (SECTIONS.has('touch')) {
    // 1. The touch, in this process, against the C program and the kernel's floor.
    const variants = {
      // The whole program: exec, mmap, the touch loop, munmap, exit.
      'C program (cc -O2), whole run': cProgram,
      'tool: mmap + touch + unmap': () => {
        const m = mmap(BYTES, { noreserve: true });
        m.touch();
        m.unmap();
      },
      'tool: mmap with populate + unmap': () => {
        mmap(BYTES, { noreserve: true, populate: true }).unmap();
      },
      'floor: mmap + MADV_POPULATE_WRITE + unmap': () => {
        const m = mmap(BYTES, { noreserve: true });
        m.advise('populate-write');
        m.unmap();
      },
    };
    const times = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
    await confined(() => {
      for (let round = 0; round < ROUNDS; round++) {
        for (const [name, fn] of Object.entries(variants)) times[name].push(timed(fn));
      }
    });
    const medians = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
    const c = medians['C program (cc -O2), whole run'];
    const floor = medians['floor: mmap + MADV_POPULATE_WRITE + unmap'];
    console.log(`1 GiB MAP_NORESERVE, one write per 4096 B (262144 pages); ${ROUNDS} alternating rounds; medians:`);
    for (const [name, t] of Object.entries(medians)) {
      console.log(`  ${name.padEnd(44)} ${ms(t)}  ${ratio(t, c)} C  ${ratio(t, floor)} floor   ${all(times[name])}`);
    }
    summary.push(['tool touch / C program', ratio(medians['tool: mmap + touch + unmap'], c), '<= 1.05x']);
    summary.push(['tool populate / floor', ratio(medians['tool: mmap with populate + unmap'], floor), '<= 1.05x']);
  }

  if (SECTIONS.has('whole')) {
    // 2. Whole processes: the CLI's runs against the C program, each round in turn. The C program
    // touches 1 GiB and so runs in a memory cgroup; the CLI confines its own experiments.
    const guard = guardAvailability();
    const whole = {
      'C program (cc -O2), whole process': () => confined(() => timed(cProgram)),
      'overcommit-lab run': async () => timed(() => spawnChecked(process.execPath, [cli, 'run', '--json'])),
      ...(guard.available
        ? {
            'overcommit-lab run --mode all': async () =>
              timed(() => spawnChecked(process.execPath, [cli, 'run', '--mode', 'all', '--json'])),
          }
        : {}),
    };
    const wholeTimes = Object.fromEntries(Object.keys(whole).map((k) => [k, []]));
    for (let round = 0; round < CLI_ROUNDS; round++) {
      for (const [name, fn] of Object.entries(whole)) wholeTimes[name].push(await fn());
    }
    const wholeMedians = Object.fromEntries(Object.entries(wholeTimes).map(([k, v]) => [k, median(v)]));
    const cWhole = wholeMedians['C program (cc -O2), whole process'];
    console.log(`\nWhole processes; ${CLI_ROUNDS} alternating rounds; medians:`);
    for (const [name, t] of Object.entries(wholeMedians))
      console.log(`  ${name.padEnd(44)} ${ms(t)}  ${ratio(t, cWhole)} C   ${all(wholeTimes[name])}`);
    if (!guard.available) console.log(`  overcommit-lab run --mode all: skipped (${guard.reason})`);
    summary.push(['run / C program (whole processes)', ratio(wholeMedians['overcommit-lab run'], cWhole), '<= 1.5x']);
    if (guard.available)
      summary.push(['run --mode all / C program', ratio(wholeMedians['overcommit-lab run --mode all'], cWhole), '<= 3x']);
  }

  if (SECTIONS.has('startup')) {
    // 3. Start-up: five numbers from /proc against Node doing nothing.
    const startup = {
      'node -e 0': () => spawnChecked(process.execPath, ['-e', '0']),
      'overcommit-lab settings': () => spawnChecked(process.execPath, [cli, 'settings']),
    };
    const startupTimes = Object.fromEntries(Object.keys(startup).map((k) => [k, []]));
    for (let round = 0; round < STARTUP_ROUNDS; round++) {
      for (const [name, fn] of Object.entries(startup)) startupTimes[name].push(timed(fn));
    }
    const node0 = median(startupTimes['node -e 0']);
    console.log(`\nStart-up; ${STARTUP_ROUNDS} alternating rounds; medians:`);
    for (const [name, t] of Object.entries(startupTimes))
      console.log(`  ${name.padEnd(44)} ${ms(median(t))}  ${ratio(median(t), node0)} node -e 0`);
    summary.push(['settings / node -e 0', ratio(median(startupTimes['overcommit-lab settings']), node0), '<= 1.5x']);
  }

  if (SECTIONS.has('noise')) {
    // 4. Noise: Committed_AS's spread over 1 s, quiet and while the load generator (default
    // options) maps and unmaps, alternating.
    const spreads = { quiet: [], load: [] };
    let loadOptions;
    for (let round = 0; round < NOISE_ROUNDS; round++) {
      spreads.quiet.push(await committedSpread(1000));
      const load = await startLoad();
      loadOptions = load.options;
      try {
        spreads.load.push(await committedSpread(1000));
      } finally {
        await load.stop();
      }
    }
    const mib = (b) => `${(b / MiB).toFixed(1)} MiB`;
    console.log(`\nCommitted_AS spread (max - min, read every 5 ms) over 1 s; ${NOISE_ROUNDS} alternating rounds; medians:`);
    console.log(`  ${'quiet'.padEnd(44)} ${mib(median(spreads.quiet)).padStart(11)}   [${spreads.quiet.map(mib).join(', ')}]`);
    const loadName = `under load (${loadOptions.minBytes / MiB}-${loadOptions.maxBytes / MiB} MiB mappings)`;
    console.log(`  ${loadName.padEnd(44)} ${mib(median(spreads.load)).padStart(11)}   [${spreads.load.map(mib).join(', ')}]`);
    summary.push(['Committed_AS spread in 1 s, quiet', mib(median(spreads.quiet)), '']);
    summary.push(['Committed_AS spread in 1 s, under load', mib(median(spreads.load)), '']);
  }

  console.log('\nSummary (this run):');
  for (const [name, value, goal] of summary)
    console.log(`  ${name.padEnd(44)} ${value.padStart(11)}${goal === '' ? '' : `   goal ${goal}`}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
