import { defineConfig } from 'vitest/config';

// Each file installs its own projects with npm and bundles them: minutes, not seconds, on a busy
// two-core machine. Two files at a time; timeouts that only bound a hang.
export default defineConfig({
  test: {
    globalSetup: ['./test/global-setup.ts'],
    include: ['test/**/*.test.ts'],
    maxWorkers: 2,
    testTimeout: 240_000,
    hookTimeout: 600_000,
    teardownTimeout: 60_000,
  },
});
