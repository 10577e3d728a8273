/**
 * scripts/kernel-matrix.mjs's --merge, as CI runs it (compiled package, its own process): the
 * table and runs merged from N shards' directories are the ones merged from a single run's, a
 * shard missing fails with exit 1 saying which, and usage errors exit 2. No guest is booted: the
 * shards' files are made from a captured run (test/pure/matrix-fixture.ts).
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { matrixDefinition } from '../../lib/vm/shard.js';
import { shardFixture } from '../pure/matrix-fixture.js';

const root = join(import.meta.dirname, '../..');
const { newDir, writeShards, cleanup } = shardFixture();
afterAll(cleanup);

function script(...args: string[]) {
  const r = spawnSync(process.execPath, [join(root, 'scripts/kernel-matrix.mjs'), ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}
/** What a merge wrote: kernels.md and each kernel-*.json, by file name. */
const written = (dir: string) => Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f), 'utf8')]));

describe('kernel-matrix.mjs --merge', () => {
  it('3 shards merged write the table and runs a single run writes; a missing shard fails, saying which', () => {
    const single = newDir();
    const r1 = script('--merge', ...writeShards(matrixDefinition({ shards: 1 })), '--out', single);
    expect(r1.out).toMatch(/kernel matrix: passed/);
    expect(r1.code).toBe(0);
    const dirs = writeShards(matrixDefinition({ shards: 3 }));
    const merged = newDir();
    const r3 = script('--merge', ...dirs, '--out', merged);
    expect(r3.out).toMatch(/merged \d+ cells of 3 shards/);
    expect(r3.out).toMatch(/shard 3\/3: \d+ s measured, \d+ s estimated/);
    expect(r3.code).toBe(0);
    // A run per row and the host's, and the table.
    const runs = matrixDefinition({ shards: 1 }).cells.filter((c) => c.kind !== 'tests');
    expect(runs.map((c) => c.name)).toEqual(expect.arrayContaining(['5.1', '6.12', '6.12-arm64-16k', 'host']));
    expect(Object.keys(written(merged)).sort()).toEqual([...runs.map((c) => `kernel-${c.name}.json`), 'kernels.md'].sort());
    expect(written(merged)).toEqual(written(single));

    const missing = script('--merge', dirs[0]!, dirs[2]!, '--out', newDir());
    expect(missing.out).toMatch(/✗ merge: the shards are not one whole matrix:\n {2}shard 2\/3: missing/);
    expect(missing.code).toBe(1);
  });

  it('usage errors exit 2 with the usage', () => {
    for (const args of [['--shard', '3/2'], ['--only', '6.12,nope'], ['--merge', 'x', '--shard', '1/2'], ['stray']]) {
      const r = script(...args);
      expect(r.out).toMatch(/usage: node scripts\/kernel-matrix\.mjs/);
      expect(r.code).toBe(2);
    }
  });
});
