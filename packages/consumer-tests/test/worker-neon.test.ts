// Cloudflare Workers on neon-http, through `anypg/http` and through `anypg`: `anypg drizzle-orm
// @neondatabase/serverless` installed from npm (no pg), bundled by `wrangler deploy --dry-run`, run
// in workerd against the local Neon endpoint, configured exactly as the client README says.
import { join } from 'node:path';
import type { Miniflare } from 'miniflare';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { fixturesDir } from '../src/paths.js';
import { createProject, DEPS, type Project } from '../src/project.js';
import { startWorker, type WorkerBundle, wranglerBuild } from '../src/worker.js';

let project: Project;

beforeAll(async () => {
  project = await createProject('worker-neon', {
    dependencies: {
      anypg: `file:${inject('tarballs').anypg}`,
      'drizzle-orm': DEPS['drizzle-orm'],
      '@neondatabase/serverless': DEPS['@neondatabase/serverless'],
    },
    copy: [
      [join(fixturesDir, 'worker-neon/src'), 'src'],
      [join(fixturesDir, 'worker-neon/wrangler-http.jsonc'), 'wrangler-http.jsonc'],
      [join(fixturesDir, 'worker-neon/wrangler-edge.jsonc'), 'wrangler-edge.jsonc'],
    ],
  });
});

afterAll(() => project?.remove());

describe.each([
  ['anypg/http', 'http'],
  ['anypg', 'edge'],
])('a Worker on neon-http through %s', (_entry, name) => {
  let bundle: WorkerBundle;
  let worker: Miniflare;

  beforeAll(async () => {
    bundle = await wranglerBuild(project.dir, `wrangler-${name}.jsonc`, `dist-${name}`);
    worker = await startWorker(bundle.script, {
      bindings: { DATABASE_URL: inject('databaseUrl'), NEON_LOCAL: JSON.stringify(inject('neonConfig')) },
    });
  });

  afterAll(() => worker?.dispose());

  it('bundles without pg installed, and holds no pg and no AWS SDK', () => {
    expect(bundle.packages).toEqual(expect.arrayContaining(['anypg', 'drizzle-orm', '@neondatabase/serverless']));
    expect(bundle.packages.filter((p) => /^pg(-.*)?$|^@aws-sdk\/|^@smithy\//.test(p))).toEqual([]);
  });

  it('answers a query, a transaction and a batch, and says why it chose neon-http', async () => {
    const res = await worker.dispatchFetch('http://worker/');
    const body = (await res.json()) as Record<string, unknown>;
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject({
      answer: 42,
      inTx: true,
      batch: [[{ one: 1 }], [{ two: 2 }]],
      backend: 'neon-http',
      runtime: 'workerd',
    });
    // A 127.0.0.1 URL with a local endpoint is not "a Neon database".
    expect(body.reason).not.toContain('Neon database');
  });
});
