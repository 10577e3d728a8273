import { execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';

// Forked fixtures run the compiled package (dist/), as a user would: build it afresh once, so
// that no fixture runs stale code.
export default function setup(): void {
  // The kernel matrix runs tests in a guest over the dist/ the host has just compiled (read-only
  // under an overlay there); compiling it again would take minutes of emulation.
  if (process.env.OVERCOMMIT_LAB_DIST_FRESH === '1') return;
  const root = join(import.meta.dirname, '..');
  rmSync(join(root, 'dist'), { recursive: true, force: true });
  try {
    execFileSync(join(root, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json'], { cwd: root, stdio: 'pipe' });
  } catch (e) {
    // tsc still emits when it reports type errors (the typecheck script is where those fail).
    if (!existsSync(join(root, 'dist/index.js'))) throw e;
  }
}
