// The tests run inside workerd (@cloudflare/vitest-plugin), against the worker as wrangler.jsonc's
// `local` environment describes it, with the addresses the global setup started: the Hyperdrive
// binding pipes to the test database, DATABASE_URL and NEON_* point the neon-http path at the
// local Neon endpoint.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { budget } from '@anypg/testkit';
import { cloudflareTest } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';
import type { WorkerDemoTestContext } from './test/global-setup.js';

const here = dirname(fileURLToPath(import.meta.url));

// pg inside the workers pool (vite resolves it, not wrangler's esbuild): pg-protocol's `import`
// condition is an ESM build that does not load there, and pg-cloudflare's `default` condition is an
// empty module. Point both at their CommonJS builds, resolved from where pg finds them.
const fromPg = createRequire(createRequire(import.meta.url).resolve('pg/package.json'));
const pgProtocol = fromPg.resolve('pg-protocol');
const pgCloudflare = join(dirname(fromPg.resolve('pg-cloudflare/package.json')), 'dist/index.js');

// Time limits bound a failure, they are not targets: a busy machine gets more (see @anypg/testkit).
const workerd = defineConfig({
  plugins: [
    cloudflareTest(({ inject }) => {
      const ctx = inject<WorkerDemoTestContext>('workerDemo');
      return {
        wrangler: { configPath: join(here, 'wrangler.jsonc'), environment: 'local' },
        miniflare: {
          hyperdrives: { HYPERDRIVE: ctx.appUrl },
          bindings: {
            DATABASE_URL: ctx.appUrl,
            NEON_FETCH_ENDPOINT: ctx.neonFetchEndpoint,
            NEON_WS_PROXY: ctx.neonWsProxy,
            PROBE_URL: ctx.probeUrl,
          },
        },
      };
    }),
  ],
  test: {
    name: 'workerd',
    include: ['test/*.test.ts'],
    globalSetup: ['./test/global-setup.ts'],
    // The files count connections to one database: run them one after another.
    fileParallelism: false,
  },
});

export default defineConfig({
  // Aliases at the top, inherited by the workerd project (`extends: true`): a project's own
  // resolve.alias does not reach the workers pool's module resolution.
  resolve: {
    alias: [
      { find: /^pg-protocol$/, replacement: pgProtocol },
      { find: /^pg-cloudflare$/, replacement: pgCloudflare },
    ],
  },
  test: {
    testTimeout: budget(60_000),
    hookTimeout: budget(60_000),
    projects: [
      { ...workerd, extends: true },
      {
        // scripts/local.mjs and scripts/dev.mjs, from Node (each starts workerd itself). Its own
        // global setup: its own database, so its connections never touch the workerd files' counts.
        test: {
          name: 'node',
          include: ['test/node/*.test.ts'],
          globalSetup: ['./test/global-setup.ts'],
          testTimeout: budget(60_000),
          hookTimeout: budget(60_000),
        },
      },
    ],
  },
});
