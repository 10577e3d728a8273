// npm run bench: 004's sparse program (bench/sparse.c, verbatim, so its comments keep the
// document's encoding damage), compiled with the system's cc -O2, against the tool's mmap+touch+
// unmap of the same 1 GiB MAP_NORESERVE workload, MAP_POPULATE, and the kernel's floor for the
// same pages (MADV_POPULATE_WRITE). The variants alternate within each round so that drift on
// this shared machine falls on all of them alike. It reports; nothing here asserts.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mmap } from '../dist/index.js';
import { median } from '../dist/measure/stats.js';
import { memoryCgroupAvailability, withProcessInMemoryCgroup } from '../dist/safety/memory-cgroup.js';
import { GiB, MiB } from '../dist/units.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const CLI_ROUNDS = Number(process.env.BENCH_CLI_ROUNDS ?? 3);
const BYTES = GiB;
const root = join(dirname(fileURLToPath(import.meta.url)), '..');

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

const dir = mkdtempSync(join(tmpdir(), 'overcommit-lab-bench-'));
try {
  const binary = join(dir, 'sparse');
  execFileSync('cc', ['-O2', '-o', binary, join(root, 'bench/sparse.c')], { stdio: 'inherit' });

  const variants = {
    // The whole program: exec, mmap, the touch loop, munmap, exit.
    'C program (cc -O2), whole run': () => {
      const r = spawnSync(binary, { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`the C program failed: ${r.status} ${r.stderr}`);
    },
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

  const cli = join(root, 'dist/cli/main.js');
  if (existsSync(cli)) {
    times['overcommit-lab run (whole CLI)'] = [];
    for (let round = 0; round < CLI_ROUNDS; round++) {
      times['overcommit-lab run (whole CLI)'].push(
        timed(() => {
          const r = spawnSync(process.execPath, [cli, 'run'], { encoding: 'utf8' });
          if (r.status !== 0) throw new Error(`overcommit-lab run exited ${r.status}: ${r.stderr}`);
        }),
      );
    }
  }

  const medians = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
  const c = medians['C program (cc -O2), whole run'];
  const floor = medians['floor: mmap + MADV_POPULATE_WRITE + unmap'];
  console.log(`1 GiB MAP_NORESERVE, one write per 4096 B (262144 pages); ${ROUNDS} alternating rounds (CLI: ${CLI_ROUNDS}); medians:`);
  for (const [name, ms] of Object.entries(medians)) {
    const ratios = name.startsWith('overcommit-lab') ? '' : `  ${(ms / c).toFixed(3)}x C  ${(ms / floor).toFixed(3)}x floor`;
    console.log(`  ${name.padEnd(44)} ${ms.toFixed(1).padStart(8)} ms${ratios}   [${times[name].map((t) => t.toFixed(0)).join(' ')}]`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
