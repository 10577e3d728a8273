import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ruleSets } from '../../lib/experiments/rules.js';
import { CORE_EXPERIMENTS, fullExperiments, GUEST_EXCLUDED_TESTS, MATRIX_LEFT_OUT } from '../../lib/vm/matrix.js';

const ids = ruleSets.map((r) => r.id);

describe('the kernel matrix’s choice of experiments and tests', () => {
  it('leaves out only experiments that exist, each with why, and runs every other one in the full rows', () => {
    for (const [id, why] of Object.entries(MATRIX_LEFT_OUT)) {
      expect(ids).toContain(id);
      expect(why.length).toBeGreaterThan(10);
    }
    const full = fullExperiments(ids);
    expect(full).toEqual(ids.filter((id) => !(id in MATRIX_LEFT_OUT)));
    for (const id of CORE_EXPERIMENTS) expect(full).toContain(id);
  });

  it('leaves out of the guest’s suite only test files that exist', () => {
    for (const file of Object.keys(GUEST_EXCLUDED_TESTS)) expect(existsSync(join(import.meta.dirname, '..', '..', file)), file).toBe(true);
  });
});
