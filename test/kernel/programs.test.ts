import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findVma, readVmas } from '../../lib/kernel/smaps.js';
import { readStat } from '../../lib/kernel/stat.js';
import { pageSize } from '../../lib/native/mapping.js';
import {
  type ProgramName,
  parseRlimitOutput,
  parseSettingsOutput,
  parseSparseOutput,
  programPath,
  programPausePoints,
  runProgram,
} from '../../lib/native/programs.js';
import { withSettingsLock } from '../../lib/safety/lock.js';
import { memoryCgroupAvailability, withMemoryCgroup } from '../../lib/safety/memory-cgroup.js';
import { GiB, MiB } from '../../lib/units.js';

const NAMES: ProgramName[] = ['settings', 'sparse', 'rlimit'];
/** A small array for the sparse program outside a memory cgroup. */
const SMALL_BYTES = 8 * MiB;
/** 4096 bytes per write, as 004's STRIDE (4096 / sizeof(int) ints). */
const WRITE_BYTES = 4096;
/** ELF e_machine of this architecture: the program must be built for the machine it runs on. */
const ELF_MACHINE: Record<string, number> = { x64: 62, arm64: 183 };

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

describe('004 programs: built and found', () => {
  it.each(NAMES)('%s is an executable for this architecture after install', (name) => {
    const path = programPath(name);
    const header = readFileSync(path).subarray(0, 20);
    expect(header.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    expect(header.readUInt16LE(18)).toBe(ELF_MACHINE[process.arch]);
    // The program's own --help, and a refusal of what it does not take.
    expect(execFileSync(path, ['--help'], { encoding: 'utf8' })).toMatch(/^usage: /);
    expect(() => execFileSync(path, ['--no-such-option'], { stdio: 'pipe' })).toThrow(expect.objectContaining({ status: 2 }));
  });

  it('refuses unknown programs and options that do not fit the program', async () => {
    expect(() => programPath('nope' as ProgramName)).toThrow(TypeError);
    await expect(runProgram('nope' as ProgramName)).rejects.toThrow(TypeError);
    await expect(runProgram('settings', { bytes: SMALL_BYTES } as never)).rejects.toThrow(TypeError);
    await expect(runProgram('sparse', { bytes: 100 })).rejects.toThrow(RangeError);
    await expect(runProgram('sparse', { bytes: 8192 + 1 })).rejects.toThrow(RangeError);
    await expect(runProgram('sparse', { bytes: '8192' as never })).rejects.toThrow(TypeError);
    await expect(runProgram('rlimit', { timeoutMs: 0 })).rejects.toThrow(RangeError);
    await expect(runProgram('rlimit', { onPause: 1 as never })).rejects.toThrow(TypeError);
  });
});

describe('settings program', () => {
  it("prints the mode and ratio in force, as the document's program does", async () => {
    // Read under the settings lock: no switcher on this machine changes them meanwhile.
    const { result, mode, ratio } = await withSettingsLock('shared', async () => {
      const mode = Number(readFileSync('/proc/sys/vm/overcommit_memory', 'utf8'));
      const ratio = Number(readFileSync('/proc/sys/vm/overcommit_ratio', 'utf8'));
      return { result: await runProgram('settings'), mode, ratio };
    });
    expect(result).toMatchObject({ exitCode: 0, signal: null, timedOut: false, stderr: '', pauses: [] });
    expect(result.stdout).toHaveLength(3);
    const out = parseSettingsOutput(result.stdout);
    expect(out.mode).toBe(mode);
    expect(out.ratio).toBe(ratio);
    const texts = ['Heuristic (deny obvious overcommits)', 'Always allow overcommits', 'Strict (ratio-based accounting)'];
    expect(out.modeText).toBe(texts[mode] ?? 'Unknown');
    expect(result.pid).toBeGreaterThan(0);
    expect(result.durationMs).toBeGreaterThan(0);
  });
});

describe('rlimit program', () => {
  it('prints its two mmap lines; at its pause point its own RLIMIT_AS is the 64 MB it set', async () => {
    let limits = '';
    let vmSize = 0;
    const result = await runProgram('rlimit', {
      onPause: ({ point, pid }) => {
        expect(point).toBe('limited');
        expect(readStat(pid)?.state).toBe('T');
        limits = readFileSync(`/proc/${pid}/limits`, 'utf8');
        vmSize = Number(/^VmSize:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
      },
    });
    expect(result).toMatchObject({ exitCode: 0, signal: null, stderr: '', args: ['--pause'] });
    expect(result.pauses.map((p) => p.point)).toEqual(['limited']);
    expect(limits).toMatch(new RegExp(`^Max address space\\s+${64 * MiB}\\s+unlimited\\s+bytes\\s*$`, 'm'));
    // A small C process: far below the limit it set, unlike a forked Node child.
    expect(vmSize).toBeGreaterThan(0);
    expect(vmSize).toBeLessThan(64 * MiB);
    expect(result.stdout).toHaveLength(2);
    const out = parseRlimitOutput(result.stdout);
    for (const line of [out.large, out.small]) {
      // Whatever the kernel decided, the line is one of the program's two forms for it.
      expect(line.succeeded).toBe(line.error === null);
      if (line.succeeded) expect(line.address).not.toBeNull();
    }
  });
});

describe('sparse program', () => {
  it('without options prints exactly the lines of the document; with a small size it maps and touches that size', async () => {
    const result = await runProgram('sparse', { bytes: SMALL_BYTES });
    expect(result).toMatchObject({ exitCode: 0, signal: null, stderr: '', pauses: [], mincore: [] });
    expect(result.stdout).toHaveLength(3);
    const out = parseSparseOutput(result.stdout);
    expect(out).toMatchObject({
      sizeLabel: '8MB',
      touchedPages: SMALL_BYTES / WRITE_BYTES,
      first: 0,
      strideIndex: 1024,
      strideValue: 1024,
    });
  });

  it('pauses after mmap and after the touch loop: its mapping, mincore counts and smaps agree there', async () => {
    const seen: { point: string; rss: number; size: number; flags: string[]; lines: number }[] = [];
    const result = await runProgram('sparse', {
      bytes: SMALL_BYTES,
      mincore: true,
      onPause: ({ point, pid, stdout }) => {
        expect(readStat(pid)?.state).toBe('T');
        const vma = findVma(readVmas(pid), parseSparseOutput(stdout).address);
        expect(vma).toBeDefined();
        seen.push({ point, rss: vma!.sizes.Rss!, size: vma!.sizes.Size!, flags: vma!.vmFlags, lines: stdout.length });
      },
    });
    expect(result).toMatchObject({ exitCode: 0, signal: null, stderr: '', args: ['--pause', '--bytes', String(SMALL_BYTES), '--mincore'] });
    expect(result.pauses.map((p) => p.point)).toEqual([...programPausePoints.sparse]);
    expect(result.pauses[1]!.stoppedMs).toBeGreaterThanOrEqual(result.pauses[0]!.resumedMs);
    expect(seen.map((s) => [s.point, s.lines])).toEqual([
      ['mapped', 1],
      ['touched', 2],
    ]);
    // The tool's lines are not the program's: the document's three lines only.
    expect(result.stdout).toHaveLength(3);
    expect(result.mincore.map((m) => m.point)).toEqual(['mapped', 'touched']);
    for (const [i, m] of result.mincore.entries()) {
      expect(m.pages).toBe(SMALL_BYTES / pageSize);
      // The program's mincore and the kernel's smaps Rss, read while it was stopped at the same point.
      expect(m.residentPages! * pageSize).toBe(seen[i]!.rss);
      expect(seen[i]!.size).toBeGreaterThanOrEqual(SMALL_BYTES);
    }
    expect(parseSparseOutput(result.stdout).touchedPages).toBe(SMALL_BYTES / WRITE_BYTES);
  });

  const cgroups = memoryCgroupAvailability();
  it.skipIf(!cgroups.available)(
    `runs at 004's 1 GB, moved into a memory cgroup at its pause before it touches${cgroups.available ? '' : ` (skipped: ${cgroups.reason})`}`,
    async () => {
      await withMemoryCgroup(GiB + 256 * MiB, async (cg) => {
        const result = await runProgram('sparse', {
          mincore: true,
          onPause: ({ point, pid }) => {
            if (point === 'mapped') writeFileSync(cg.procsFile, String(pid));
            expect(readFileSync(`/proc/${pid}/cgroup`, 'utf8')).toContain(cg.path.split('/').pop()!);
          },
        });
        expect(result).toMatchObject({ exitCode: 0, signal: null, stderr: '' });
        expect(cg.oomKills()).toBe(0);
        const out = parseSparseOutput(result.stdout);
        expect(out).toMatchObject({ sizeLabel: '1GB', touchedPages: GiB / WRITE_BYTES, strideIndex: 1024, strideValue: 1024 });
        expect(result.mincore.map((m) => m.pages)).toEqual([GiB / pageSize, GiB / pageSize]);
      });
    },
    120_000,
  );

  it('a failing pause callback kills the program and rejects with its error; a timeout kills it', async () => {
    let pid = 0;
    await expect(
      runProgram('sparse', {
        bytes: SMALL_BYTES,
        onPause: (c) => {
          pid = c.pid;
          throw new Error('measurement failed');
        },
      }),
    ).rejects.toThrow('measurement failed');
    expect(existsSync(`/proc/${pid}`)).toBe(false);

    const slow = await runProgram('sparse', { bytes: SMALL_BYTES, timeoutMs: 200, onPause: () => sleep(1000) });
    expect(slow).toMatchObject({ timedOut: true, exitCode: null, signal: 'SIGKILL' });
    expect(existsSync(`/proc/${slow.pid}`)).toBe(false);
  });

  it('a program stopped at a pause point dies with the process that ran it, even by SIGKILL', async () => {
    const holder = spawn(process.execPath, [join(import.meta.dirname, '..', 'fixtures/program-paused.mjs')], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const pid = await new Promise<number>((resolve, reject) => {
      holder.stdout.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
      holder.once('exit', (code) => reject(new Error(`the fixture exited (${code}) before the program paused`)));
    });
    expect(readStat(pid)?.state).toBe('T');
    const exited = new Promise((resolve) => holder.once('exit', resolve));
    holder.kill('SIGKILL');
    await exited;
    let state = readStat(pid)?.state;
    for (let i = 0; i < 200 && state !== undefined && state !== 'Z'; i++) {
      await sleep(10);
      state = readStat(pid)?.state;
    }
    // Gone, or a zombie waiting for whoever inherited it: not a stopped process left behind.
    expect([undefined, 'Z']).toContain(state);
  });
});
