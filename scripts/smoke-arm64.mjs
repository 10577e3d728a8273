// Run by the arm64 Node under qemu-user (scripts/smoke-arm64.sh) in a copy of the package that
// has only prebuilds/linux-arm64, and by each official Node build in scripts/fresh.sh: loads the
// addon, maps, touches, unmaps, and runs a child. Prints one JSON line for the script to check.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const pkg = process.argv[2];
const { mmap, pageSize } = await import(pathToFileURL(join(pkg, 'dist/native/mapping.js')).href);
const { runChild } = await import(pathToFileURL(join(pkg, 'dist/native/child.js')).href);

const m = mmap(4 * pageSize);
const touched = m.touch();
const resident = m.residentPages();
m.unmap();
const child = await runChild([{ op: 'sleep', ms: 1 }]);
console.log(
  JSON.stringify({
    arch: process.arch,
    touched,
    resident,
    mappedAfterUnmap: m.mapped,
    childExitCode: child.exitCode,
    childSteps: child.steps.map((s) => s.status),
  }),
);
