/**
 * What `vm` needs on the host, checked before any work: each missing piece is one sentence
 * saying what is missing and how to get it.
 */
import { accessSync, closeSync, constants, existsSync, openSync, readSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The first executable `name` on PATH (or in `dirs`), or undefined. */
export function which(name: string, dirs: readonly string[] = (process.env.PATH ?? '').split(delimiter)): string | undefined {
  for (const dir of [...dirs, '/usr/sbin', '/sbin']) {
    if (dir === '') continue;
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {}
  }
  return undefined;
}

/** Whether an ELF file is statically linked (has no PT_INTERP program header). */
export function isStaticElf(file: string): boolean {
  const fd = openSync(file, 'r');
  try {
    const h = Buffer.alloc(64);
    if (readSync(fd, h, 0, 64, 0) < 64 || h.toString('latin1', 0, 4) !== '\x7fELF' || h[4] !== 2) return false;
    const phoff = Number(h.readBigUInt64LE(0x20));
    const phentsize = h.readUInt16LE(0x36);
    const phnum = h.readUInt16LE(0x38);
    const ph = Buffer.alloc(phentsize * phnum);
    readSync(fd, ph, 0, ph.length, phoff);
    for (let i = 0; i < phnum; i++) if (ph.readUInt32LE(i * phentsize) === 3 /* PT_INTERP */) return false;
    return true;
  } finally {
    closeSync(fd);
  }
}

/** A statically linked busybox (Debian's busybox-static puts it at /bin/busybox). */
export function findStaticBusybox(candidates: readonly string[] = ['/bin/busybox', '/usr/bin/busybox']): string | undefined {
  return candidates.find((f) => existsSync(f) && isStaticElf(f));
}

export interface HostTools {
  qemu: string;
  busybox: string;
  cpio: string;
  /** modinfo, for a kernel with modules. */
  modinfo?: string;
  /** xz, for a kernel whose modules are .ko.xz. */
  xz?: string;
  /** mkfs.ext4, for swap in a file. */
  mkfsExt4?: string;
}

export interface Needs {
  modules: boolean;
  compressedModules: boolean;
  ext4Image: boolean;
}

/** How the host is searched (tests pass their own). */
export interface HostProbe {
  which(name: string): string | undefined;
  staticBusybox(): string | undefined;
}

const hostProbe: HostProbe = { which: (name) => which(name), staticBusybox: () => findStaticBusybox() };

/** The host's tools, or every missing one's sentence. */
export function checkHostTools(needs: Needs, probe: HostProbe = hostProbe): HostTools | { missing: string[] } {
  const missing: string[] = [];
  const find = probe.which;
  const qemu = find('qemu-system-x86_64');
  if (qemu === undefined)
    missing.push('qemu-system-x86_64 is missing: install the qemu-system-x86 package (apt-get install qemu-system-x86).');
  const busybox = probe.staticBusybox();
  if (busybox === undefined) {
    missing.push(
      'a statically linked busybox is missing (the guest runs it before any library is there): install the busybox-static package.',
    );
  }
  const cpio = find('cpio');
  if (cpio === undefined) missing.push('cpio is missing (it packs the guest initramfs): install the cpio package.');
  const tools: HostTools = { qemu: qemu ?? '', busybox: busybox ?? '', cpio: cpio ?? '' };
  if (needs.modules) {
    const modinfo = find('modinfo');
    if (modinfo === undefined) missing.push("modinfo is missing (it reads the kernel modules' dependencies): install the kmod package.");
    else tools.modinfo = modinfo;
  }
  if (needs.compressedModules) {
    const xz = find('xz');
    if (xz === undefined) missing.push("xz is missing (this kernel's modules are .ko.xz): install the xz-utils package.");
    else tools.xz = xz;
  }
  if (needs.ext4Image) {
    const mkfs = find('mkfs.ext4');
    if (mkfs === undefined)
      missing.push('mkfs.ext4 is missing (swap in a file lives on an ext4 disk image): install the e2fsprogs package.');
    else tools.mkfsExt4 = mkfs;
  }
  return missing.length > 0 ? { missing } : tools;
}
