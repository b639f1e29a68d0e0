// One PostgreSQL for the whole test run: DATABASE_URL's server if set, else an ephemeral one.
import type { TestProject } from 'vitest/node';
import { startPostgres } from '../src/index.js';

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
  const pg = await startPostgres();
  project.provide('databaseUrl', pg.url);
  return () => pg.stop();
}
