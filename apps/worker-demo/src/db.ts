// One anypg client per request, on the path the request asks for.
//
// Workers forbid using a socket opened by one request from another, so the client is created inside
// fetch and closed after the response (ctx.waitUntil(db.$close())). With Hyperdrive that costs one
// connection to Hyperdrive's pool at the edge per request; with neon-http, none (each query is one
// HTTPS request).
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

export function openDb(env: Env, backend: DemoBackend | undefined): NotesDb {
  return createDb({
    env,
    pg,
    schema,
    // undefined lets anypg choose: the Hyperdrive binding when there is one, else neon-http.
    backend,
    // Named, not left to anypg's "first binding in env": explicit is clearer, and anypg (at this
    // version) finds no binding for an explicit backend: 'hyperdrive' unless it is named.
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
