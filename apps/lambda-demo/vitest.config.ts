import { budget } from '@anypg/testkit';
import { defineConfig } from 'vitest/config';

// Time limits bound a failure, they are not targets: a busy machine gets more (see @anypg/testkit).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['./test/support/global-setup.ts'],
    testTimeout: budget(30_000),
    hookTimeout: budget(60_000),
    // expect.poll waits for something that happens anyway: give a busy machine time (default 1 s).
    expect: { poll: { timeout: 20_000 } },
  },
});
