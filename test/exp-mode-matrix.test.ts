import { release } from 'node:os';
import { describe, expect, it } from 'vitest';
import { modeMatrix, modeMatrixClaims } from '../lib/experiments/mode-matrix.js';
import type { Finding, OvercommitMode } from '../lib/experiments/model.js';
import { readMeminfo } from '../lib/kernel/meminfo.js';
import { readOvercommitSettings } from '../lib/kernel/sysctl.js';
import { pageSize } from '../lib/native/mapping.js';
import { withSettingsLock } from '../lib/safety/lock.js';
import { guardAvailability, withMode } from '../lib/safety/settings-guard.js';
import { currentMode, isRoot, runFindings } from './helpers.js';

const avail = guardAvailability();
const why = avail.available ? '' : ` (skipped: ${avail.reason})`;
const [major, minor] = release().split('.').map(Number) as [number, number];
// Since 5.2 ('mm: fix false-positive OVERCOMMIT_GUESS failures'), mode 0 compares one mapping with totalram + swap only.
const modernHeuristic = major > 5 || (major === 5 && minor >= 2);

/** The (mode, noreserve) cells of the table each mode reports. */
const tableIds: Record<OvercommitMode, string[]> = {
  0: [modeMatrixClaims.table0No.id, modeMatrixClaims.table0Yes.id],
  1: [modeMatrixClaims.table1No.id, modeMatrixClaims.table1Yes.id],
  2: [modeMatrixClaims.table2No.id, modeMatrixClaims.table2Yes.id],
};

function byId(findings: Finding[]): Map<string, Finding> {
  return new Map(findings.map((f) => [f.claim, f]));
}

/** Checks what every mode's findings must show, and returns them by claim id. */
async function runIn(mode: OvercommitMode): Promise<Map<string, Finding>> {
  const findings = await runFindings(modeMatrix, { mode, progress: () => {} });
  for (const f of findings) {
    const claim = Object.values(modeMatrixClaims).find((c) => c.id === f.claim);
    expect(claim, f.claim).toBeDefined();
    expect(claim!.modes).toContain(mode);
  }
  const found = byId(findings);
  for (const id of tableIds[mode]) {
    const f = found.get(id);
    expect(f, id).toBeDefined();
    const e = f!.evidence;
    expect(e.mode).toBe(mode);
    expect(e.largestBytes as number).toBeGreaterThan(0);
    // The kernel accepted exactly what the mode's rule predicts, within the stated tolerance
    // (mode 0 without MAP_NORESERVE: only since 5.2), and the table's cell holds.
    if (mode === 0 && id === modeMatrixClaims.table0No.id && !modernHeuristic) continue;
    expect(Math.abs((e.largestBytes as number) - (e.predictedBytes as number)), id).toBeLessThanOrEqual(e.toleranceBytes as number);
    expect(f!.holds, id).toBe(true);
  }
  expect(found.get(tableIds[mode][0]!)!.evidence.noreserve).toBe(false);
  expect(found.get(tableIds[mode][1]!)!.evidence.noreserve).toBe(true);
  return found;
}

function checkMode0(found: Map<string, Finding>): void {
  const m = readMeminfo();
  const ramSwap = (Math.floor(m.memTotal / pageSize) + Math.floor(m.swapTotal / pageSize)) * pageSize;
  const no = found.get(modeMatrixClaims.table0No.id)!;
  if (modernHeuristic) expect(no.evidence.largestBytes).toBe(ramSwap);
  // With MAP_NORESERVE mode 0 does not account the mapping: only the address space limits it.
  expect(found.get(modeMatrixClaims.table0Yes.id)!.evidence.largestBytes as number).toBeGreaterThan(ramSwap);
  const free = found.get(modeMatrixClaims.freeMemory.id)!;
  expect(free.holds).toBe((no.evidence.largestBytes as number) <= Math.max(m.memFree, m.memAvailable));
  if (!modernHeuristic) return;
  // RAM + swap is more than what is free (this process alone uses some): the heuristic is not "free memory".
  expect(no.evidence.largestBytes as number).toBeGreaterThan(
    Math.max(free.evidence.memFreeBytes as number, free.evidence.memAvailableBytes as number),
  );
  expect(free.holds).toBe(false);
  if (isRoot) {
    // Mode 0 applies RAM + swap to everyone: root and nobody get the same threshold, up to the probes' noise.
    const root = found.get(modeMatrixClaims.rootMore.id)!;
    const e = root.evidence as { differenceBytes: number | null; noiseBytes: number; setuid: string };
    expect(e.setuid).toBe('ok');
    expect(e.differenceBytes).not.toBeNull();
    expect(Math.abs(e.differenceBytes!)).toBeLessThanOrEqual(e.noiseBytes + pageSize);
    expect(root.holds).toBe(false);
  }
}

describe('mode-matrix experiment', () => {
  it('runs in the mode in force, under the shared lock', async () => {
    await withSettingsLock('shared', async () => {
      const mode = currentMode();
      const found = await runIn(mode);
      if (mode === 0) checkMode0(found);
    });
  });

  it.skipIf(!modernHeuristic)(
    `mode 0: the largest mapping is exactly MemTotal + SwapTotal (kernel >= 5.2)${avail.available ? '' : why}`,
    async () => {
      const run = async (): Promise<void> => checkMode0(await runIn(0));
      if (avail.available) {
        const start = readOvercommitSettings();
        await withMode(0, run);
        expect(readOvercommitSettings()).toEqual(start);
      } else if (currentMode() === 0) {
        await withSettingsLock('shared', run);
      }
    },
  );

  it.skipIf(!avail.available)(`mode 1: no check, the free address space is the limit${why}`, async () => {
    const start = readOvercommitSettings();
    await withMode(1, async () => {
      const found = await runIn(1);
      const m = readMeminfo();
      for (const id of tableIds[1]) expect(found.get(id)!.evidence.largestBytes as number).toBeGreaterThan(m.memTotal + m.swapTotal);
      // 000's "99 Gio de mémoire virtuelle" for 1 of RAM: the verdict follows the ratio measured.
      const times = (found.get(modeMatrixClaims.mode1Virtual99.id)!.evidence.largestBytes as number) / (m.memTotal + m.swapTotal);
      expect(found.get(modeMatrixClaims.mode1Virtual99.id)!.holds).toBe(times >= 99);
      // The 47-bit address space (128 TiB) is far more than 99 x this machine's RAM + swap.
      expect(times).toBeGreaterThanOrEqual(99);
      expect(found.get(modeMatrixClaims.mode1Always.id)!.holds).toBe(true);
    });
    expect(readOvercommitSettings()).toEqual(start);
  });

  it.skipIf(!avail.available)(`mode 2: CommitLimit - Committed_AS - reserves, MAP_NORESERVE ignored, root vs nobody${why}`, async () => {
    const start = readOvercommitSettings();
    await withMode(2, async () => {
      const found = await runIn(2);
      const m = readMeminfo();
      for (const id of tableIds[2]) expect(found.get(id)!.evidence.largestBytes as number).toBeLessThan(m.commitLimit);
      // MAP_NORESERVE changes nothing: the largest mapping with and without it agree within the tolerance.
      const ignored = found.get(modeMatrixClaims.noreserveIgnored.id)!;
      const e = ignored.evidence as { largestBytes: number; largestWithoutBytes: number; toleranceBytes: number };
      expect(e.largestBytes).toBe(found.get(modeMatrixClaims.table2Yes.id)!.evidence.largestBytes);
      expect(e.largestWithoutBytes).toBe(found.get(modeMatrixClaims.table2No.id)!.evidence.largestBytes);
      const within = Math.abs(e.largestBytes - e.largestWithoutBytes) <= e.toleranceBytes;
      expect(within).toBe(true);
      expect(ignored.holds).toBe(within);
      if (isRoot) {
        const root = found.get(modeMatrixClaims.rootMore.id)!;
        expect(root.evidence.adminReserveBytes).toBe(readOvercommitSettings().adminReserveKbytes * 1024);
      }
      for (const f of found.values()) console.log(`[mode 2] ${f.claim}: ${f.holds} — ${f.observed}`);
    });
    expect(readOvercommitSettings()).toEqual(start);
  });
});
