/**
 * What `vm --kernel PATH` boots: a kernel image file, a directory holding an unpacked kernel
 * package (boot/vmlinuz-<version> and lib/modules/<version>), or 'host' (the running kernel's
 * image and modules from /boot and /lib/modules).
 */
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { release } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { type ImageArch, imageArch, readHead } from './arch.js';

export interface KernelSource {
  /** The image qemu boots (a bzImage, an arm64 Image, a ppc64 vmlinux). */
  image: string;
  /** Its architecture, from its header. */
  arch: ImageArch;
  /** The kernel's release (uname -r), from the image's header or the package's file names. */
  version: string;
  /** lib/modules/<version> when the kernel has one; absent for a kernel with everything built in. */
  modulesDir?: string;
  /** What the user named: 'host', the directory or the image file. */
  given: string;
}

/** The release string a bzImage carries in its setup header ('' when the file is no bzImage). */
export function imageVersion(file: string): string {
  const fd = openSync(file, 'r');
  try {
    const head = Buffer.alloc(0x10000);
    const n = readSync(fd, head, 0, head.length, 0);
    // The boot protocol: 'HdrS' at 0x202; the 16-bit pointer at 0x20E, plus 0x200, points to
    // the version string ("5.1.15-kvmlab (user@host) #1 ...").
    if (n < 0x210 || head.toString('latin1', 0x202, 0x206) !== 'HdrS') return '';
    const at = head.readUInt16LE(0x20e) + 0x200;
    if (at >= n) return '';
    const end = head.indexOf(0, at);
    return head.toString('latin1', at, end < 0 ? n : end).split(' ')[0] ?? '';
  } finally {
    closeSync(fd);
  }
}

/** lib/modules/<version> under `root` (or usr/lib/modules, where merged-/usr packages put it). */
function modulesUnder(root: string, version: string): string | undefined {
  return [join(root, 'lib/modules', version), join(root, 'usr/lib/modules', version)].find((d) => existsSync(d));
}

/** Whether a kernel config (when there is one) builds the guest's 9p shares as modules. */
function modular9p(config: string): boolean {
  return existsSync(config) && /^CONFIG_(NET_9P_VIRTIO|9P_FS)=m$/m.test(readFileSync(config, 'utf8'));
}

/** The release an uncompressed image carries in its banner ("Linux version 6.12.117+deb13-arm64 ..."), or ''. */
export function bannerVersion(file: string): string {
  const m = /Linux version (\S+) \(/.exec(readFileSync(file).toString('latin1'));
  return m?.[1] ?? '';
}

/** The image's architecture, or an error naming what it is not. */
function archOf(image: string, given: string): ImageArch {
  let head: Buffer;
  try {
    head = readHead(image);
  } catch (e) {
    // Debian keeps /boot/vmlinuz-* readable by root alone; qemu would fail alike.
    throw new Error(`--kernel ${given}: cannot read ${image} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const arch = imageArch(head);
  if (arch === undefined) {
    throw new Error(
      `--kernel ${given}: not a Linux kernel image this tool boots (${image}: no x86 bzImage, arm64 Image or little-endian ppc64 vmlinux header)`,
    );
  }
  return arch;
}

export function resolveKernel(given: string, hostRoot = '/'): KernelSource {
  if (given === 'host') {
    const version = release();
    const image = join(hostRoot, 'boot', `vmlinuz-${version}`);
    if (!existsSync(image)) {
      throw new Error(
        `--kernel host: the running kernel's image ${image} does not exist (this machine boots a kernel it does not keep in /boot); name an image or an unpacked kernel package instead`,
      );
    }
    const modulesDir = modulesUnder(hostRoot, version);
    return { image, arch: archOf(image, given), version, ...(modulesDir ? { modulesDir } : {}), given };
  }
  const path = resolve(given);
  if (!existsSync(path)) throw new Error(`--kernel ${given}: no such file or directory`);
  if (statSync(path).isDirectory()) {
    const boot = join(path, 'boot');
    // ppc64el's packages ship an uncompressed vmlinux-<version>, the others a vmlinuz-<version>.
    const images = existsSync(boot)
      ? readdirSync(boot)
          .filter((f) => /^vmlinu[xz]-/.test(f))
          .sort()
      : [];
    if (images.length === 0) {
      throw new Error(`--kernel ${given}: the directory has no boot/vmlinuz-* or boot/vmlinux-* (an unpacked kernel package has one)`);
    }
    if (images.length > 1) throw new Error(`--kernel ${given}: the directory has several kernels (${images.join(', ')}); name one image`);
    const image = join(boot, images[0]!);
    const version = images[0]!.replace(/^vmlinu[xz]-/, '');
    const modulesDir = modulesUnder(path, version);
    if (modulesDir === undefined) {
      throw new Error(
        `--kernel ${given}: no lib/modules/${version} beside boot/${images[0]}; a packaged kernel needs its modules (unpack the whole package with dpkg -x)`,
      );
    }
    return { image, arch: archOf(image, given), version, modulesDir, given: path };
  }
  const arch = archOf(path, given);
  const version = arch.format === 'bzImage' ? imageVersion(path) : bannerVersion(path);
  if (version === '')
    throw new Error(`--kernel ${given}: its release string cannot be read (a compressed image? give the unpacked package's directory)`);
  // An installed kernel keeps its modules in /lib/modules/<version>, an unpacked package's image
  // beside its boot/; an image without them has what the guest needs built in, unless the config
  // beside it says otherwise (and the guest says so if it has not).
  const modulesDir = modulesUnder(dirname(dirname(path)), version) ?? modulesUnder(hostRoot, version);
  if (modulesDir === undefined && modular9p(join(dirname(path), `config-${version}`))) {
    throw new Error(
      `--kernel ${given}: this kernel builds 9p as a module (its config says so) and its modules directory lib/modules/${version} is not there; give the unpacked package's directory instead`,
    );
  }
  return { image: path, arch, version, ...(modulesDir ? { modulesDir } : {}), given: path };
}
