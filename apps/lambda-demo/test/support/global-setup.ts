// One PostgreSQL server for the whole test run: DATABASE_URL's if set, else an ephemeral embedded
// one. Each test file gets a database of its own on it (support/db.ts), named with this run's id,
// and every such database is dropped at the end.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startPostgres } from '@anypg/local';
import { ensureFreshBuild } from '@anypg/testkit';
import pg from 'pg';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A superuser (or CREATEDB) URL of the server. */
    adminUrl: string;
    /** Prefix of this run's databases. */
    runPrefix: string;
  }
}

export default async function setup(project: TestProject) {
  // The tests run the bundle a user deploys (dist/): never one older than the app or anypg.
  const app = fileURLToPath(new URL('../..', import.meta.url));
  const client = fileURLToPath(new URL('../../../../packages/client', import.meta.url));
  ensureFreshBuild(client);
  ensureFreshBuild(app, {
    sources: ['src', 'scripts/build.mjs', join(client, 'dist')],
    build: [process.execPath, 'scripts/build.mjs'],
  });
  const runPrefix = `lambda_demo_${process.pid}_${Date.now().toString(36)}`;
  project.provide('runPrefix', runPrefix);
  let stop = async () => {};
  let adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) {
    const server = await startPostgres({ settings: { max_connections: 100 } });
    adminUrl = server.url;
    stop = () => server.stop();
  }
  project.provide('adminUrl', adminUrl);
  return async () => {
    const admin = new pg.Client({ connectionString: adminUrl });
    try {
      await admin.connect();
      const { rows } = await admin.query<{ datname: string }>(
        'select datname from pg_database where starts_with(datname, $1)',
        [runPrefix],
      );
      for (const { datname } of rows) await admin.query(`drop database if exists "${datname}" with (force)`);
      const roles = await admin.query<{ rolname: string }>(
        'select rolname from pg_roles where starts_with(rolname, $1)',
        [runPrefix],
      );
      for (const { rolname } of roles.rows) await admin.query(`drop role if exists "${rolname}"`);
    } finally {
      await admin.end().catch(() => {});
      await stop();
    }
  };
}
