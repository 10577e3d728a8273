// npm run build:clang: every native source and header compiled on its own, with warnings as
// errors, by a second compiler (clang by default; CC/CXX choose others: the fresh-machine check
// runs it with Debian 13's g++ 14, whose standard library no longer pulls in headers a file
// forgot, as g++ 12's did). Syntax only: the real build is node-gyp's (binding.gyp). Each header
// alone catches a header that leans on its includer's includes.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { nodeDir } from './node-headers.mjs';

const root = join(import.meta.dirname, '..');
const require = createRequire(join(root, 'package.json'));
const cxx = process.env.CXX || 'clang++';
const cc = process.env.CC || 'clang';

const headers = nodeDir();
if (headers.dir === null) {
  console.error(`build-check: ${headers.why}`);
  process.exit(1);
}
// The flags binding.gyp builds with, and -Werror.
const warn = ['-Wall', '-Wextra', '-Werror'];
const cxxFlags = [
  '-std=c++17',
  ...warn,
  `-I${join(headers.dir, 'include', 'node')}`,
  `-I${require('node-addon-api').include_dir}`,
  '-DNAPI_VERSION=8',
  '-DNAPI_CPP_EXCEPTIONS',
  '-DNODE_ADDON_API_DISABLE_DEPRECATED',
];
const cFlags = ['-std=gnu11', ...warn, '-Wno-unused-result'];

const files = (dir, ...ext) =>
  readdirSync(join(root, dir))
    .filter((f) => ext.some((e) => f.endsWith(e)))
    .map((f) => join(dir, f));
const jobs = [
  ...files('native', '.cc').map((f) => [cxx, ...cxxFlags, '-fsyntax-only', f]),
  ...files('native', '.h').map((f) => [cxx, ...cxxFlags, '-fsyntax-only', '-x', 'c++', '-include', f, '/dev/null']),
  ...files('native/programs', '.c').map((f) => [cc, ...cFlags, '-fsyntax-only', f]),
  ...files('native/programs', '.h').map((f) => [
    cc,
    ...cFlags,
    '-Wno-unused-function',
    '-fsyntax-only',
    '-x',
    'c',
    '-include',
    f,
    '/dev/null',
  ]),
];
let failed = 0;
for (const [bin, ...args] of jobs) {
  const r = spawnSync(bin, args, { cwd: root, stdio: 'inherit' });
  if (r.error) {
    console.error(`build-check: cannot run ${bin}: ${r.error.message}`);
    process.exit(1);
  }
  if (r.status !== 0) failed++;
}
console.error(`build-check: ${jobs.length - failed}/${jobs.length} files compile cleanly with ${cxx} and ${cc} (-Wall -Wextra -Werror)`);
process.exit(failed === 0 ? 0 : 1);
