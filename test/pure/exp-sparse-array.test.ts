import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { judgeEvidence } from '../../lib/experiments/judge.js';
import type { Finding, OvercommitMode } from '../../lib/experiments/model.js';
import type { SparseArrayEvidence, SparseProgramRun } from '../../lib/experiments/sparse-array/evidence.js';
import { sparseArrayClaims, sparseArrayRules } from '../../lib/experiments/sparse-array/rules.js';
import { GiB, MiB } from '../../lib/units.js';
import { changeFromDeltas } from '../../lib/verdict/tolerance.js';

/** Evidence measured on this host (6.18, mode 0, no swap, THP madvise) while other processes churned Committed_AS. */
const captured = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', 'fixtures/evidence/6.18/sparse-array.json'), 'utf8'),
) as SparseArrayEvidence;

/** The same run on a quiet machine: the noise of Committed_AS a few MiB. */
const quiet = (e: SparseArrayEvidence, touchDelta = 0): SparseArrayEvidence => ({
  ...e,
  touch: { ...e.touch!, committedTouch: changeFromDeltas([touchDelta], [1 * MiB, -1 * MiB, 0]) },
});

/** Mode 2 as the kernel shows it: MAP_NORESERVE ignored, the mapping charged in full at mmap. */
function inMode2(e: SparseArrayEvidence, chargedBytes = GiB): SparseArrayEvidence {
  const flags = ['rd', 'wr', 'mr', 'mw', 'me', 'ac'];
  const mapping: SparseProgramRun = {
    ...e.mapping,
    mapped: { ...e.mapping.mapped!, vmFlags: flags },
    committedMmap: changeFromDeltas([chargedBytes], [0, MiB, -MiB]),
  };
  return { ...e, mode: 2, mapping };
}

const judge = (e: SparseArrayEvidence, mode: OvercommitMode = e.mode): Map<string, Finding> =>
  new Map(judgeEvidence(sparseArrayRules, e, mode).map((f) => [f.claim, f]));

const TOUCH_CLAIMS = ['memory-taken-on-first-touch', 'swap-reserved-on-access', 'only-touched-pages-use-memory', 'program-is-sparse'];

describe('sparse-array rules', () => {
  it('judges the captured run: mmap without swap, no reservation, lazy, only touched pages, not sparse; the noisy counter undecided', () => {
    const f = judge(captured);
    expect([...f.keys()]).toEqual(
      Object.values(sparseArrayClaims)
        .filter((c) => !('modes' in c))
        .map((c) => c.id),
    );
    expect(f.get('sparse-mmap-succeeds-without-swap')!.holds).toBe(true);
    expect(f.get('noreserve-no-swap-reservation')!.holds).toBe(true);
    expect(f.get('memory-taken-on-first-touch')!.holds).toBe(true);
    expect(f.get('only-touched-pages-use-memory')!.holds).toBe(true);
    expect(f.get('program-is-sparse')!.holds).toBe(false);
    // Committed_AS moved by up to 259 MiB by itself in that run: no verdict on a 128 MiB touch.
    const access = f.get('swap-reserved-on-access')!;
    expect(access.holds).toBeNull();
    expect(access.reason).toMatch(/too much to tell reserved on access/);
  });

  it('says Committed_AS did not grow with the touch, or that it did, when the noise allows', () => {
    expect(judge(quiet(captured, 0)).get('swap-reserved-on-access')!.holds).toBe(false);
    expect(judge(quiet(captured, 0)).get('swap-reserved-on-access')!.observed).toContain("is not 'ac': it is never charged");
    expect(judge(quiet(captured, 128 * MiB)).get('swap-reserved-on-access')!.holds).toBe(true);
    // Neither 0 nor the touched bytes: undecided, with the numbers.
    const between = judge(quiet(captured, 64 * MiB)).get('swap-reserved-on-access')!;
    expect(between.holds).toBeNull();
    expect(between.reason).toMatch(/64\.0 MiB/);
  });

  it('two runs of the touch: one load mapping during one of them leaves it undecided, never a reservation', () => {
    const twice = (a: number, b: number): SparseArrayEvidence => {
      const e = quiet(captured, a);
      return { ...e, touchAgain: { ...e.touch!, committedTouch: changeFromDeltas([b], [0, MiB, -MiB]) } };
    };
    const touched = captured.touch!.bytes;
    const reserved = (a: number, b: number) => judge(twice(a, b)).get('swap-reserved-on-access')!;
    expect(reserved(0, 0).holds).toBe(false);
    expect(reserved(touched, touched).holds).toBe(true);
    // A mapping the size of the touch made by another process during one touch only.
    expect(reserved(0, touched).holds).toBeNull();
    expect(reserved(touched, 0).holds).toBeNull();
    expect(reserved(0, 0).observed).toMatch(/in its 2 runs Committed_AS moved by 0\.0 MiB and 0\.0 MiB/);
    // A second run that was not measured: no verdict on the one left.
    const lost = { ...twice(0, 0), touchAgain: { ...captured.touch!, committedTouch: null } };
    expect(judge(lost).get('swap-reserved-on-access')!.holds).toBeNull();
    expect(judge(lost).get('swap-reserved-on-access')!.reason).toMatch(/both touches/);
  });

  it('in mode 2: MAP_NORESERVE ignored holds, no reservation fails, from the flags and the charge together', () => {
    const f = judge(inMode2(captured));
    expect(f.get('noreserve-ignored-in-mode-2')!.holds).toBe(true);
    expect(f.get('noreserve-no-swap-reservation')!.holds).toBe(false);
    expect(f.get('noreserve-no-swap-reservation')!.observed).toContain("'(no swap reserved)' is false here");
    // The flags say charged but the counter decisively did not move: undecided, not a verdict either way.
    const odd = judge(inMode2(captured, 0));
    expect(odd.get('noreserve-ignored-in-mode-2')!.holds).toBeNull();
    expect(odd.get('noreserve-ignored-in-mode-2')!.reason).toMatch(/VmFlags say charged .* but Committed_AS changed by/);
  });

  it('says when swap is free enough that the mmap tests nothing, and when the mmap failed', () => {
    expect(judge({ ...captured, swapFreeBytes: 2 * GiB }).get('sparse-mmap-succeeds-without-swap')!.holds).toBeNull();
    const failed: SparseArrayEvidence = {
      ...captured,
      mapping: {
        ...captured.mapping,
        lines: [],
        address: null,
        mapped: null,
        committedMmap: null,
        exitCode: 1,
        signal: null,
        stderr: 'mmap: Cannot allocate memory\n',
      },
    };
    const f = judge(failed);
    expect(f.get('sparse-mmap-succeeds-without-swap')!.holds).toBe(false);
    expect(f.get('sparse-mmap-succeeds-without-swap')!.observed).toContain('mmap: Cannot allocate memory');
    expect(f.get('noreserve-no-swap-reservation')!.holds).toBeNull();
    expect(f.get('noreserve-no-swap-reservation')!.reason).toBe("the program's 1 GiB mmap failed: mmap: Cannot allocate memory");
  });

  it('leaves the touch claims undecided with the reason when touching was not safe, and judges the mmap anyway', () => {
    const reason = 'touching 128.0 MiB needs a memory cgroup (x) or MemAvailable of 4 x that; MemAvailable is 100.0 MiB';
    const f = judge({ ...captured, touch: null, touchSkipped: reason });
    for (const id of TOUCH_CLAIMS) {
      expect(f.get(id)!.holds, id).toBeNull();
      expect(f.get(id)!.reason, id).toBe(`the touch was not run: ${reason}`);
    }
    expect(f.get('noreserve-no-swap-reservation')!.holds).toBe(true);
  });

  it('with THP always, more resident than written is no refutation of laziness, but is of "only touched pages"', () => {
    const huge: SparseArrayEvidence = {
      ...captured,
      thpEnabled: 'always',
      variant: { ...captured.variant!, residentPages: captured.variant!.mappedPages },
    };
    const f = judge(huge);
    expect(f.get('memory-taken-on-first-touch')!.holds).toBe(true);
    expect(f.get('only-touched-pages-use-memory')!.holds).toBe(false);
    expect(f.get('only-touched-pages-use-memory')!.observed).toMatch(/may map a 2 MiB page/);
  });

  it('says memory was taken before the touch when pages were resident after mmap', () => {
    const t = captured.touch!;
    const early: SparseArrayEvidence = { ...captured, touch: { ...t, mapped: { ...t.mapped!, residentPages: 5 } } };
    const f = judge(early).get('memory-taken-on-first-touch')!;
    expect(f.holds).toBe(false);
    expect(f.observed).toContain('pages were resident before any write');
  });

  it('calls the program sparse only when most of its array stayed untouched, and says "every page" only when measured', () => {
    const t = captured.touch!;
    const few: SparseArrayEvidence = { ...captured, touch: { ...t, touched: { ...t.touched!, residentPages: t.pages / 64 } } };
    const f = judge(few);
    expect(f.get('program-is-sparse')!.holds).toBe(true);
    expect(f.get('only-touched-pages-use-memory')!.holds).toBe(false);
    expect(f.get('only-touched-pages-use-memory')!.observed).not.toContain('every page of the mapping');
    expect(judge(captured).get('only-touched-pages-use-memory')!.observed).toContain('every page of the mapping');
  });

  it('a problem makes every claim undecided; findings keep the keys reports read', () => {
    const f = judge({ ...captured, problem: "004's sparse program (ocl-sparse) is neither built nor prebuilt" });
    expect([...f.values()].every((x) => x.holds === null)).toBe(true);
    const ev = judge(captured).get('only-touched-pages-use-memory')!.evidence;
    for (const key of [
      'mode',
      'mappedBytes',
      'touchedPages',
      'residentPages',
      'rssDeltaBytes',
      'committedDeltaBytes',
      'vmFlags',
      'touchMs',
      'programOutput',
      'sparseVariant',
      'thpEnabled',
    ]) {
      expect(ev, key).toHaveProperty(key);
    }
    expect(ev.touchedPages).toBe(captured.touch!.printedTouchedPages);
    expect((ev.sparseVariant as { residentPages: number }).residentPages).toBe(captured.variant!.residentPages);
  });
});
