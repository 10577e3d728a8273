import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXECUTABLES } from '../../lib/native/executables.js';
import { onPath } from '../helpers.js';

const root = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'overcommit-lab-pack-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function npm(args: string[], cwd: string, env = process.env): string {
  return execFileSync('npm', args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 600_000 });
}

const PROGRAMS = Object.values(EXECUTABLES);
const shipped = (arch: string) => [`prebuilds/linux-${arch}/overcommit-lab.node`, ...PROGRAMS.map((p) => `prebuilds/linux-${arch}/${p}`)];
/**
 * Why the consumer's install cannot reach the packages the tarball depends on, or '' when npm's
 * registry answers. A guest of `vm` has no network: there `npm install` would only wait out its
 * retries, and the prebuild before it compiles for minutes under emulation.
 */
function registryUnreachable(): string {
  const r = spawnSync('npm', ['ping', '--fetch-timeout=20000', '--fetch-retries=0'], { encoding: 'utf8', timeout: 60_000 });
  if (r.status === 0) return '';
  // npm's own sentence, without its code/syscall/errno lines and the pointer to its log.
  const said = `${r.stderr ?? ''}`
    .split('\n')
    .map((l) => /^npm (?:error|ERR!) (.*)$/.exec(l)?.[1])
    .find((l) => l !== undefined && !/^(code|syscall|errno) |^A complete log/.test(l));
  return `npm cannot reach its registry (npm ping: ${r.error?.message ?? said ?? `exit ${r.status}`})`;
}
const offline = registryUnreachable();
if (offline !== '') console.warn(`package: skipped: ${offline}`);

/** The arm64 prebuild is cross-compiled with Debian's toolchain (.ci/run installs it). */
const crossMissing = ['aarch64-linux-gnu-gcc', 'aarch64-linux-gnu-g++'].filter((c) => !onPath(c));

describe.skipIf(offline !== '')(`npm pack${offline === '' ? '' : ` (skipped: ${offline})`}`, () => {
  let files: string[] = [];
  let tarball = '';
  beforeAll(() => {
    // `npm run prebuild` is both architectures; without the cross toolchain only this host's.
    // prebuildify keeps its node-gyp devdir in the temporary directory: this test's own, removed after it.
    npm(['run', crossMissing.length === 0 ? 'prebuild' : 'prebuild:host'], root, { ...process.env, TMPDIR: dir });
    const [pack] = JSON.parse(npm(['pack', '--json', '--ignore-scripts', '--pack-destination', dir], root)) as {
      filename: string;
      files: { path: string }[];
    }[];
    files = pack!.files.map((f) => f.path);
    tarball = join(dir, pack!.filename);
  }, 600_000);

  it('ships the prebuilt addon and programs, the compiled JS and its types; a consumer needs no compiler', () => {
    expect(files).toEqual(
      expect.arrayContaining([
        ...shipped(process.arch),
        'dist/index.js',
        'dist/index.d.ts',
        'dist/cli/main.js',
        'package.json',
        'README.md',
      ]),
    );
    expect(files.some((f) => f.startsWith('build/') || f.startsWith('test/') || f.startsWith('node_modules/'))).toBe(false);

    // A consumer project installs the tarball with no install scripts (npm 11's default for
    // dependencies) and so no compiler step: the prebuilt addon must load, and the prebuilt
    // program must still be executable.
    const consumer = join(dir, 'consumer');
    execFileSync('mkdir', ['-p', consumer]);
    writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    npm(['install', '--ignore-scripts', '--no-audit', '--no-fund', tarball], consumer);
    const out = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        [
          "import { mmap, pageSize, runProgram } from 'overcommit-lab';",
          'const m = mmap(4 * pageSize); console.log(m.touch()); m.unmap();',
          "const r = await runProgram('settings'); console.log(r.exitCode, r.path.slice(r.path.indexOf('prebuilds/')), r.stdout.length);",
        ].join(' '),
      ],
      { cwd: consumer, encoding: 'utf8' },
    );
    expect(out.trim().split('\n')).toEqual(['4', `0 prebuilds/linux-${process.arch}/ocl-settings 3`]);

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

  it.skipIf(crossMissing.length > 0)(
    `ships the linux-arm64 prebuild: the addon and the programs, as AArch64 code${crossMissing.length > 0 ? ` (skipped: no cross toolchain: ${crossMissing.join(', ')} missing; apt-get install g++-aarch64-linux-gnu)` : ''}`,
    () => {
      expect(files).toEqual(expect.arrayContaining([...shipped('x64'), ...shipped('arm64')]));
      for (const f of shipped('arm64')) {
        // ELF e_machine 183: EM_AARCH64.
        expect(readFileSync(join(root, f)).readUInt16LE(18), f).toBe(183);
      }
    },
  );
});
