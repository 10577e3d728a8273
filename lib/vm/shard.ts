/**
 * The kernel matrix in cells that separate machines run (scripts/kernel-matrix.mjs --shard I/N),
 * and the merge of what they wrote (--merge): the cells and their estimated cost, which shard runs
 * which, the files a shard leaves, and every check of a merge. A plain run is shard 1/1 merged.
 *
 * A cell is one MATRIX row (one guest: splitting a row would pay the guest's start, 15-30 s
 * under TCG, for pieces of 1-30 s), the host's run, or one part of the guest's test suite: at
 * about 1000 s under TCG the suite is most of the matrix, so with N shards it is cut into N
 * parts (vitest's own --shard, by file), and the rows fill in around them.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ruleSets } from '../experiments/rules.js';
import type { RunReport } from '../verdict/types.js';
import { CORE_EXPERIMENTS, checkRun, fullExperiments, GUEST_EXCLUDED_TESTS, MATRIX, type MatrixEntry } from './matrix.js';

/**
 * Measured under TCG on 2 shared cores (the matrix of 2026-12-06): a guest's boot, init and
 * Node's start-up, and each experiment's seconds for one mode (its time in a `--mode all` run
 * on 5.1.15 and 6.1, the larger, divided by three).
 */
const GUEST_START_SECONDS = 20;
const EXPERIMENT_SECONDS: Readonly<Record<string, number>> = {
  settings: 0.4,
  'sparse-array': 3.2,
  'zero-pages': 0.3,
  'rlimit-as': 0.2,
  'fork-inheritance': 0.5,
  'copy-on-write': 0.2,
  'mode-matrix': 0.2,
  'commit-limit': 0.2,
  accounting: 4.3,
  'redis-fork': 10,
  'oom-late-failure': 0.4,
};
/** An experiment not measured yet. */
const UNMEASURED_EXPERIMENT_SECONDS = 2;
/**
 * The guest's test suite (all but GUEST_EXCLUDED_TESTS; 1022 s in .ci/run of 2026-12-07, since x86
 * guests run TCG on one thread), and what each part pays again: the guest and vitest's start.
 */
const TESTS_SECONDS = 1000;
const TESTS_PART_START_SECONDS = 30;

/** How many modes `--mode` in a row's runArgs asks for (none: the mode in force). */
function modeCount(runArgs: readonly string[]): number {
  const i = runArgs.indexOf('--mode');
  const value = i < 0 ? undefined : runArgs[i + 1];
  if (value === undefined) return 1;
  return value === 'all' ? 3 : value.split(',').length;
}

/** A row's cost in seconds: its measured `seconds`, or the guest's start and its experiments × modes. */
export function estimatedSeconds(entry: MatrixEntry): number {
  if (entry.seconds !== undefined) return entry.seconds;
  const perMode = entry.experiments.reduce((s, id) => s + (EXPERIMENT_SECONDS[id] ?? UNMEASURED_EXPERIMENT_SECONDS), 0);
  return Math.round(GUEST_START_SECONDS + perMode * modeCount(entry.runArgs));
}

/** One unit of the matrix, run whole by one shard. */
export type MatrixCell =
  | { id: string; kind: 'kernel'; name: string; entry: MatrixEntry; seconds: number }
  | { id: 'host'; kind: 'host'; name: 'host'; experiments: readonly string[]; seconds: number }
  | { id: string; kind: 'tests'; name: 'tests'; part: number; parts: number; excluded: readonly string[]; seconds: number };

/** The matrix as N shards run it; its fingerprint names everything that decides what each cell runs. */
export interface MatrixDefinition {
  shards: number;
  /** The --only names, sorted; null: everything. */
  only: string[] | null;
  /** In the order a single run runs them: the rows, the host, the tests. */
  cells: MatrixCell[];
  /** cells[i] runs on shard assignment[i] (1-based). */
  assignment: number[];
  fingerprint: string;
}

/** The names --only takes: each row's kernel, 'host' and 'tests'. */
export function matrixNames(matrix: readonly MatrixEntry[] = MATRIX): string[] {
  return [...matrix.map((e) => e.kernel), 'host', 'tests'];
}

/** The id of part `part` of `parts` of the test suite. */
export function testsCellId(part: number, parts: number): string {
  return parts === 1 ? 'tests' : `tests-${part}-of-${parts}`;
}

/**
 * The cells of the matrix for `shards` shards (--only narrows it) and which shard runs each: the
 * longest cells first, each to the shard with the least estimated work so far (ties: the lower
 * shard, then the cell id), so that the assignment is the same on every machine.
 */
export function matrixDefinition(o: { shards: number; only?: readonly string[]; matrix?: readonly MatrixEntry[] }): MatrixDefinition {
  const matrix = o.matrix ?? MATRIX;
  if (!Number.isInteger(o.shards) || o.shards < 1) throw new RangeError(`shards: a whole number from 1, not ${o.shards}`);
  const known = matrixNames(matrix);
  if (new Set(matrix.map((e) => e.kernel)).size !== matrix.length) throw new Error('MATRIX names a kernel twice');
  const unknown = (o.only ?? []).filter((n) => !known.includes(n));
  if (unknown.length > 0) throw new Error(`--only: unknown ${unknown.join(', ')} (known: ${known.join(', ')})`);
  const only = o.only === undefined ? null : [...new Set(o.only)].sort();
  const wanted = (name: string) => only === null || only.includes(name);
  const allIds = fullExperiments(ruleSets.map((r) => r.id));

  const cells: MatrixCell[] = [];
  for (const row of matrix.filter((e) => wanted(e.kernel))) {
    const entry = row.experiments.length === 0 ? { ...row, experiments: allIds } : row;
    cells.push({ id: `kernel-${row.kernel}`, kind: 'kernel', name: row.kernel, entry, seconds: estimatedSeconds(entry) });
  }
  if (wanted('host')) {
    const host = { kernel: 'host', cgroup: 'v2', swap: 'none', experiments: CORE_EXPERIMENTS, runArgs: [] } as const;
    cells.push({ id: 'host', kind: 'host', name: 'host', experiments: CORE_EXPERIMENTS, seconds: estimatedSeconds(host) });
  }
  if (wanted('tests')) {
    const parts = o.shards;
    const seconds = Math.round(TESTS_PART_START_SECONDS + (TESTS_SECONDS - TESTS_PART_START_SECONDS) / parts);
    const excluded = Object.keys(GUEST_EXCLUDED_TESTS);
    for (let part = 1; part <= parts; part++)
      cells.push({ id: testsCellId(part, parts), kind: 'tests', name: 'tests', part, parts, excluded, seconds });
  }

  const load = new Array<number>(o.shards).fill(0);
  const assignment = new Array<number>(cells.length).fill(0);
  const order = cells.map((c, i) => ({ c, i })).sort((a, b) => b.c.seconds - a.c.seconds || (a.c.id < b.c.id ? -1 : 1));
  for (const { c, i } of order) {
    const shard = load.indexOf(Math.min(...load));
    load[shard]! += c.seconds;
    assignment[i] = shard + 1;
  }
  const fingerprint = createHash('sha256')
    .update(JSON.stringify({ shards: o.shards, only, cells, assignment }))
    .digest('hex')
    .slice(0, 16);
  return { shards: o.shards, only, cells, assignment, fingerprint };
}

/** The cells shard `shard` (1-based) runs, in the definition's order. */
export function shardCells(d: MatrixDefinition, shard: number): MatrixCell[] {
  if (!Number.isInteger(shard) || shard < 1 || shard > d.shards) throw new RangeError(`shard: 1 to ${d.shards}, not ${shard}`);
  return d.cells.filter((_, i) => d.assignment[i] === shard);
}

/** 'I/N' as --shard takes it. */
export function parseShard(text: string): { shard: number; shards: number } {
  const m = /^(\d+)\/(\d+)$/.exec(text);
  const shard = Number(m?.[1]);
  const shards = Number(m?.[2]);
  if (m === null || shards < 1 || shard < 1 || shard > shards) throw new Error(`--shard: I/N with 1 ≤ I ≤ N (e.g. 2/4), not '${text}'`);
  return { shard, shards };
}

/** The experiments a cell's run must contain (checkRun's `expected`); none for the tests. */
export function cellExperiments(cell: MatrixCell): readonly string[] {
  return cell.kind === 'kernel' ? cell.entry.experiments : cell.kind === 'host' ? cell.experiments : [];
}

const FORMAT = 'overcommit-lab kernel-matrix';

/** Which matrix a shard's files belong to: merge takes files that agree on all of it. */
export interface ShardStamp {
  format: typeof FORMAT;
  /** The commit the shard ran (git rev-parse HEAD, '+dirty' with local changes). */
  commit: string;
  /** MatrixDefinition.fingerprint. */
  definition: string;
  shards: number;
  only: string[] | null;
  shard: number;
}

/** What one cell left: cell-<id>.json in the shard's directory. */
export interface CellRecord extends ShardStamp {
  cell: string;
  /** Wall time of the cell, measured. */
  seconds: number;
  estimatedSeconds: number;
  /** Why the cell did not complete (no kernel, the guest's exit code, vitest's); absent when it did. */
  failure?: string;
  /** The run's `run --json` (rows and host). */
  report?: RunReport;
  /** vitest's closing lines (all of them when it failed). */
  output?: string;
}

/** What a shard left once all its cells ran: shard-<I>-of-<N>.json. */
export interface ShardManifest extends ShardStamp {
  cells: string[];
  seconds: number;
}

export function shardStamp(d: MatrixDefinition, shard: number, commit: string): ShardStamp {
  return { format: FORMAT, commit, definition: d.fingerprint, shards: d.shards, only: d.only, shard };
}

const cellFile = (id: string) => `cell-${id}.json`;
const manifestFile = (shard: number, shards: number) => `shard-${shard}-of-${shards}.json`;
const SHARD_FILE = /^(cell-.+|shard-\d+-of-\d+)\.json$/;

/** Removes an earlier run's cell and shard files from `dir`, so that none is merged with this run's. */
export function clearShardFiles(dir: string): void {
  if (!existsSync(dir)) return;
  for (const f of readdirSync(dir).filter((n) => SHARD_FILE.test(n))) rmSync(join(dir, f));
}

export function writeCellRecord(dir: string, record: CellRecord): void {
  writeFileSync(join(dir, cellFile(record.cell)), `${JSON.stringify(record)}\n`);
}

export function writeShardManifest(dir: string, manifest: ShardManifest): void {
  writeFileSync(join(dir, manifestFile(manifest.shard, manifest.shards)), `${JSON.stringify(manifest)}\n`);
}

/** A merge that cannot be trusted to describe one matrix: missing, duplicated or foreign files. */
export class MergeError extends Error {
  override name = 'MergeError';
}

/** A cell of a merge: its record, and every problem the checks found in it. */
export interface MergedCell {
  cell: MatrixCell;
  shard: number;
  record: CellRecord;
  problems: string[];
}

export interface Merged {
  definition: MatrixDefinition;
  commit: string;
  /** In the definition's order. */
  cells: MergedCell[];
  /** The runs, in the definition's order (rows, then the host): the claims × kernels table's columns. */
  reports: RunReport[];
}

interface Found<T> {
  file: string;
  value: T;
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new MergeError(`${file}: not JSON (${(e as Error).message})`);
  }
}

/** `items` grouped by `key`, for the checks that each key appears once. */
function groupBy<T>(items: readonly Found<T>[], key: (v: T) => string): Map<string, Found<T>[]> {
  const m = new Map<string, Found<T>[]>();
  for (const it of items) m.set(key(it.value), [...(m.get(key(it.value)) ?? []), it]);
  return m;
}

/**
 * Reads the shards' directories and checks that they are one whole matrix: the same commit and
 * definition (this checkout's, for `shards` and `only`), every shard once, every cell once and on
 * its own shard; throws MergeError saying what is wrong otherwise. Then checks every cell as a
 * single run does: it completed, and its run passes checkRun (no experiment missing or errored,
 * every verdict the one its evidence gives under the current rules).
 */
export function mergeShards(dirs: readonly string[], matrix: readonly MatrixEntry[] = MATRIX): Merged {
  if (dirs.length === 0) throw new MergeError('--merge: name the directories the shards wrote');
  const cells: Found<CellRecord>[] = [];
  const manifests: Found<ShardManifest>[] = [];
  for (const dir of dirs) {
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new MergeError(`${dir}: no such directory`);
    for (const name of readdirSync(dir)
      .filter((n) => SHARD_FILE.test(n))
      .sort()) {
      const file = join(dir, name);
      const value = readJson(file) as ShardStamp;
      if (value?.format !== FORMAT) throw new MergeError(`${file}: not a file of the kernel matrix's shards`);
      if (name.startsWith('cell-')) cells.push({ file, value: value as CellRecord });
      else manifests.push({ file, value: value as ShardManifest });
    }
  }
  const all: Found<ShardStamp>[] = [...manifests, ...cells];
  if (all.length === 0) throw new MergeError(`no shard's files (shard-I-of-N.json, cell-*.json) in ${dirs.join(', ')}`);

  // One matrix: every file from the same commit and the same definition.
  for (const [what, key] of [
    ['commits', (s: ShardStamp) => s.commit],
    [
      'matrix definitions',
      (s: ShardStamp) => `${s.definition} (${s.shards} shard${s.shards === 1 ? '' : 's'}, only ${s.only?.join(',') ?? 'all'})`,
    ],
  ] as const) {
    const groups = groupBy(all, key);
    if (groups.size > 1)
      throw new MergeError(
        `the shards come from different ${what}:\n  ${[...groups].map(([k, fs]) => `${k}: ${fs.map((f) => f.file).join(', ')}`).join('\n  ')}`,
      );
  }
  const stamp = all[0]!.value;
  const definition = matrixDefinition({ shards: stamp.shards, ...(stamp.only === null ? {} : { only: stamp.only }), matrix });
  if (definition.fingerprint !== stamp.definition)
    throw new MergeError(
      `the shards ran matrix definition ${stamp.definition}, this checkout's is ${definition.fingerprint} (for ${stamp.shards} shards): merge them with the commit that ran them (${stamp.commit})`,
    );

  // Every shard once, with the cells it was given.
  const problems: string[] = [];
  const byShard = groupBy(manifests, (m) => String(m.shard));
  for (let shard = 1; shard <= definition.shards; shard++) {
    const found = byShard.get(String(shard)) ?? [];
    const expected = shardCells(definition, shard).map((c) => c.id);
    if (found.length === 0)
      problems.push(
        `shard ${shard}/${definition.shards}: missing (no ${manifestFile(shard, definition.shards)}; it did not finish or was not downloaded)`,
      );
    else if (found.length > 1)
      problems.push(`shard ${shard}/${definition.shards}: given ${found.length} times (${found.map((f) => f.file).join(', ')})`);
    else if (found[0]!.value.cells.join(',') !== expected.join(','))
      problems.push(
        `shard ${shard}/${definition.shards}: ran ${found[0]!.value.cells.join(', ') || 'nothing'}, its cells are ${expected.join(', ') || 'none'}`,
      );
  }
  // Every cell once, on its own shard.
  const byCell = groupBy(cells, (c) => c.cell);
  const merged: MergedCell[] = [];
  definition.cells.forEach((cell, i) => {
    const shard = definition.assignment[i]!;
    const found = byCell.get(cell.id) ?? [];
    if (found.length === 0) problems.push(`cell ${cell.id}: missing (shard ${shard}/${definition.shards} runs it)`);
    else if (found.length > 1) problems.push(`cell ${cell.id}: given ${found.length} times (${found.map((f) => f.file).join(', ')})`);
    else if (found[0]!.value.shard !== shard)
      problems.push(`cell ${cell.id}: run by shard ${found[0]!.value.shard}, it belongs to shard ${shard} (${found[0]!.file})`);
    else merged.push({ cell, shard, record: found[0]!.value, problems: [] });
  });
  for (const [id, fs] of byCell) {
    if (!definition.cells.some((c) => c.id === id))
      problems.push(`cell ${id}: not a cell of this matrix (${fs.map((f) => f.file).join(', ')})`);
  }
  if (problems.length > 0) throw new MergeError(`the shards are not one whole matrix:\n  ${problems.join('\n  ')}`);

  for (const m of merged) {
    if (m.record.failure !== undefined) m.problems.push(m.record.failure);
    else if (m.cell.kind !== 'tests') {
      if (m.record.report === undefined) m.problems.push('no run recorded');
      else m.problems.push(...checkRun(m.record.report, cellExperiments(m.cell)));
    }
  }
  const reports = merged.flatMap((m) => (m.record.report === undefined ? [] : [m.record.report]));
  return { definition, commit: stamp.commit, cells: merged, reports };
}
