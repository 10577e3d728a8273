/**
 * What the CLI and the package load at start-up: the chart libraries (Vega, Vega-Lite) only when
 * an HTML report is rendered, and `settings` nothing but its /proc readers. Each case runs a fresh
 * Node with a loader hook that records every module it loads.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'overcommit-lab-startup-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let runs = 0;
/** The modules (as paths relative to the package, or node: names) that `args` loads. */
function loadedBy(args: string[]): string[] {
  const file = join(dir, `loaded-${runs++}.txt`);
  const r = spawnSync(process.execPath, ['--import', pathToFileURL(join(root, 'test/fixtures/record-imports.mjs')).href, ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, RECORD_IMPORTS: file },
  });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  const prefix = `${pathToFileURL(root).href}/`;
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((url) => url !== '')
    .map((url) => (url.startsWith(prefix) ? url.slice(prefix.length) : url));
}

const charts = (modules: string[]) => modules.filter((m) => /node_modules\/vega(-lite)?\//.test(m));

describe('start-up', () => {
  it('`settings` loads its /proc readers and neither the charts, the experiments nor the addon', () => {
    const modules = loadedBy(['dist/cli/main.js', 'settings']);
    expect(modules).toContain('dist/kernel/sysctl.js');
    expect(modules).toContain('dist/kernel/meminfo.js');
    expect(charts(modules)).toEqual([]);
    expect(
      modules.filter((m) => m.startsWith('dist/experiments/') || m.startsWith('dist/native/') || m.startsWith('dist/report/')),
    ).toEqual(['dist/report/format.js']);
  });

  it('importing the package loads the API but not the charts', () => {
    const modules = loadedBy(['--input-type=module', '-e', "await import('./dist/index.js');"]);
    expect(modules).toContain('dist/native/mapping.js');
    expect(modules).toContain('dist/report/html.js');
    expect(charts(modules)).toEqual([]);
  });

  it('rendering an HTML report loads the charts (the recorder sees them when they load)', () => {
    const script = [
      "import { readFileSync } from 'node:fs';",
      "import { renderHtml } from './dist/index.js';",
      "const html = await renderHtml(JSON.parse(readFileSync('test/fixtures/report-run-a.json', 'utf8')));",
      "if (!html.includes('<svg')) throw new Error('no chart drawn');",
    ].join('\n');
    const modules = loadedBy(['--input-type=module', '-e', script]);
    expect(charts(modules)).toEqual(expect.arrayContaining([expect.stringMatching(/vega\//), expect.stringMatching(/vega-lite\//)]));
  });
});
