// anypg's lean Hyperdrive entry: the hyperdrive backend only, for a Worker whose database is behind
// a Hyperdrive binding and nothing else. It leaves out neon-http and neon-ws (and so any trace of
// the Neon driver); `anypg` under edge conditions has all three.
import { hyperdriveFactory } from './backends/hyperdrive/factory.js';
import type { CreateDbOptions } from './config/options.js';
import { createDbWith } from './core/create.js';
import { findHyperdrive, type Resolution, type ResolveInput } from './core/resolve.js';
import type { AnypgDatabase } from './drizzle/database.js';
import { ConfigurationError } from './errors.js';

export * from './exports.js';

export function createDb<TSchema extends Record<string, unknown> = Record<string, never>>(
  options: CreateDbOptions<TSchema> = {},
): AnypgDatabase<TSchema> {
  return createDbWith({ hyperdrive: hyperdriveFactory(undefined) }, options, onlyHyperdrive);
}

/** This build has one backend: it needs a binding, and refuses any other explicit choice. */
function onlyHyperdrive(input: ResolveInput): Resolution {
  const asked = input.explicit ?? input.env.ANYPG_BACKEND;
  if (asked && asked !== 'hyperdrive') {
    throw new ConfigurationError(
      'backend',
      `anypg/hyperdrive has only the hyperdrive backend (asked: ${String(asked)}). Import anypg instead.`,
    );
  }
  const binding = findHyperdrive(input.env, input.hyperdriveBinding);
  if (!binding) {
    throw new ConfigurationError(
      'hyperdrive.binding',
      'anypg/hyperdrive needs a Hyperdrive binding in env: bind one in your wrangler config and pass the Worker env (createDb({ env, pg })).',
    );
  }
  return { backend: 'hyperdrive', reason: `binding ${binding} found in env (anypg/hyperdrive)`, binding };
}
