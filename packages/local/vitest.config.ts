import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    globalSetup: ['./test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // expect.poll waits for something that happens anyway: give a busy machine time (default 1 s).
    expect: { poll: { timeout: 20_000 } },
  },
});
