import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'overcommit-lab-pack-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function npm(args: string[], cwd: string): string {
  return execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 600_000 });
}

describe('npm pack', () => {
  it('ships the prebuilt addon, the compiled JS and its types; a consumer needs no compiler', () => {
    npm(['run', 'prebuild'], root);
    const [pack] = JSON.parse(npm(['pack', '--json', '--ignore-scripts', '--pack-destination', dir], root)) as {
      filename: string;
      files: { path: string }[];
    }[];
    const files = pack!.files.map((f) => f.path);
    expect(files).toEqual(
      expect.arrayContaining([
        'prebuilds/linux-x64/overcommit-lab.node',
        'dist/index.js',
        'dist/index.d.ts',
        'dist/cli/main.js',
        'package.json',
        'README.md',
      ]),
    );
    expect(files.some((f) => f.startsWith('build/') || f.startsWith('test/') || f.startsWith('node_modules/'))).toBe(false);

    // A consumer project installs the tarball with no install scripts (npm 11's default for
    // dependencies) and so no compiler step: the prebuild must load.
    const consumer = join(dir, 'consumer');
    execFileSync('mkdir', ['-p', consumer]);
    writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    npm(['install', '--ignore-scripts', '--no-audit', '--no-fund', join(dir, pack!.filename)], consumer);
    const out = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "import { mmap, pageSize } from 'overcommit-lab'; const m = mmap(4 * pageSize); console.log(m.touch()); m.unmap();",
      ],
      { cwd: consumer, encoding: 'utf8' },
    );
    expect(out.trim()).toBe('4');

    // A CommonJS consumer: on Node >= 20.19 require() loads an ES module graph that has no
    // top-level await (the chart libraries have one and load only when an HTML report is drawn,
    // which then works from CommonJS too).
    const fixture = join(root, 'test/fixtures/report-run-a.json');
    writeFileSync(
      join(consumer, 'consumer.cjs'),
      [
        "const { readFileSync } = require('node:fs');",
        "const { mmap, pageSize, renderHtml } = require('overcommit-lab');",
        'const m = mmap(4 * pageSize);',
        'const pages = m.touch();',
        'm.unmap();',
        `renderHtml(JSON.parse(readFileSync(${JSON.stringify(fixture)}, 'utf8'))).then((html) => {`,
        "  console.log(JSON.stringify({ pages, mapped: m.mapped, svg: html.includes('<svg') }));",
        '});',
      ].join('\n'),
    );
    const cjs = spawnSync(process.execPath, ['consumer.cjs'], { cwd: consumer, encoding: 'utf8' });
    expect(cjs.stderr).toBe('');
    expect(JSON.parse(cjs.stdout)).toEqual({ pages: 4, mapped: false, svg: true });
  }, 600_000);
});
