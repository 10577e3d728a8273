import { beforeAll, describe, expect, it } from 'vitest';
import type { Finding, OvercommitMode } from '../lib/experiments/model.js';
import {
  runSparseDemo,
  type SparseDemoResult,
  type SparseVariantEvidence,
  sparseArrayClaims,
  sparseFindings,
} from '../lib/experiments/sparse-array.js';
import { withSettingsLock } from '../lib/safety/lock.js';
import { memoryCgroupAvailability } from '../lib/safety/memory-cgroup.js';
import { GiB } from '../lib/units.js';
import { currentMode } from './helpers.js';

const PAGES = GiB / 4096;

// The experiment touches 1 GiB only inside a memory cgroup it makes (root and a controller).
const cgroups = memoryCgroupAvailability();

describe.skipIf(!cgroups.available)(`sparse-array experiment${cgroups.available ? '' : ` (skipped: ${cgroups.reason})`}`, () => {
  let mode: OvercommitMode;
  let demo: SparseDemoResult;
  let findings: Finding[];
  const messages: string[] = [];

  beforeAll(async () => {
    await withSettingsLock('shared', async () => {
      mode = currentMode();
      demo = await runSparseDemo({ progress: (m) => messages.push(m) });
      findings = sparseFindings(demo, mode);
    });
  });

  it("prints the program's three lines with the values read back", () => {
    expect(demo.programOutput).toHaveLength(3);
    expect(demo.programOutput[0]).toMatch(/^Mapped 1GB sparse array at 0x[0-9a-f]+ \(no swap reserved\)$/);
    expect(demo.programOutput[1]).toBe(`Touched ${PAGES} pages (only those pages use swap)`);
    expect(demo.programOutput[2]).toBe('arr[0]=0, arr[1024]=1024');
    expect(messages.length).toBeGreaterThan(0);
  });

  it("the program's pattern makes every page resident; one page in 64 makes 1/64", () => {
    const [program, sparse] = demo.variants;
    expect(program!.mmapCode).toBeNull();
    expect(program!.residentPagesBeforeTouch).toBe(0);
    expect(program!.touchedPages).toBe(PAGES);
    expect(program!.residentPages).toBe(PAGES);
    expect(program!.rssDeltaBytes).toBeGreaterThan(PAGES * 4096 * 0.9);
    expect(sparse!.residentPagesBeforeTouch).toBe(0);
    expect(sparse!.touchedPages).toBe(PAGES / 64);
    expect(sparse!.residentPages).toBe(PAGES / 64);
  });

  it('the VmFlags follow the mode, and the verdicts follow the VmFlags', () => {
    const [program] = demo.variants;
    const byId = new Map(findings.map((f) => [f.claim, f]));
    const ev = findings[0]!.evidence;
    expect(findings.map((f) => f.claim)).toEqual(Object.values(sparseArrayClaims).map((c) => c.id));
    expect(program!.vmFlags.includes('nr')).toBe(mode !== 2);
    expect(program!.vmFlags.includes('ac')).toBe(mode === 2);
    expect(byId.get('noreserve-no-swap-reservation')!.holds).toBe(mode !== 2);
    expect(byId.get('noreserve-ignored-in-mode-2')!.holds).toBe(mode === 2 ? true : null);
    expect(byId.get('memory-taken-on-first-touch')!.holds).toBe(true);
    expect(byId.get('only-touched-pages-use-memory')!.holds).toBe(true);
    expect(byId.get('program-is-sparse')!.holds).toBe(false);
    // Touching 1 GiB reserved nothing more: Committed_AS stayed within its tolerance of 0.
    const access = byId.get('swap-reserved-on-access')!;
    const tol = access.evidence.committedTouchJudgedToleranceBytes as number;
    expect(tol).toBeLessThan((PAGES * 4096) / 2);
    expect(Math.abs(program!.committedTouchDeltaBytes)).toBeLessThanOrEqual(tol);
    expect(access.holds).toBe(false);
    expect(demo.thpEnabled === null || ['always', 'madvise', 'never'].includes(demo.thpEnabled)).toBe(true);
    expect(ev.thpEnabled).toBe(demo.thpEnabled);
    for (const key of ['mappedBytes', 'touchedPages', 'residentPages', 'rssDeltaBytes', 'committedDeltaBytes', 'vmFlags', 'touchMs']) {
      expect(ev).toHaveProperty(key);
    }
  });

  it('names the variant whose mmap failed, and says when THP may explain extra resident pages', () => {
    const [program, sparse] = demo.variants as [SparseVariantEvidence, SparseVariantEvidence];
    const failed = sparseFindings({ ...demo, variants: [program, { ...sparse, mmapCode: 'ENOMEM' }] }, mode);
    expect(failed.slice(1).every((f) => f.holds === null)).toBe(true);
    expect(failed[1]!.observed).toContain("the one-page-in-64 variant's 1 GiB mmap failed with ENOMEM");
    expect(failed[1]!.observed).not.toContain('null');
    // One fault per 2 MiB: all pages resident for 1/64 touched.
    const huge = sparseFindings(
      { ...demo, thpEnabled: 'always', variants: [program, { ...sparse, residentPages: sparse.mappedPages }] },
      mode,
    );
    const onlyTouched = huge.find((f) => f.claim === 'only-touched-pages-use-memory')!;
    expect(onlyTouched.holds).toBe(false);
    expect(onlyTouched.observed).toMatch(/may map a 2 MiB page/);
    // ...which is still lazy allocation: nothing before the touch, at least the touched pages after.
    const firstTouch = huge.find((f) => f.claim === 'memory-taken-on-first-touch')!;
    expect(firstTouch.holds).toBe(true);
    expect(firstTouch.observed).toContain('none before the touch, at least the touched pages after it');
  });

  it('says memory was not taken on first touch when pages were resident before it, or fewer than touched after', () => {
    const [program, sparse] = demo.variants as [SparseVariantEvidence, SparseVariantEvidence];
    const firstTouch = (variants: SparseVariantEvidence[]): Finding =>
      sparseFindings({ ...demo, variants }, mode).find((f) => f.claim === 'memory-taken-on-first-touch')!;
    const early = firstTouch([program, { ...sparse, residentPagesBeforeTouch: 1 }]);
    expect(early.holds).toBe(false);
    expect(early.observed).toContain('pages were resident before any touch');
    const short = firstTouch([{ ...program, residentPages: program.touchedPages - 1 }, sparse]);
    expect(short.holds).toBe(false);
    expect(short.observed).toContain('fewer pages resident than were touched');
  });
});
