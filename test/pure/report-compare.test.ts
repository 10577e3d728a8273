import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { RunReport } from '../../lib/experiments/model.js';
import {
  compareReports,
  numbersEqual,
  renderComparisonHtml,
  renderComparisonMarkdown,
  renderComparisonTerminal,
} from '../../lib/report/compare.js';

const load = (name: string): RunReport => JSON.parse(readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8')) as RunReport;
const a = load('report-run-a.json');
const b = load('report-run-b.json');
const c = compareReports(a, b);

describe('compareReports', () => {
  it('lists a changed verdict', () => {
    const f = c.changed.find((x) => x.experiment === 'fork-inheritance' && x.label === 'fork-charged');
    expect(f).toMatchObject({ mode: 0, verdictChanged: true, a: { verdict: 'fails' }, b: { verdict: 'holds' } });
  });

  it('lists a changed key number, paired by the distinguishing evidence', () => {
    const f = c.changed.find((x) => x.experiment === 'mode-matrix' && x.mode === 2 && x.label === 'largest-mapping [noreserve=true]');
    expect(f).toMatchObject({ verdictChanged: false, numberChanged: true, a: { number: { key: 'largestBytes' } } });
  });

  it('does not list unchanged findings, nor changes within the tolerance or outside the key number', () => {
    const labels = c.changed.map((x) => `${x.experiment}/${x.mode}/${x.label}`);
    expect(labels).not.toContain('sparse-array/0/resident-equals-touched');
    expect(labels).not.toContain('mode-matrix/0/largest-mapping [noreserve=false]');
    expect(c.changed).toHaveLength(3);
    expect(c.unchangedCount).toBeGreaterThan(30);
  });

  it('lists runs on one side only and status changes', () => {
    expect(c.oneSided).toEqual([
      { experiment: 'redis-fork', mode: 1, status: 'ran', side: 'a' },
      { experiment: 'commit-limit', mode: 1, status: 'ran', side: 'b' },
    ]);
    expect(c.statusChanges).toEqual([{ experiment: 'oom-late-failure', mode: 0, a: 'ran', b: 'skipped', reason: 'needs root' }]);
  });

  it('lists settings and system differences, ignoring noise within the tolerance', () => {
    const fields = c.environment.map((e) => e.field);
    expect(fields).toEqual(
      expect.arrayContaining(['system.kernel', 'settings.overcommitMemory', 'settings.overcommitRatio', 'settings.commitLimitBytes']),
    );
    expect(fields).not.toContain('settings.committedAsBytes');
    expect(c.environment.find((e) => e.field === 'system.swapTotalBytes')).toEqual({
      field: 'system.swapTotalBytes',
      a: '0 B',
      b: '2 GiB',
    });
  });

  it('treats numbers within 5% (bytes within 1 MiB) as equal', () => {
    expect(numbersEqual('residentPages', 100, 104)).toBe(true);
    expect(numbersEqual('residentPages', 100, 110)).toBe(false);
    expect(numbersEqual('chargedBytes', 0, 8192)).toBe(true);
  });

  it('a report compared with itself has no differences', () => {
    const same = compareReports(a, a);
    expect(same).toMatchObject({ environment: [], changed: [], oneSided: [], statusChanges: [] });
  });
});

describe('comparison renderers', () => {
  it('terminal', () => {
    const text = renderComparisonTerminal(c, { color: false });
    expect(text).toContain('fork-inheritance · mode 0 · fork-charged: ✗ 0 B → ✓ 64 MiB');
    expect(text).toContain('numbers within 5% of each other (byte counts within 1 MiB) count as equal');
    expect(text).not.toContain('resident-equals-touched');
  });

  it('markdown', () => {
    const md = renderComparisonMarkdown(c);
    expect(md).toContain('| mode-matrix | mode 2 | largest-mapping \\[noreserve=false\\] | ✓ 780 MiB | ✓ 3.2 GiB | largestBytes |');
    expect(md).toContain('| fork-inheritance | mode 0 | fork-charged | ✗ 0 B | ✓ 64 MiB | verdict, forkChargeBytes |');
    expect(md).toContain('| A only | redis-fork | mode 1 | (whole run) | ran |');
  });

  it('html is self-contained and escaped', () => {
    const evil: RunReport = { ...b, system: { ...b.system, kernel: '<script>alert(1)</script>' } };
    const html = renderComparisonHtml(compareReports(a, evil));
    expect(html).not.toContain('<script>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).not.toMatch(/https?:\/\//);
  });
});
