import { defineConfig } from 'vitest/config';

// The machine has one overcommit setting: test files that switch it and test files that
// depend on it must never overlap, so files run one at a time.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
