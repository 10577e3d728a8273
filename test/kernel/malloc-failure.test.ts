import { describe, expect, it } from 'vitest';
import { judgeEvidence } from '../../lib/experiments/judge.js';
import { mallocFailure } from '../../lib/experiments/malloc-failure/index.js';
import {
  CGROUP_LIMIT_BYTES,
  LARGE_BYTES,
  measureMallocFailure,
  runMalloc,
  SMALL_BYTES,
} from '../../lib/experiments/malloc-failure/measure.js';
import { skipReason } from '../../lib/experiments/runner.js';
import { currentMode } from '../helpers.js';

describe('the malloc program', () => {
  it('reports each block and where it lies, and the run agrees with its lines', async () => {
    const r = await runMalloc([SMALL_BYTES, LARGE_BYTES]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout.at(-1)).toBe('done');
    expect(r.blocks.map((b) => b.sizeBytes)).toEqual([SMALL_BYTES, LARGE_BYTES]);
    expect(r.writtenBlocks).toBe(2);
    expect(r.failure).toBeNull();
    for (const b of r.blocks) expect(b.address).toMatch(/^0x[0-9a-f]+$/);
  });
});

const mode = currentMode();
const skip = skipReason(mallocFailure, mode);

describe.skipIf(skip !== undefined)(`malloc-failure on this kernel${skip === undefined ? '' : ` (skipped: ${skip})`}`, () => {
  it('measures both runs with consistent evidence', { timeout: 180_000 }, async () => {
    const e = await measureMallocFailure({ mode, progress: () => {} });
    const findings = judgeEvidence(mallocFailure, e, mode);
    for (const f of findings) expect([true, false, null]).toContain(f.holds);
    if (e.problem !== undefined) {
      // A run that went wrong as a whole (a program that could not join its group) decides nothing.
      for (const f of findings) expect(f.holds).toBeNull();
      return;
    }
    expect(e.mode).toBe(mode);
    if (e.mode2 !== null) {
      expect(e.mode2.sizesBytes).toEqual([SMALL_BYTES, LARGE_BYTES, e.mode2.room.overRoomBytes]);
      expect(e.mode2.room.overRoomBytes).toBeGreaterThan(e.mode2.room.commitLimitBytes - e.mode2.room.committedAsBytes);
      expect(e.mode2.blocks.length).toBeLessThanOrEqual(3);
      if (e.mode2.failure !== null) expect(e.mode2.sizesBytes).toContain(e.mode2.failure.sizeBytes);
    } else expect(e.mode2Reason).toBeTruthy();
    expect(e.overcommit === null).toBe(mode === 2);
    if (e.overcommit !== null) {
      expect(e.overcommit.cgroupLimitBytes).toBe(CGROUP_LIMIT_BYTES);
      expect(e.overcommit.writtenBlocks).toBeLessThanOrEqual(e.overcommit.blocks.length);
      expect(e.overcommit.oomKillsAfter).toBeGreaterThanOrEqual(e.overcommit.oomKillsBefore);
    }
  });
});
