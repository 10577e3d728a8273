import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { imageVersion, resolveKernel } from '../lib/vm/kernel.js';

const dir = mkdtempSync(join(tmpdir(), 'overcommit-lab-test-kernel-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A file with a bzImage setup header naming `version` (the boot protocol's layout). */
function fakeImage(path: string, version: string): string {
  const b = Buffer.alloc(0x1000);
  b.write('HdrS', 0x202, 'latin1');
  b.writeUInt16LE(0x300, 0x20e);
  b.write(`${version} (builder@host) #1 SMP\0`, 0x500, 'latin1');
  writeFileSync(path, b);
  return path;
}

function fakePackage(name: string, version: string, modules: 'lib' | 'usr/lib' | 'none'): string {
  const root = join(dir, name);
  mkdirSync(join(root, 'boot'), { recursive: true });
  fakeImage(join(root, 'boot', `vmlinuz-${version}`), version);
  if (modules !== 'none') mkdirSync(join(root, modules, 'modules', version), { recursive: true });
  return root;
}

describe('imageVersion', () => {
  it("reads the release from a bzImage's setup header", () => {
    expect(imageVersion(fakeImage(join(dir, 'img'), '5.1.15-kvmlab'))).toBe('5.1.15-kvmlab');
  });

  it('is empty for a file that is no bzImage', () => {
    writeFileSync(join(dir, 'text'), 'not a kernel');
    expect(imageVersion(join(dir, 'text'))).toBe('');
  });
});

describe('resolveKernel', () => {
  it('takes an unpacked package: its image, version and lib/modules', () => {
    const root = fakePackage('deb61', '6.1.0-50-amd64', 'lib');
    expect(resolveKernel(root)).toEqual({
      image: join(root, 'boot/vmlinuz-6.1.0-50-amd64'),
      arch: { arch: 'x64', format: 'bzImage' },
      version: '6.1.0-50-amd64',
      modulesDir: join(root, 'lib/modules/6.1.0-50-amd64'),
      given: root,
    });
  });

  it('finds the modules of a merged-/usr package under usr/lib/modules', () => {
    const root = fakePackage('deb612', '6.12.1+deb13-amd64', 'usr/lib');
    expect(resolveKernel(root).modulesDir).toBe(join(root, 'usr/lib/modules/6.12.1+deb13-amd64'));
  });

  it('refuses a package without its modules, one without an image, and one with several', () => {
    expect(() => resolveKernel(fakePackage('nomods', '6.1.0-1-amd64', 'none'))).toThrow(/no lib\/modules\/6.1.0-1-amd64 .*dpkg -x/);
    mkdirSync(join(dir, 'empty'));
    expect(() => resolveKernel(join(dir, 'empty'))).toThrow(/no boot\/vmlinuz-\*/);
    const two = fakePackage('two', '6.1.0-1-amd64', 'lib');
    fakeImage(join(two, 'boot/vmlinuz-6.1.0-2-amd64'), '6.1.0-2-amd64');
    expect(() => resolveKernel(two)).toThrow(/several kernels/);
  });

  it('takes an image file: the version from its header, built in when no /lib/modules/<version> exists', () => {
    const img = fakeImage(join(dir, 'vmlinuz-test'), '5.1.15-kvmlab');
    expect(resolveKernel(img, join(dir, 'no-root'))).toEqual({
      image: img,
      arch: { arch: 'x64', format: 'bzImage' },
      version: '5.1.15-kvmlab',
      given: img,
    });
  });

  it("takes the modules of an unpacked package's image, and refuses a modular image without them", () => {
    const root = fakePackage('deb510', '5.10.0-32-amd64', 'lib');
    const image = join(root, 'boot/vmlinuz-5.10.0-32-amd64');
    expect(resolveKernel(image, join(dir, 'no-root')).modulesDir).toBe(join(root, 'lib/modules/5.10.0-32-amd64'));
    const lone = join(dir, 'lone');
    mkdirSync(lone);
    fakeImage(join(lone, 'vmlinuz-6.1.0-9-amd64'), '6.1.0-9-amd64');
    writeFileSync(join(lone, 'config-6.1.0-9-amd64'), 'CONFIG_NET_9P=m\nCONFIG_9P_FS=m\n');
    expect(() => resolveKernel(join(lone, 'vmlinuz-6.1.0-9-amd64'), join(dir, 'no-root'))).toThrow(
      /builds 9p as a module .* lib\/modules\/6.1.0-9-amd64 is not there/,
    );
  });

  it('refuses a missing path and a file that is no kernel', () => {
    expect(() => resolveKernel(join(dir, 'missing'))).toThrow(/no such file or directory/);
    expect(() => resolveKernel(join(dir, 'text'))).toThrow(/not a Linux kernel image/);
  });

  it("'host' is the running kernel's image in /boot and its /lib/modules, or says it is not there", () => {
    const root = join(dir, 'hostroot');
    expect(() => resolveKernel('host', root)).toThrow(/does not exist/);
    mkdirSync(join(root, 'boot'), { recursive: true });
    mkdirSync(join(root, 'lib/modules', release()), { recursive: true });
    fakeImage(join(root, 'boot', `vmlinuz-${release()}`), release());
    expect(resolveKernel('host', root)).toMatchObject({ version: release(), modulesDir: join(root, 'lib/modules', release()) });
  });
});
