/**
 * The kernel matrix shared out over machines (lib/vm/shard.ts, kernel-matrix.mjs --shard/--merge):
 * every cell on exactly one shard, the shards balanced by estimated cost for any rows, a merge of
 * N shards giving the table one run gives, and every way a merge can be wrong refused loudly.
 * The runs are a captured `run --mode all` (test/fixtures), cut into one run per cell.
 */
import { cpSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { kernelsMatrix, renderKernelsMarkdown } from '../../lib/report/kernels.js';
import type { RunReport } from '../../lib/verdict/types.js';
import { MATRIX, type MatrixEntry } from '../../lib/vm/matrix.js';
import {
  clearShardFiles,
  type MatrixDefinition,
  MergeError,
  matrixDefinition,
  mergeShards,
  parseShard,
  shardCells,
  shardStamp,
  writeCellRecord,
} from '../../lib/vm/shard.js';
import { COMMIT, shardFixture } from './matrix-fixture.js';

const { newDir, writeShards, cleanup } = shardFixture();
afterAll(cleanup);

const tableOf = (reports: RunReport[]) => renderKernelsMarkdown(kernelsMatrix(reports));

describe('the cells and their shards', () => {
  // Rows as another engineer might add them: unmeasured experiments, a measured row, another mode list.
  const more: MatrixEntry[] = [
    ...MATRIX,
    { kernel: 'arm64-16k', cgroup: 'v2', swap: 'none', experiments: ['sparse-array', 'zero-pages', 'new-one'], runArgs: ['--mode', '0,2'] },
    { kernel: 'ppc64el-64k', cgroup: 'v2', swap: 'none', experiments: ['accounting'], runArgs: ['--mode', 'all'], seconds: 400 },
    { kernel: 'x', cgroup: 'v1', swap: 'none', experiments: [], runArgs: [] },
  ];

  for (const [what, matrix] of [
    ['MATRIX', MATRIX],
    ['MATRIX and three more rows', more],
  ] as const) {
    it(`${what}: every cell runs on exactly one of N shards, and no shard has more than its share and one cell (N = 1 to 8)`, () => {
      for (let n = 1; n <= 8; n++) {
        const d = matrixDefinition({ shards: n, matrix });
        const perShard = Array.from({ length: n }, (_, i) => shardCells(d, i + 1));
        const ids = perShard.flat().map((c) => c.id);
        expect(ids.sort()).toEqual(d.cells.map((c) => c.id).sort());
        expect(new Set(ids).size).toBe(ids.length);
        expect(d.cells.filter((c) => c.kind === 'tests')).toHaveLength(n);
        expect(d.cells.filter((c) => c.kind === 'kernel').map((c) => c.name)).toEqual(matrix.map((e) => e.kernel));
        const loads = perShard.map((cells) => cells.reduce((s, c) => s + c.seconds, 0));
        const total = loads.reduce((a, b) => a + b, 0);
        const longest = Math.max(...d.cells.map((c) => c.seconds));
        expect(Math.max(...loads)).toBeLessThanOrEqual(total / n + longest);
        // Shares at least as even as the greedy rule's: no cell could move to a lighter shard and shorten the longest.
        const heaviest = loads.indexOf(Math.max(...loads));
        for (const c of perShard[heaviest]!) expect(Math.min(...loads) + c.seconds).toBeGreaterThanOrEqual(loads[heaviest]! - 1e-9);
      }
    });
  }

  it('the assignment is the same whatever the order of the rows, and on every call', () => {
    const a = matrixDefinition({ shards: 3, matrix: more });
    const b = matrixDefinition({ shards: 3, matrix: [...more].reverse() });
    const byId = (d: MatrixDefinition) => Object.fromEntries(d.cells.map((c, i) => [c.id, d.assignment[i]]));
    expect(byId(b)).toEqual(byId(a));
    expect(matrixDefinition({ shards: 3, matrix: more })).toEqual(a);
  });

  it("a row's cost is its measured seconds, else its experiments × modes; the fingerprint changes with any of it", () => {
    const d = matrixDefinition({ shards: 1, matrix: more });
    const cost = (name: string) => d.cells.find((c) => c.name === name)!.seconds;
    expect(cost('ppc64el-64k')).toBe(400);
    expect(cost('5.1')).toBeGreaterThan(cost('5.10'));
    const twoModes = matrixDefinition({ shards: 1, matrix: [{ ...MATRIX[1]!, runArgs: ['--mode', '0,2'] }] }).cells[0]!.seconds;
    expect(twoModes).toBeLessThan(matrixDefinition({ shards: 1, matrix: [MATRIX[1]!] }).cells[0]!.seconds);
    expect(matrixDefinition({ shards: 1, matrix: [{ ...MATRIX[1]!, swap: 'none' }] }).fingerprint).not.toBe(
      matrixDefinition({ shards: 1, matrix: [MATRIX[1]!] }).fingerprint,
    );
    expect(matrixDefinition({ shards: 2 }).fingerprint).not.toBe(matrixDefinition({ shards: 3 }).fingerprint);
  });

  it('--only narrows the cells and refuses unknown names; --shard takes I/N', () => {
    const d = matrixDefinition({ shards: 2, only: ['host', '6.12', 'host'] });
    expect(d.cells.map((c) => c.id)).toEqual(['kernel-6.12', 'host']);
    expect(d.only).toEqual(['6.12', 'host']);
    expect(() => matrixDefinition({ shards: 2, only: ['6.12', '9.9'] })).toThrow(/--only: unknown 9\.9 \(known: 5\.1, .*tests\)/);
    expect(() => matrixDefinition({ shards: 0 })).toThrow(RangeError);
    expect(() => matrixDefinition({ shards: 1, matrix: [MATRIX[0]!, MATRIX[0]!] })).toThrow(/twice/);
    expect(parseShard('2/4')).toEqual({ shard: 2, shards: 4 });
    for (const bad of ['0/2', '3/2', '2', '1/0', 'a/b', '1/2/3']) expect(() => parseShard(bad)).toThrow(/--shard/);
    expect(() => shardCells(d, 3)).toThrow(RangeError);
  });
});

describe('merge', () => {
  const single = mergeShards(writeShards(matrixDefinition({ shards: 1 })));

  it('a single run: every cell checked and passing, the columns in the matrix order, then the host', () => {
    expect(single.cells.map((m) => m.problems)).toEqual(single.cells.map(() => []));
    expect(single.reports.map((r) => r.system.kernel)).toEqual([...MATRIX.map((e) => `${e.kernel}.0-test`), 'host.0-test']);
    expect(single.commit).toBe(COMMIT);
  });

  for (const n of [2, 3, 4, 7]) {
    it(`${n} shards merged give the table a single run gives`, () => {
      const merged = mergeShards(writeShards(matrixDefinition({ shards: n })));
      expect(merged.cells.map((m) => m.problems)).toEqual(merged.cells.map(() => []));
      expect(kernelsMatrix(merged.reports)).toEqual(kernelsMatrix(single.reports));
      expect(tableOf(merged.reports)).toBe(tableOf(single.reports));
      // The table has content: each kernel a column, the 5.10 row without mode 1.
      const m = kernelsMatrix(merged.reports);
      expect(m.columns).toHaveLength(MATRIX.length + 1);
      const col = MATRIX.findIndex((e) => e.kernel === '5.10');
      expect(m.rows.filter((r) => r.experiment === 'mode-matrix' && r.mode === 1).every((r) => r.cells[col] === undefined)).toBe(true);
    });
  }

  it('judges each run again: a verdict its evidence contradicts, a missing experiment, a failed cell', () => {
    const d = matrixDefinition({ shards: 2 });
    const dirs = writeShards(d, (r) => {
      if (r.cell === 'kernel-6.1') {
        const report = structuredClone(r.report!);
        const f = report.runs.find((x) => x.experiment === 'zero-pages')!.findings[0]!;
        f.holds = f.holds !== true;
        return { ...r, report };
      }
      if (r.cell === 'kernel-6.12')
        return { ...r, report: { ...r.report!, runs: r.report!.runs.filter((x) => x.experiment !== 'redis-fork') } };
      if (r.cell === 'host') return { ...r, report: undefined, failure: 'vm exited with 1' };
      if (r.cell === 'tests-2-of-2') return { ...r, failure: 'vitest exited with 1' };
      return r;
    });
    const merged = mergeShards(dirs);
    const problems = Object.fromEntries(merged.cells.map((m) => [m.cell.id, m.problems]));
    expect(problems['kernel-6.1']!.join('\n')).toMatch(/zero-pages \(mode 0\) .*: the run said (true|false), its evidence says/);
    expect(problems['kernel-6.12']).toEqual(['redis-fork: did not run']);
    expect(problems.host).toEqual(['vm exited with 1']);
    expect(problems['tests-2-of-2']).toEqual(['vitest exited with 1']);
    expect(problems['kernel-5.1']).toEqual([]);
    expect(problems['tests-1-of-2']).toEqual([]);
    expect(merged.reports).toHaveLength(MATRIX.length);
  });

  const refused = (dirs: string[], message: RegExp) => {
    expect(() => mergeShards(dirs)).toThrow(MergeError);
    expect(() => mergeShards(dirs)).toThrow(message);
  };

  it('refuses a missing cell, a missing shard, a cell given twice, a shard given twice', () => {
    const d = matrixDefinition({ shards: 3 });
    const owner = d.assignment[d.cells.findIndex((c) => c.id === 'kernel-6.1')]!;
    let dirs = writeShards(d);
    rmSync(join(dirs[owner - 1]!, 'cell-kernel-6.1.json'));
    refused(dirs, new RegExp(`cell kernel-6\\.1: missing \\(shard ${owner}/3 runs it\\)`));

    dirs = writeShards(d);
    rmSync(dirs[1]!, { recursive: true });
    refused(dirs, /no such directory/);
    refused([dirs[0]!, dirs[2]!], /shard 2\/3: missing[\s\S]*cell .*: missing \(shard 2\/3 runs it\)/);

    dirs = writeShards(d);
    const other = dirs[(owner % 3) as 0 | 1 | 2]!;
    cpSync(join(dirs[owner - 1]!, 'cell-kernel-6.1.json'), join(other, 'cell-kernel-6.1.json'));
    refused(dirs, /cell kernel-6\.1: given 2 times/);
    refused([...writeShards(d), dirs[0]!], /shard 1\/3: given 2 times/);
  });

  it('refuses shards of different commits, of different definitions, of a definition this checkout does not have', () => {
    const d = matrixDefinition({ shards: 2 });
    refused(
      writeShards(d, (r) => (r.shard === 2 ? { ...r, commit: 'fedcba' } : r)),
      /different commits:\n {2}0123.*\n {2}fedcba: .*cell-/,
    );
    refused([writeShards(d)[0]!, writeShards(matrixDefinition({ shards: 3 }))[1]!], /different matrix definitions/);
    refused([writeShards(d)[0]!, writeShards(matrixDefinition({ shards: 2, only: ['5.1', 'tests'] }))[1]!], /different matrix definitions/);
    const dirs = writeShards(d);
    for (const dir of dirs)
      for (const f of readdirSync(dir)) {
        const v = JSON.parse(readFileSync(join(dir, f), 'utf8'));
        writeFileSync(join(dir, f), JSON.stringify({ ...v, definition: '0000000000000000' }));
      }
    refused(
      dirs,
      /ran matrix definition 0000000000000000, this checkout's is [0-9a-f]{16} .*merge them with the commit that ran them \(0123/,
    );
  });

  it('refuses a cell run by the wrong shard, a cell not of the matrix, a file not of the matrix, an empty directory', () => {
    const d = matrixDefinition({ shards: 2 });
    refused(
      writeShards(d, (r) => (r.cell === 'host' ? { ...r, shard: r.shard === 1 ? 2 : 1 } : r)),
      /cell host: run by shard [12], it belongs to shard [12]/,
    );
    const dirs = writeShards(d);
    writeCellRecord(dirs[0]!, { ...shardStamp(d, 1, COMMIT), cell: 'kernel-9.9', seconds: 1, estimatedSeconds: 1 });
    refused(dirs, /cell kernel-9\.9: not a cell of this matrix/);
    const junk = newDir();
    writeFileSync(join(junk, 'cell-x.json'), '{"format":"something else"}');
    refused([junk], /not a file of the kernel matrix's shards/);
    writeFileSync(join(junk, 'cell-x.json'), '{');
    refused([junk], /not JSON/);
    refused([newDir()], /no shard's files/);
    refused([], /name the directories/);
  });

  it("a shard's directory is cleared of an earlier run's files, and nothing else", () => {
    const [dir] = writeShards(matrixDefinition({ shards: 1 }));
    writeFileSync(join(dir!, 'kernel-5.1.json'), '{}');
    clearShardFiles(dir!);
    expect(readdirSync(dir!)).toEqual(['kernel-5.1.json']);
  });
});
