import { beforeAll, describe, expect, it } from 'vitest';
import { judgeEvidence, rejudge } from '../../lib/experiments/judge.js';
import {
  modeMatrixClaims as C,
  type ModeMatrixEvidence,
  measureModeMatrix,
  mode0Predictions,
  modeMatrix,
} from '../../lib/experiments/mode-matrix/index.js';
import type { OvercommitMode, RunReport } from '../../lib/experiments/model.js';
import { mode0Tolerance, strictRule } from '../../lib/kernel/admission.js';
import { withSettingsLock } from '../../lib/safety/lock.js';
import { guardAvailability, withMode } from '../../lib/safety/settings-guard.js';
import { currentMode } from '../helpers.js';

const avail = guardAvailability();
const why = avail.available ? '' : ` (skipped: ${avail.reason})`;

// ---- constructed evidence: a 4 GiB guest on 5.1 and on 6.x ----

// ---- evidence captured on this project's 6.18 VM (24 GiB, no swap, root) ----

// ---- evidence captured in qemu guests (4 GiB, 2 cpus, no swap, root) on Linux 5.1.15 and Debian's 6.1 ----

// ---- the real kernel: the evidence is consistent with itself ----

function checkEvidence(e: ModeMatrixEvidence, mode: OvercommitMode): void {
  // JSON-plain: a saved run carries the same evidence, and its verdicts recompute without contradiction.
  const saved = JSON.parse(JSON.stringify(e)) as ModeMatrixEvidence;
  expect(saved).toEqual(e);
  const findings = judgeEvidence(modeMatrix, e, mode);
  const report = {
    runs: [{ experiment: 'mode-matrix', mode, status: 'ran', durationMs: 0, findings, evidence: saved }],
  } as unknown as RunReport;
  expect(rejudge(JSON.parse(JSON.stringify(report)) as RunReport, [modeMatrix])).toEqual([]);
  expect(findings.map((f) => f.claim)).toEqual(modeMatrix.claims.filter((c) => c.modes?.includes(mode)).map((c) => c.id));

  expect(e.mode).toBe(mode);
  for (const c of [e.no, e.yes]) {
    expect(c.mode).toBe(mode);
    expect(c.probes).toBeGreaterThan(0);
    expect(c.largestBytes % e.pageSize).toBe(0);
    expect(c.largestBytes).toBeLessThanOrEqual(c.searchHiBytes);
    // A largest below the search's upper bound means the search saw the next size refused.
    if (c.largestBytes < c.searchHiBytes) expect(c.refusedCode).not.toBeNull();
  }
  expect([e.no.noreserve, e.yes.noreserve]).toEqual([false, true]);

  if (mode === 0) {
    const z = e.mode0!;
    // The predictions recompute from the recorded inputs.
    const p = mode0Predictions(z.readings, e.pageSize);
    expect(z.freeEstimate).toEqual(p.freeEstimate);
    expect(z.ramSwap).toEqual(p.ramSwap);
    expect(z.readings).toHaveLength(6);
    // The scenarios are built on what the probe found, twice the tolerance away from it.
    const margin = Math.ceil((2 * mode0Tolerance(z, e.pageSize)) / e.pageSize) * e.pageSize;
    expect(z.q3.sizeBytes).toBe(e.no.largestBytes + margin);
    expect(z.pair.sizeBytes).toBe(Math.max(e.pageSize, e.no.largestBytes - margin));
    expect(z.obvious.sizeBytes).toBe(z.ramSwap.medianBytes + e.pageSize);
    // A refusal cited is the probe's own errno (the search records what the refusals said).
    if (z.q3.withoutNoreserve !== 'accepted') expect(z.q3.withoutNoreserve).toBe(e.no.refusedCode);
    if (!z.obvious.accepted) expect(z.obvious.code).toBe('ENOMEM');
    if (z.pair.firstAccepted && !z.pair.secondAccepted) expect(z.pair.secondCode).toBe('ENOMEM');
  } else {
    expect(e.mode0).toBeNull();
  }
  if (mode === 2) {
    for (const c of [e.no, e.yes]) {
      const i = c.inputs as unknown as Parameters<typeof strictRule>[0];
      expect(strictRule(i, e.pageSize).largestBytes).toBe(c.predictedBytes);
    }
  }
  if (e.root !== null) {
    expect(e.rootSkipped).toBeNull();
    expect(e.root.trials.length).toBeGreaterThanOrEqual(2);
    for (const t of e.root.trials) {
      if (t.problem !== null) continue;
      expect(t.setuid).toBe('ok');
      for (const x of [t.rootBytes!, t.userBytes!]) {
        expect(x).toBeGreaterThanOrEqual(e.pageSize);
        expect(x).toBeLessThan(e.root.searchHiBytes);
      }
    }
    const f = findings.find((x) => x.claim === C.rootMore.id)!;
    if (f.holds !== null) expect(f.evidence.adminReserveBytes).toBe(e.root.adminReserveBytes);
  } else {
    expect(typeof e.rootSkipped).toBe('string');
  }
}

describe('mode-matrix on this kernel', () => {
  let here: { mode: OvercommitMode; e: ModeMatrixEvidence };
  beforeAll(async () => {
    here = await withSettingsLock('shared', async () => {
      const mode = currentMode();
      return { mode, e: await measureModeMatrix(mode) };
    });
  }, 300_000);

  it('measures in the mode in force, with evidence consistent with itself', () => {
    checkEvidence(here.e, here.mode);
  });

  for (const mode of [0, 1, 2] as const) {
    it.skipIf(!avail.available)(
      `measures in mode ${mode} through the settings guard${why}`,
      async () => {
        const e = await withMode(mode, () => measureModeMatrix(mode));
        checkEvidence(e, mode);
      },
      300_000,
    );
  }
});
