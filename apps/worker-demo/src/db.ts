// The notes API's databases, kept at module scope and shared by every request the isolate serves:
// what a Workers user writes first, and what anypg makes safe.
//
// Workers forbid using a socket opened by one request from another. anypg gives each request that
// queries a connection of its own (one connection to Hyperdrive's pool at the edge per request;
// with neon-http none, each query is one HTTPS request) and closes it once that request stops
// using it, inside the request's waitUntil. Nothing reads the Hyperdrive binding before the first
// query: its properties cannot be read at global scope.

import { env as moduleEnv } from 'cloudflare:workers';
import { type AnypgDatabase, createDb, type NeonOptions } from 'anypg';
import pg from 'pg';
import { schema } from './schema.js';
import { telemetry } from './telemetry.js';
import type { DemoBackend } from './validation.js';

/** What wrangler.jsonc binds (a type alias, so it is assignable to anypg's `env` record). */
export type Env = {
  /** Hyperdrive binding: in production Cloudflare's pool; locally a pipe to localConnectionString. */
  HYPERDRIVE?: { connectionString: string; host: string; port: number };
  /** The Neon database for the neon-http path (a secret in production: wrangler secret put DATABASE_URL). */
  DATABASE_URL?: string;
  /** Default path when a request does not pick one: hyperdrive or neon-http. Unset: anypg detects (the binding wins). */
  BACKEND?: string;
  /** A Neon-compatible SQL-over-HTTP endpoint, e.g. @anypg/local's. Unset or empty: Neon's own. */
  NEON_FETCH_ENDPOINT?: string;
  /** The matching WebSocket proxy (host:port/path, no scheme); only set together with NEON_FETCH_ENDPOINT. */
  NEON_WS_PROXY?: string;
};

export type NotesDb = AnypgDatabase<typeof schema>;

export const APPLICATION_NAME = 'anypg-worker-demo';

const env = moduleEnv as unknown as Env;

const dbs = new Map<DemoBackend | 'detected', NotesDb>();

/**
 * The db of a path (undefined: the one anypg picks from env, the Hyperdrive binding when there is
 * one, else neon-http), kept at module scope for every request after the first that asked for it.
 * Made on first use rather than at import so that an entry can set telemetry first (src/traced.ts
 * does), and so that a path that is not configured fails the requests that ask for it rather than
 * the Worker's start. (A db made at import, `const db = createDb({ env, pg, schema })`, works the
 * same: packages/client tests it at a real global scope.)
 */
export function dbFor(backend: DemoBackend | undefined): NotesDb {
  const key = backend ?? 'detected';
  let db = dbs.get(key);
  if (!db) {
    db = openDb(env, backend);
    dbs.set(key, db);
  }
  return db;
}

function openDb(env: Env, backend: DemoBackend | undefined): NotesDb {
  return createDb({
    env,
    pg,
    schema,
    // undefined lets anypg choose: the Hyperdrive binding when there is one, else neon-http.
    backend,
    // Named, not left to anypg's "first binding in env": explicit is clearer.
    ...(env.HYPERDRIVE ? { hyperdrive: { binding: 'HYPERDRIVE' } } : {}),
    applicationName: APPLICATION_NAME,
    // None in the deployed worker; the local traced entry (src/traced.ts) sets one.
    telemetry: telemetry(),
    ...(env.NEON_FETCH_ENDPOINT ? { neon: localNeon(env) } : {}),
  });
}

/** Settings for a local Neon endpoint (plain http/ws); a deployed worker sets none. */
function localNeon(env: Env): NeonOptions {
  return {
    fetchEndpoint: env.NEON_FETCH_ENDPOINT,
    ...(env.NEON_WS_PROXY ? { wsProxy: env.NEON_WS_PROXY } : {}),
    useSecureWebSocket: !env.NEON_FETCH_ENDPOINT?.startsWith('http:'),
  };
}
