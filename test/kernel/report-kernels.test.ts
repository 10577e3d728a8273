import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { RunReport, VmInfo } from '../../lib/experiments/model.js';
import { compareReports } from '../../lib/report/compare.js';
import { kernelsMatrix, renderKernelsHtml, renderKernelsMarkdown, renderKernelsTerminal } from '../../lib/report/kernels.js';
import { renderMarkdown } from '../../lib/report/markdown.js';
import { checkRun } from '../../lib/vm/matrix.js';

const load = (name: string): RunReport => JSON.parse(readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8')) as RunReport;
const vm = (kernel: string, cgroup: 'v1' | 'v2'): VmInfo => ({
  kernelSource: `/k/${kernel}`,
  kernel,
  memoryBytes: 4 * 1024 ** 3,
  cpus: 2,
  swap: 'zram:1073741824',
  cgroup,
  accel: 'tcg',
  bootMs: 3000,
});
const a = load('report-run-a.json');
const b = load('report-run-b.json');
const guest = { ...b, system: { ...b.system, kernel: '5.1.15', vm: vm('5.1.15', 'v1') } };

describe('kernelsMatrix', () => {
  const m = kernelsMatrix([a, b, guest]);

  it('has one column per run, named by its kernel and where it ran', () => {
    expect(m.columns).toEqual([`host ${a.system.kernel}`, `host ${b.system.kernel}`, 'vm 5.1.15']);
    expect(m.environment.find(([k]) => k === 'cgroup')).toEqual(['cgroup', 'host', 'host', 'v1']);
  });

  it("has one row per experiment, mode and claim, with each run's verdict", () => {
    const row = m.rows.find((r) => r.experiment === 'fork-inheritance' && r.mode === 0 && r.label === 'fork-charged');
    expect(row?.cells.map((c) => c?.verdict)).toEqual(['fails', 'holds', 'holds']);
    // Rows are unique by experiment, mode and label.
    const keys = m.rows.map((r) => `${r.experiment}/${r.mode}/${r.label}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('renders the table as Markdown, HTML and text', () => {
    expect(renderKernelsMarkdown(m)).toMatch(/\| fork-inheritance \| 0 \| fork-charged \| ✗ [^|]*\| ✓ [^|]*\| ✓ [^|]*\|/);
    expect(renderKernelsMarkdown(m, { withNumbers: false })).toContain('| fork-inheritance | 0 | fork-charged | ✗ | ✓ | ✓ |');
    expect(renderKernelsHtml(m)).toContain('<th>vm 5.1.15</th>');
    expect(renderKernelsTerminal(m)).toMatch(/fork-inheritance\s+0\s+fork-charged\s+✗\s+✓\s+✓/);
  });
});

describe('a run made by vm', () => {
  it('shows the guest in the report and compares its settings field by field', () => {
    expect(renderMarkdown(guest)).toMatch(
      /\| Guest \| overcommit-lab vm \(tcg\): \/k\/5\.1\.15, 2 CPUs, 4[.0]* GiB, swap zram:1073741824, cgroup v1, booted in /,
    );
    const c = compareReports(b, guest);
    expect(c.environment).toContainEqual({ field: 'system.vm', a: 'no (the host)', b: 'yes' });
    const other = { ...guest, system: { ...guest.system, vm: { ...vm('5.1.15', 'v2'), bootMs: 9000 } } };
    expect(compareReports(guest, other).environment).toEqual([{ field: 'system.vm.cgroup', a: 'v1', b: 'v2' }]);
  });
});

describe('checkRun', () => {
  it('passes a completed run and names each error and each experiment that did not run', () => {
    const ran = { ...b, runs: b.runs.filter((r) => r.status !== 'error') };
    expect(checkRun(ran, ['fork-inheritance'])).toEqual([]);
    const broken: RunReport = {
      ...ran,
      runs: [...ran.runs, { experiment: 'redis-fork', mode: 0, status: 'error', reason: 'boom', durationMs: 1, findings: [] }],
    };
    expect(checkRun(broken, ['fork-inheritance', 'zero-pages'])).toEqual(['zero-pages: did not run', 'redis-fork (mode 0): error: boom']);
  });

  it('refuses an undecided finding without its reason', () => {
    const run = b.runs.find((r) => r.findings.length > 0)!;
    const f = { ...run.findings[0]!, holds: null };
    delete (f as { reason?: string }).reason;
    expect(checkRun({ ...b, runs: [{ ...run, findings: [f] }] }, [])).toEqual([
      `${run.experiment} (mode ${run.mode}) ${f.claim}: undecided without a reason`,
    ]);
  });
});
