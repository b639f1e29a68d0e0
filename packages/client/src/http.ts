// anypg's lean edge entry: neon-http only (interactive transactions still open a WebSocket
// session). For a Worker that talks to Neon and nothing else, this is the smallest bundle;
// `anypg` under edge conditions adds neon-ws and Hyperdrive.
import { createNeonHttpTransport } from './backends/neon-http/factory.js';
import type { CreateDbOptions } from './config/options.js';
import { createDbWith } from './core/create.js';
import type { Resolution, ResolveInput } from './core/resolve.js';
import type { AnypgDatabase } from './drizzle/database.js';
import { ConfigurationError } from './errors.js';

export * from './exports.js';

export function createDb<TSchema extends Record<string, unknown> = Record<string, never>>(
  options: CreateDbOptions<TSchema> = {},
): AnypgDatabase<TSchema> {
  return createDbWith({ 'neon-http': createNeonHttpTransport }, options, onlyNeonHttp);
}

/** This build has one backend: no detection to do, only a wrong explicit choice to refuse. */
function onlyNeonHttp(input: ResolveInput): Resolution {
  const asked = input.explicit ?? input.env.ANYPG_BACKEND;
  if (asked && asked !== 'neon-http') {
    throw new ConfigurationError(
      'backend',
      `anypg/http has only the neon-http backend (asked: ${String(asked)}). Import anypg instead.`,
    );
  }
  return {
    backend: 'neon-http',
    reason: asked ? "backend: 'neon-http' was asked for" : 'anypg/http always uses neon-http',
  };
}
