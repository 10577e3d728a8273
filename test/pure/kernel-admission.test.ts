import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  commitLimitFormula,
  freeEstimateInputs,
  freeMemoryRule,
  ramSwapRule,
  strictBatchPages,
  strictRule,
} from '../../lib/kernel/admission.js';
import { parseMeminfo } from '../../lib/kernel/meminfo.js';
import { parseZoneinfo, totalReservePages } from '../../lib/kernel/zoneinfo.js';

const fixture = readFileSync(new URL('../fixtures/proc-meminfo.txt', import.meta.url), 'utf8');
const zones = parseZoneinfo(readFileSync(new URL('../fixtures/proc-zoneinfo.txt', import.meta.url), 'utf8'));

describe('commitLimitFormula', () => {
  const m = parseMeminfo(fixture);

  it('ratio: (totalram - hugetlb) * ratio / 100 + swap, in whole pages', () => {
    const r = commitLimitFormula(m, { ratio: 50, kbytes: 0 }, 4096);
    // 24684096 kB = 6171024 pages; * 50 / 100 = 3085512 pages.
    expect(r.bytes).toBe(3085512 * 4096);
    expect(r.bytes).toBe(m.commitLimit);
    expect(r.formula).toContain('6171024 pages');
    expect(r.formula).toContain('3085512 pages');
  });

  it('rounds down in pages like the kernel', () => {
    // 6171024 * 33 / 100 = 2036437.92 -> 2036437 pages.
    expect(commitLimitFormula(m, { ratio: 33, kbytes: 0 }, 4096).bytes).toBe(2036437 * 4096);
  });

  it('subtracts hugetlb pages and adds swap pages', () => {
    const withHuge = parseMeminfo(
      fixture.replace(/^Hugetlb:.*$/m, 'Hugetlb:         1048576 kB').replace(/^SwapTotal:.*$/m, 'SwapTotal:       4194304 kB'),
    );
    // (6171024 - 262144) * 50 / 100 + 1048576 = 2954440 + 1048576 pages.
    expect(commitLimitFormula(withHuge, { ratio: 50, kbytes: 0 }, 4096).bytes).toBe((2954440 + 1048576) * 4096);
  });

  it('kbytes overrides ratio: kbytes >> (PAGE_SHIFT - 10)', () => {
    const r = commitLimitFormula(m, { ratio: 50, kbytes: 1000003 }, 4096);
    expect(r.bytes).toBe(250000 * 4096);
    expect(r.formula).toContain('overcommit_kbytes 1000003');
  });

  it('honours another page size', () => {
    // 64 KiB pages: 24684096 kB / 64 = 385689 pages; * 50 / 100 = 192844 pages.
    expect(commitLimitFormula(m, { ratio: 50, kbytes: 0 }, 65536).bytes).toBe(192844 * 65536);
  });
});

describe('mode 0 since 5.2: RAM + swap', () => {
  it('is totalram_pages + total_swap_pages, in whole pages', () => {
    const r = ramSwapRule(24684096 * 1024, 1024 * 1024 * 1024 + 1000, 4096);
    expect(r.largestBytes).toBe((6171024 + 262144) * 4096);
    expect(r.formula).toContain('6171024 pages');
  });
});

describe('mode 0 before 5.2: the free-memory estimate', () => {
  const m = parseMeminfo(fixture);
  const reserve = totalReservePages(zones);

  it('adds free, file and reclaimable pages, less shmem, totalreserve_pages and (without CAP_SYS_ADMIN) the admin reserve', () => {
    // MemFree 5835511 + Cached 276478 + Buffers 8184 + SwapCached 0 - Shmem 2197 + SwapFree 0 + KReclaimable 23022 = 6140998 pages.
    expect(reserve).toBe(35412);
    const root = freeMemoryRule(freeEstimateInputs(m, reserve, 8192, true), 4096);
    expect(root.estimatePages).toBe(6140998 - 35412);
    // Accepted when free > pages: the largest is one page less.
    expect(root.largestBytes).toBe((6140998 - 35412 - 1) * 4096);
    expect(root.formula).toContain('= 6140998 pages');
    const user = freeMemoryRule(freeEstimateInputs(m, reserve, 8192, false), 4096);
    expect(root.largestBytes - user.largestBytes).toBe(8192 * 1024);
  });

  it('counts SReclaimable where the kernel has no KReclaimable (before 4.20)', () => {
    const old = parseMeminfo(fixture.replace(/^KReclaimable:.*\n/m, '').replace(/^SReclaimable:.*$/m, 'SReclaimable:      80000 kB'));
    const i = freeEstimateInputs(old, reserve, 8192, true);
    expect(i.reclaimableField).toBe('SReclaimable');
    expect(freeMemoryRule(i, 4096).estimatePages).toBe(6140998 - 23022 + 20000 - 35412);
  });

  it('accepts nothing when the estimate is within totalreserve_pages', () => {
    const i = { ...freeEstimateInputs(m, reserve, 8192, true), totalReservePages: 6140998 };
    expect(freeMemoryRule(i, 4096).largestBytes).toBe(0);
  });
});

describe('mode 2: CommitLimit - Committed_AS - reserves', () => {
  const inputs = {
    commitLimitBytes: 3085452 * 4096,
    committedAsBytes: 1_000_000 * 4096,
    totalVmPages: 1_083_406,
    userReserveKbytes: 100453,
    adminReserveKbytes: 8192,
    capSysAdmin: true,
    memTotalBytes: 6170905 * 4096,
    cpus: 2,
  };

  it('holds back min(total_vm / 32, user reserve), the admin reserve without CAP_SYS_ADMIN, and one page', () => {
    const r = strictRule(inputs, 4096);
    expect(r.userReservePages).toBe(25113);
    expect(r.largestBytes).toBe((3085452 - 25113 - 1_000_000 - 1) * 4096);
    expect(strictRule({ ...inputs, capSysAdmin: false }, 4096).largestBytes).toBe((3085452 - 2048 - 25113 - 1_000_000 - 1) * 4096);
    expect(strictRule({ ...inputs, totalVmPages: 32 * 100 }, 4096).userReservePages).toBe(100);
  });

  it('allows the per-cpu batch of slack', () => {
    expect(strictBatchPages(6170905 * 4096, 2, 4096)).toBe(12052);
    expect(strictBatchPages(1024 * 4096, 64, 4096)).toBe(128);
    expect(strictRule(inputs, 4096).slackBytes).toBe(2 * 12052 * 4096);
  });
});
