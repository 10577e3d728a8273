import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { onPath } from '../helpers.js';

const root = join(import.meta.dirname, '..', '..');

// The cross toolchain builds the prebuild and brings the aarch64 glibc qemu runs against; .ci/run
// installs both with the emulator.
const missing = [['qemu-aarch64', 'qemu-aarch64-static'], ['aarch64-linux-gnu-gcc'], ['aarch64-linux-gnu-g++']]
  .filter((alternatives) => !alternatives.some(onPath))
  .map((alternatives) => alternatives.join(' or '));
const why = missing.length > 0 ? ` (skipped: ${missing.join(', ')} missing; apt-get install qemu-user g++-aarch64-linux-gnu)` : '';

describe('linux-arm64 prebuild', () => {
  it.skipIf(missing.length > 0)(
    `loads under qemu-user with an arm64 Node: mmap, touch, unmap, runChild; the programs run${why}`,
    () => {
      const out = execFileSync('bash', [join(root, 'scripts/smoke-arm64.sh')], {
        cwd: root,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: 600_000,
      });
      expect(out).toContain('smoke-arm64: addon: {"arch":"arm64","touched":4');
      expect(out).toMatch(/^overcommit_memory = \d+$/m);
      expect(out).toMatch(/^Touched 16 pages \(only those pages use swap\)$/m);
      expect(out.trimEnd().endsWith('smoke-arm64: ok')).toBe(true);
    },
    600_000,
  );
});
