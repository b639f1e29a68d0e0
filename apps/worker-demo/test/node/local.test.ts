// The Node-side helpers the repo-wide demo uses (scripts/local.mjs) and `pnpm dev` (scripts/dev.mjs):
// the worker started in workerd through wrangler's dev server, offline, on both database paths,
// and stopped cleanly, by close() or by Ctrl-C.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { applyMigrations, assertPortFree, startWorkerDemo, type WorkerDemo } from '../../scripts/local.mjs';

const APP_DIR = join(dirname(fileURLToPath(import.meta.url)), '../..');

async function backends(url: string): Promise<number> {
  const admin = new pg.Client({ connectionString: url });
  admin.on('error', () => {});
  await admin.connect();
  try {
    const { rows } = await admin.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()`,
    );
    return rows[0]?.n ?? -1;
  } finally {
    await admin.end();
  }
}

describe('startWorkerDemo', () => {
  const ctx = inject('workerDemo');
  let demo: WorkerDemo;

  beforeAll(async () => {
    // Idempotent: the global setup applied it already.
    await applyMigrations(ctx.appUrl);
    demo = await startWorkerDemo({
      databaseUrl: ctx.appUrl,
      neon: { fetchEndpoint: ctx.neonFetchEndpoint, wsProxy: ctx.neonWsProxy },
    });
  });
  afterAll(() => demo?.close());

  it.each(['hyperdrive', 'neon-http'])('serves the notes API over %s on a local URL', async (backend) => {
    expect(demo.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const created = await fetch(`${demo.url}/notes?backend=${backend}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ title: `from node over ${backend}` }),
    });
    expect(created.status).toBe(201);
    expect(created.headers.get('x-anypg-backend')).toBe(backend);
    const note = (await created.json()) as { id: number; title: string };
    const read = await fetch(`${demo.url}/notes/${note.id}?backend=${backend}`);
    expect(read.status).toBe(200);
    expect(((await read.json()) as { title: string }).title).toBe(`from node over ${backend}`);
  });

  it('picks Hyperdrive by default and closes, freeing its port', async () => {
    const own = await startWorkerDemo({ databaseUrl: ctx.appUrl });
    const health = await fetch(`${own.url}/health`);
    expect(await health.json()).toMatchObject({ ok: true, backend: 'hyperdrive', runtime: 'workerd' });
    const port = Number(new URL(own.url).port);
    await expect(assertPortFree(port)).rejects.toThrow(`port ${port} on 127.0.0.1 is already in use`);
    await own.close();
    await own.close(); // twice is fine
    await assertPortFree(port);
    await expect(fetch(`${own.url}/health`)).rejects.toThrow();
  });

  it('refuses a database URL without a password, before starting anything', async () => {
    const url = new URL(ctx.appUrl);
    url.password = '';
    await expect(startWorkerDemo({ databaseUrl: url.toString() })).rejects.toThrow(/has no password/);
    await expect(startWorkerDemo({} as never)).rejects.toThrow(/needs \{ databaseUrl \}/);
    const bad = startWorkerDemo({ databaseUrl: 'postgresql://u:s3cret@[bad/db' });
    await expect(bad).rejects.toThrow(/not a valid URL/);
    await expect(bad).rejects.not.toThrow(/s3cret/);
  });
});

describe('pnpm dev (scripts/dev.mjs)', () => {
  it('starts everything, serves requests, and stops everything on Ctrl-C', async () => {
    const ctx = inject('workerDemo');
    // DATABASE_URL: the test database (dev applies the idempotent migration to it), so no second
    // embedded PostgreSQL is started here.
    const child = spawn(process.execPath, ['scripts/dev.mjs'], {
      cwd: APP_DIR,
      env: { ...process.env, PORT: '0', DATABASE_URL: ctx.appUrl },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      let url: string | undefined;
      for (let i = 0; i < 600 && !url; i++) {
        url = /running at (http:\/\/\S+)/.exec(out)?.[1];
        if (!url) await new Promise((r) => setTimeout(r, 50));
      }
      expect(url, out).toBeDefined();
      const health = await fetch(`${url}/health?backend=neon-http`);
      expect(await health.json()).toMatchObject({ ok: true, backend: 'neon-http' });

      child.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(out).toContain('Stopped.');
      await expect(fetch(`${url}/health`)).rejects.toThrow();
      // The Neon endpoint dev started is closed too: none of its sessions remain.
      let left = await backends(ctx.appUrl);
      for (let i = 0; i < 100 && left > 0; i++) {
        await new Promise((r) => setTimeout(r, 50));
        left = await backends(ctx.appUrl);
      }
      expect(left).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
