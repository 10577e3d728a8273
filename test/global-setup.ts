import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

// Forked fixtures run the compiled package (dist/), as a user would: build it once.
export default function setup(): void {
  const root = join(import.meta.dirname, '..');
  try {
    execFileSync(join(root, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json'], { cwd: root, stdio: 'pipe' });
  } catch (e) {
    // tsc still emits when it reports type errors; only a missing output is fatal here.
    if (!existsSync(join(root, 'dist/index.js'))) throw e;
  }
}
