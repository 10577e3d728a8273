// The accelerator's choice on constructed cases (no test says whether KVM works on this
// machine), the default timeout, and the sweep of work directories left by a killed vm.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { accelRequest, chooseAccel, defaultTimeoutMs, type KvmDevice, kvmTrial, openKvmDevice } from '../../lib/vm/accel.js';
import { makeWorkDir, QEMU_PID_FILE, sweepStaleWorkDirs } from '../../lib/vm/work.js';

const opens: KvmDevice = { opens: true };
const enxio: KvmDevice = { opens: false, why: '/dev/kvm: ENXIO (no such device or address)' };

describe('chooseAccel', () => {
  it('tcg asked for is TCG, whatever /dev/kvm is', () => {
    expect(chooseAccel('tcg', opens)).toEqual({ use: 'tcg', why: 'TCG as asked (--accel tcg)' });
    expect(chooseAccel('tcg', enxio)).toMatchObject({ use: 'tcg' });
  });

  it('an unopenable /dev/kvm: auto falls back at once with the reason, kvm is refused with it', () => {
    expect(chooseAccel('auto', enxio)).toEqual({ use: 'tcg', why: `KVM is unusable: ${enxio.why}` });
    expect(chooseAccel('kvm', enxio)).toEqual({ refuse: `--accel kvm: ${enxio.why}; use --accel tcg or auto` });
  });

  it('a /dev/kvm that opens is tried with a guest before it is trusted', () => {
    expect(chooseAccel('auto', opens)).toEqual({ tryKvm: true });
    expect(chooseAccel('kvm', opens)).toEqual({ tryKvm: true });
  });

  it('a KVM guest that shows life keeps KVM', () => {
    expect(chooseAccel('auto', opens, { kind: 'life' })).toMatchObject({ use: 'kvm' });
    expect(chooseAccel('kvm', opens, { kind: 'life' })).toMatchObject({ use: 'kvm' });
  });

  it('a silent KVM guest: auto continues under TCG saying why, kvm is refused after the bound', () => {
    const silent = { kind: 'silent', waitedMs: 15_000 } as const;
    const auto = chooseAccel('auto', opens, silent);
    expect(auto).toMatchObject({ use: 'tcg' });
    expect((auto as { why: string }).why).toMatch(/no life within 15 s/);
    expect((chooseAccel('kvm', opens, silent) as { refuse: string }).refuse).toMatch(/^--accel kvm: .*no life within 15 s.*--accel tcg/);
  });

  it('a qemu that could not run the KVM guest: auto falls back with its words, kvm is refused', () => {
    const refused = { kind: 'refused', why: 'qemu ended before the guest booted (failed to initialize kvm)' } as const;
    expect(chooseAccel('auto', opens, refused)).toEqual({ use: 'tcg', why: `TCG: ${refused.why}` });
    expect(chooseAccel('kvm', opens, refused)).toMatchObject({ refuse: expect.stringContaining('failed to initialize kvm') });
  });
});

describe('kvmTrial', () => {
  const end = { silent: false, exitCode: 1, console: 'SeaBIOS\nqemu-system-x86_64: failed to initialize kvm: No such device\n' };
  it('reads how the first KVM guest went', () => {
    expect(kvmTrial(end, true, 15_000, false)).toEqual({ kind: 'life' });
    expect(kvmTrial({ ...end, silent: true, exitCode: null }, false, 15_000, false)).toEqual({ kind: 'silent', waitedMs: 15_000 });
    expect(kvmTrial(end, false, 15_000, false)).toEqual({
      kind: 'refused',
      why: 'qemu ended before the guest booted (SeaBIOS qemu-system-x86_64: failed to initialize kvm: No such device)',
    });
    expect(kvmTrial({ ...end, console: '', exitCode: null }, false, 15_000, false)).toMatchObject({
      why: expect.stringContaining('none: killed'),
    });
  });

  it('a host refusing the guest memory is no fault of KVM (TCG would be refused alike)', () => {
    expect(kvmTrial(end, false, 15_000, true)).toEqual({ kind: 'life' });
  });
});

describe('accelRequest', () => {
  it('takes the flag, else the environment, else auto; undefined for anything else', () => {
    expect(accelRequest('kvm', 'tcg')).toBe('kvm');
    expect(accelRequest(undefined, 'tcg')).toBe('tcg');
    expect(accelRequest(undefined, undefined)).toBe('auto');
    expect(accelRequest(undefined, '')).toBe('auto');
    expect(accelRequest('hvf', undefined)).toBeUndefined();
    expect(accelRequest(undefined, 'KVM')).toBeUndefined();
  });
});

describe('openKvmDevice', () => {
  it('says why a device does not open, with its errno code', () => {
    const r = openKvmDevice('/nonexistent/kvm');
    expect(r).toEqual({ opens: false, why: expect.stringMatching(/^\/nonexistent\/kvm: ENOENT \(no such file or directory\)$/) });
  });
});

describe('defaultTimeoutMs', () => {
  it('grows with the experiment runs and is longer under TCG; a shell line gets 30 minutes', () => {
    expect(defaultTimeoutMs('tcg', 2)).toBeGreaterThan(defaultTimeoutMs('tcg', 1));
    expect(defaultTimeoutMs('tcg', 4)).toBeGreaterThan(defaultTimeoutMs('kvm', 4));
    expect(defaultTimeoutMs('kvm', 0)).toBe(defaultTimeoutMs('kvm', 1));
    expect(defaultTimeoutMs('tcg', undefined)).toBe(1_800_000);
  });
});

describe('sweepStaleWorkDirs', () => {
  let parent: string | undefined;
  afterEach(() => {
    if (parent !== undefined) rmSync(parent, { recursive: true, force: true });
  });

  it("removes only the directories whose owner is gone, and kills nothing that does not use the dead owner's directory", () => {
    parent = mkdtempSync(join(tmpdir(), 'ocl-sweep-test-'));
    // A pid that was just reaped: no process has it (pids are not reused this soon).
    const dead = spawnSync('true').pid;
    const mine = makeWorkDir(parent);
    const stale = join(parent, `overcommit-lab-vm-${dead}-AbC123`);
    const other = join(parent, 'overcommit-lab-vm-xYz789');
    for (const d of [stale, other]) mkdirSync(d);
    // Its pid file names this test process, whose command line does not name the directory: left alone.
    writeFileSync(join(stale, QEMU_PID_FILE), `${process.pid}\n`);
    expect(sweepStaleWorkDirs(parent)).toEqual([stale]);
    expect([existsSync(mine), existsSync(stale), existsSync(other)]).toEqual([true, false, true]);
  });
});
