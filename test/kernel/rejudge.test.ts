/**
 * rejudge, compare and the reports where the addon cannot load: a copy of the package without
 * build/ and prebuilds/ (as on a laptop that installed it without a compiler, or on macOS), run
 * on a captured `run --mode all --json`. Every verdict judged again must be the run's own.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rejudgeReport } from '../../lib/experiments/judge.js';
import { ruleSets } from '../../lib/experiments/rules.js';
import type { RunReport } from '../../lib/verdict/types.js';

const root = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'overcommit-lab-rejudge-'));
const copy = join(dir, 'package');
const runFile = join(dir, 'run.json');
const captured = gunzipSync(readFileSync(join(root, 'test/fixtures/run-mode-all-6.18.json.gz'))).toString('utf8');

beforeAll(() => {
  // The compiled package without its addon: node-gyp-build finds no binary to load.
  mkdirSync(copy);
  cpSync(join(root, 'dist'), join(copy, 'dist'), { recursive: true });
  cpSync(join(root, 'package.json'), join(copy, 'package.json'));
  symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'));
  writeFileSync(runFile, captured);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const cli = (...args: string[]) => spawnSync(process.execPath, [join(copy, 'dist/cli/main.js'), ...args], { cwd: dir, encoding: 'utf8' });

describe('rejudge', () => {
  it('judges every run of a captured run --mode all again, each verdict equal to the recorded one', () => {
    const report = JSON.parse(captured) as RunReport;
    const r = rejudgeReport(report, ruleSets);
    expect(r.unchecked).toEqual([]);
    expect(r.checked).toBe(report.runs.reduce((n, run) => n + run.findings.length, 0));
    expect(r.changed).toEqual([]);
  });

  it('reports a verdict the current rules give differently, and a claim gone or new', () => {
    const report = JSON.parse(captured) as RunReport;
    const run = report.runs.find((x) => x.experiment === 'copy-on-write');
    const [first, second] = run?.findings ?? [];
    if (first === undefined || second === undefined) throw new Error('the fixture has no copy-on-write findings');
    first.holds = first.holds !== true;
    second.claim = 'a-claim-since-renamed';
    const r = rejudgeReport(report, ruleSets);
    expect(r.changed).toEqual([
      expect.objectContaining({ experiment: 'copy-on-write', claim: first.claim, recorded: first.holds }),
      expect.objectContaining({ claim: 'a-claim-since-renamed', judged: 'absent' }),
      expect.objectContaining({ recorded: 'absent' }),
    ]);
  });

  describe('in a copy of the package whose addon cannot load', () => {
    it('the addon really cannot load there', () => {
      const r = spawnSync(
        process.execPath,
        ['--input-type=module', '-e', `await import(${JSON.stringify(join(copy, 'dist/native/mapping.js'))});`],
        {
          encoding: 'utf8',
        },
      );
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(/No native build was found|Cannot find module/);
    });

    it('--help and a usage error need no addon', () => {
      expect(cli('--help').status).toBe(0);
      const bad = cli('frobnicate');
      expect(bad.status).toBe(2);
      expect(bad.stderr).toMatch(/unknown command 'frobnicate'/);
    });

    it('list shows every experiment', () => {
      const r = cli('list', '--json');
      expect(r.status).toBe(0);
      expect((JSON.parse(r.stdout) as { id: string }[]).map((e) => e.id)).toEqual(ruleSets.map((s) => s.id));
    });

    it('rejudge recomputes every verdict of the run equal to its own, and writes its report', () => {
      const r = cli('rejudge', runFile, '--json', '--report', join(dir, 'rejudged.md'));
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const out = JSON.parse(r.stdout) as { checked: number; changed: unknown[]; unchecked: unknown[] };
      expect(out.checked).toBeGreaterThan(100);
      expect(out.changed).toEqual([]);
      expect(out.unchecked).toEqual([]);
      expect(readFileSync(join(dir, 'rejudged.md'), 'utf8')).toMatch(/copy-on-write/);
      const text = cli('rejudge', runFile);
      expect(text.stdout).toMatch(/No verdict changed/);
    });

    it('compare --report writes the comparison', () => {
      const r = cli('compare', runFile, join(root, 'test/fixtures/report-run-b.json'), '--report', join(dir, 'compare.html'));
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(readFileSync(join(dir, 'compare.html'), 'utf8')).toMatch(/<html/i);
    });

    it('run says why it cannot measure, and exits 1', () => {
      const r = cli('run', 'settings');
      expect(r.status).toBe(1);
    });
  });
});
