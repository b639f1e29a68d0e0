// Node side of the tests: a real PostgreSQL, a database and role of their own, the notes table, the
// local Neon endpoint, and a small "probe" HTTP server through which the tests (running inside
// workerd, where they cannot open their own admin connection) read pg_stat_activity and
// pg_stat_database and change the role's connection limit.
//
// PostgreSQL is DATABASE_URL's server when set (its user must be able to create roles and
// databases), else an ephemeral one from @anypg/local.
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startNeonEndpoint, startPostgres } from '@anypg/local';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { applyMigrations } from '../scripts/local.mjs';

export interface WorkerDemoTestContext {
  /** The app's own role and database: what Hyperdrive and the Neon endpoint log into. */
  appUrl: string;
  neonFetchEndpoint: string;
  neonWsProxy: string;
  /** GET /stats, POST /connection-limit (see below). */
  probeUrl: string;
  /** The notes table as this app's migration creates it, and as apps/lambda-demo's do (null: none there). */
  notesTable: { workerDemo: string[]; lambdaDemo: string[] | null };
}

const LAMBDA_MIGRATIONS = join(dirname(fileURLToPath(import.meta.url)), '../../lambda-demo/migrations');

declare module 'vitest' {
  export interface ProvidedContext {
    workerDemo: WorkerDemoTestContext;
  }
}

export interface ProbeStats {
  /** Client backends connected to the app's database right now. */
  backends: number;
  /** Sessions ever established to the app's database (pg_stat_database.sessions). */
  sessions: number;
}

export default async function setup(project: TestProject) {
  const local = process.env.DATABASE_URL ? undefined : await startPostgres();
  const adminUrl = process.env.DATABASE_URL ?? local!.url;
  const cleanups: (() => Promise<unknown>)[] = [];
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) await fn().catch((err) => console.error('worker-demo teardown:', err));
    await local?.stop();
  };
  try {
    const admin = new pg.Pool({ connectionString: adminUrl, max: 2 });
    admin.on('error', () => {});
    cleanups.push(() => admin.end());

    const suffix = randomBytes(4).toString('hex');
    const role = `worker_demo_${suffix}`;
    const database = `worker_demo_${suffix}`;
    const password = randomBytes(12).toString('hex');
    await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
    cleanups.push(() => admin.query(`DROP ROLE IF EXISTS ${role}`));
    await admin.query(`CREATE DATABASE ${database} OWNER ${role}`);
    cleanups.push(() => admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`));

    const app = new URL(adminUrl);
    app.username = role;
    app.password = password;
    app.pathname = `/${database}`;
    const appUrl = app.toString();
    await applyMigrations(appUrl);
    const notesTable = { workerDemo: await describeNotes(appUrl), lambdaDemo: await lambdaDemoNotes(admin, app) };

    // A short idle timeout so the endpoint's own pool (Neon's side, not the worker's) drains quickly.
    const neon = await startNeonEndpoint({ upstream: adminUrl, limits: { idleTimeoutMs: 1000 } });
    cleanups.push(() => neon.close());

    const probe = await startProbe(admin, role, database);
    cleanups.push(() => new Promise((resolve) => probe.close(resolve)));
    const addr = probe.address();
    const port = typeof addr === 'object' && addr ? addr.port : 0;

    project.provide('workerDemo', {
      appUrl,
      neonFetchEndpoint: neon.fetchEndpoint,
      neonWsProxy: neon.wsProxy,
      probeUrl: `http://127.0.0.1:${port}`,
      notesTable,
    });
  } catch (err) {
    await cleanup();
    throw err;
  }
  return cleanup;
}

/** Columns and constraints of the notes table, as comparable lines. */
async function describeNotes(url: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {});
  await client.connect();
  try {
    const { rows } = await client.query<{ line: string }>(
      `SELECT format('column %s %s %s default=%s identity=%s', column_name, data_type,
                     CASE is_nullable WHEN 'YES' THEN 'null' ELSE 'not null' END,
                     coalesce(column_default, '-'), coalesce(identity_generation, '-')) AS line
         FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'notes'
       UNION ALL
       SELECT format('constraint %s %s', conname, pg_get_constraintdef(oid))
         FROM pg_constraint WHERE conrelid = 'public.notes'::regclass
       ORDER BY 1`,
    );
    return rows.map((r) => r.line);
  } finally {
    await client.end();
  }
}

/** The notes table as apps/lambda-demo's drizzle-kit migrations create it, in a scratch database. */
async function lambdaDemoNotes(admin: pg.Pool, app: URL): Promise<string[] | null> {
  if (!existsSync(LAMBDA_MIGRATIONS)) return null;
  const files = readdirSync(LAMBDA_MIGRATIONS)
    .filter((f) => f.endsWith('.sql'))
    .sort();
  if (files.length === 0) return null;
  const scratch = `${app.pathname.slice(1)}_lambda`;
  await admin.query(`CREATE DATABASE ${scratch} OWNER ${app.username}`);
  try {
    const url = new URL(app);
    url.pathname = `/${scratch}`;
    const client = new pg.Client({ connectionString: url.toString() });
    client.on('error', () => {});
    await client.connect();
    try {
      // drizzle-kit's `--> statement-breakpoint` markers are SQL comments: each file runs as is.
      for (const file of files) await client.query(readFileSync(join(LAMBDA_MIGRATIONS, file), 'utf8'));
    } finally {
      await client.end();
    }
    return await describeNotes(url.toString());
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${scratch} WITH (FORCE)`);
  }
}

function startProbe(admin: pg.Pool, role: string, database: string): Promise<Server> {
  const server = createServer(async (req, res) => {
    try {
      if (req.method === 'GET' && req.url === '/stats') {
        const { rows } = await admin.query<{ backends: number; sessions: number }>(
          `SELECT (SELECT count(*)::int FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend') AS backends,
                  (SELECT sessions::int FROM pg_stat_database WHERE datname = $1) AS sessions`,
          [database],
        );
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify(rows[0] satisfies ProbeStats | undefined));
        return;
      }
      const limit = /^\/connection-limit\/(-1|[0-9]+)$/.exec(req.url ?? '');
      if (req.method === 'POST' && limit) {
        await admin.query(`ALTER ROLE ${role} CONNECTION LIMIT ${Number(limit[1])}`);
        res.writeHead(204).end();
        return;
      }
      res.writeHead(404).end();
    } catch (err) {
      res.writeHead(500).end(String(err));
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}
