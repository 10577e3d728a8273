import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { freeEstimateInputs } from '../../lib/kernel/admission.js';
import { readMeminfo } from '../../lib/kernel/meminfo.js';
import { readOvercommitSettings } from '../../lib/kernel/sysctl.js';
import { parseZoneinfo, totalReservePages } from '../../lib/kernel/zoneinfo.js';

describe('the rules on this machine', () => {
  it('read their inputs from /proc', () => {
    const i = freeEstimateInputs(
      readMeminfo(),
      totalReservePages(parseZoneinfo(readFileSync('/proc/zoneinfo', 'utf8'))),
      readOvercommitSettings().adminReserveKbytes,
      true,
    );
    for (const v of Object.values(i)) if (typeof v === 'number') expect(v).toBeGreaterThanOrEqual(0);
  });
});
