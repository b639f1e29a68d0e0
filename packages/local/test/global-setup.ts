// One PostgreSQL for the whole test run: DATABASE_URL's server if set, else an ephemeral one.
import { fileURLToPath } from 'node:url';
import { ensureFreshBuild } from '@anypg/testkit';
import type { TestProject } from 'vitest/node';
import { startPostgres } from '../src/index.js';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
  }
}

export default async function setup(project: TestProject) {
  // Some suites run the built package (dist/, the CLI) in child processes: never an old build.
  ensureFreshBuild(fileURLToPath(new URL('..', import.meta.url)));
  if (process.env.DATABASE_URL) {
    project.provide('databaseUrl', process.env.DATABASE_URL);
    return;
  }
  const pg = await startPostgres();
  project.provide('databaseUrl', pg.url);
  return () => pg.stop();
}
