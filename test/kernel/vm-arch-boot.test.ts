// Boots a guest of another architecture: Debian 13's arm64 kernel with 16 KiB pages under
// qemu-system-aarch64 (TCG), with the arm64 Node, glibc and busybox that scripts/kernels.sh
// caches and the package's linux-arm64 prebuild. Skipped, saying why, where any is missing.
// What it checks is the evidence's consistency, never a kernel fact: the page size the guest's
// run recorded is the one its image's header declares, and the only one in the evidence.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { imageArch, MACHINES, readHead, userlandOf } from '../../lib/vm/arch.js';
import { resolveKernel } from '../../lib/vm/kernel.js';
import { checkHostTools } from '../../lib/vm/requirements.js';
import { RUN_VM_MARGIN_S, runVm } from '../helpers.js';

const root = join(import.meta.dirname, '../..');
const BOOT_S = 300;

const cache = process.env.OVERCOMMIT_LAB_KERNELS ?? join(process.env.HOME ?? '/root', '.cache/overcommit-lab/kernels');
const kernelDir = existsSync(cache)
  ? readdirSync(cache)
      .filter((d) => /^6\.12-arm64-16k-\d/.test(d))
      .map((d) => join(cache, d))
      .pop()
  : undefined;
const kernel = kernelDir === undefined ? undefined : resolveKernel(kernelDir);
const tools = checkHostTools({
  modules: true,
  compressedModules: true,
  ext4Image: false,
  machine: MACHINES.arm64,
  foreign: { userland: userlandOf(MACHINES.arm64), prebuildDir: join(root, 'prebuilds/linux-arm64') },
});
const missing =
  kernel === undefined
    ? `no Debian 13 arm64-16k kernel in ${cache} (scripts/kernels.sh 6.12-arm64-16k fetches it)`
    : 'missing' in tools
      ? tools.missing.join(' ')
      : '';
if (missing !== '') console.warn(`vm-arch-boot: skipped: ${missing}`);

/** Every value of `key` anywhere in `value`. */
function valuesOf(value: unknown, key: string): unknown[] {
  if (Array.isArray(value)) return value.flatMap((v) => valuesOf(v, key));
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([k, v]) => (k === key ? [v] : valuesOf(v, key)));
}

describe.skipIf(missing !== '')(`vm boots an arm64 guest with 16 KiB pages${missing === '' ? '' : ` — skipped: ${missing}`}`, () => {
  it(
    "runs zero-pages there: the evidence's page size is the one the image declares, and the only one; the architecture is recorded",
    () => {
      const r = runVm(kernelDir!, ['--memory', '1G'], ['run', 'zero-pages', '--json'], BOOT_S);
      expect(r.status, r.stderr).toBe(0);
      const report = JSON.parse(r.stdout) as {
        system: { pageSize: number; vm: { arch: string; accel: string } };
        runs: { status: string }[];
      };
      const declared = imageArch(readHead(kernel!.image))?.pageSize;
      expect(declared).toBeDefined();
      expect(report.system.vm.arch).toBe('arm64');
      expect(report.system.vm.accel).toBe('tcg');
      expect(report.system.pageSize).toBe(declared);
      expect(new Set(valuesOf(report, 'pageSize'))).toEqual(new Set([declared]));
      expect(report.runs.map((x) => x.status)).toEqual(['ran']);
    },
    (BOOT_S + RUN_VM_MARGIN_S + 30) * 1000,
  );
});
