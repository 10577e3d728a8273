/**
 * The guest's initramfs: a static busybox, the kernel modules the guest needs (with their
 * dependencies, in load order), the host's root symlinks into /usr, and an /init script that
 * mounts the host's shares, sets up the requested cgroup version and swap, runs one command and
 * powers the guest off. Packed with cpio (newc).
 */

import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { basename, join } from 'node:path';

export type CgroupVersion = 'v1' | 'v2';

export type SwapSpec = { kind: 'none' } | { kind: 'zram'; bytes: number } | { kind: 'file'; bytes: number };

/** A host directory the guest mounts over virtio 9p at the same path. */
export interface Share {
  tag: string;
  hostPath: string;
  readonly: boolean;
}

/** The marker the guest's /init prefixes its own console lines with. */
export const MARKER = '@@overcommit-lab';

/** Where the output share is mounted in the guest. */
export const GUEST_OUT = '/out';

export interface InitPlan {
  /** Module files under /modules, in load order. */
  modules: readonly string[];
  /** Read-only shares mounted at their host path; the package's is overlaid with a tmpfs. */
  shares: readonly Share[];
  /** The package directory (writes to it stay in the guest). */
  packageDir: string;
  /**
   * Entries of the package directory the guest does not see (whited out in its overlay): a guest
   * of another architecture must not find build/, the host's addon, before its prebuild.
   */
  hidden?: readonly string[];
  /** The output share's tag (mounted at GUEST_OUT, writable). */
  outTag: string;
  cgroup: CgroupVersion;
  swap: SwapSpec;
  /** The command, run in packageDir with stdout to GUEST_OUT/stdout; or a shell line run with its output on the console. */
  command: { argv: readonly string[] } | { shell: string };
}

/** A module the guest needs: `required` ones stop the boot with a clear message when absent. */
export interface ModuleNeed {
  name: string;
  required: boolean;
  why: string;
}

/** The modules a guest needs for its shares, swap and entropy. */
export function moduleNeeds(swap: SwapSpec): ModuleNeed[] {
  const needs: ModuleNeed[] = [
    { name: 'virtio_pci', required: true, why: 'the virtio devices' },
    { name: '9pnet_virtio', required: true, why: "the host's shares (9p over virtio)" },
    { name: '9p', required: true, why: "the host's shares (9p)" },
    { name: 'overlay', required: true, why: 'the package overlay (guest writes stay in the guest)' },
    { name: 'virtio_rng', required: false, why: 'entropy' },
  ];
  if (swap.kind === 'zram') {
    needs.push({ name: 'zram', required: true, why: 'swap on zram' });
    for (const name of ['lzo_rle', 'lzo']) needs.push({ name, required: false, why: "zram's compressor" });
  }
  if (swap.kind === 'file') {
    needs.push({ name: 'virtio_blk', required: true, why: 'the swap disk' });
    needs.push({ name: 'ext4', required: true, why: 'the swap file system' });
    for (const name of ['crc32c_generic', 'crc32c_intel']) needs.push({ name, required: false, why: "ext4's checksums" });
  }
  return needs;
}

const normalise = (name: string): string => name.replace(/-/g, '_');
const moduleName = (file: string): string => normalise(basename(file).replace(/\.ko(\.xz|\.zst|\.gz)?$/, ''));

/** Every module file under `modulesDir`, by name. */
export function indexModules(modulesDir: string): Map<string, string> {
  const index = new Map<string, string>();
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.ko(\.xz|\.zst|\.gz)?$/.test(e.name)) index.set(moduleName(e.name), p);
    }
  };
  walk(modulesDir);
  return index;
}

/** The names in modules.builtin (modules compiled into the image). */
export function builtinModules(modulesDir: string): Set<string> {
  const file = join(modulesDir, 'modules.builtin');
  if (!existsSync(file)) return new Set();
  return new Set(
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map(moduleName),
  );
}

export interface ModuleSet {
  /** Module files, in load order (dependencies first). */
  files: string[];
  /** Required modules neither built in nor found: one sentence each. */
  missing: string[];
}

/**
 * The module files that load `needs` with their dependencies (as `depends` reads them from a
 * module's .modinfo), dependencies first; built-in modules are skipped.
 */
export function resolveModules(
  needs: readonly ModuleNeed[],
  index: ReadonlyMap<string, string>,
  builtin: ReadonlySet<string>,
  depends: (file: string) => string[],
  version: string,
): ModuleSet {
  const files: string[] = [];
  const missing: string[] = [];
  const done = new Set<string>();
  const visit = (name: string): boolean => {
    name = normalise(name);
    if (done.has(name) || builtin.has(name)) return true;
    const file = index.get(name);
    if (file === undefined) return false;
    done.add(name);
    for (const dep of depends(file)) visit(dep);
    files.push(file);
    return true;
  };
  for (const need of needs) {
    if (!visit(need.name) && need.required) {
      missing.push(`kernel ${version} has no module ${need.name} (needed for ${need.why}), neither built in nor in its modules directory.`);
    }
  }
  return { files, missing };
}

/** `modinfo -F depends FILE`, split. */
export function modinfoDepends(modinfo: string): (file: string) => string[] {
  return (file) =>
    execFileSync(modinfo, ['-F', 'depends', file], { encoding: 'utf8' })
      .trim()
      .split(',')
      .filter((d) => d !== '');
}

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** The guest's /init. */
export function initScript(plan: InitPlan): string {
  const lines = [
    '#!/busybox/busybox sh',
    '# overcommit-lab guest init: mount the host shares, set up cgroups and swap, run one command, power off.',
    '/busybox/busybox --install -s /busybox',
    'export PATH=/busybox:/usr/bin:/usr/sbin HOME=/root TERM=dumb',
    'mount -t proc proc /proc',
    'mount -t sysfs sysfs /sys',
    'mount -t devtmpfs devtmpfs /dev',
    'mount -t tmpfs tmpfs /tmp',
    'mount -t tmpfs tmpfs /run',
    `say() { echo "${MARKER} $*" >/dev/console; }`,
    // panic=-1 and -no-reboot: if poweroff fails, PID 1's exit panics the kernel and qemu exits.
    'bye() { sync; poweroff -f; sleep 10; exit 1; }',
    'die() { say "failed: $*"; bye; }',
    'say "booted $(cut -d" " -f1 /proc/uptime)"',
  ];
  for (const m of plan.modules)
    lines.push(`insmod /modules/${basename(m).replace(/\.(xz|zst|gz)$/, '')} || die "cannot load module ${moduleName(m)}"`);
  const ninep = 'trans=virtio,version=9p2000.L,msize=262144';
  for (const s of plan.shares) {
    lines.push(`mkdir -p ${quote(s.hostPath)}`);
    lines.push(
      `mount -t 9p -o ${ninep},${s.readonly ? 'ro,cache=loose' : 'rw'} ${s.tag} ${quote(s.hostPath)} || die "cannot mount the host's ${s.hostPath} over 9p: this kernel needs 9p and virtio (built in or as modules)"`,
    );
  }
  lines.push(
    `mkdir -p ${GUEST_OUT} && mount -t 9p -o ${ninep},rw ${plan.outTag} ${GUEST_OUT} || die "cannot mount the output share over 9p"`,
    // The package is read-only over 9p; a tmpfs overlay keeps whatever the guest writes.
    'mkdir -p /overlay && mount -t tmpfs tmpfs /overlay && mkdir /overlay/upper /overlay/work',
    // An overlay whiteout is a character device 0:0 in the upper directory.
    ...(plan.hidden ?? []).map((name) => `mknod /overlay/upper/${quote(name)} c 0 0 || die "cannot hide ${name} in the package overlay"`),
    `mount -t overlay overlay -o lowerdir=${quote(plan.packageDir)},upperdir=/overlay/upper,workdir=/overlay/work ${quote(plan.packageDir)} || die "cannot mount an overlay over the package: this kernel needs overlayfs"`,
  );
  if (plan.cgroup === 'v2') {
    lines.push(
      'mount -t cgroup2 cgroup2 /sys/fs/cgroup || die "this kernel cannot mount cgroup v2"',
      'echo +memory >/sys/fs/cgroup/cgroup.subtree_control || die "this kernel has no cgroup v2 memory controller"',
    );
  } else {
    lines.push(
      'mount -t tmpfs cgroup /sys/fs/cgroup && mkdir /sys/fs/cgroup/memory',
      'mount -t cgroup -o memory memory /sys/fs/cgroup/memory || die "this kernel has no cgroup v1 memory controller (use --cgroup v2)"',
    );
  }
  if (plan.swap.kind === 'zram') {
    lines.push(
      `echo ${plan.swap.bytes} >/sys/block/zram0/disksize || die "cannot size the zram device"`,
      'mkswap /dev/zram0 >/dev/null && swapon /dev/zram0 || die "cannot swap on zram"',
    );
  } else if (plan.swap.kind === 'file') {
    const mib = Math.ceil(plan.swap.bytes / 1024 / 1024);
    lines.push(
      'mkdir -p /swapdisk && mount -t ext4 /dev/vda /swapdisk || die "cannot mount the swap disk (ext4)"',
      `dd if=/dev/zero of=/swapdisk/swapfile bs=1M count=${mib} 2>/tmp/dd.err && chmod 600 /swapdisk/swapfile || { cat /tmp/dd.err; die "cannot write the swap file"; }`,
      'mkswap /swapdisk/swapfile >/dev/null && swapon /swapdisk/swapfile || die "cannot swap on the file"',
    );
  }
  lines.push('printf "root:x:0:0:root:/root:/bin/sh\\n" >/etc/passwd', 'printf "root:x:0:\\n" >/etc/group', `cd ${quote(plan.packageDir)}`);
  lines.push('say "running $(cut -d" " -f1 /proc/uptime)"');
  if ('argv' in plan.command) {
    lines.push(`${plan.command.argv.map(quote).join(' ')} >${GUEST_OUT}/stdout 2>/dev/console </dev/null`);
  } else {
    lines.push(`sh -c ${quote(plan.command.shell)} >/dev/console 2>&1 </dev/null`);
  }
  lines.push(`echo $? >${GUEST_OUT}/rc`, 'say "done $(cut -d" " -f1 /proc/uptime)"', 'bye', '');
  return lines.join('\n');
}

/** One entry of the initramfs: a directory, a file copied from the host, a written file or a symlink. */
export type Entry =
  | { path: string; type: 'dir' }
  | { path: string; type: 'file'; from: string; mode: number; decompress?: boolean }
  | { path: string; type: 'text'; text: string; mode: number }
  | { path: string; type: 'symlink'; target: string };

/** The host's top-level symlinks into /usr (merged /usr: /lib -> usr/lib ...), so guest paths match the host's. */
export function rootSymlinks(root = '/'): Entry[] {
  const out: Entry[] = [];
  for (const name of ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']) {
    const p = join(root, name);
    try {
      if (lstatSync(p).isSymbolicLink()) out.push({ path: name, type: 'symlink', target: readlinkSync(p) });
    } catch {}
  }
  return out;
}

/**
 * A foreign guest's root symlinks: /lib and /lib64 to its glibc (where its executables' loader
 * and libraries are looked for), /bin to busybox's applets (/bin/sh).
 */
export function userlandSymlinks(libDir: string): Entry[] {
  return [
    { path: 'lib', type: 'symlink', target: libDir },
    { path: 'lib64', type: 'symlink', target: libDir },
    { path: 'bin', type: 'symlink', target: 'busybox' },
  ];
}

/** Everything the initramfs holds. */
export function initramfsEntries(busybox: string, moduleFiles: readonly string[], init: string, symlinks: readonly Entry[]): Entry[] {
  const entries: Entry[] = ['busybox', 'modules', 'proc', 'sys', 'dev', 'tmp', 'run', 'etc', 'root', 'usr', 'mnt'].map((path) => ({
    path,
    type: 'dir' as const,
  }));
  entries.push({ path: 'busybox/busybox', type: 'file', from: busybox, mode: 0o755 });
  for (const m of moduleFiles) {
    const compressed = m.endsWith('.xz');
    entries.push({ path: `modules/${basename(m).replace(/\.xz$/, '')}`, type: 'file', from: m, mode: 0o644, decompress: compressed });
  }
  entries.push(...symlinks.filter((s) => !entries.some((e) => e.path === s.path)));
  entries.push({ path: 'init', type: 'text', text: init, mode: 0o755 });
  return entries;
}

/** Writes `entries` under `staging` and packs them into `output` (cpio newc). */
export function buildInitramfs(entries: readonly Entry[], staging: string, output: string, tools: { cpio: string; xz?: string }): void {
  mkdirSync(staging, { recursive: true });
  for (const e of entries) {
    const p = join(staging, e.path);
    if (e.type === 'dir') mkdirSync(p, { recursive: true });
    else if (e.type === 'symlink') symlinkSync(e.target, p);
    else if (e.type === 'text') writeFileSync(p, e.text, { mode: e.mode });
    else if (e.decompress) {
      if (tools.xz === undefined) throw new Error(`${e.from} is compressed and xz is missing`);
      writeFileSync(p, execFileSync(tools.xz, ['-dc', e.from], { maxBuffer: 1 << 28 }), { mode: e.mode });
    } else copyFileSync(e.from, p);
  }
  const list = `${['.', ...entries.map((e) => e.path)].join('\n')}\n`;
  execFileSync('sh', ['-c', `cd "$1" && "$2" -o -H newc --quiet >"$3"`, 'sh', staging, tools.cpio, output], { input: list });
}
