import { describe, expect, it } from 'vitest';
import { checkHostTools, findStaticBusybox, isStaticElf } from '../../lib/vm/requirements.js';

const none = { which: () => undefined, staticBusybox: () => undefined };
const all = { which: (n: string) => `/usr/bin/${n}`, staticBusybox: () => '/bin/busybox' };

describe('checkHostTools', () => {
  it('names each missing tool in one sentence with the package that brings it', () => {
    const r = checkHostTools({ modules: true, compressedModules: true, ext4Image: true }, none);
    expect(r).toEqual({
      missing: [
        'qemu-system-x86_64 is missing: install the qemu-system-x86 package (apt-get install qemu-system-x86).',
        'a statically linked busybox is missing (the guest runs it before any library is there): install the busybox-static package.',
        'cpio is missing (it packs the guest initramfs): install the cpio package.',
        "modinfo is missing (it reads the kernel modules' dependencies): install the kmod package.",
        "xz is missing (this kernel's modules are .ko.xz): install the xz-utils package.",
        'mkfs.ext4 is missing (swap in a file lives on an ext4 disk image): install the e2fsprogs package.',
      ],
    });
  });

  it('asks only for what this guest needs', () => {
    expect(
      checkHostTools(
        { modules: false, compressedModules: false, ext4Image: false },
        { ...none, which: (n) => (n === 'modinfo' ? undefined : `/x/${n}`) },
      ),
    ).toEqual({
      missing: [
        'a statically linked busybox is missing (the guest runs it before any library is there): install the busybox-static package.',
      ],
    });
    expect(checkHostTools({ modules: true, compressedModules: false, ext4Image: true }, all)).toEqual({
      qemu: '/usr/bin/qemu-system-x86_64',
      busybox: '/bin/busybox',
      cpio: '/usr/bin/cpio',
      modinfo: '/usr/bin/modinfo',
      mkfsExt4: '/usr/bin/mkfs.ext4',
    });
  });
});

describe('isStaticElf', () => {
  it('tells a dynamically linked program (node) from a static one', () => {
    expect(isStaticElf(process.execPath)).toBe(false);
    const busybox = findStaticBusybox();
    if (busybox !== undefined) expect(isStaticElf(busybox)).toBe(true);
  });

  it('is false for a file that is no ELF', () => {
    expect(isStaticElf(new URL('../../package.json', import.meta.url).pathname)).toBe(false);
  });
});
