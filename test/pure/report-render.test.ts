import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunReport } from '../../lib/experiments/model.js';
import { renderHtml } from '../../lib/report/html.js';
import { renderMarkdown } from '../../lib/report/markdown.js';
import { renderTerminal } from '../../lib/report/terminal.js';
import { writeReport } from '../../lib/report/write.js';

const load = (name: string): RunReport => JSON.parse(readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8')) as RunReport;
const report = load('report-run-a.json');
const SCRIPT = '<script>alert("x")</script>';

describe('renderTerminal', () => {
  const text = renderTerminal(report, { color: false });

  it('starts with the tool, kernel and settings', () => {
    const [first, second] = text.split('\n');
    expect(first).toContain('overcommit-lab 0.1.0 · kernel 6.1.0-28-amd64');
    expect(second).toContain('overcommit_memory 0 (heuristic) · ratio 50');
  });

  it('shows every verdict kind, skipped runs with the reason, and undecided ones with theirs', () => {
    expect(text).toContain('  ✓ resident-equals-touched');
    expect(text).toContain('  ✗ fork-charged');
    expect(text).toContain('  ? no-commit-charge');
    expect(text).toContain('reason: other processes moved Committed_AS');
    expect(text).toContain('redis-fork · mode 2 · skipped · 0 ms\n  skipped: runs only in modes 0 and 1');
    expect(text).toContain('  error: EBUSY writing /proc/sys/vm/overcommit_kbytes');
  });

  it('puts the key number on the verdict line and the observation on the next', () => {
    const lines = text.split('\n');
    const i = lines.findIndex((l) => l.includes('resident-equals-touched'));
    expect(lines[i]).toMatch(/^ {2}✓ resident-equals-touched .*\(004\) {2}residentPages=262,144$/);
    const f = report.runs.find((r) => r.experiment === 'sparse-array')!.findings.find((x) => x.claim === 'resident-equals-touched')!;
    expect(lines[i + 1]).toBe(`      ${f.observed}`);
  });

  it('colours only when asked', () => {
    expect(text).not.toContain('\x1b[');
    expect(renderTerminal(report, { color: true })).toContain('\x1b[32m✓\x1b[0m');
  });

  it('prints only verdict lines when quiet', () => {
    const lines = renderTerminal(report, { color: false, quiet: true }).trimEnd().split('\n');
    const findings = report.runs.reduce((n, r) => n + Math.max(1, r.findings.length), 0);
    expect(lines).toHaveLength(findings);
    expect(lines).toContain('✗ fork-inheritance · mode 0 · fork-charged');
    expect(lines).toContain('skipped oom-late-failure · mode 2: needs a memory cgroup controller it may create groups in');
  });
});

describe('renderMarkdown', () => {
  const md = renderMarkdown(report);

  it('has the environment and the claims × modes table with one column per mode', () => {
    expect(md).toContain('| Kernel | 6.1.0-28-amd64 |');
    expect(md).toContain('| Experiment | Claim | mode 0 | mode 1 | mode 2 |');
    expect(md).toContain('| mode-matrix | largest-mapping \\[noreserve=false\\] | ✓ 5.12 GiB | ✓ 128 TiB | ✓ 780 MiB |');
    expect(md).toContain('| redis-fork | mode-1-fork-succeeds |  | ✓ 2 GiB | skipped |');
    // A claim found once per run is labelled by its id alone.
    expect(md).toContain('| commit-limit | ratio-follows | ✓ 3.06 GiB |  | error |');
    expect(md).toContain('| sparse-array | no-commit-charge | ? 3.2 MiB | ? 3.2 MiB | ? 3.2 MiB |');
  });

  it('gives each finding its observation and evidence', () => {
    expect(md).toContain('Observed: mmap of 192 MiB succeeded; SIGKILL after 12,544 pages and 610 ms');
    expect(md).toContain('| pagesTouchedBeforeKill | 12,544 |');
  });

  it('escapes report text', () => {
    expect(md).not.toContain(SCRIPT);
    expect(md).not.toContain('<b>');
    expect(md).toContain('&lt;script&gt;');
  });
});

describe('renderHtml', () => {
  let html = '';
  beforeAll(async () => {
    html = await renderHtml(report);
  });

  it('is self-contained: no script, no external reference', () => {
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/<link\b/i);
    // Only SVG namespace declarations may name a URL; they are identifiers, never fetched.
    const urls = [...html.matchAll(/https?:\/\/[^\s"'<>)]+/g)].map((m) => m[0]);
    expect(new Set(urls)).toEqual(new Set(['http://www.w3.org/2000/svg', 'http://www.w3.org/1999/xlink']));
    expect(html).not.toMatch(/\b(src|href)=["']?(https?:|\/\/)/i);
  });

  it('escapes report text', () => {
    expect(html).not.toContain(SCRIPT);
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
    expect(html).toContain('&lt;b&gt;NORESERVE&lt;/b&gt;');
  });

  it('draws the four charts as SVG with the run numbers', () => {
    for (const id of ['mode-matrix', 'sparse-array', 'accounting', 'oom-late-failure']) {
      const figure = html.slice(html.indexOf(`id="chart-${id}"`));
      expect(figure.slice(0, figure.indexOf('</figure>'))).toMatch(/<svg[\s\S]*<\/svg>/);
    }
    for (const label of ['5.12 GiB', '128 TiB', '780 MiB', '262,144', '4,098 (16 MiB)', '49 MiB', '48 MiB', 'memfd-shared']) {
      expect(html).toContain(`>${label}</text>`);
    }
    expect(html).toContain('Largest mapping mmap accepted, per mode and MAP_NORESERVE');
  });

  it('has the same table as the Markdown', () => {
    expect(html).toContain('<th>mode 0</th><th>mode 1</th><th>mode 2</th>');
    expect(html).toMatch(
      /<code>largest-mapping \[noreserve=true\]<\/code><\/td><td class="cell"><span class="verdict holds">✓<\/span> 128 TiB/,
    );
  });

  it('leaves out the charts a run has no data for', async () => {
    const settingsOnly: RunReport = { ...report, runs: report.runs.filter((r) => r.experiment === 'settings') };
    const page = await renderHtml(settingsOnly);
    expect(page).not.toContain('<svg');
    expect(page).not.toContain('<h2>Charts</h2>');
  });
});

describe('writeReport', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'report-write-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('chooses the format by extension', async () => {
    await writeReport(join(dir, 'r.md'), report);
    await writeReport(join(dir, 'r.html'), report);
    expect(await readFile(join(dir, 'r.md'), 'utf8')).toMatch(/^# overcommit-lab report/);
    expect(await readFile(join(dir, 'r.html'), 'utf8')).toMatch(/^<!DOCTYPE html>/);
  });

  it('refuses other extensions clearly', async () => {
    await expect(writeReport(join(dir, 'r.txt'), report)).rejects.toThrow(/ending in \.md or \.html/);
  });
});
