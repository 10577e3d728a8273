// Where the headers of the Node running this script are, for node-gyp's --nodedir and the
// compile checks. Never a download: node-gyp's default fetches them from nodejs.org, which many
// machines (CI among them) cannot reach, while every way of installing Node that can build
// addons has them on disk: an official build or nvm in <prefix>/include/node, Debian's libnode-dev
// in /usr/include/node.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * The nodedir to build against and why: the user's own npm configuration (`nodedir`) when set,
 * else the prefix of the running Node (<prefix>/bin/node) when <prefix>/include/node/node.h
 * exists; null with the reason when neither is there.
 */
export function nodeDir(env = process.env) {
  const configured = env.npm_config_nodedir;
  if (configured) return { dir: configured, why: `npm's nodedir setting (${configured})` };
  const prefix = dirname(dirname(process.execPath));
  const header = join(prefix, 'include', 'node', 'node.h');
  if (existsSync(header)) return { dir: prefix, why: `the headers of the running Node ${process.version} (${header})` };
  return {
    dir: null,
    why:
      `the running Node ${process.version} (${process.execPath}) has no headers in ${dirname(header)}: ` +
      'install them (Debian: apt-get install libnode-dev), use an official build or nvm, ' +
      'or point npm at them (npm config set nodedir <dir>)',
  };
}

// Run as a script: prints the directory (for npm_config_nodedir in the prebuild scripts), or
// says why there is none and fails.
if (process.argv[1] === import.meta.filename) {
  const headers = nodeDir();
  if (headers.dir === null) {
    console.error(`overcommit-lab: ${headers.why}`);
    process.exit(1);
  }
  console.log(headers.dir);
}
