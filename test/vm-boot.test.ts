// Boots a real guest: needs qemu, a static busybox and cpio on the host, and the 5.1.15 image
// from shared/kernels beside the repository (everything built in: no modules to fetch).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkHostTools } from '../lib/vm/requirements.js';

const root = join(import.meta.dirname, '..');

function sharedKernel(): string | undefined {
  let common = '';
  try {
    common = execFileSync('git', ['rev-parse', '--path-format=absolute', '--git-common-dir'], { cwd: root, encoding: 'utf8' }).trim();
  } catch {}
  const candidates = [join(root, '../shared/kernels'), ...(common === '' ? [] : [join(common, '../../shared/kernels')])];
  return candidates.map((d) => join(d, 'vmlinuz-5.1.15-kvmlab')).find((f) => existsSync(f));
}

const kernel = sharedKernel();
const tools = checkHostTools({ modules: false, compressedModules: false, ext4Image: false });
const missing =
  'missing' in tools
    ? tools.missing.join(' ')
    : kernel === undefined
      ? 'no shared/kernels/vmlinuz-5.1.15-kvmlab beside the repository'
      : '';
if (missing !== '') console.warn(`vm-boot: skipped: ${missing}`);

/** qemu processes whose parent is gone (left behind by a vm that ended); others may be running their own guests. */
const orphanQemus = () =>
  spawnSync('ps', ['-eo', 'ppid=,pid=,comm='], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter((l) => /^\s*1\s+\d+\s+qemu-system/.test(l))
    .join('\n');

describe.skipIf(missing !== '')(`vm boots a guest${missing === '' ? '' : ` — skipped: ${missing}`}`, () => {
  it('runs a command in the guest and brings its JSON back, and leaves no qemu', () => {
    const r = spawnSync(
      process.execPath,
      [join(root, 'dist/cli/main.js'), 'vm', '--kernel', kernel!, '--memory', '1G', '--timeout', '600', '--', 'settings', '--json'],
      {
        encoding: 'utf8',
        timeout: 660_000,
      },
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const s = JSON.parse(r.stdout) as { commitLimitBytes: number; committedAsBytes: number; overcommitMemory: number };
    // The guest's own numbers: a CommitLimit within its 1 GiB, not the host's.
    expect(s.commitLimitBytes).toBeGreaterThan(0);
    expect(s.commitLimitBytes).toBeLessThan(1024 ** 3);
    expect(orphanQemus()).toBe('');
  }, 700_000);

  it("brings back a shell line's exit code from a guest with cgroup v1 and swap in a file, and leaves no qemu", () => {
    const r = spawnSync(
      process.execPath,
      [
        join(root, 'dist/cli/main.js'),
        'vm',
        '--kernel',
        kernel!,
        '--memory',
        '1G',
        '--cgroup',
        'v1',
        '--swap',
        'file:64M',
        '--exec',
        'exit 3',
      ],
      {
        encoding: 'utf8',
        timeout: 660_000,
      },
    );
    // The 5.1 image has cgroup v1, ext4 and virtio-blk built in: the shell line's exit code comes back.
    expect(r.status).toBe(3);
    expect(orphanQemus()).toBe('');
  }, 700_000);
});

describe('vm and the host', () => {
  it("never writes the host's /proc/sys/vm: lib/vm and the vm command import neither the settings guard nor the sysctl writer", () => {
    const dir = join(root, 'lib/vm');
    const sources = [...readdirSync(dir).map((f) => join(dir, f)), join(root, 'lib/cli/vm.ts')];
    for (const file of sources)
      expect(readFileSync(file, 'utf8'), file).not.toMatch(/from '[^']*(settings-guard|sysctl)\.js'|writeFileSync\([^)]*\/proc\/sys/);
  });
});
