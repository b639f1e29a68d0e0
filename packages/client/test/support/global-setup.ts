// One PostgreSQL for the whole test run: DATABASE_URL's server if set, else an ephemeral one.
import { startPostgres } from '@anypg/local';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
  }
}

export default async function setup(project: TestProject) {
  if (process.env.DATABASE_URL) {
    project.provide('databaseUrl', process.env.DATABASE_URL);
    return;
  }
  const pg = await startPostgres({ settings: { max_connections: 200 } });
  project.provide('databaseUrl', pg.url);
  return () => pg.stop();
}
