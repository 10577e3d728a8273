// A kernel image's architecture from its own header (constructed headers, and the real images
// when scripts/kernels.sh has cached them), and qemu's command line for each architecture.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { imageArch, MACHINES, readHead, userlandOf } from '../../lib/vm/arch.js';
import { initScript, userlandSymlinks } from '../../lib/vm/initramfs.js';
import { kernelPanicLine, qemuArgs } from '../../lib/vm/qemu.js';
import { checkHostTools } from '../../lib/vm/requirements.js';

/** An arm64 Image header (Documentation/arch/arm64/booting.rst): flags at 0x18, 'ARM\x64' at 0x38. */
function arm64Image(pageFlag: number): Buffer {
  const b = Buffer.alloc(0x1000);
  b.write('MZ', 0, 'latin1');
  b.writeUInt32LE(pageFlag << 1, 0x18);
  b.write('ARM\x64', 0x38, 'latin1');
  return b;
}

/** A 64-bit ELF header with `machine`, little- or big-endian. */
function elf(machine: number, littleEndian = true): Buffer {
  const b = Buffer.alloc(64);
  b.write('\x7fELF', 0, 'latin1');
  b[4] = 2;
  b[5] = littleEndian ? 1 : 2;
  if (littleEndian) b.writeUInt16LE(machine, 18);
  else b.writeUInt16BE(machine, 18);
  return b;
}

/** An EFI zboot image: 'MZ', 'zimg' at 4, a PE header naming `machine`. */
function zboot(machine: number): Buffer {
  const b = Buffer.alloc(0x200);
  b.write('MZ', 0, 'latin1');
  b.write('zimg', 4, 'latin1');
  b.writeUInt32LE(0x80, 0x3c);
  b.write('PE\0\0', 0x80, 'latin1');
  b.writeUInt16LE(machine, 0x84);
  return b;
}

describe('imageArch', () => {
  it("reads an arm64 Image's architecture and declared page size", () => {
    expect(imageArch(arm64Image(1))).toEqual({ arch: 'arm64', pageSize: 4096, format: 'Image' });
    expect(imageArch(arm64Image(2))).toEqual({ arch: 'arm64', pageSize: 16384, format: 'Image' });
    expect(imageArch(arm64Image(3))).toEqual({ arch: 'arm64', pageSize: 65536, format: 'Image' });
    // Flags 0: the page size is unspecified (older kernels).
    expect(imageArch(arm64Image(0))).toEqual({ arch: 'arm64', format: 'Image' });
  });

  it('unpacks a gzipped arm64 Image as far as its header', () => {
    expect(imageArch(gzipSync(arm64Image(2)).subarray(0, 200))).toEqual({ arch: 'arm64', pageSize: 16384, format: 'Image.gz' });
    expect(imageArch(gzipSync(Buffer.from('not a kernel at all')))).toBeUndefined();
  });

  it("reads an EFI zboot image's PE machine", () => {
    expect(imageArch(zboot(0xaa64))).toEqual({ arch: 'arm64', format: 'zboot' });
    expect(imageArch(zboot(0x8664))).toEqual({ arch: 'x64', format: 'zboot' });
    expect(imageArch(zboot(0x1c0))).toBeUndefined();
  });

  it("reads a vmlinux's ELF e_machine: little-endian ppc64, aarch64, x86-64", () => {
    expect(imageArch(elf(21))).toEqual({ arch: 'ppc64', format: 'ELF' });
    expect(imageArch(elf(183))).toEqual({ arch: 'arm64', format: 'ELF' });
    expect(imageArch(elf(62))).toEqual({ arch: 'x64', format: 'ELF' });
    // Big-endian ppc64 (no Node build runs there) and 32-bit ARM are not booted.
    expect(imageArch(elf(21, false))).toBeUndefined();
    expect(imageArch(elf(40))).toBeUndefined();
  });

  it('takes a bzImage as x86, its setup header before its PE header', () => {
    const b = Buffer.alloc(0x1000);
    b.write('MZ', 0, 'latin1');
    b.write('HdrS', 0x202, 'latin1');
    expect(imageArch(b)).toEqual({ arch: 'x64', format: 'bzImage' });
  });

  it('is undefined for anything else, and for a header cut short', () => {
    expect(imageArch(Buffer.from('#!/bin/sh\necho not a kernel\n'))).toBeUndefined();
    expect(imageArch(Buffer.alloc(0))).toBeUndefined();
    expect(imageArch(arm64Image(2).subarray(0, 0x3a))).toBeUndefined();
  });

  // The real images, when scripts/kernels.sh has cached them: their architecture is the one
  // their package is built for (the package's own name says it; the reader never looks at it).
  const cache = process.env.OVERCOMMIT_LAB_KERNELS ?? join(process.env.HOME ?? '/root', '.cache/overcommit-lab/kernels');
  const cached = existsSync(cache)
    ? readdirSync(cache)
        .filter((d) => existsSync(join(cache, d, 'boot')))
        .flatMap((d) =>
          readdirSync(join(cache, d, 'boot'))
            .filter((f) => /^vmlinu[xz]-/.test(f))
            .map((f) => join(cache, d, 'boot', f)),
        )
    : [];
  const expected = (file: string) =>
    /-(arm64)(-16k)?$/.test(file) ? 'arm64' : /-powerpc64le/.test(file) ? 'ppc64' : /-amd64$/.test(file) ? 'x64' : '';
  it.skipIf(cached.length === 0)(
    `reads the cached Debian images${cached.length === 0 ? ` — skipped: none in ${cache} (scripts/kernels.sh fetches them)` : ''}`,
    () => {
      for (const file of cached) {
        const found = imageArch(readHead(file));
        expect(found?.arch, file).toBe(expected(file));
        if (file.endsWith('-arm64-16k')) expect(found?.pageSize, file).toBe(16384);
      }
    },
  );
});

describe('qemuArgs for each architecture', () => {
  const base = { memoryBytes: 1024 * 1024 * 1024, cpus: 1, kernel: '/k', initrd: '/i', append: [], shares: [], verbose: false };
  it('boots arm64 on the virt machine, with -cpu max under TCG (LPA2 off) and its PL011 console', () => {
    const args = qemuArgs({ ...base, machine: MACHINES.arm64, accel: 'tcg' });
    expect(args.slice(0, 2)).toEqual(['-M', 'virt']);
    expect(args.join(' ')).toContain('-accel tcg,thread=multi -cpu max,lpa2=off');
    expect(args[args.indexOf('-append') + 1]).toMatch(/^console=ttyAMA0 /);
  });

  it('boots ppc64 on pseries, a POWER9 under TCG, its hypervisor console', () => {
    const args = qemuArgs({ ...base, machine: MACHINES.ppc64, accel: 'tcg' });
    expect(args.slice(0, 2)).toEqual(['-M', 'pseries']);
    expect(args.join(' ')).toContain('-accel tcg,thread=multi -cpu power9');
    expect(args[args.indexOf('-append') + 1]).toMatch(/^console=hvc0 /);
  });

  it('keeps x86 as it was: no -M, ttyS0; its TCG on one thread (live text patching races multi-threaded TCG)', () => {
    const args = qemuArgs({ ...base, machine: MACHINES.x64, accel: 'tcg' });
    expect(args).not.toContain('-M');
    expect(args.join(' ')).toContain('-accel tcg,thread=single -cpu max');
    expect(args[args.indexOf('-append') + 1]).toMatch(/^console=ttyS0 /);
  });
});

describe("a foreign guest's userland", () => {
  const u = userlandOf(MACHINES.ppc64, '/c/guests/ppc64el');
  it('lays out Node, glibc and busybox as scripts/kernels.sh fetches them', () => {
    expect(u).toEqual({
      dir: '/c/guests/ppc64el',
      node: '/c/guests/ppc64el/node/bin/node',
      busybox: '/c/guests/ppc64el/root/usr/bin/busybox',
      libDir: '/c/guests/ppc64el/root/usr/powerpc64le-linux-gnu/lib',
      loader: '/c/guests/ppc64el/root/usr/powerpc64le-linux-gnu/lib/ld64.so.2',
    });
    expect(userlandSymlinks(u.libDir)).toEqual([
      { path: 'lib', type: 'symlink', target: u.libDir },
      { path: 'lib64', type: 'symlink', target: u.libDir },
      { path: 'bin', type: 'symlink', target: 'busybox' },
    ]);
  });

  it("hides the host's build/ from the guest: an overlay whiteout made before the overlay is mounted", () => {
    const plan = {
      modules: [],
      shares: [],
      packageDir: '/p',
      outTag: 'out',
      cgroup: 'v2' as const,
      swap: { kind: 'none' as const },
      command: { argv: ['node'] },
    };
    const lines = initScript({ ...plan, hidden: ['build'] }).split('\n');
    const whiteout = lines.findIndex((l) => l.startsWith("mknod /overlay/upper/'build' c 0 0 "));
    const overlay = lines.findIndex((l) => l.startsWith('mount -t overlay '));
    expect(whiteout).toBeGreaterThan(lines.findIndex((l) => l.includes('mkdir /overlay/upper')));
    expect(whiteout).toBeLessThan(overlay);
    expect(initScript(plan)).not.toContain('mknod');
  });

  it('names each missing piece in one sentence, with what fetches or builds it', () => {
    const probe = {
      which: (n: string) => `/usr/bin/${n}`,
      staticBusybox: () => '/bin/busybox',
      exists: () => false,
      isStatic: () => false,
    };
    const r = checkHostTools(
      {
        modules: false,
        compressedModules: false,
        ext4Image: false,
        machine: MACHINES.ppc64,
        foreign: { userland: u, prebuildDir: '/p/prebuilds/linux-ppc64' },
      },
      probe,
    );
    expect(r).toEqual({
      missing: [
        "the ppc64 guest's Node (/c/guests/ppc64el/node/bin/node) is missing: scripts/kernels.sh 6.12-ppc64el-64k fetches it into /c/guests/ppc64el (node-linux-ppc64le from the npm registry).",
        "the ppc64 guest's glibc (/c/guests/ppc64el/root/usr/powerpc64le-linux-gnu/lib/ld64.so.2) is missing: scripts/kernels.sh 6.12-ppc64el-64k fetches it into /c/guests/ppc64el (Debian's libc6-ppc64el-cross).",
        "the ppc64 guest's static busybox (/c/guests/ppc64el/root/usr/bin/busybox) is missing: scripts/kernels.sh 6.12-ppc64el-64k fetches it into /c/guests/ppc64el (Debian's busybox-static:ppc64el).",
        'the linux-ppc64 prebuild (overcommit-lab.node, ocl-settings, ocl-sparse, ocl-rlimit, ocl-ptrace, ocl-malloc, ocl-exec in /p/prebuilds/linux-ppc64) is missing: npm run prebuild:ppc64 cross-compiles it.',
      ],
    });
    const none = checkHostTools(
      { modules: false, compressedModules: false, ext4Image: false, machine: MACHINES.arm64 },
      { ...probe, which: (n: string) => (n.startsWith('qemu') ? undefined : `/usr/bin/${n}`) },
    );
    expect(none).toEqual({
      missing: ['qemu-system-aarch64 is missing: install the qemu-system-arm package (apt-get install qemu-system-arm).'],
    });
  });

  it("takes the busybox of the guest's architecture, not the host's", () => {
    const probe = { which: (n: string) => `/usr/bin/${n}`, staticBusybox: () => '/bin/busybox', exists: () => true, isStatic: () => true };
    const r = checkHostTools(
      { modules: false, compressedModules: false, ext4Image: false, machine: MACHINES.ppc64, foreign: { userland: u, prebuildDir: '/p' } },
      probe,
    );
    expect(r).toEqual({ qemu: '/usr/bin/qemu-system-ppc64', busybox: u.busybox, cpio: '/usr/bin/cpio' });
  });
});

describe('kernelPanicLine: why a guest ended early, from its console', () => {
  // Captured from 5.1.15 guests under multi-threaded TCG (x86); the others as those kernels print them.
  const panicked = (...report: string[]) =>
    [
      'overcommit-lab: booted',
      ...report,
      '[    8.74] Kernel panic - not syncing: Fatal exception',
      '[    8.75] Kernel Offset: disabled',
    ].join('\n');
  it('names the first line of the crash report before the panic, without its timestamps', () => {
    const int3 = panicked(
      '[    8.697413] RAX: ffffffffffffffda RBX: 00007ffe0f747d30 RCX: 00007fe052698f37',
      '[    8.713800] int3: 0000 [#3] SMP NOPTI',
      '[    8.713926] CPU: 0 PID: 997 Comm: node Tainted: G      D W         5.1.15 #1',
      '[    8.714485] RIP: 0010:kmem_cache_alloc+0x9c/0x160',
    );
    expect(kernelPanicLine(int3)).toBe('int3: 0000 [#3] SMP NOPTI');
    // As captured: the oops right after the guest's progress, on its line.
    const afterProgress = panicked(
      '\r\x1b[2K… redis-server (mode 0)\r\x1b[2K… redis-server: starting /usr/bin/redis-server[    7.315405] int3: 0000 [#1] SMP NOPTI\r',
      '[    7.315951] RIP: 0010:__kmalloc+0x58/0x190',
    );
    expect(kernelPanicLine(afterProgress)).toBe('int3: 0000 [#1] SMP NOPTI');
    expect(kernelPanicLine(panicked('[   10.01] invalid opcode: 0000 [#1] SMP NOPTI'))).toBe('invalid opcode: 0000 [#1] SMP NOPTI');
    expect(
      kernelPanicLine(
        panicked('[    7.5] BUG: unable to handle kernel paging request at ffffffffb5f7cf0f', '[    7.5] Oops: 0003 [#2] SMP NOPTI'),
      ),
    ).toBe('BUG: unable to handle kernel paging request at ffffffffb5f7cf0f');
    const gp = 'general protection fault, probably for non-canonical address 0xdffffc0000000000: 0000 [#1] PREEMPT SMP KASAN NOPTI';
    expect(kernelPanicLine(panicked(`[    3.1] ${gp}`))).toBe(gp);
    expect(kernelPanicLine(panicked('[   12.1] Internal error: Oops: 0000000096000004 [#1] SMP\r'))).toBe(
      'Internal error: Oops: 0000000096000004 [#1] SMP',
    );
    expect(kernelPanicLine(panicked('[    2.8][    T1] Oops: Kernel access of bad area, sig: 11 [#1]'))).toBe(
      'Oops: Kernel access of bad area, sig: 11 [#1]',
    );
  });
  it("names the panic itself when no crash report came before it (PID 1's end)", () => {
    expect(
      kernelPanicLine(
        '[    3.245804][    T1] x\n[    3.246127][    T1] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000004',
      ),
    ).toBe('Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000004');
  });
  it('names nothing where the kernel did not panic: reports that go on, userland lines, the command line', () => {
    const goesOn = [
      'overcommit-lab: booted',
      '[    0.1] Kernel command line: console=ttyS0 panic=-1 oops=panic',
      '[   60.2] BUG: workqueue lockup - pool cpus=1 node=0 flags=0x0 nice=0 stuck for 31s!',
      'BUG: a line the guest command printed',
      'Oopsie, said a test',
      'invalid opcode: 0000 [#1] echoed by a program',
    ].join('\n');
    expect(kernelPanicLine(goesOn)).toBeUndefined();
    expect(kernelPanicLine('')).toBeUndefined();
  });
});
