// A Cloudflare Worker on Hyperdrive only: `anypg drizzle-orm pg` installed from npm (no Neon
// driver), bundled by `wrangler deploy --dry-run`, the bundle run in workerd with a local
// Hyperdrive binding; through `anypg` (the README's example) and `anypg/hyperdrive` (the lean entry).
import { join } from 'node:path';
import type { Miniflare } from 'miniflare';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { fixturesDir } from '../src/paths.js';
import { createProject, DEPS, type Project } from '../src/project.js';
import { startWorker, type WorkerBundle, wranglerBuild } from '../src/worker.js';

let project: Project;

beforeAll(async () => {
  project = await createProject('worker-hyperdrive', {
    dependencies: { anypg: `file:${inject('tarballs').anypg}`, 'drizzle-orm': DEPS['drizzle-orm'], pg: DEPS.pg },
    copy: [
      [join(fixturesDir, 'worker-hyperdrive/src'), 'src'],
      [join(fixturesDir, 'worker-hyperdrive/wrangler.jsonc'), 'wrangler.jsonc'],
      [join(fixturesDir, 'worker-hyperdrive/wrangler-lean.jsonc'), 'wrangler-lean.jsonc'],
    ],
  });
});

afterAll(() => project?.remove());

describe.each([
  {
    entry: 'anypg',
    config: 'wrangler.jsonc',
    neonRefusal: 'needs the package @neondatabase/serverless, which is not installed',
  },
  {
    entry: 'anypg/hyperdrive',
    config: 'wrangler-lean.jsonc',
    neonRefusal: 'anypg/hyperdrive has only the hyperdrive backend',
  },
])('a Worker on Hyperdrive through $entry', ({ config, neonRefusal }) => {
  let bundle: WorkerBundle;
  let worker: Miniflare;

  beforeAll(async () => {
    bundle = await wranglerBuild(project.dir, config, `dist-${config.replace('.jsonc', '')}`);
    worker = await startWorker(bundle.script, { hyperdrives: { HYPERDRIVE: inject('databaseUrl') } });
  });

  afterAll(() => worker?.dispose());

  it('bundles without the Neon driver installed, and the bundle holds no AWS SDK', () => {
    expect(bundle.packages).toEqual(expect.arrayContaining(['anypg', 'drizzle-orm', 'pg']));
    expect(bundle.packages.filter((p) => /^@neondatabase\/|^@aws-sdk\/|^@smithy\//.test(p))).toEqual([]);
  });

  it('answers on Hyperdrive in workerd, a transaction included', async () => {
    const res = await worker.dispatchFetch('http://worker/');
    const body = (await res.json()) as Record<string, unknown>;
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject({ answer: 42, inTx: true, backend: 'hyperdrive', runtime: 'workerd' });
  });

  it('refuses neon-http with a ConfigurationError that says why', async () => {
    const res = await worker.dispatchFetch('http://worker/neon-http');
    const { error } = (await res.json()) as { error: Record<string, unknown> };
    expect(error).toMatchObject({ name: 'ConfigurationError', code: 'CONFIGURATION', retryable: false });
    expect(error.message).toContain(neonRefusal);
  });
});
