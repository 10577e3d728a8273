import { describe, expect, it } from 'vitest';
import { planGuestRun } from '../../lib/cli/vm.js';
import { GiB, MiB, parseSize } from '../../lib/units.js';
import { parseVmArgs, VmUsageError } from '../../lib/vm/args.js';

describe('parseVmArgs', () => {
  it('takes the defaults, and the guest command after --', () => {
    const a = parseVmArgs(['--kernel', 'k', '--', 'run', 'mode-matrix', '--json']);
    expect(a).toMatchObject({ kernel: 'k', memoryBytes: 4 * GiB, cpus: 2, swap: { kind: 'none' }, cgroup: 'v2' });
    // No --timeout: runInVm scales it to the experiments and the accelerator.
    expect(a.timeoutMs).toBeUndefined();
    expect(a.guest).toEqual({ args: ['run', 'mode-matrix', '--json'] });
  });

  it('reads memory, cpus, swap, cgroup and timeout', () => {
    const a = parseVmArgs([
      '--kernel',
      'k',
      '--memory',
      '2G',
      '--cpus',
      '1',
      '--swap',
      'zram:512M',
      '--cgroup',
      'v1',
      '--timeout',
      '60',
      '--',
      'list',
    ]);
    expect(a).toMatchObject({ memoryBytes: 2 * GiB, cpus: 1, swap: { kind: 'zram', bytes: 512 * MiB }, cgroup: 'v1', timeoutMs: 60_000 });
    expect(parseVmArgs(['--kernel', 'k', '--swap', 'file:1G', '--', 'list']).swap).toEqual({ kind: 'file', bytes: GiB });
  });

  it('takes --accel, or OVERCOMMIT_LAB_ACCEL without it, auto by default', () => {
    const saved = process.env.OVERCOMMIT_LAB_ACCEL;
    try {
      delete process.env.OVERCOMMIT_LAB_ACCEL;
      expect(parseVmArgs(['--kernel', 'k', '--', 'list']).accel).toBe('auto');
      process.env.OVERCOMMIT_LAB_ACCEL = 'tcg';
      expect(parseVmArgs(['--kernel', 'k', '--', 'list']).accel).toBe('tcg');
      expect(parseVmArgs(['--kernel', 'k', '--accel', 'kvm', '--', 'list']).accel).toBe('kvm');
      process.env.OVERCOMMIT_LAB_ACCEL = 'fast';
      expect(() => parseVmArgs(['--kernel', 'k', '--', 'list'])).toThrow(/OVERCOMMIT_LAB_ACCEL takes auto, kvm or tcg, got 'fast'/);
    } finally {
      if (saved === undefined) delete process.env.OVERCOMMIT_LAB_ACCEL;
      else process.env.OVERCOMMIT_LAB_ACCEL = saved;
    }
  });

  it('takes --exec instead of a command', () => {
    expect(parseVmArgs(['--kernel', 'k', '--exec', 'npx vitest run']).guest).toEqual({ shell: 'npx vitest run' });
    expect(() => parseVmArgs(['--kernel', 'k', '--exec', 'x', '--', 'run'])).toThrow(/either --exec or a command/);
  });

  it.each([
    [['--', 'run'], /needs --kernel/],
    [['--kernel', 'k'], /command after --/],
    [['--kernel', 'k', '--swap', 'disk:1G', '--', 'run'], /--swap takes none, zram:SIZE or file:SIZE/],
    [['--kernel', 'k', '--swap', 'zram:lots', '--', 'run'], /--swap: 'lots' is not a size/],
    [['--kernel', 'k', '--cgroup', 'v3', '--', 'run'], /--cgroup takes v1 or v2/],
    [['--kernel', 'k', '--cpus', '0', '--', 'run'], /--cpus takes a whole number/],
    [['--kernel', 'k', '--memory', '64M', '--', 'run'], /at least 256M/],
    [['--kernel', 'k', 'run'], /command goes after --/],
    [['--kernel', 'k', '--accel', 'hvf', '--', 'run'], /--accel takes auto, kvm or tcg/],
  ])('refuses %j with a clear message', (argv, message) => {
    expect(() => parseVmArgs(argv)).toThrow(VmUsageError);
    expect(() => parseVmArgs(argv)).toThrow(message);
  });

  it('--help needs nothing else', () => {
    expect(parseVmArgs(['--help']).help).toBe(true);
  });
});

describe('parseSize', () => {
  it('reads suffixes as powers of 1024', () => {
    expect([parseSize('4G'), parseSize('512M'), parseSize('1.5GiB'), parseSize('4096')]).toEqual([4 * GiB, 512 * MiB, 1.5 * GiB, 4096]);
    expect(() => parseSize('G')).toThrow(/not a size/);
  });
});

describe("the guest's run command", () => {
  it('always asks the guest for JSON and keeps --json, --report and --quiet on the host', () => {
    expect(planGuestRun(['mode-matrix', '--mode', '0,2', '--report', 'r.md'])).toEqual({
      guestArgs: ['run', 'mode-matrix', '--mode', '0,2', '--json'],
      runs: 2,
      json: false,
      report: 'r.md',
      quiet: false,
    });
    expect(planGuestRun(['--json']).json).toBe(true);
    expect(planGuestRun(['settings', 'zero-pages', '--mode', 'all']).runs).toBe(6);
  });

  it('refuses an unknown experiment, mode or report name before anything boots', () => {
    expect(() => planGuestRun(['no-such'])).toThrow(/unknown experiment no-such/);
    expect(() => planGuestRun(['--mode', '3'])).toThrow(/--mode takes/);
    expect(() => planGuestRun(['--report', 'r.txt'])).toThrow(/\.md or \.html/);
  });
});
