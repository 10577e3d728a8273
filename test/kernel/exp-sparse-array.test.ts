import { beforeAll, describe, expect, it } from 'vitest';
import { judgeEvidence } from '../../lib/experiments/judge.js';
import { measureSparseArray, type SparseArrayEvidence, sparseArray } from '../../lib/experiments/sparse-array/index.js';
import { withSettingsLock } from '../../lib/safety/lock.js';
import { GiB } from '../../lib/units.js';
import { currentMode } from '../helpers.js';

describe('sparse-array on this kernel', () => {
  let e: SparseArrayEvidence;
  beforeAll(async () => {
    e = await withSettingsLock('shared', () => measureSparseArray(currentMode()));
  });

  it("ran 004's program as a process: its lines, its 1 GiB mapping read in its own smaps, ended after the mmap", () => {
    expect(e.problem).toBeUndefined();
    const m = e.mapping;
    expect(m.endedAfterMmap).toBe(true);
    if (m.mapped === null) {
      // The kernel refused the mmap (mode 2 near its limit): the program said so.
      expect(m.stderr).toMatch(/^mmap: /);
      return;
    }
    expect(m.lines).toEqual([`Mapped 1GB sparse array at ${m.address} (no swap reserved)`]);
    expect(m.mapped.vmaSizeBytes).toBe(GiB);
    expect(m.mapped.residentPages).toBe(m.mapped.vmaRssBytes / e.pageSize);
    expect(m.signal).toBe('SIGKILL');
  });

  it('the touched program: resident pages = pages written, by its mincore and by its smaps alike', (ctx) => {
    if (e.touch === null) ctx.skip(`touch not run: ${e.touchSkipped}`);
    const t = e.touch!;
    expect(t.exitCode).toBe(0);
    expect(t.lines).toHaveLength(3);
    expect(t.printedTouchedPages).toBe(t.bytes / 4096);
    expect(t.readBack).toEqual({ first: 0, strideIndex: 1024, strideValue: 1024 });
    // Every page of the array holds a write: all resident (no swap pressure inside its cgroup or margin).
    expect(t.touched!.residentPages).toBe(t.pages);
    expect(t.touched!.vmaRssBytes).toBe(t.touched!.residentPages! * e.pageSize);
    expect(t.mapped!.residentPages).toBe(t.mapped!.vmaRssBytes / e.pageSize);
    // The program's RSS includes its mapping's.
    expect(t.touched!.rssBytes).toBeGreaterThanOrEqual(t.touched!.vmaRssBytes);
    expect(t.oomScoreAdj).toBe(1000);
    expect(t.confinement).toMatch(new RegExp(`^pid ${t.pid}, `));
    expect(t.committedTouch!.actionDeltasBytes).toEqual([t.touched!.committedAsBytes - t.mapped!.committedAsBytes]);
  });

  it("the touch's second run: another process, the same array, measured at its own points", (ctx) => {
    if (e.touch === null) ctx.skip(`touch not run: ${e.touchSkipped}`);
    const [t, again] = [e.touch!, e.touchAgain!];
    expect(again.pid).not.toBe(t.pid);
    expect(again.bytes).toBe(t.bytes);
    expect(again.exitCode).toBe(0);
    expect(again.touched!.residentPages).toBe(again.pages);
    expect(again.committedTouch!.actionDeltasBytes).toEqual([again.touched!.committedAsBytes - again.mapped!.committedAsBytes]);
    // The reservation rule reads both runs' deltas.
    const judged = judgeEvidence(sparseArray, e, e.mode).find((f) => f.claim === 'swap-reserved-on-access')!;
    expect(judged.observed).toMatch(/in its 2 runs Committed_AS moved by/);
  });

  it('the one-page-in-64 writes: at least the written pages resident, exactly them unless THP may map 2 MiB', () => {
    const v = e.variant!;
    if (v.mmapCode !== null) return;
    expect(v.touchedPages).toBe(v.mappedPages / 64);
    expect(v.residentPagesBeforeTouch).toBe(0);
    if (e.thpEnabled === 'always') expect(v.residentPages).toBeGreaterThanOrEqual(v.touchedPages);
    else expect(v.residentPages).toBe(v.touchedPages);
  });

  it('is judged from that evidence', () => {
    const findings = judgeEvidence(sparseArray, e, e.mode);
    expect(findings.length).toBeGreaterThan(0);
    const only = findings.find((f) => f.claim === 'only-touched-pages-use-memory')!;
    if (e.touch !== null) expect(only.evidence.residentPages).toBe(e.touch.touched!.residentPages);
    else expect(only.reason).toContain(e.touchSkipped!);
  });
});
