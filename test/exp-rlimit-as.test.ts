import { describe, expect, it } from 'vitest';
import { measureRlimitAs, rlimitAs, rlimitAsClaims } from '../lib/experiments/rlimit-as.js';
import { withSettingsLock } from '../lib/safety/lock.js';
import { MiB } from '../lib/units.js';
import { currentMode, runFindings } from './helpers.js';

describe('rlimit-as experiment', () => {
  it("reports the child's limit and base size and every step's outcome", async () => {
    const { evidence: e, problem } = await measureRlimitAs();
    expect(problem).toBeNull();
    expect(e.baseBytes).toBeGreaterThan(0);
    expect(e.limitBytes).toBe(e.baseBytes + 64 * MiB);
    expect(e.controlMmap128).toBe('ok');
    for (const o of [e.mmap128, e.mmap8, e.noreserveMmap128, e.noreserveMmap8, e.sbrk128, e.sbrk8, e.literalMmap128, e.literalMmap8]) {
      expect(o === 'ok' || o === 'ENOMEM').toBe(true);
    }
    expect(e.literalLimitBytes).toBe(64 * MiB);
    // A forked Node child is far past 64 MiB of address space.
    expect(e.literalBaseBytes).toBeGreaterThan(64 * MiB);
  });

  it("computes each verdict from the children's errno codes", async () => {
    await withSettingsLock('shared', async () => {
      const mode = currentMode();
      const findings = await runFindings(rlimitAs, { mode, progress: () => {} });
      expect(findings.map((f) => f.claim)).toEqual(Object.values(rlimitAsClaims).map((c) => c.id));
      const byId = new Map(findings.map((f) => [f.claim, f]));
      const e = findings[0]!.evidence;
      expect(e.mode).toBe(mode);
      // Under the relative limit (the child's size + 64 MiB) the kernel refuses 128 MiB and grants 8 MiB,
      // for mmap, for brk, and with MAP_NORESERVE alike; the same 128 MiB passed before the limit.
      expect([e.controlMmap128, e.mmap128, e.mmap8]).toEqual(['ok', 'ENOMEM', 'ok']);
      expect([e.sbrk128, e.sbrk8]).toEqual(['ENOMEM', 'ok']);
      expect([e.noreserveMmap128, e.noreserveMmap8]).toEqual(['ENOMEM', 'ok']);
      expect(byId.get('rlimit-as-mmap-enomem')!.holds).toBe(e.mmap128 === 'ENOMEM' && e.mmap8 === 'ok');
      expect(byId.get('rlimit-as-brk-enomem')!.holds).toBe(e.sbrk128 === 'ENOMEM' && e.sbrk8 === 'ok');
      expect(byId.get('rlimit-as-independent-of-overcommit')!.holds).toBe(e.noreserveMmap128 === 'ENOMEM' && e.noreserveMmap8 === 'ok');
      expect(byId.get('mmap-fails-on-rlimit-as')!.holds).toBe(e.controlMmap128 === 'ok' && e.mmap128 === 'ENOMEM');
      // The literal program's absolute 64 MiB is below the child's size: even 8 MiB is refused.
      expect(e.literalMmap8).toBe('ENOMEM');
      expect(byId.get('rlimit-program-64mb')!.holds).toBe(false);
      expect(findings.slice(0, 4).map((f) => f.holds)).toEqual([true, true, true, true]);
    });
  });
});
