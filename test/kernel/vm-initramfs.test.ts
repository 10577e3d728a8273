import { describe, expect, it } from 'vitest';
import { MiB } from '../../lib/units.js';
import { initramfsEntries, initScript, MARKER, moduleNeeds, resolveModules } from '../../lib/vm/initramfs.js';
import { qemuArgs } from '../../lib/vm/qemu.js';
import { guestShares } from '../../lib/vm/run.js';

// A modules tree as Debian ships it: 9p needs netfs and 9pnet; 9pnet_virtio needs 9pnet and virtio_ring.
const index = new Map([
  ['virtio_pci', '/m/kernel/drivers/virtio/virtio_pci.ko'],
  ['virtio_pci_modern_dev', '/m/kernel/drivers/virtio/virtio_pci_modern_dev.ko'],
  ['9pnet', '/m/kernel/net/9p/9pnet.ko'],
  ['9pnet_virtio', '/m/kernel/net/9p/9pnet_virtio.ko'],
  ['9p', '/m/kernel/fs/9p/9p.ko.xz'],
  ['netfs', '/m/kernel/fs/netfs/netfs.ko.xz'],
  ['overlay', '/m/kernel/fs/overlayfs/overlay.ko'],
  ['zram', '/m/kernel/drivers/block/zram/zram.ko'],
  ['zsmalloc', '/m/kernel/mm/zsmalloc.ko'],
]);
const deps: Record<string, string[]> = {
  virtio_pci: ['virtio_pci_modern_dev'],
  '9pnet_virtio': ['9pnet', 'virtio_ring'],
  '9p': ['netfs', '9pnet'],
  zram: ['zsmalloc'],
};
const depends = (file: string) => deps[[...index].find(([, f]) => f === file)![0]] ?? [];
const names = (files: string[]) => files.map((f) => f.replace(/^.*\//, ''));

describe('resolveModules', () => {
  it('loads dependencies first, once, and skips built-in ones (virtio_ring here)', () => {
    const set = resolveModules(moduleNeeds({ kind: 'zram', bytes: MiB }), index, new Set(['virtio_ring']), depends, '6.1');
    expect(names(set.files)).toEqual([
      'virtio_pci_modern_dev.ko',
      'virtio_pci.ko',
      '9pnet.ko',
      '9pnet_virtio.ko',
      'netfs.ko.xz',
      '9p.ko.xz',
      'overlay.ko',
      'zsmalloc.ko',
      'zram.ko',
    ]);
    // virtio_rng and zram's compressors are optional: absent, they are left out silently.
    expect(set.missing).toEqual([]);
  });

  it('names each required module that is neither built in nor found', () => {
    const set = resolveModules(moduleNeeds({ kind: 'file', bytes: MiB }), index, new Set(), depends, '6.1');
    expect(set.missing).toEqual([
      'kernel 6.1 has no module virtio_blk (needed for the swap disk), neither built in nor in its modules directory.',
      'kernel 6.1 has no module ext4 (needed for the swap file system), neither built in nor in its modules directory.',
    ]);
  });

  it('needs nothing more for a kernel with everything built in', () => {
    const builtin = new Set(moduleNeeds({ kind: 'none' }).map((n) => n.name));
    expect(resolveModules(moduleNeeds({ kind: 'none' }), new Map(), builtin, depends, '5.1')).toEqual({ files: [], missing: [] });
  });
});

describe('the initramfs', () => {
  const entries = initramfsEntries('/bin/busybox', ['/m/kernel/fs/9p/9p.ko.xz', '/m/kernel/fs/overlayfs/overlay.ko'], '#!init', [
    { path: 'lib64', type: 'symlink', target: 'usr/lib64' },
  ]);

  it('holds busybox, the modules (decompressed), the root symlinks into /usr and /init', () => {
    expect(entries.map((e) => e.path)).toEqual([
      'busybox',
      'modules',
      'proc',
      'sys',
      'dev',
      'tmp',
      'run',
      'etc',
      'root',
      'usr',
      'mnt',
      'busybox/busybox',
      'modules/9p.ko',
      'modules/overlay.ko',
      'lib64',
      'init',
    ]);
    expect(entries.find((e) => e.path === 'modules/9p.ko')).toMatchObject({ from: '/m/kernel/fs/9p/9p.ko.xz', decompress: true });
    expect(entries.find((e) => e.path === 'init')).toMatchObject({ type: 'text', mode: 0o755 });
  });
});

describe('the guest /init', () => {
  const plan = {
    modules: ['/m/9pnet.ko', '/m/9p.ko.xz'],
    shares: guestShares('/usr/bin/node', '/work/pkg'),
    packageDir: '/work/pkg',
    outTag: 'out',
    cgroup: 'v2' as const,
    swap: { kind: 'zram' as const, bytes: 512 * MiB },
    command: { argv: ['/usr/bin/node', "/work/pkg/it's.js", 'run'] },
  };
  const init = initScript(plan);

  it('loads the modules in order, mounts the shares read-only and overlays the package', () => {
    expect(init).toMatch(/insmod \/modules\/9pnet\.ko .*\ninsmod \/modules\/9p\.ko /);
    expect(init).toContain("mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,ro,cache=loose usr '/usr'");
    expect(init).toContain("mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,ro,cache=loose pkg '/work/pkg'");
    expect(init).toContain("lowerdir='/work/pkg',upperdir=/overlay/upper,workdir=/overlay/work '/work/pkg'");
  });

  it('sets up the cgroup version and swap asked for, and says why when it cannot', () => {
    expect(init).toContain('echo +memory >/sys/fs/cgroup/cgroup.subtree_control || die "this kernel has no cgroup v2 memory controller"');
    expect(init).toContain(`echo ${512 * MiB} >/sys/block/zram0/disksize`);
    const v1 = initScript({ ...plan, cgroup: 'v1', swap: { kind: 'file', bytes: 256 * MiB } });
    expect(v1).toContain('mount -t cgroup -o memory memory /sys/fs/cgroup/memory || die "this kernel has no cgroup v1 memory controller');
    expect(v1).toContain('dd if=/dev/zero of=/swapdisk/swapfile bs=1M count=256');
    expect(v1).not.toContain('zram');
  });

  it('runs the command quoted, its output to the share, and always powers off', () => {
    expect(init).toContain(`'/usr/bin/node' '/work/pkg/it'\\''s.js' 'run' >/out/stdout 2>/dev/console </dev/null`);
    expect(init).toMatch(/echo \$\? >\/out\/rc\nsay "done .*"\nbye\n$/);
    expect(init).toContain(`say() { echo "${MARKER} $*" >/dev/console; }`);
    expect(init).toMatch(/die\(\) \{ say "failed: \$\*"; bye; \}/);
  });
});

describe('guestShares', () => {
  it('shares /usr, and Node and the package where they live outside it', () => {
    expect(guestShares('/usr/bin/node', '/usr/lib/node_modules/overcommit-lab').map((s) => s.hostPath)).toEqual(['/usr']);
    expect(guestShares('/opt/node-20/bin/node', '/home/u/lab')).toEqual([
      { tag: 'usr', hostPath: '/usr', readonly: true },
      { tag: 'node', hostPath: '/opt/node-20', readonly: true },
      { tag: 'pkg', hostPath: '/home/u/lab', readonly: true },
    ]);
  });
});

describe('qemuArgs', () => {
  const base = { memoryBytes: 4096 * MiB, cpus: 2, kernel: '/k', initrd: '/i', append: [], verbose: false };
  it('emulates (TCG, -cpu max) without KVM, and passes memory, cpus, shares and the swap disk', () => {
    const args = qemuArgs({ ...base, accel: 'tcg', shares: [{ tag: 'usr', hostPath: '/usr', readonly: true }], disk: '/d.img' });
    expect(args.join(' ')).toContain('-accel tcg,thread=single -cpu max -m 4096M -smp 2');
    expect(args).toContain('local,path=/usr,mount_tag=usr,security_model=none,readonly=on');
    expect(args.join(' ')).toContain('-drive file=/d.img,format=raw,if=virtio');
    expect(args).toContain('-no-reboot');
    expect(args[args.indexOf('-append') + 1]).toBe(
      'console=ttyS0 panic=-1 oops=panic random.trust_cpu=on overcommit_lab.disposable=1 quiet',
    );
  });

  it('uses KVM when asked, and keeps the kernel messages with verbose', () => {
    const args = qemuArgs({ ...base, accel: 'kvm', shares: [], verbose: true, pidFile: '/w/qemu.pid' });
    expect(args.join(' ')).toContain('-accel kvm -cpu host');
    expect(args.join(' ')).toContain('-pidfile /w/qemu.pid');
    expect(args[args.indexOf('-append') + 1]).not.toContain('quiet');
  });
});
