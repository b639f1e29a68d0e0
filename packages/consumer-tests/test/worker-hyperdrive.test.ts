// A Cloudflare Worker on Hyperdrive only: `anypg drizzle-orm pg` installed from npm (no Neon
// driver), bundled by `wrangler deploy --dry-run`, the bundle run in workerd with a local
// Hyperdrive binding.
import { join } from 'node:path';
import type { Miniflare } from 'miniflare';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { fixturesDir } from '../src/paths.js';
import { createProject, DEPS, type Project } from '../src/project.js';
import { startWorker, type WorkerBundle, wranglerBuild } from '../src/worker.js';

let project: Project;
let bundle: WorkerBundle;
let worker: Miniflare;

beforeAll(async () => {
  project = await createProject('worker-hyperdrive', {
    dependencies: { anypg: `file:${inject('tarballs').anypg}`, 'drizzle-orm': DEPS['drizzle-orm'], pg: DEPS.pg },
    copy: [
      [join(fixturesDir, 'worker-hyperdrive/src'), 'src'],
      [join(fixturesDir, 'worker-hyperdrive/wrangler.jsonc'), 'wrangler.jsonc'],
    ],
  });
  bundle = await wranglerBuild(project.dir, 'wrangler.jsonc', 'dist');
  worker = await startWorker(bundle.script, { hyperdrives: { HYPERDRIVE: inject('databaseUrl') } });
});

afterAll(async () => {
  await worker?.dispose();
  project?.remove();
});

it('bundles without the Neon driver installed, and the bundle holds no AWS SDK', () => {
  expect(bundle.packages).toEqual(expect.arrayContaining(['anypg', 'drizzle-orm', 'pg']));
  expect(bundle.packages.filter((p) => /^@neondatabase\/|^@aws-sdk\/|^@smithy\//.test(p))).toEqual([]);
});

it('answers on Hyperdrive in workerd, a transaction included', async () => {
  const res = await worker.dispatchFetch('http://worker/');
  expect(res.status).toBe(200);
  expect(await res.json()).toMatchObject({ answer: 42, inTx: true, backend: 'hyperdrive', runtime: 'workerd' });
});

it('reports neon-http without its driver as a ConfigurationError naming the package', async () => {
  const res = await worker.dispatchFetch('http://worker/neon-http');
  const { error } = (await res.json()) as { error: Record<string, unknown> };
  expect(error).toMatchObject({ name: 'ConfigurationError', code: 'CONFIGURATION', retryable: false });
  expect(error.message).toContain('needs the package @neondatabase/serverless, which is not installed');
});
