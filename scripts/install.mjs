// npm install: the prebuild when one loads on this machine (node-gyp-build), else a build from
// source with node-gyp against the headers of the Node running this script (scripts/node-headers.mjs),
// saying which. package.json names no nodedir: the right one is wherever this Node lives.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { nodeDir } from './node-headers.mjs';

const root = join(import.meta.dirname, '..');

/** A checkout's build/ older than its native sources (after a pull): build again, or new programs would be missing. */
function staleBuild(found) {
  const built = statSync(found).mtimeMs;
  const sources = ['binding.gyp', ...readdirSync(join(root, 'native'), { recursive: true }).map((f) => join('native', f))];
  return sources.some((f) => statSync(join(root, f)).mtimeMs > built);
}
const require = createRequire(join(root, 'package.json'));
const say = (s) => console.error(`overcommit-lab: ${s}`);

if (process.env.npm_config_build_from_source !== 'true') {
  try {
    const found = require('node-gyp-build').resolve(root);
    if (found.startsWith(join(root, 'build')) && staleBuild(found)) throw new Error('stale');
    require(found); // it must load here (glibc, architecture), as node-gyp-build-test checks
    say(`using ${found.slice(root.length + 1)}`);
    process.exit(0);
  } catch {
    // No prebuild that loads here and no earlier build: build it.
  }
}

const headers = nodeDir();
if (headers.dir === null) {
  say(`cannot build the addon: ${headers.why}`);
  process.exit(1);
}
say(`building the addon against ${headers.why}`);

// node-gyp: this package's own (a devDependency), else the one npm runs scripts with.
let gyp;
try {
  const pkg = require('node-gyp/package.json');
  gyp = join(dirname(require.resolve('node-gyp/package.json')), typeof pkg.bin === 'string' ? pkg.bin : pkg.bin['node-gyp']);
} catch {
  gyp = process.env.npm_config_node_gyp;
}
const args = gyp ? [process.execPath, gyp] : ['node-gyp'];
const r = spawnSync(args[0], [...args.slice(1), 'rebuild', `--nodedir=${headers.dir}`], { cwd: root, stdio: 'inherit' });
if (r.error) say(`cannot run node-gyp: ${r.error.message}`);
process.exit(r.status ?? 1);
