/**
 * What the shards of the kernel matrix would leave, made from a captured `run --mode all`
 * (test/fixtures) cut into one run per cell: for the merge's tests, in the library and the script.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { RunReport } from '../../lib/verdict/types.js';
import {
  type CellRecord,
  cellExperiments,
  type MatrixCell,
  type MatrixDefinition,
  shardCells,
  shardStamp,
  writeCellRecord,
  writeShardManifest,
} from '../../lib/vm/shard.js';

const root = join(import.meta.dirname, '../..');
const all = JSON.parse(gunzipSync(readFileSync(join(root, 'test/fixtures/run-mode-all-6.18.json.gz'))).toString('utf8')) as RunReport;
/** The real redis-server's runs, captured apart: the full rows run it too. */
const redis = JSON.parse(readFileSync(join(root, 'test/fixtures/redis-server/run-all-6.18.json'), 'utf8')) as RunReport;
/** The experiments added since (malloc-failure, exec-stack, oom-victim), captured apart likewise. */
const later = JSON.parse(readFileSync(join(root, 'test/fixtures/run-later-6.18.json'), 'utf8')) as RunReport;
const captured: RunReport = { ...all, runs: [...all.runs, ...redis.runs, ...later.runs] };
export const COMMIT = '0123456789abcdef0123456789abcdef01234567';

/**
 * The run a cell would have made: the captured runs of its experiments, under a kernel of its own
 * name; on the 5.10 row mode 1 is left out, so that the columns differ.
 */
export function reportFor(cell: MatrixCell): RunReport {
  const experiments = cellExperiments(cell);
  const keep = (r: RunReport['runs'][number]) =>
    experiments.includes(r.experiment) && (cell.kind !== 'host' || r.mode === 0) && !(cell.name === '5.10' && r.mode === 1);
  const vm =
    cell.kind === 'kernel'
      ? {
          kernelSource: `/kernels/${cell.name}`,
          kernel: `${cell.name}.0-test`,
          memoryBytes: 4 * 2 ** 30,
          cpus: 2,
          swap: cell.entry.swap,
          cgroup: cell.entry.cgroup,
          accel: 'tcg' as const,
          bootMs: 3000,
        }
      : undefined;
  return {
    ...captured,
    system: { ...captured.system, kernel: `${cell.name}.0-test`, ...(vm === undefined ? {} : { vm }) },
    runs: captured.runs.filter(keep),
  };
}

/** Directories in a temporary one; `cleanup` removes them all. */
export function shardFixture() {
  const work = mkdtempSync(join(tmpdir(), 'overcommit-lab-shards-'));
  let count = 0;
  const newDir = () => {
    const d = join(work, `d${count++}`);
    mkdirSync(d);
    return d;
  };
  /** Writes what the N shards of `d` would leave, one directory per shard; `change` may alter a record before it is written. */
  const writeShards = (d: MatrixDefinition, change: (r: CellRecord) => CellRecord = (r) => r): string[] =>
    Array.from({ length: d.shards }, (_, i) => {
      const shard = i + 1;
      const dir = newDir();
      const stamp = shardStamp(d, shard, COMMIT);
      const cells = shardCells(d, shard);
      for (const cell of cells) {
        const result = cell.kind === 'tests' ? { output: ' Test Files  40 passed (40)' } : { report: reportFor(cell) };
        writeCellRecord(dir, change({ ...stamp, cell: cell.id, seconds: cell.seconds, estimatedSeconds: cell.seconds, ...result }));
      }
      writeShardManifest(dir, { ...stamp, cells: cells.map((c) => c.id), seconds: 0 });
      return dir;
    });
  return { newDir, writeShards, cleanup: () => rmSync(work, { recursive: true, force: true }) };
}
