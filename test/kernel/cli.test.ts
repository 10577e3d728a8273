import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import type { RunReport } from '../../lib/experiments/model.js';
import { formatBytes } from '../../lib/report/format.js';
import { withSettingsLock } from '../../lib/safety/lock.js';
import { currentMode, nobodyCannotRead, onPath } from '../helpers.js';

const root = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'overcommit-lab-cli-'));
afterAll(() => rmSync(dir, { recursive: true }));

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [join(root, 'dist/cli/main.js'), ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, NO_COLOR: '1' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('command line', () => {
  it('--help and --version', () => {
    const help = cli('--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: overcommit-lab <command>');
    const version = cli('--version');
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toBe(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version);
  });

  it('usage errors exit 2 with the usage', () => {
    for (const args of [
      [],
      ['frobnicate'],
      ['run', 'no-such-experiment'],
      ['run', '--mode', '5'],
      ['--bogus'],
      ['list', '--mode', '1'],
      ['demo', 'dense'],
      ['compare', 'one.json'],
      ['run', 'settings', '--report', 'out.pdf'],
    ]) {
      const r = cli(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toContain('Usage: overcommit-lab');
    }
  });

  it('a run waits, saying so, while another process holds the settings lock', async () => {
    const env = { ...process.env, NO_COLOR: '1', OVERCOMMIT_LAB_LOCK: join(dir, 'lock') };
    const holder = spawn(process.execPath, [join(root, 'test/fixtures/lock-holder.mjs'), env.OVERCOMMIT_LAB_LOCK, 'exclusive'], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    await once(holder.stdout!, 'data');
    const run = spawn(process.execPath, [join(root, 'dist/cli/main.js'), 'run', 'settings', '--json'], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    run.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    let stdout = '';
    run.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    while (!stderr.includes('waiting for another overcommit-lab process')) await sleep(50);
    expect(stdout).toBe('');
    holder.stdin!.end();
    const [code] = (await once(run, 'exit')) as [number];
    expect(code).toBe(0);
    expect((JSON.parse(stdout) as RunReport).runs[0]!.status).toBe('ran');
  });

  it("run --report FILE.html draws this run's own numbers", () => {
    const html = join(dir, 'matrix.html');
    const r = cli('run', 'mode-matrix', '--json', '--report', html);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as RunReport;
    const page = readFileSync(html, 'utf8');
    expect(page).toContain('id="chart-mode-matrix"');
    const measured = report.runs[0]!.findings.filter((f) => typeof f.evidence.noreserve === 'boolean');
    expect(measured.length).toBeGreaterThan(0);
    for (const f of measured) expect(page).toContain(`>${formatBytes(f.evidence.largestBytes as number)}</text>`);
    expect(page).not.toMatch(/<script[\s>]/);
  });

  /** What `demo sparse` printed: the program's lines then the measurements, or why it was skipped. */
  function expectSparseDemo(r: { code: number | null; stdout: string; stderr: string }) {
    if (r.code !== 0) {
      // Touching 1 GiB is refused without a memory cgroup and without a wide margin of MemAvailable.
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/demo sparse skipped: touching 1 GiB needs a memory cgroup \(.+\) or MemAvailable of 4 x that/);
      return;
    }
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^\$ \.\/sparse --pause --mincore +# 004's program, its own process \(pid \d+\)$/);
    expect(lines[1]).toMatch(/^Mapped 1GB sparse array at 0x[0-9a-f]+ \(no swap reserved\)$/);
    expect(lines[2]).toBe('Touched 262144 pages (only those pages use swap)');
    expect(lines[3]).toBe('arr[0]=0, arr[1024]=1024');
    expect(r.stdout).toMatch(/oom_score_adj 1000\)/);
    // The program's own mincore count at its two points, and its mapping's Rss in its smaps.
    expect(r.stdout).toMatch(/residentPages\s+0 /);
    expect(r.stdout).toMatch(/residentPages\s+262,144 /);
    expect(r.stdout).toMatch(/vmaRssBytes\s+1 GiB \(1073741824\)/);
    expect(r.stdout).toMatch(/touchMs\s+[\d,]+ ms/);
  }

  it("demo sparse runs 004's program as its own process over 1 GiB and prints its lines, then what it cannot see (or why it was skipped)", () => {
    expectSparseDemo(cli('demo', 'sparse'));
  });

  // 004's program is an ordinary user program: the demo runs for a user without root when memory allows.
  // runuser switches by name: a machine without a passwd entry for nobody (a bare guest) has none.
  const notAsNobody = !onPath('runuser')
    ? 'needs runuser'
    : spawnSync('id', ['-u', 'nobody']).status !== 0
      ? 'no user named nobody here'
      : nobodyCannotRead('dist/cli/main.js');
  it.skipIf(notAsNobody !== '')(
    `demo sparse as user nobody: no cgroup, the program placed by MemAvailable's margin with oom_score_adj 1000, or skipped saying why${notAsNobody === '' ? '' : ` (skipped: ${notAsNobody})`}`,
    () => {
      const r = spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, join(root, 'dist/cli/main.js'), 'demo', 'sparse'], {
        cwd: tmpdir(),
        encoding: 'utf8',
        timeout: 120_000,
        env: { PATH: process.env.PATH, HOME: tmpdir(), NO_COLOR: '1' },
      });
      const out = { code: r.status, stdout: r.stdout, stderr: r.stderr };
      expectSparseDemo(out);
      if (out.code === 0)
        expect(out.stdout).toMatch(
          /without a memory cgroup \(.+\): MemAvailable was .* at least 4 x the 1024\.0 MiB touched; oom_score_adj 1000\)/,
        );
    },
  );

  it("settings prints what /proc says, as the documents' settings program does", async () => {
    await withSettingsLock('shared', () => {
      const r = cli('settings');
      expect(r.code).toBe(0);
      const ratio = readFileSync('/proc/sys/vm/overcommit_ratio', 'utf8').trim();
      expect(r.stdout).toContain(`overcommit_memory = ${currentMode()}\n`);
      expect(r.stdout).toContain(`overcommit_ratio = ${ratio}%\n`);
      expect(r.stdout).toMatch(/^Mode: /m);
      expect(r.stdout).toMatch(/^CommitLimit = .*\(\d+ bytes\)$/m);
    });
  });

  it('list names every experiment and its claims', () => {
    const r = cli('list', '--json');
    expect(r.code).toBe(0);
    const list = JSON.parse(r.stdout) as { id: string; claims: { id: string; source: string }[] }[];
    expect(list.length).toBeGreaterThan(0);
    for (const e of list) {
      expect(e.claims.length).toBeGreaterThan(0);
      for (const c of e.claims) expect(c.source).toMatch(/^00[0-4]_[0-9a-f]+\.txt$/);
    }
  });

  it("run --json has the contract's shape; compare and --report work on its output", async () => {
    const ids = (JSON.parse(cli('list', '--json').stdout) as { id: string }[]).map((e) => e.id);
    const id = ids.includes('settings') ? 'settings' : ids[0]!;
    const r = cli('run', id, '--json', '--report', join(dir, 'run.md'));
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as RunReport;
    expect(Object.keys(report).sort()).toEqual(['runs', 'settings', 'system', 'tool']);
    expect(report.tool.name).toBe('overcommit-lab');
    expect(Object.keys(report.system).sort()).toEqual([
      'arch',
      'cpus',
      'kernel',
      'machine',
      'memTotalBytes',
      'pageSize',
      'root',
      'swapTotalBytes',
      'thpSize',
    ]);
    expect(Object.keys(report.settings).sort()).toEqual(
      ['commitLimitBytes', 'committedAsBytes', 'overcommitKbytes', 'overcommitMemory', 'overcommitRatio'].sort(),
    );
    expect(report.runs).toHaveLength(1);
    const run = report.runs[0]!;
    expect(run.experiment).toBe(id);
    expect(['ran', 'skipped', 'error']).toContain(run.status);
    expect(run.durationMs).toBeGreaterThanOrEqual(0);
    for (const f of run.findings) {
      expect(Object.keys(f)).toEqual(expect.arrayContaining(['claim', 'text', 'source', 'holds', 'observed', 'evidence']));
      expect([true, false, null]).toContain(f.holds);
    }
    expect(readFileSync(join(dir, 'run.md'), 'utf8')).toContain(id);

    // Two runs differing in one verdict: compare lists it.
    const a = join(dir, 'a.json');
    const b = join(dir, 'b.json');
    writeFileSync(a, JSON.stringify(report));
    const flipped = structuredClone(report);
    const f0 = flipped.runs[0]!.findings[0];
    if (f0) f0.holds = f0.holds !== true;
    writeFileSync(b, JSON.stringify(flipped));
    const c = cli('compare', a, b, '--report', join(dir, 'cmp.html'));
    expect(c.code).toBe(0);
    if (f0) expect(c.stdout).toContain(f0.claim);
    expect(readFileSync(join(dir, 'cmp.html'), 'utf8')).toMatch(/^<!DOCTYPE html>/i);
  });
});
