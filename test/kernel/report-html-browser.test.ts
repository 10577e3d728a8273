/**
 * Opens the HTML report in headless Chromium (Debian's chromium package) and checks that the
 * charts rendered and the console stayed silent. The page has no script, so any console line
 * (a CSP violation, a failed load, a parse error) is an error.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunReport } from '../../lib/experiments/model.js';
import { renderHtml } from '../../lib/report/html.js';

const CHROMIUM = '/usr/bin/chromium';
const missing = !existsSync(CHROMIUM);
/** Said in the test names, so a run without Chromium shows why these were skipped. */
const NOTE = missing ? ` (skipped: ${CHROMIUM} is not installed; apt-get install chromium)` : '';
const run = promisify(execFile);

interface Loaded {
  dom: string;
  consoleLines: string[];
}

/** Loads `file` in a fresh profile, with networking extras off; returns the DOM and the console lines. */
async function load(file: string, dir: string): Promise<Loaded> {
  const profile = await mkdtemp(join(dir, 'profile-'));
  const { stdout, stderr } = await run(
    CHROMIUM,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--user-data-dir=${profile}`,
      '--enable-logging=stderr',
      '--v=0',
      '--dump-dom',
      pathToFileURL(file).href,
    ],
    { timeout: 60_000, maxBuffer: 64 * 1024 * 1024 },
  );
  // Chromium logs every console message, whatever its level, as ':CONSOLE' lines on stderr.
  return { dom: stdout, consoleLines: stderr.split('\n').filter((l) => l.includes(':CONSOLE')) };
}

describe('HTML report in headless Chromium', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'report-browser-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.skipIf(missing)(`sees console messages (the harness itself works)${NOTE}`, async () => {
    const probe = join(dir, 'probe.html');
    await writeFile(probe, '<!DOCTYPE html><p>probe</p><script>console.error("probe-error")</script>');
    const { consoleLines } = await load(probe, dir);
    expect(consoleLines.join('\n')).toContain('probe-error');
  });

  it.skipIf(missing)(`renders every chart with marks and logs nothing to the console${NOTE}`, async () => {
    const fixture = new URL('../fixtures/report-run-a.json', import.meta.url);
    const report = JSON.parse(await readFile(fixture, 'utf8')) as RunReport;
    const file = join(dir, 'report.html');
    await writeFile(file, await renderHtml(report));
    const { dom, consoleLines } = await load(file, dir);

    expect(consoleLines).toEqual([]);
    for (const id of ['mode-matrix', 'sparse-array', 'accounting', 'oom-late-failure']) {
      const start = dom.indexOf(`id="chart-${id}"`);
      expect(start, `chart ${id} in the DOM`).toBeGreaterThan(0);
      const figure = dom.slice(start, dom.indexOf('</figure>', start));
      expect(figure).toMatch(/<svg[^>]*width="\d+"/);
      // Vega draws bars as 'M x,y h width v height' paths in a 'mark-rect' group: some have area.
      const bars = figure.slice(figure.indexOf('class="mark-rect'));
      expect(bars, `chart ${id} has bars`).toMatch(/<path[^>]*d="M[-\d.]+,[-\d.]+h[1-9][\d.]*v-?[1-9]/);
    }
    expect(dom).toContain('>49 MiB</text>');
  });
});
