import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const fixtures = join(import.meta.dirname, '..', 'fixtures');
const root = join(import.meta.dirname, '..', '..');

function node(args: string[]): string {
  return execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('lifecycle, in forked Node processes', () => {
  it('a garbage-collected Mapping unmaps itself exactly once', () => {
    const out = JSON.parse(node(['--expose-gc', join(fixtures, 'gc-unmap.mjs')]));
    expect(out.mappedBefore).toBe(true);
    expect(out.unmappedByGc).toBe(true);
    expect(out.bufferKeepsMemory).toBe(true);
    expect(out.newMappingIntact).toBe(true);
    expect(out.unmapAfterBuffersCollected).toBe(true);
  });

  it('loads and works in worker threads', () => {
    expect(JSON.parse(node([join(fixtures, 'worker-load.mjs')]))).toEqual([8, 8, 1]);
  });

  it('importing on another platform fails with one clear sentence', () => {
    const pretend = "Object.defineProperty(process, 'platform', { value: 'darwin' });";
    let stderr = '';
    try {
      node(['--input-type=module', '-e', `${pretend} await import('./dist/index.js');`]);
    } catch (e) {
      stderr = String((e as { stderr?: string }).stderr);
    }
    expect(stderr).toContain("overcommit-lab runs only on Linux: it measures the Linux kernel's memory overcommit, and this is darwin.");
  });
});
