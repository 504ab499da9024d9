import { defineConfig } from 'vitest/config';

// Unit tests (test/unit) run in-process on the TypeScript sources. End-to-end tests
// (test/e2e) run the built CLI (npm test builds first) with real lxc, tar, fakeroot, qemu;
// they need root, and every one works in its own temp dir with unique names, so files
// run in parallel (2 workers: the machines have 2 cores).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/.cache/**', 'node_modules/**'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
