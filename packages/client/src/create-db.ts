// createDb() of the Node entry: every backend. Each loads its driver (pg, the Neon driver, the
// AWS SDK) only when it is chosen, so a Data API client never loads pg and vice versa.

import { createDataApiTransport } from './backends/data-api/factory.js';
import { hyperdriveFactory } from './backends/hyperdrive/factory.js';
import { neonHttpFactory } from './backends/neon-http/factory.js';
import { createNeonWsTransport, neonSessionTransport } from './backends/neon-ws/factory.js';
import { driverLoadError } from './backends/optional-driver.js';
import { createPgTransport } from './backends/pg/factory.js';
import { poolerOf } from './backends/pg-pooler/detect.js';
import type { CreateDbOptions } from './config/options.js';
import type { BackendFactories } from './core/context.js';
import { createDbWith } from './core/create.js';
import { resolveBackend } from './core/resolve.js';
import type { AnypgDatabase } from './drizzle/database.js';
import { defaultNodeTelemetry } from './observe/otel/node-api.js';

const NODE_BACKENDS: BackendFactories = {
  pg: createPgTransport,
  'pg-pooler': createPgTransport,
  'neon-http': neonHttpFactory({
    keepAlive: () => import('./backends/neon-http/keep-alive.js'),
    sessions: (ctx) => neonSessionTransport(ctx, 'neon-http'),
  }),
  'neon-ws': createNeonWsTransport,
  // The rejection handler right on import(): see backends/optional-driver.ts.
  hyperdrive: hyperdriveFactory(() =>
    import('pg').then(
      (mod) => mod,
      (err: unknown) => {
        throw driverLoadError('pg', 'hyperdrive', err, 'pg');
      },
    ),
  ),
  'data-api': createDataApiTransport,
};

export function createDb<TSchema extends Record<string, unknown> = Record<string, never>>(
  options: CreateDbOptions<TSchema> = {},
): AnypgDatabase<TSchema> {
  return createDbWith(
    NODE_BACKENDS,
    options,
    resolveBackend,
    (url) => poolerOf(url, options.pooler),
    defaultNodeTelemetry,
  );
}
