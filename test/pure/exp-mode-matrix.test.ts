import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { judgeEvidence } from '../../lib/experiments/judge.js';
import type { MatrixCell, Mode0Reading, ModeMatrixEvidence, RootTrial } from '../../lib/experiments/mode-matrix/evidence.js';
import { modeMatrixClaims as C, mode0Predictions, modeMatrixRules } from '../../lib/experiments/mode-matrix/rules.js';
import type { Finding, OvercommitMode } from '../../lib/experiments/model.js';
import { type FreeEstimateInputs, freeMemoryRule, ramSwapRule } from '../../lib/kernel/admission.js';
import { GiB, KiB, MiB } from '../../lib/units.js';

const PAGE = 4096;

function judge(e: ModeMatrixEvidence): Map<string, Finding> {
  return new Map(judgeEvidence(modeMatrixRules, e, e.mode).map((f) => [f.claim, f]));
}

// ---- constructed evidence: a 4 GiB guest on 5.1 and on 6.x ----

const MEM_TOTAL = 4_030_000 * KiB;
const ADMIN_RESERVE = 8 * MiB;

function freeInputs(memFreeKb: number): FreeEstimateInputs {
  return {
    memFreeBytes: memFreeKb * KiB,
    cachedBytes: 150_000 * KiB,
    buffersBytes: 10_000 * KiB,
    swapCachedBytes: 0,
    shmemBytes: 8_000 * KiB,
    swapFreeBytes: 0,
    reclaimableBytes: 20_000 * KiB,
    reclaimableField: 'KReclaimable',
    totalReservePages: 10_000,
    adminReserveKbytes: ADMIN_RESERVE / KiB,
    capSysAdmin: true,
  };
}

/** Six readings around the probe, MemFree moving by `jitterKb` between them. */
function readings(memFreeKb: number, jitterKb: number): Mode0Reading[] {
  return [0, 1, -1, 0, 1, -1].map((k) => ({ free: freeInputs(memFreeKb + k * jitterKb), memTotalBytes: MEM_TOTAL, swapTotalBytes: 0 }));
}

function cell(mode: OvercommitMode, noreserve: boolean, largestBytes: number, predictedBytes: number, toleranceBytes = 0): MatrixCell {
  return {
    mode,
    noreserve,
    largestBytes,
    predictedBytes,
    toleranceBytes,
    probes: 20,
    refusedCode: 'ENOMEM',
    searchLoBytes: PAGE,
    searchHiBytes: 2 ** 47,
    prediction: 'constructed',
    inputs: {},
  };
}

const trial = (rootBytes: number, userBytes: number): RootTrial => ({ rootBytes, userBytes, setuid: 'ok', problem: null });

/**
 * Mode-0 evidence from a kernel whose largest mapping is `largest` (given the readings), that
 * refused or accepted RAM + swap + 1 page, with root/nobody trials.
 */
function mode0Evidence(rs: Mode0Reading[], largest: number, trials: RootTrial[], obviousAccepted = false): ModeMatrixEvidence {
  const p = mode0Predictions(rs, PAGE);
  const ramSwap = p.ramSwap.medianBytes;
  const tol = Math.max(p.freeEstimate.spreadBytes, p.ramSwap.spreadBytes) + MiB + PAGE;
  return {
    mode: 0,
    pageSize: PAGE,
    capSysAdmin: true,
    memTotalBytes: MEM_TOTAL,
    swapTotalBytes: 0,
    addressGapBytes: 120 * 1024 * GiB,
    no: cell(0, false, largest, ramSwap),
    yes: cell(0, true, 120 * 1024 * GiB, 120 * 1024 * GiB, 64 * MiB),
    mode0: {
      readings: rs,
      ...p,
      obvious: { sizeBytes: ramSwap + PAGE, accepted: obviousAccepted, code: obviousAccepted ? null : 'ENOMEM' },
      pair: { sizeBytes: largest - 2 * tol, firstAccepted: true, firstCode: null, secondAccepted: true, secondCode: null },
      q3: { sizeBytes: largest + 2 * tol, withoutNoreserve: 'ENOMEM', withNoreserve: 'accepted' },
    },
    root: { mode: 0, searchHiBytes: 2 * ramSwap + PAGE, trials, adminReserveBytes: ADMIN_RESERVE },
    rootSkipped: null,
  };
}

/** 5.1: the largest mapping is the free-memory estimate; nobody gets the admin reserve less. */
function linux51(): ModeMatrixEvidence {
  const rs = readings(3_500_000, 100);
  const free = freeMemoryRule(rs[0]!.free, PAGE).largestBytes;
  return mode0Evidence(rs, free, [
    trial(free, free - ADMIN_RESERVE),
    trial(free + 4 * PAGE, free + 4 * PAGE - ADMIN_RESERVE),
    trial(free, free - ADMIN_RESERVE),
  ]);
}

/** 6.x: RAM + swap accepted (one page more refused), whatever is free; root and nobody alike. */
function linux6(): ModeMatrixEvidence {
  const rs = readings(3_500_000, 100);
  const ramSwap = ramSwapRule(MEM_TOTAL, 0, PAGE).largestBytes;
  return mode0Evidence(rs, ramSwap, [trial(ramSwap, ramSwap), trial(ramSwap, ramSwap), trial(ramSwap, ramSwap)]);
}

describe('mode-matrix rules on a 5.1-like kernel (free-memory estimate)', () => {
  const f = judge(linux51());

  it('finds the free-memory rule in force and 003 holding', () => {
    expect(f.get(C.ruleInForce.id)!.holds).toBe(true);
    expect(f.get(C.ruleInForce.id)!.observed).toContain('follows the free-memory estimate (before 5.2)');
    expect(f.get(C.ruleInForce.id)!.evidence.rule).toBe('the free-memory estimate (before 5.2)');
    expect(f.get(C.freeMemory.id)!.holds).toBe(true);
    expect(f.get(C.freeMemory.id)!.observed).toContain('as 003 says');
  });

  it('judges obvious overcommits by the document, not by the 6.x threshold', () => {
    // RAM + swap refused (the 5.1 kernel refuses even that): obvious overcommits are refused.
    expect(f.get(C.obvious.id)!.holds).toBe(true);
    expect(f.get(C.table0No.id)!.holds).toBe(true);
    expect(f.get(C.table0No.id)!.evidence.predictedBytes).toBe(f.get(C.freeMemory.id)!.evidence.freeEstimateBytes);
    expect(f.get(C.q3.id)!.holds).toBe(true);
  });

  it('finds root getting the admin reserve more', () => {
    const r = f.get(C.rootMore.id)!;
    expect(r.holds).toBe(true);
    expect(r.evidence.differenceBytes).toBe(ADMIN_RESERVE);
    expect(r.observed).toContain('Root gets slightly more');
  });
});

describe('mode-matrix rules on a 6.x-like kernel (RAM + swap)', () => {
  const f = judge(linux6());

  it('finds RAM + swap in force and 003 not holding', () => {
    expect(f.get(C.ruleInForce.id)!.holds).toBe(true);
    expect(f.get(C.ruleInForce.id)!.observed).toContain('follows RAM + swap (since 5.2)');
    expect(f.get(C.freeMemory.id)!.holds).toBe(false);
    expect(f.get(C.freeMemory.id)!.observed).toContain('does not limit a mapping to free memory');
  });

  it('holds 001 and 004 on obvious overcommits there too', () => {
    expect(f.get(C.obvious.id)!.holds).toBe(true);
    expect(f.get(C.table0No.id)!.holds).toBe(true);
    expect(f.get(C.table0No.id)!.evidence.predictedBytes).toBe(ramSwapRule(MEM_TOTAL, 0, PAGE).largestBytes);
  });

  it('finds root getting nothing more', () => {
    expect(f.get(C.rootMore.id)!.holds).toBe(false);
    expect(f.get(C.rootMore.id)!.observed).toContain('Root gets nothing more in mode 0');
  });
});

describe('mode-matrix rules that cannot or must not decide', () => {
  it('a kernel accepting more than RAM + swap in mode 0 refutes the obvious-overcommit claims', () => {
    const e = linux6();
    const f = judge(mode0Evidence(e.mode0!.readings, 2 * e.no.largestBytes, e.root!.trials, true));
    expect(f.get(C.obvious.id)!.holds).toBe(false);
    expect(f.get(C.table0No.id)!.holds).toBe(false);
  });

  it('is undecided on the rule when the noise is wider than half the gap between the two predictions', () => {
    // MemFree so close to MemTotal that the estimate is within ~20 MiB of RAM + swap, moving by 16 MiB.
    const ramSwap = ramSwapRule(MEM_TOTAL, 0, PAGE).largestBytes;
    const rs = readings(3_900_000, 8_000);
    const f = judge(mode0Evidence(rs, ramSwap, linux6().root!.trials));
    for (const id of [C.freeMemory.id, C.ruleInForce.id]) {
      expect(f.get(id)!.holds, id).toBeNull();
      expect(f.get(id)!.reason, id).toMatch(/too much to tell the free-memory estimate/);
    }
  });

  it('says neither known rule is in force when the limit is far from both (and leaves 003 undecided)', () => {
    const rs = readings(3_500_000, 100);
    const p = mode0Predictions(rs, PAGE);
    const between = Math.round((p.freeEstimate.medianBytes + p.ramSwap.medianBytes) / 2 / PAGE) * PAGE;
    const f = judge(mode0Evidence(rs, between, linux6().root!.trials));
    expect(f.get(C.ruleInForce.id)!.holds).toBe(false);
    expect(f.get(C.ruleInForce.id)!.observed).toContain('neither known rule');
    expect(f.get(C.freeMemory.id)!.holds).toBeNull();
    expect(f.get(C.freeMemory.id)!.reason).toMatch(/which is none of/);
  });

  it('root vs nobody: noisy differences leave it undecided', () => {
    const e = linux51();
    const free = e.no.largestBytes;
    e.root!.trials = [trial(free, free - ADMIN_RESERVE), trial(free, free), trial(free, free - ADMIN_RESERVE / 2)];
    const r = judge(e).get(C.rootMore.id)!;
    expect(r.holds).toBeNull();
    expect(r.reason).toMatch(/disagreed by up to/);
  });

  it('root vs nobody: a failed probe is a measurement problem, never 0 B', () => {
    const e = linux51();
    e.root!.trials[1] = {
      rootBytes: 0,
      userBytes: 0,
      setuid: 'ok',
      problem: 'a probe found no threshold inside [4096, 8254283777] B (root 0, nobody 0)',
    };
    const r = judge(e).get(C.rootMore.id)!;
    expect(r.holds).toBeNull();
    expect(r.reason).toMatch(/^a measurement problem: a probe found no threshold/);
  });

  it('root vs nobody: not root, not measured', () => {
    const e = { ...linux6(), root: null, rootSkipped: 'needs root (CAP_SYS_ADMIN): there is no root to compare with an unprivileged user' };
    expect(judge(e).get(C.rootMore.id)!.reason).toMatch(/^needs root/);
  });

  it('a mode-0 search that found no threshold leaves the mode-0 claims undecided', () => {
    const e = linux6();
    e.no = { ...e.no, largestBytes: 0 };
    const f = judge(e);
    for (const id of [C.table0No.id, C.obvious.id, C.freeMemory.id, C.ruleInForce.id, C.q3.id]) {
      expect(f.get(id)!.holds, id).toBeNull();
      expect(f.get(id)!.reason, id).toMatch(/found no threshold/);
    }
  });
});

// ---- evidence captured on this project's 6.18 VM (24 GiB, no swap, root) ----

const captured = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures/evidence/6.18/mode-matrix.json'), 'utf8')) as Record<
  string,
  ModeMatrixEvidence
>;

describe('mode-matrix rules on evidence captured from 6.18', () => {
  it('mode 0: RAM + swap in force, 3.16 GiB above the free-memory estimate; root gets nothing more', () => {
    const f = judge(captured[0]!);
    expect(f.get(C.ruleInForce.id)!.evidence.rule).toBe('RAM + swap (since 5.2)');
    expect(f.get(C.freeMemory.id)!.holds).toBe(false);
    expect(f.get(C.obvious.id)!.holds).toBe(true);
    expect(f.get(C.table0No.id)!.holds).toBe(true);
    expect(f.get(C.table0Yes.id)!.holds).toBe(true);
    expect(f.get(C.q3.id)!.holds).toBe(true);
    expect(f.get(C.rootMore.id)!.holds).toBe(false);
  });

  it('mode 1: the address space is the limit', () => {
    const f = judge(captured[1]!);
    expect([...f.keys()]).toEqual([C.table1No.id, C.table1Yes.id, C.mode1Always.id, C.mode1Virtual99.id]);
    for (const x of f.values()) expect(x.holds, x.claim).toBe(true);
  });

  it('mode 2: the strict limit, MAP_NORESERVE ignored, root gets the admin reserve more', () => {
    const f = judge(captured[2]!);
    expect(f.get(C.table2No.id)!.holds).toBe(true);
    expect(f.get(C.table2Yes.id)!.holds).toBe(true);
    expect(f.get(C.noreserveIgnored.id)!.holds).toBe(true);
    expect(f.get(C.rootMore.id)!.holds).toBe(true);
    expect(f.get(C.rootMore.id)!.evidence.differenceBytes).toBe(captured[2]!.root!.adminReserveBytes);
  });

  it('mode 2 refuted only by a limit another mode would give; off the prediction by more than the noise: undecided', () => {
    const e = structuredClone(captured[2]!);
    e.no.largestBytes = e.memTotalBytes + e.swapTotalBytes;
    e.yes.largestBytes = e.addressGapBytes;
    expect(judge(e).get(C.table2No.id)!.holds).toBe(false);
    expect(judge(e).get(C.table2Yes.id)!.holds).toBe(false);
    expect(judge(e).get(C.noreserveIgnored.id)!.holds).toBe(false);
    const moved = structuredClone(captured[2]!);
    // Another process mapped 256 MiB between the Committed_AS reading and the probe.
    moved.no.largestBytes -= 256 * MiB;
    const f = judge(moved);
    expect(f.get(C.table2No.id)!.holds).toBeNull();
    expect(f.get(C.table2No.id)!.reason).toMatch(/which is none of/);
    expect(f.get(C.noreserveIgnored.id)!.holds).toBeNull();
  });

  it('mode 0: a limit that moved between the probe and a retry leaves Q3 and the table undecided, not refuted', () => {
    const e = structuredClone(captured[0]!);
    e.mode0!.q3.withoutNoreserve = 'accepted';
    e.mode0!.pair.firstAccepted = false;
    e.mode0!.pair.firstCode = 'ENOMEM';
    const f = judge(e);
    expect(f.get(C.q3.id)!.holds).toBeNull();
    expect(f.get(C.q3.id)!.reason).toMatch(/the limit moved/);
    expect(f.get(C.table0No.id)!.holds).toBeNull();
  });
});

// ---- evidence captured in qemu guests (4 GiB, 2 cpus, no swap, root) on Linux 5.1.15 and Debian's 6.1 ----

const guest = (kernel: string) =>
  JSON.parse(readFileSync(join(import.meta.dirname, '..', `fixtures/evidence/${kernel}/mode-matrix.json`), 'utf8')) as Record<
    string,
    ModeMatrixEvidence
  >;

describe('mode-matrix rules on evidence captured from 5.1 and 6.1 guests', () => {
  const [v51, v61] = [guest('5.1'), guest('6.1')];

  it('5.1: the free-memory estimate is the limit (003 holds), obvious overcommits refused, root gets the admin reserve more', () => {
    const f = judge(v51[0]!);
    expect(f.get(C.ruleInForce.id)!.evidence.rule).toBe('the free-memory estimate (before 5.2)');
    for (const id of [C.freeMemory.id, C.obvious.id, C.table0No.id, C.table0Yes.id, C.q3.id, C.rootMore.id])
      expect(f.get(id)!.holds, id).toBe(true);
  });

  it('6.1: RAM + swap is the limit (003 does not hold), obvious overcommits refused, root gets nothing more in mode 0', () => {
    const f = judge(v61[0]!);
    expect(f.get(C.ruleInForce.id)!.evidence.rule).toBe('RAM + swap (since 5.2)');
    expect(f.get(C.freeMemory.id)!.holds).toBe(false);
    for (const id of [C.obvious.id, C.table0No.id, C.table0Yes.id, C.q3.id]) expect(f.get(id)!.holds, id).toBe(true);
    expect(f.get(C.rootMore.id)!.holds).toBe(false);
  });

  it('both: modes 1 and 2 alike, root gets the admin reserve more in mode 2', () => {
    for (const v of [v51, v61]) {
      for (const mode of ['1', '2']) for (const x of judge(v[mode]!).values()) expect(x.holds, `${mode} ${x.claim}`).toBe(true);
    }
  });
});

// ---- the real kernel: the evidence is consistent with itself ----
