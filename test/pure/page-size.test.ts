/**
 * Every page-dependent rule on evidence constructed at 4 KiB, 16 KiB and 64 KiB pages (with the
 * THP size of each: 2, 32 and 512 MiB, arm64's): the verdict the evidence supports, sentences in
 * the evidence's pages, and nothing read from the judging machine (this one has 4 KiB pages).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import type { AccountingEvidence } from '../../lib/experiments/accounting/evidence.js';
import { accountingRules } from '../../lib/experiments/accounting/rules.js';
import { judgeEvidence } from '../../lib/experiments/judge.js';
import type { Finding, Measured, OvercommitMode } from '../../lib/experiments/model.js';
import type { SparseArrayEvidence } from '../../lib/experiments/sparse-array/evidence.js';
import { sparseArrayRules } from '../../lib/experiments/sparse-array/rules.js';
import type { ZeroPagesEvidence } from '../../lib/experiments/zero-pages/evidence.js';
import { zeroPagesRules } from '../../lib/experiments/zero-pages/rules.js';
import { commitLimitFormula } from '../../lib/kernel/admission.js';
import { compareReports, renderComparisonMarkdown, renderComparisonTerminal } from '../../lib/report/compare.js';
import { kernelsMatrix, renderKernelsMarkdown } from '../../lib/report/kernels.js';
import { MiB } from '../../lib/units.js';
import { strideOnPages } from '../../lib/verdict/page-size.js';
import { changeFromDeltas } from '../../lib/verdict/tolerance.js';
import type { RunReport, SystemInfo } from '../../lib/verdict/types.js';

// The live page size exists only in the addon (native.pageSize): a rule module that reached it
// would fail to import here, so every verdict below comes from the evidence alone.
vi.mock('../../lib/native/binding.js', () => {
  throw new Error("a rule module loaded the addon, where the judging machine's page size lives");
});

const fixtures = join(import.meta.dirname, '../fixtures');
const read = <T>(path: string): T => JSON.parse(readFileSync(join(fixtures, path), 'utf8')) as T;

/** The page sizes of the machines the tool runs on, each with its THP size (arm64's for 16 and 64 KiB). */
const MACHINES = [
  { pageSize: 4096, thpSizeBytes: 2 * MiB, page: '4 KiB', thp: '2 MiB' },
  { pageSize: 16384, thpSizeBytes: 32 * MiB, page: '16 KiB', thp: '32 MiB' },
  { pageSize: 65536, thpSizeBytes: 512 * MiB, page: '64 KiB', thp: '512 MiB' },
] as const;

const judge = <E extends Measured>(rules: Parameters<typeof judgeEvidence<E>>[0], e: E, mode: OvercommitMode = 0) =>
  new Map<string, Finding>(judgeEvidence(rules, e, mode).map((f) => [f.claim, f]));

const TOUCH_BYTES = 64 * MiB;

/**
 * 004's program on 64 MiB and the one-page-in-64 variant as a machine with `pageSize` pages
 * shows them: one write per 4096 bytes, every page resident (mincore counts pages of pageSize).
 */
function sparseOn(pageSize: number, thpSizeBytes: number | null, thpEnabled = 'madvise'): SparseArrayEvidence {
  const captured = read<SparseArrayEvidence>('evidence/6.18/sparse-array.json');
  const t = captured.touch!;
  const pages = TOUCH_BYTES / pageSize;
  const writes = TOUCH_BYTES / 4096;
  const variantPages = pages / 64;
  return {
    ...captured,
    pageSize,
    thpEnabled,
    thpSizeBytes,
    touch: {
      ...t,
      bytes: TOUCH_BYTES,
      pages,
      lines: [
        'Mapped 64MB sparse array at 0x7f1627200000 (no swap reserved)',
        `Touched ${writes} pages (only those pages use swap)`,
        t.lines[2]!,
      ],
      printedTouchedPages: writes,
      mapped: { ...t.mapped!, residentPages: 0 },
      touched: { ...t.touched!, residentPages: pages, vmaRssBytes: TOUCH_BYTES },
    },
    variant: {
      ...captured.variant!,
      strideBytes: 64 * pageSize,
      mappedBytes: TOUCH_BYTES,
      mappedPages: pages,
      touchedPages: variantPages,
      residentPages: variantPages,
    },
  };
}

describe('sparse-array on 4, 16 and 64 KiB pages', () => {
  for (const m of MACHINES) {
    it(`${m.page}: lazy, only the touched pages, not sparse; the sentences give writes and pages of ${m.page}`, () => {
      const f = judge(sparseArrayRules, sparseOn(m.pageSize, m.thpSizeBytes));
      expect(f.get('memory-taken-on-first-touch')!.holds).toBe(true);
      expect(f.get('only-touched-pages-use-memory')!.holds).toBe(true);
      expect(f.get('program-is-sparse')!.holds).toBe(false);
      const pages = TOUCH_BYTES / m.pageSize;
      const perPage = m.pageSize === 4096 ? 'one write per page' : `${m.pageSize / 4096} writes to each page`;
      const loop = `16384 writes (one per 4096 bytes), ${pages} pages of ${m.page}: ${perPage}`;
      expect(f.get('program-is-sparse')!.observed).toContain(`on the ${m.page} pages of the machine measured that is ${loop}`);
      expect(f.get('program-is-sparse')!.observed).toContain(`${pages} of its ${pages} pages of ${m.page} (100.0%) became resident`);
      expect(f.get('only-touched-pages-use-memory')!.observed).toContain(`${loop}; its mincore counts all resident`);
      expect(f.get('only-touched-pages-use-memory')!.observed).toContain(`${pages / 64} resident of ${pages} pages of ${m.page}`);
      expect(f.get('only-touched-pages-use-memory')!.evidence).toMatchObject({ pageSize: m.pageSize, thpSizeBytes: m.thpSizeBytes });
    });

    it(`${m.page}: fewer pages resident than the array has is not "only the touched pages", whatever the judging machine's page`, () => {
      const e = sparseOn(m.pageSize, m.thpSizeBytes);
      // As many resident as a 4 KiB machine would count for a quarter of the array: a count of 4 KiB pages on larger pages.
      const quarter = TOUCH_BYTES / 4 / 4096;
      const short = { ...e, touch: { ...e.touch!, touched: { ...e.touch!.touched!, residentPages: quarter } } };
      // On 4 KiB pages that is a quarter of the array (sparse); on 16 KiB all of it; on 64 KiB four times more than exist.
      const f = judge(sparseArrayRules, short);
      expect(f.get('only-touched-pages-use-memory')!.holds).toBe(quarter === TOUCH_BYTES / m.pageSize);
      expect(f.get('program-is-sparse')!.holds).toBe(quarter < TOUCH_BYTES / m.pageSize / 2);
    });

    it(`${m.page}: with THP 'always' the variant all resident refutes "only touched pages", naming a ${m.thp} huge page`, () => {
      const e = sparseOn(m.pageSize, m.thpSizeBytes, 'always');
      const f = judge(sparseArrayRules, { ...e, variant: { ...e.variant!, residentPages: e.variant!.mappedPages } });
      expect(f.get('memory-taken-on-first-touch')!.holds).toBe(true);
      expect(f.get('only-touched-pages-use-memory')!.holds).toBe(false);
      expect(f.get('only-touched-pages-use-memory')!.observed).toContain(`a fault may map a ${m.thp} page`);
    });
  }

  it('a kernel without THP, and a run that recorded no THP size, say so', () => {
    const e = sparseOn(16384, null);
    const odd = { ...e, variant: { ...e.variant!, residentPages: e.variant!.mappedPages } };
    expect(judge(sparseArrayRules, odd).get('only-touched-pages-use-memory')!.observed).toContain('faults of a huge page do not explain');
    const { thpSizeBytes: _, ...old } = odd;
    expect(judge(sparseArrayRules, old as SparseArrayEvidence).get('only-touched-pages-use-memory')!.observed).toContain(
      'a huge page of a size the run did not record',
    );
  });

  it("the document's stride on each page: 4096-byte writes, several to a larger page", () => {
    expect(strideOnPages(1024 * MiB, 4096, 4096)).toEqual({ writes: 262144, pages: 262144, writesPerPage: 1 });
    expect(strideOnPages(1024 * MiB, 4096, 16384)).toEqual({ writes: 262144, pages: 65536, writesPerPage: 4 });
    expect(strideOnPages(1024 * MiB, 4096, 65536)).toEqual({ writes: 262144, pages: 16384, writesPerPage: 16 });
  });
});

/** A never-written 64 MiB region read one int per page of `pageSize`; `grewBytes` of Anonymous memory after. */
function zeroOn(pageSize: number | undefined, thpSizeBytes: number | null | undefined, grewBytes = 0): ZeroPagesEvidence {
  const captured = read<Record<string, ZeroPagesEvidence>>('evidence/6.1/zero-pages.json')['0']!;
  const pages = captured.mappedBytes / (pageSize ?? 4096);
  const e: ZeroPagesEvidence = {
    ...captured,
    readPages: pages,
    residentPages: pages,
    vmaAnonymousDeltaBytes: grewBytes,
    vmaRssDeltaBytes: grewBytes,
  };
  if (pageSize !== undefined) e.pageSize = pageSize;
  if (thpSizeBytes !== undefined) e.thpSizeBytes = thpSizeBytes;
  return e;
}

describe('zero-pages on 4, 16 and 64 KiB pages', () => {
  const CLAIM = 'sparse-virtual-memory-is-zero-pages';
  for (const m of MACHINES) {
    it(`${m.page}: no memory of their own holds, memory for every page refutes; the sentence counts pages of ${m.page}`, () => {
      const held = judge(zeroPagesRules, zeroOn(m.pageSize, m.thpSizeBytes)).get(CLAIM)!;
      expect(held.holds).toBe(true);
      expect(held.observed).toContain(`each of the ${(64 * MiB) / m.pageSize} pages of ${m.page} of a 64.0 MiB`);
      expect(held.observed).toContain(`all ${(64 * MiB) / m.pageSize} pages resident`);
      const refuted = judge(zeroPagesRules, zeroOn(m.pageSize, m.thpSizeBytes, 64 * MiB)).get(CLAIM)!;
      expect(refuted.holds).toBe(false);
      expect(refuted.observed).toContain(`huge page ${m.thp})`);
    });
  }

  it('a run that recorded no page size: the page is the region over the pages read (a real 16 KiB guest run had none)', () => {
    expect(judge(zeroPagesRules, zeroOn(undefined, undefined)).get(CLAIM)!.observed).toContain('each of the 16384 pages of 4 KiB of');
    const { pageSize: _, ...guest } = zeroOn(16384, undefined, 64 * MiB);
    const f = judge(zeroPagesRules, guest).get(CLAIM)!;
    expect(f.observed).toContain('each of the 4096 pages of 16 KiB of');
    expect(f.observed).toContain('huge page of a size the run did not record)');
  });
});

/** The 6.18 accounting run with its stack growth charged `offPages` pages more than the VMA grew (an unaligned break), on `pageSize`. */
function stackOff(pageSize: number | undefined, offBytes: number): AccountingEvidence {
  const e = read<AccountingEvidence>('evidence/6.18/accounting.json');
  const growth = 16 * MiB;
  const stack = {
    usedBytes: growth,
    grownVma: null,
    growthBytes: growth,
    grow: {
      change: changeFromDeltas([growth + offBytes, growth + offBytes, growth + offBytes], [0, 4096, -4096]),
      accountedDeltaBytes: growth + offBytes,
      vmFlags: ['rd', 'wr', 'ac'],
    },
  };
  const out: AccountingEvidence = {
    ...e,
    stack: { ...stack, grownVma: { start: '0x1', end: '0x2', pathname: '[stack]', vmFlags: ['ac'], created: false } },
  };
  if (pageSize === undefined) delete out.pageSize;
  else out.pageSize = pageSize;
  return out;
}

describe('accounting: the partial pages of an unaligned range are pages of the evidence', () => {
  for (const m of MACHINES) {
    it(`${m.page}: 'ac' VMAs off by a page and a half still read as charged`, () => {
      const f = judge(accountingRules, stackOff(m.pageSize, 1.5 * m.pageSize)).get('stack-growth')!;
      expect(f.holds).toBe(true);
      expect(f.reason).toBeUndefined();
    });
  }

  it('the same bytes judged with 4 KiB pages (or none recorded) are none of the hypotheses: the slack follows the evidence', () => {
    for (const m of MACHINES.slice(1)) {
      const f = judge(accountingRules, stackOff(4096, 1.5 * m.pageSize)).get('stack-growth')!;
      expect(f.holds, m.page).toBeNull();
      expect(f.reason, m.page).toMatch(/which is none of/);
    }
    const old = judge(accountingRules, stackOff(undefined, 1.5 * 4096)).get('stack-growth')!;
    expect(old.holds).toBe(true);
    expect(old.reason).toContain('the evidence records no page size: 4096 B assumed');
  });
});

describe("mode 2's CommitLimit in pages of the evidence", () => {
  // 24 GiB of RAM, 1 GiB of swap, ratio 50.
  const m = { memTotal: 24 * 1024 * MiB, swapTotal: 1024 * MiB, hugetlb: 0 };
  for (const { pageSize, page } of MACHINES) {
    it(`${page}: whole pages of ${page}, kbytes >> (PAGE_SHIFT - 10)`, () => {
      const r = commitLimitFormula(m, { ratio: 50, kbytes: 0 }, pageSize);
      expect(r.bytes).toBe(12 * 1024 * MiB + 1024 * MiB);
      expect(r.formula).toContain(`x ${pageSize} B`);
      // 1000003 kB is not a whole number of pages: the kernel drops the rest of the last page.
      const k = commitLimitFormula({ ...m, swapTotal: 0 }, { ratio: 50, kbytes: 1000003 }, pageSize);
      expect(k.bytes).toBe(Math.floor((1000003 * 1024) / pageSize) * pageSize);
    });
  }
});

describe('compare and the claims × kernels table show each run’s architecture, page size and THP size', () => {
  const a = read<RunReport>('report-run-a.json');
  const arm: SystemInfo = { ...a.system, arch: 'arm64', machine: 'aarch64', pageSize: 16384, thpSize: 32 * MiB };
  const guest: RunReport = { ...a, system: arm };
  const noThp: RunReport = { ...a, system: { ...a.system, arch: 'ppc64', machine: 'ppc64le', pageSize: 65536, thpSize: null } };

  it('compare: columns for both runs, an older run marked assumed, the difference listed', () => {
    const c = compareReports(a, guest);
    expect(c.a).toMatchObject({ arch: 'x86_64 (assumed)', pageSize: '4 KiB', thpSize: '2 MiB (assumed)' });
    expect(c.b).toMatchObject({ arch: 'aarch64', pageSize: '16 KiB', thpSize: '32 MiB' });
    const md = renderComparisonMarkdown(c);
    expect(md).toContain('|  | Tool | Kernel | Architecture | Page size | THP size |');
    expect(md).toMatch(/\| B \| [^|]+\| [^|]+\| aarch64 \| 16 KiB \| 32 MiB \|/);
    expect(c.environment).toContainEqual({ field: 'system.pageSize', a: '4 KiB', b: '16 KiB' });
    expect(renderComparisonTerminal(c, { color: false })).toContain('aarch64 · page 16 KiB · THP 32 MiB');
    expect(compareReports(guest, noThp).environment).toContainEqual({ field: 'system.thpSize', a: '32 MiB', b: 'none' });
  });

  it('claims × kernels: a row of each per run', () => {
    const m = kernelsMatrix([a, guest, noThp]);
    expect(m.environment.slice(0, 3)).toEqual([
      ['Architecture', 'x86_64 (assumed)', 'aarch64', 'ppc64le'],
      ['Page size', '4 KiB', '16 KiB', '64 KiB'],
      ['THP size', '2 MiB (assumed)', '32 MiB', 'none'],
    ]);
    expect(renderKernelsMarkdown(m)).toContain('| Page size | 4 KiB | 16 KiB | 64 KiB |');
    // A run from a 16 KiB machine that recorded no architecture or THP size: nothing x86 assumed of it.
    const { arch: _a, machine: _m, thpSize: _t, ...bare } = arm;
    expect(kernelsMatrix([{ ...a, system: bare }]).environment.slice(0, 3)).toEqual([
      ['Architecture', 'not recorded'],
      ['Page size', '16 KiB'],
      ['THP size', 'not recorded'],
    ]);
  });
});

/**
 * Real guests (Debian 13's 6.12 under qemu, TCG, mode 0), judged on this 4 KiB machine. Both had
 * THP 'always' and recorded no THP size: on arm64's 16 KiB pages (32 MiB huge pages) the
 * one-page-in-64 writes, one per MiB, made the whole region resident; on ppc64el's 64 KiB pages
 * (2 MiB huge pages, its radix MMU) the 16 writes one per 4 MiB made 16 x 2 MiB resident, where
 * arm64's 512 MiB page would have made all of it: no THP size is assumed for such a run.
 */
const GUESTS = [
  {
    name: 'arm64, 16 KiB pages',
    dir: '6.12-arm64-16k',
    pageSize: 16384,
    page: '16 KiB',
    pages: 4096,
    variant: '64 written, 4096 resident',
  },
  {
    name: 'ppc64el, 64 KiB pages',
    dir: '6.12-ppc64el-64k',
    pageSize: 65536,
    page: '64 KiB',
    pages: 1024,
    variant: '16 written, 512 resident',
  },
] as const;

describe('real guests of other page sizes', () => {
  for (const g of GUESTS) {
    const evidence = <E>(id: string): E => read<Record<string, E>>(`evidence/${g.dir}/${id}.json`)['0']!;

    it(`${g.name}: the program not sparse, its finding naming the ${g.page} page; the zero page mapped; nothing in accounting refuted`, () => {
      const e = evidence<SparseArrayEvidence>('sparse-array');
      expect(e.pageSize).toBe(g.pageSize);
      const f = judge(sparseArrayRules, e);
      expect(f.get('program-is-sparse')!.holds).toBe(false);
      expect(f.get('program-is-sparse')!.observed).toContain(
        `on the ${g.page} pages of the machine measured that is 16384 writes (one per 4096 bytes), ${g.pages} pages of ${g.page}: ${g.pageSize / 4096} writes to each page`,
      );
      expect(f.get('memory-taken-on-first-touch')!.holds).toBe(true);
      const only = f.get('only-touched-pages-use-memory')!;
      expect(only.holds).toBe(false);
      expect(only.observed).toContain(`${g.variant} of ${g.pages} pages of ${g.page}`);
      expect(only.observed).toContain('a fault may map a huge page of a size the run did not record');
      const z = judge(zeroPagesRules, evidence<ZeroPagesEvidence>('zero-pages')).get('sparse-virtual-memory-is-zero-pages')!;
      expect(z.holds).toBe(true);
      expect(z.observed).toContain(`each of the ${g.pages} pages of ${g.page} of a 64.0 MiB`);
      const a = evidence<AccountingEvidence>('accounting');
      expect(a.pageSize).toBe(g.pageSize);
      expect([...judge(accountingRules, a).values()].filter((x) => x.holds === false).map((x) => x.claim)).toEqual([]);
    });
  }
});
