// anypg's edge entry (Cloudflare Workers, Vercel Edge, Deno Deploy, Netlify Edge, browsers): the
// fetch and WebSocket backends only. It never imports pg or the AWS SDK; Hyperdrive takes the pg
// module you pass (createDb({ env, pg })).
import { hyperdriveFactory } from './backends/hyperdrive/factory.js';
import { createNeonHttpTransport } from './backends/neon-http/factory.js';
import { createNeonWsTransport } from './backends/neon-ws/factory.js';
import type { CreateDbOptions } from './config/options.js';
import type { BackendFactories } from './core/context.js';
import { createDbWith } from './core/create.js';
import { resolveBackend } from './core/resolve.js';
import type { AnypgDatabase } from './drizzle/database.js';

export * from './exports.js';

const EDGE_BACKENDS: BackendFactories = {
  'neon-http': createNeonHttpTransport,
  'neon-ws': createNeonWsTransport,
  hyperdrive: hyperdriveFactory(undefined),
};

export function createDb<TSchema extends Record<string, unknown> = Record<string, never>>(
  options: CreateDbOptions<TSchema> = {},
): AnypgDatabase<TSchema> {
  return createDbWith(EDGE_BACKENDS, options, resolveBackend);
}
