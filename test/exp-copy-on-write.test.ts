import { describe, expect, it } from 'vitest';
import { copyOnWrite, copyOnWriteFindings, measureCopyOnWrite } from '../lib/experiments/copy-on-write.js';

describe('copy-on-write experiment', () => {
  it("counts, in the child's smaps, the pages it shares and the ones it copied", async () => {
    const e = await measureCopyOnWrite();
    expect(e.exitCode).toBe(0);
    const n = e.regionPages;
    expect(e.partialWrittenPages).toBe(n / 4);
    expect(e.afterFork).toEqual({ sharedPages: n, privatePages: 0 });
    expect(e.afterPartialWrite).toEqual({ sharedPages: n - n / 4, privatePages: n / 4 });
    expect(e.afterFullWrite).toEqual({ sharedPages: 0, privatePages: n });
    expect(e.committedInChildBytes - e.committedBeforeForkBytes).toBeGreaterThanOrEqual(e.regionBytes);
    const findings = copyOnWriteFindings(e);
    expect(findings.map((f) => f.holds)).toEqual([true, true, true]);
  });

  it('says so when more pages were copied than written', async () => {
    const e = await measureCopyOnWrite();
    const wrong = { ...e, afterPartialWrite: { sharedPages: 0, privatePages: e.regionPages } };
    expect(copyOnWriteFindings(wrong)[0]!.holds).toBe(false);
    expect(copyOnWrite.claims.map((c) => c.source.slice(0, 3))).toEqual(['000', '000', '000']);
  });
});
