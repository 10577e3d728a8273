// Boots a real guest: needs qemu, a static busybox and cpio on the host, and the 5.1.15 image
// from shared/kernels beside the repository (everything built in: no modules to fetch).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openKvmDevice } from '../../lib/vm/accel.js';
import { checkHostTools } from '../../lib/vm/requirements.js';
import { runInVm } from '../../lib/vm/run.js';

// Every boot here is bounded to a few minutes: a broken KVM costs at most 15 s (auto falls back
// to TCG), a guest that shows no life is stopped after 2 minutes, and each command's --timeout
// and the test's own timeout cap the rest.
const BOOT_S = 180;
const SPAWN_MS = (BOOT_S + 60) * 1000;
const TEST_MS = SPAWN_MS + 20_000;

const root = join(import.meta.dirname, '..', '..');

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

/** `vm`'s command line with the kernel and the bounded timeout, then `rest`. */
const vmArgs = (...rest: string[]) => [join(root, 'dist/cli/main.js'), 'vm', '--kernel', kernel!, '--timeout', String(BOOT_S), ...rest];

describe.skipIf(missing !== '')(`vm boots a guest${missing === '' ? '' : ` — skipped: ${missing}`}`, () => {
  it(
    'runs a command in the guest and brings its JSON back, and leaves no qemu',
    () => {
      const r = spawnSync(process.execPath, vmArgs('--memory', '1G', '--quiet', '--', 'settings', '--json'), {
        encoding: 'utf8',
        timeout: SPAWN_MS,
      });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const s = JSON.parse(r.stdout) as { commitLimitBytes: number; committedAsBytes: number; overcommitMemory: number };
      // The guest's own numbers: a CommitLimit within its 1 GiB, not the host's.
      expect(s.commitLimitBytes).toBeGreaterThan(0);
      expect(s.commitLimitBytes).toBeLessThan(1024 ** 3);
      expect(orphanQemus()).toBe('');
    },
    TEST_MS,
  );

  it(
    "brings back a shell line's exit code from a guest with cgroup v1 and swap in a file, and leaves no qemu",
    () => {
      const r = spawnSync(process.execPath, vmArgs('--memory', '1G', '--cgroup', 'v1', '--swap', 'file:64M', '--exec', 'exit 3'), {
        encoding: 'utf8',
        timeout: SPAWN_MS,
      });
      // The 5.1 image has cgroup v1, ext4 and virtio-blk built in: the shell line's exit code comes back.
      expect(r.status).toBe(3);
      expect(orphanQemus()).toBe('');
    },
    TEST_MS,
  );
});

const kvmOpens = openKvmDevice().opens;
describe.skipIf(missing !== '' || !kvmOpens)(
  `vm falls back from KVM to TCG in the same command${missing !== '' ? ` — skipped: ${missing}` : kvmOpens ? '' : ' — skipped: /dev/kvm does not open here'}`,
  () => {
    it(
      'a KVM guest given 1 ms to show life is stopped, and the same run completes under TCG with the reason in its info',
      async () => {
        const notices: string[] = [];
        const r = await runInVm(
          {
            kernel: kernel!,
            memoryBytes: 1024 ** 3,
            cpus: 1,
            swap: { kind: 'none' },
            cgroup: 'v2',
            accel: 'auto',
            kvmLifeMs: 1,
            timeoutMs: BOOT_S * 1000,
            verbose: false,
            guest: { shell: 'exit 5' },
          },
          { notice: (m) => notices.push(m) },
        );
        expect(r.exitCode).toBe(5);
        expect(r.info).toMatchObject({ accel: 'tcg', accelRequested: 'auto' });
        // Stopped before it could boot: either silent within the bound, or qemu had already ended with its reason.
        expect(r.info.accelReason).toMatch(/^TCG: (a guest under KVM showed no life within 0 s|qemu ended before the guest booted)/);
        expect(notices).toEqual([`${r.info.accelReason}; running under TCG (emulation, slower), in a new guest`]);
        expect(orphanQemus()).toBe('');
      },
      TEST_MS,
    );
  },
);

/** The pids whose parent is `ppid`, with their command names. */
const childrenOf = (ppid: number) =>
  spawnSync('ps', ['--ppid', String(ppid), '-o', 'pid=,comm='], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [pid, comm] = l.trim().split(/\s+/);
      return { pid: Number(pid), comm: comm ?? '' };
    });
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const until = async (what: string, ok: () => boolean, ms: number) => {
  for (const end = Date.now() + ms; !ok(); await new Promise((r) => setTimeout(r, 200))) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
  }
};

/** The arguments of a small TCG guest running a shell line. */
const tcgVm = (line: string) => vmArgs('--memory', '512M', '--accel', 'tcg', '--exec', line);

describe.skipIf(missing !== '')(`vm killed with SIGKILL${missing === '' ? '' : ` — skipped: ${missing}`}`, () => {
  it(
    'takes its qemu with it (parent-death signal), and the next vm sweeps the work directory it left',
    async () => {
      const vm = spawn(process.execPath, tcgVm('sleep 600'), { stdio: 'ignore' });
      const ended = new Promise((r) => vm.on('close', r));
      try {
        // Killed only once qemu runs (setpriv has executed it, the signal is set).
        await until('qemu runs under vm', () => childrenOf(vm.pid!).some((c) => c.comm.startsWith('qemu-system')), 60_000);
        const qemu = childrenOf(vm.pid!).find((c) => c.comm.startsWith('qemu-system'))!.pid;
        const workDirs = () => readdirSync(tmpdir()).filter((n) => n.startsWith(`overcommit-lab-vm-${vm.pid}-`));
        expect(workDirs()).toHaveLength(1);
        vm.kill('SIGKILL');
        await ended;
        await until('qemu ends with its parent', () => !alive(qemu), 10_000);
        // SIGKILL ran no cleanup: the directory is there until the next vm.
        expect(workDirs()).toHaveLength(1);
        const next = spawnSync(process.execPath, tcgVm('exit 0'), { encoding: 'utf8', timeout: SPAWN_MS });
        expect(next.status, `the next vm: ${next.stderr}`).toBe(0);
        expect(workDirs()).toEqual([]);
      } finally {
        vm.kill('SIGKILL');
      }
    },
    TEST_MS * 2,
  );
});

describe('vm and the host', () => {
  it("never writes the host's /proc/sys/vm: lib/vm and the vm command import neither the settings guard nor the sysctl writer", () => {
    const dir = join(root, 'lib/vm');
    const sources = [...readdirSync(dir).map((f) => join(dir, f)), join(root, 'lib/cli/vm.ts')];
    for (const file of sources)
      expect(readFileSync(file, 'utf8'), file).not.toMatch(/from '[^']*(settings-guard|sysctl)\.js'|writeFileSync\([^)]*\/proc\/sys/);
  });
});
