import { beforeAll, describe, expect, it } from 'vitest';
import { judgeEvidence } from '../../lib/experiments/judge.js';
import { measureZeroPages, type ZeroPagesEvidence, zeroPages } from '../../lib/experiments/zero-pages/index.js';
import { pageSize } from '../../lib/native/mapping.js';
import { withSettingsLock } from '../../lib/safety/lock.js';
import { MiB } from '../../lib/units.js';
import { currentMode } from '../helpers.js';

const verdict = (e: ZeroPagesEvidence) => judgeEvidence(zeroPages, e, 1)[0]!;

describe('zero-pages on this kernel', () => {
  let e: ZeroPagesEvidence;
  let mode: number;
  beforeAll(async () => {
    // MAP_NORESERVE shows as 'nr' except in mode 2: hold the mode still while measuring.
    await withSettingsLock('shared', async () => {
      mode = currentMode();
      e = await measureZeroPages();
    });
  });

  it('read every page of the region, and its readings agree with each other', () => {
    expect(e.readPages).toBe(e.mappedBytes / pageSize);
    expect(e.allZero).toBe(true);
    expect(e.residentPages).toBeLessThanOrEqual(e.readPages);
    // Whatever the kernel did, the mapping cannot gain more than it maps (plus a merged neighbour's slack).
    expect(e.vmaAnonymousDeltaBytes).toBeLessThanOrEqual(e.vmaRssDeltaBytes + MiB);
    expect(e.vmaRssDeltaBytes).toBeLessThanOrEqual(e.mappedBytes + 8 * MiB);
    // The process's RSS includes what the mapping gained (other memory moves it by a few MiB at most).
    expect(Math.abs(e.rssDeltaBytes - e.vmaRssDeltaBytes)).toBeLessThan(32 * MiB);
    if (mode !== 2) expect(e.vmFlags).toContain('nr');
  });

  it('is judged from that evidence', () => {
    expect(verdict(e).evidence).toMatchObject({ mappedBytes: e.mappedBytes, vmaAnonymousDeltaBytes: e.vmaAnonymousDeltaBytes });
  });
});
