/**
 * What `vm` needs on the host, checked before any work: each missing piece is one sentence
 * saying what is missing and how to get it.
 */
import { accessSync, closeSync, constants, existsSync, openSync, readSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { EXECUTABLES } from '../native/executables.js';
import { MACHINES, type Machine, type Userland } from './arch.js';

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

/** A guest of another architecture than the host's: its userland from the cache, its prebuild from the package. */
export interface ForeignGuest {
  userland: Userland;
  /** prebuilds/linux-<arch> of the package. */
  prebuildDir: string;
}

export interface Needs {
  modules: boolean;
  compressedModules: boolean;
  ext4Image: boolean;
  /** The guest's architecture (default: x64, the host's userland). */
  machine?: Machine;
  foreign?: ForeignGuest;
}

/** How the host is searched (tests pass their own). */
export interface HostProbe {
  which(name: string): string | undefined;
  staticBusybox(): string | undefined;
  /** Whether a file exists (default: the file system's answer). */
  exists?(file: string): boolean;
  /** Whether an ELF file is statically linked (default: isStaticElf). */
  isStatic?(file: string): boolean;
}

const hostProbe: HostProbe = { which: (name) => which(name), staticBusybox: () => findStaticBusybox() };

/** The addon and the C programs a guest runs, in a prebuild. */
const PREBUILD_FILES = ['overcommit-lab.node', ...Object.values(EXECUTABLES)];

/** What a foreign guest lacks, one sentence each: its Node, glibc and busybox (from the cache), its prebuild (from the package). */
function foreignMissing(m: Machine, f: ForeignGuest, probe: HostProbe): string[] {
  const exists = probe.exists ?? existsSync;
  const isStatic = probe.isStatic ?? isStaticElf;
  const fetch = `scripts/kernels.sh ${m.fetchedBy} fetches it into ${f.userland.dir}`;
  const missing: string[] = [];
  if (!exists(f.userland.node))
    missing.push(`the ${m.arch} guest's Node (${f.userland.node}) is missing: ${fetch} (${m.nodePackage} from the npm registry).`);
  if (!exists(f.userland.loader)) {
    missing.push(`the ${m.arch} guest's glibc (${f.userland.loader}) is missing: ${fetch} (Debian's libc6-${m.debian}-cross).`);
  }
  if (!exists(f.userland.busybox) || !isStatic(f.userland.busybox)) {
    missing.push(
      `the ${m.arch} guest's static busybox (${f.userland.busybox}) is missing: ${fetch} (Debian's busybox-static:${m.debian}).`,
    );
  }
  const absent = PREBUILD_FILES.filter((name) => !exists(join(f.prebuildDir, name)));
  if (absent.length > 0) {
    missing.push(
      `the linux-${m.arch} prebuild (${absent.join(', ')} in ${f.prebuildDir}) is missing: npm run prebuild:${m.arch} cross-compiles it.`,
    );
  }
  return missing;
}

/** The host's tools, or every missing one's sentence. */
export function checkHostTools(needs: Needs, probe: HostProbe = hostProbe): HostTools | { missing: string[] } {
  const missing: string[] = [];
  const find = probe.which;
  const machine = needs.machine ?? MACHINES.x64;
  const qemu = find(machine.qemu);
  if (qemu === undefined) {
    missing.push(`${machine.qemu} is missing: install the ${machine.qemuPackage} package (apt-get install ${machine.qemuPackage}).`);
  }
  if (needs.foreign !== undefined) missing.push(...foreignMissing(machine, needs.foreign, probe));
  // A foreign guest's busybox is its architecture's (foreignMissing checked it).
  const busybox = needs.foreign === undefined ? probe.staticBusybox() : needs.foreign.userland.busybox;
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
