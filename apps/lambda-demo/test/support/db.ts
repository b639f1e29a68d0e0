// A migrated database per test file, and small queries the tests make as the server's admin.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { inject } from 'vitest';

export const APP_DIR = fileURLToPath(new URL('../../', import.meta.url));
export const HANDLER = fileURLToPath(new URL('../../dist/handler.mjs', import.meta.url));
export const MIGRATE = fileURLToPath(new URL('../../dist/migrate.mjs', import.meta.url));

const run = promisify(execFile);

/** The URL of another database (or the same with extra query parameters) on the test server. */
export function urlFor(database: string, params: Record<string, string> = {}): string {
  const url = new URL(inject('adminUrl'));
  url.pathname = `/${database}`;
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url.toString();
}

/** Runs a statement as the server's admin (creating databases, reading pg_stat_activity). */
export async function adminQuery<T extends pg.QueryResultRow>(
  text: string,
  values: unknown[] = [],
  database?: string,
): Promise<T[]> {
  const client = new pg.Client({ connectionString: database ? urlFor(database) : inject('adminUrl') });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/** Runs the app's migrate command (node dist/migrate.mjs) against a URL; returns its output. */
export async function runMigrate(env: Record<string, string>): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [MIGRATE], { env: { PATH: process.env.PATH ?? '', ...env }, cwd: APP_DIR });
}

/** A new empty database of this run (dropped by the global teardown). */
export async function emptyDatabase(label: string): Promise<{ name: string; url: string }> {
  const name = `${inject('runPrefix')}_${label}`;
  await adminQuery(`create database "${name}"`);
  return { name, url: urlFor(name) };
}

/** A new database of this run, migrated with the app's migrate command. */
export async function freshDatabase(label: string): Promise<{ name: string; url: string }> {
  const db = await emptyDatabase(label);
  await runMigrate({ DATABASE_URL: db.url });
  return db;
}

/** Backends connected to `database` whose application_name is `app` (a Lambda's function name). */
export async function backendsOf(database: string, app: string): Promise<{ pid: number; backend_start: Date }[]> {
  return adminQuery(
    'select pid, backend_start from pg_stat_activity where datname = $1 and application_name = $2 order by pid',
    [database, app],
  );
}
