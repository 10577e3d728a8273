import { describe, expect, it } from 'vitest';
import { accounting, accountingClaims, type MappingKind, mappingKinds } from '../lib/experiments/accounting.js';
import type { Finding, OvercommitMode } from '../lib/experiments/model.js';
import { withSettingsLock } from '../lib/safety/lock.js';
import { guardAvailability, withMode } from '../lib/safety/settings-guard.js';
import { currentMode, runFindings } from './helpers.js';

const guard = guardAvailability();
const guardSkip = guard.available ? '' : ` (skipped: ${guard.reason})`;

const num = (f: Finding, key: string): number => f.evidence[key] as number;
const flags = (f: Finding): string[] => f.evidence.vmFlags as string[];

/** |measured - expected| within the finding's own stated tolerance. */
function expectNear(f: Finding, key: string, expected: number): void {
  expect(Math.abs(num(f, key) - expected)).toBeLessThanOrEqual(num(f, 'toleranceBytes'));
}

/** What the kernel did, asserted from each finding's evidence, for the mode in force. */
function checkFindings(findings: Finding[], mode: OvercommitMode): void {
  const byId = new Map(findings.map((f) => [f.claim, f]));
  const ids = findings.map((f) => f.claim);
  expect(new Set(ids).size).toBe(ids.length);
  for (const id of ids) expect(accountingClaims.some((c) => c.id === id && (!c.modes || c.modes.includes(mode)))).toBe(true);

  for (const f of findings) {
    for (const key of ['kind', 'noreserve', 'sizeBytes', 'chargedBytes', 'vmFlags']) expect(f.evidence).toHaveProperty(key);
    // Nothing on a quiet machine is too noisy to judge a few hundred MiB.
    expect(f.holds).not.toBeNull();
  }

  const kind = (k: MappingKind, noreserve: boolean): Finding => {
    const id = !noreserve ? `cost-${k}` : mode === 2 ? `noreserve-ignored-${k}` : `noreserve-${k}`;
    const f = byId.get(id)!;
    expect(f.evidence.kind).toBe(k);
    expect(f.evidence.noreserve).toBe(noreserve);
    return f;
  };

  const rw = kind('anon-private-rw', false);
  const size = num(rw, 'sizeBytes');
  expectNear(rw, 'chargedBytes', size);
  expect(flags(rw)).toContain('ac');
  expect(rw.holds).toBe(true);

  const ro = kind('anon-private-ro', false);
  expectNear(ro, 'chargedBytes', 0);
  expect(flags(ro)).not.toContain('ac');

  // Shared anonymous memory is charged through shmem, never VM_ACCOUNT.
  const shared = kind('anon-shared-rw', false);
  expectNear(shared, 'chargedBytes', size);
  expect(flags(shared)).not.toContain('ac');

  expectNear(kind('file-shared-rw', false), 'chargedBytes', 0);
  const filePrivate = kind('file-private-rw', false);
  expectNear(filePrivate, 'chargedBytes', size);
  expect(flags(filePrivate)).toContain('ac');

  // MAP_NORESERVE: honoured ('nr', no charge) in modes 0 and 1; ignored in mode 2.
  for (const k of mappingKinds) {
    const plain = kind(k, false);
    const nr = kind(k, true);
    expect(flags(nr).includes('nr')).toBe(mode !== 2);
    if (mode === 2) expectNear(nr, 'chargedBytes', num(plain, 'chargedBytes'));
    else expectNear(nr, 'chargedBytes', 0);
    // Each verdict is the comparison it states.
    const matches = Math.abs(num(nr, 'chargedBytes') - num(nr, 'documentedBytes')) <= num(nr, 'toleranceBytes');
    if (!matches) expect(nr.holds).toBe(false);
  }

  const munmap = byId.get('munmap')!;
  expectNear(munmap, 'releasedBytes', -size);

  const mprotect = byId.get('mprotect')!;
  const steps = mprotect.evidence.steps as { step: string; deltaBytes: number; vmFlags: string[] }[];
  const toRw = steps.find((s) => s.step === 'rw (never written)')!;
  expect(Math.abs(toRw.deltaBytes - size)).toBeLessThanOrEqual(num(mprotect, 'toleranceBytes'));
  expect(toRw.vmFlags).toContain('ac');
  // Once a page is written the mapping keeps its charge when made read-only again.
  expect(Math.abs(steps.find((s) => s.step === 'r (after a write)')!.deltaBytes)).toBeLessThanOrEqual(num(mprotect, 'toleranceBytes'));
  expect(mprotect.holds).toBe(true);

  const mremap = byId.get('mremap')!;
  expectNear(mremap, 'chargedBytes', size);
  expectNear(mremap, 'shrinkChargedBytes', -1.5 * size);

  const brk = byId.get('brk')!;
  expectNear(brk, 'chargedBytes', size);
  expectNear(brk, 'releasedBytes', -size);
  expect(flags(brk)).toContain('ac');

  // The [stack] VMA's growth (exact, from smaps) is what Committed_AS gained.
  const stack = byId.get('stack-growth')!;
  expect(num(stack, 'sizeBytes')).toBeGreaterThan(num(stack, 'stackUsedBytes') * 0.9);
  expectNear(stack, 'chargedBytes', num(stack, 'sizeBytes'));
  expect(flags(stack)).toContain('ac');

  const shmfs = byId.get('shmfs-same-pool')!;
  expect(shmfs.evidence.kind).toBe('memfd-shared-rw');
  expectNear(shmfs, 'touchChargedBytes', num(shmfs, 'touchedBytes'));
  expect(shmfs.holds).toBe(true);

  const copies = byId.get('writable-copies')!;
  expectNear(copies, 'chargedBytes', size);
  expectNear(copies, 'touchChargedBytes', 0);
}

describe('accounting experiment', () => {
  it('measures every kind in the mode in force, and the verdicts follow the evidence', async () => {
    await withSettingsLock('shared', async () => {
      const mode = currentMode();
      checkFindings(await runFindings(accounting, { mode, progress: () => {} }), mode);
    });
  });

  for (const mode of [1, 2] as const) {
    it.skipIf(!guard.available)(`in mode ${mode}, switched by the settings guard${guardSkip}`, async () => {
      await withMode(mode, async () => {
        checkFindings(await runFindings(accounting, { mode, progress: () => {} }), mode);
      });
    });
  }
});
