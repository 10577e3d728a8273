import { describe, expect, it } from 'vitest';
import {
  type AccountingEvidence,
  accounting,
  type ChargeReading,
  mappingKinds,
  measureAccounting,
} from '../../lib/experiments/accounting/index.js';
import { judgeEvidence } from '../../lib/experiments/judge.js';
import type { Finding, OvercommitMode } from '../../lib/experiments/model.js';
import { pageSize } from '../../lib/native/mapping.js';
import { withSettingsLock } from '../../lib/safety/lock.js';
import { guardAvailability, withMode } from '../../lib/safety/settings-guard.js';
import { GiB, MiB } from '../../lib/units.js';
import { classifyChange } from '../../lib/verdict/decide.js';
import { currentMode } from '../helpers.js';

const guard = guardAvailability();
const guardSkip = guard.available ? '' : ` (skipped: ${guard.reason})`;

/* Constructed evidence ------------------------------------------------------------------------ */

/* On this kernel -------------------------------------------------------------------------------- */

/** The evidence agrees with itself: the flags, the accounted bytes and the counter tell one story. */
function checkEvidence(e: AccountingEvidence, mode: OvercommitMode): void {
  expect(e.mode).toBe(mode);
  expect(e.kinds).toHaveLength(2 * mappingKinds.length);
  const consistent = (r: ChargeReading, label: string) => {
    // 'ac' on the mapping exactly when its range is accounted.
    if (r.accountedDeltaBytes !== null && r.accountedDeltaBytes > 0) expect(r.vmFlags, label).toContain('ac');
    // Where Committed_AS is clear of its noise, it agrees with the accounted bytes.
    const c = classifyChange(r.change, [
      { label: 'accounted', bytes: r.accountedDeltaBytes ?? 0 },
      { label: 'other', bytes: (r.accountedDeltaBytes ?? 0) === 0 ? e.sizeBytes : 0 },
    ]);
    if (r.accountedDeltaBytes !== null && c.match !== null) expect(c.match.label, label).toBe('accounted');
  };
  for (const k of e.kinds) {
    expect(k.sizeBytes).toBe(e.sizeBytes);
    const acc = k.mmap.accountedDeltaBytes;
    expect(acc === null || acc === 0 || acc === k.sizeBytes, `${k.kind} accounted ${acc}`).toBe(true);
    expect(k.mmap.vmFlags.includes('ac')).toBe(acc === k.sizeBytes);
    // Shared anonymous memory is charged by its shmem file, which 'ac' does not show: the counter alone speaks.
    if (!k.kind.startsWith('anon-shared')) consistent(k.mmap, `${k.kind}${k.noreserve ? ' noreserve' : ''}`);
    expect(k.mmap.change.actionDeltasBytes).toHaveLength(e.trials);
  }
  const rw = e.kinds.find((k) => k.kind === 'anon-private-rw' && !k.noreserve)!;
  // munmap takes away exactly what mmap accounted.
  expect(rw.munmap.accountedDeltaBytes).toBe(-(rw.mmap.accountedDeltaBytes ?? 0));
  consistent(rw.munmap, 'munmap');
  consistent(e.writableCopies.mmap, 'writable copies');
  consistent(e.mremap.grow, 'mremap grow');
  consistent(e.mremap.shrink, 'mremap shrink');
  consistent(e.mprotect.steps.writable, 'mprotect rw');
  if (!('problem' in e.brk)) {
    consistent(e.brk.raise, 'brk raise');
    consistent(e.brk.lower, 'brk lower');
    // The raised range is accounted whole or not at all (to the partial page at the old break).
    const raised = e.brk.raise.accountedDeltaBytes;
    if (raised !== null) expect(Math.min(raised, Math.abs(raised - e.brk.sizeBytes))).toBeLessThanOrEqual(2 * pageSize);
  }
  if (!('problem' in e.stack) && e.stack.grownVma !== null) {
    // The VMA that grew holds at least the stack the step reports it used.
    expect(e.stack.growthBytes).toBeGreaterThanOrEqual(e.stack.usedBytes - MiB);
    if (e.stack.grow.accountedDeltaBytes !== null) {
      expect([0, e.stack.growthBytes]).toContain(e.stack.grow.accountedDeltaBytes);
      consistent(e.stack.grow, 'stack');
    }
  }
  // Every verdict is the one its recorded evidence gives.
  const findings: Finding[] = judgeEvidence(accounting, JSON.parse(JSON.stringify(e)) as AccountingEvidence, mode);
  expect(findings.map((f) => f.holds)).toEqual(judgeEvidence(accounting, e, mode).map((f) => f.holds));
}

describe('accounting on this kernel', () => {
  it('measures every kind in the mode in force, and its evidence agrees with itself', async () => {
    await withSettingsLock('shared', async () => {
      const mode = currentMode();
      checkEvidence(await measureAccounting({ mode, progress: () => {} }), mode);
    });
  });

  it.skipIf(!guard.available)(`in mode 2, switched by the settings guard${guardSkip}`, async () => {
    await withMode(2, async () => {
      const e = await measureAccounting({ mode: 2, progress: () => {} });
      checkEvidence(e, 2);
      // Sized inside the headroom of this run.
      expect(e.sizeNote === null ? e.sizeBytes === GiB : e.sizeBytes < GiB).toBe(true);
    });
  });
});
