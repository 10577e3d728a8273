// The matrix's rows of other architectures and page sizes: what they run, what they leave out
// and why, and that scripts/kernels.sh fetches each of their kernels.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ruleSets } from '../../lib/experiments/rules.js';
import { ARCH_LEFT_OUT, archExperimentsUnaccounted, MATRIX, PAGE_EXPERIMENTS } from '../../lib/vm/matrix.js';

const ids = ruleSets.map((r) => r.id);
const rows = MATRIX.filter((e) => e.arch !== undefined);

describe("the kernel matrix's arm64 and ppc64el rows", () => {
  it('run the experiments whose claims depend on pages, in the three modes, on 4, 16 and 64 KiB pages', () => {
    for (const id of PAGE_EXPERIMENTS) expect(ids).toContain(id);
    expect(rows.map((e) => [e.arch, e.pageSize])).toEqual([
      ['arm64', 4096],
      ['arm64', 16384],
      ['ppc64', 65536],
    ]);
    for (const e of rows) {
      expect(e.experiments, e.kernel).toEqual(PAGE_EXPERIMENTS);
      expect(e.runArgs, e.kernel).toEqual(['--mode', 'all']);
    }
  });

  it('leave out only experiments that exist, each with why, and account for every experiment', () => {
    for (const [id, why] of Object.entries(ARCH_LEFT_OUT)) {
      expect(ids).toContain(id);
      expect(PAGE_EXPERIMENTS as readonly string[]).not.toContain(id);
      expect(why.length, id).toBeGreaterThan(10);
    }
    expect(archExperimentsUnaccounted(ids)).toEqual([]);
    expect(archExperimentsUnaccounted([...ids, 'a-new-experiment'])).toEqual(['a-new-experiment']);
  });

  it('name kernels that scripts/kernels.sh fetches', () => {
    const script = readFileSync(join(import.meta.dirname, '../../scripts/kernels.sh'), 'utf8');
    for (const e of rows) expect(script, e.kernel).toContain(`\n    ${e.kernel}) `);
  });
});
