// One PostgreSQL (DATABASE_URL's server if set, else an ephemeral one) and one local Neon endpoint
// in front of it, for the tests that run inside workerd. They start in Node; the workers config
// hands their addresses to the Worker as bindings (a Hyperdrive binding, the Neon settings).
import { type NeonConfigSettings, startNeonEndpoint, startPostgres } from '@anypg/local';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    neonConfig: NeonConfigSettings;
  }
}

// max_connections: module-scope.test.ts's bursts open 100 at once (a connection per request), and
// the previous burst's may still be closing.
export default async function setup(project: TestProject) {
  const server = process.env.DATABASE_URL ? undefined : await startPostgres({ settings: { max_connections: 300 } });
  const url = process.env.DATABASE_URL ?? server!.url;
  // A short idle timeout for the endpoint's own upstream pool: after a test's requests end, its
  // connections close soon, so "no connection left open" can be counted on the server.
  const neon = await startNeonEndpoint({ upstream: url, limits: { idleTimeoutMs: 500 } });
  project.provide('databaseUrl', url);
  project.provide('neonConfig', { ...neon.neonConfig });
  return async () => {
    await neon.close();
    await server?.stop();
  };
}
