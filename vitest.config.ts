import { defineConfig } from 'vitest/config';

// Two projects. test/pure/: judging saved or constructed evidence, parsers, reports (no root, no
// addon, no /proc: scripts/check-pure.sh runs them where the addon cannot load), in parallel.
// test/kernel/: everything that touches the kernel, the addon, qemu or processes. The machine has
// one overcommit setting: kernel test files that switch it and ones that depend on it must never
// overlap, so they run one at a time, after the pure ones (groupOrder), over a freshly compiled dist/.
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    projects: [
      { extends: true, test: { name: 'pure', include: ['test/pure/**/*.test.ts'], sequence: { groupOrder: 0 } } },
      {
        extends: true,
        test: {
          name: 'kernel',
          include: ['test/kernel/**/*.test.ts'],
          globalSetup: ['test/global-setup.ts'],
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
