// hyperdrive: pg over a Cloudflare Hyperdrive binding, one connection per request.
//
// Workers forbid using an I/O object (a socket, a pg Client) created in one request from another,
// so this transport belongs to one request: create the db inside the fetch handler and close it
// with ctx.waitUntil(db.$close()) once the response is ready. Hyperdrive pools and caches at the
// edge, so opening a connection per request is cheap; TLS to the origin is Hyperdrive's (the
// Worker-to-Hyperdrive hop is internal), so the client speaks plaintext to the binding.
import { parseConnectionString, redactUrl } from '../../config/connection-string.js';
import { resolvePoolOptions } from '../../config/options.js';
import type { BackendContext } from '../../core/context.js';
import { findHyperdrive, type HyperdriveBinding, isHyperdriveBinding } from '../../core/resolve.js';
import { ConfigurationError } from '../../errors.js';
import { type PgDriver, PgTransport } from '../pg/transport.js';

/** Where the pg module comes from: the `pg` option, else (Node entry only) a dynamic import. */
export type PgLoader = (() => Promise<unknown>) | undefined;

export function hyperdriveFactory(loadPg: PgLoader) {
  return (ctx: BackendContext): PgTransport => {
    const { options, runtime, env } = ctx;
    // An explicit backend: 'hyperdrive' resolves without looking at env, so look here.
    const name = ctx.resolution.binding ?? options.hyperdrive?.binding ?? findHyperdrive(env);
    const binding = name ? env[name] : undefined;
    if (!isHyperdriveBinding(binding)) {
      throw new ConfigurationError(
        'hyperdrive.binding',
        'The hyperdrive backend needs a Hyperdrive binding: pass the Worker env (createDb({ env })) and bind one in your wrangler config.',
      );
    }
    const parts = parseConnectionString(
      (binding as HyperdriveBinding).connectionString,
      `env.${name}.connectionString`,
    );
    const pool = resolvePoolOptions({ max: 1, ...options.pool }, runtime.name, 1);
    const statementTimeoutMs = options.statementTimeoutMs ?? 30_000;
    const target = redactUrl(parts);
    const given = options.pg;
    const driver = async (): Promise<PgDriver> => {
      const mod = (given ?? (loadPg ? await loadPg() : undefined)) as { default?: unknown } | undefined;
      const pg = (mod && 'default' in mod && mod.default ? mod.default : mod) as
        | { Client: PgDriver['Client']; types: PgDriver['types'] }
        | undefined;
      if (!pg?.Client) {
        throw new ConfigurationError(
          'pg',
          "The hyperdrive backend needs the pg module: import pg from 'pg' and pass createDb({ env, pg }) (anypg's edge build does not bundle pg itself).",
        );
      }
      return { Client: pg.Client, types: pg.types };
    };
    return new PgTransport({
      driver,
      pool: { ...pool, target },
      client: {
        host: parts.host,
        port: parts.port,
        user: parts.user,
        database: parts.database,
        ssl: false,
        // Hyperdrive pools in transaction mode: only application_name goes in the startup packet
        // (statement_timeout there is not known to be accepted; the client-side limit applies).
        application_name: options.applicationName ?? 'anypg',
        connectionTimeoutMillis: pool.connectTimeoutMs,
      },
      password: parts.password,
      // Hyperdrive pools in transaction mode: pipelining only when asked for (see pg-pooler/detect.ts).
      pipeline: options.pipeline ?? false,
      // No CancelRequest from a Worker: a statement past the timeout closes the connection.
      queryTimeoutMs: options.queryTimeoutMs ?? (statementTimeoutMs ? statementTimeoutMs + 5_000 : undefined),
      leakWarningMs: pool.leakWarningMs || undefined,
      breaker: undefined,
      events: ctx.events,
      backendName: 'hyperdrive',
      info: {
        runtime: runtime.name,
        backend: 'hyperdrive',
        reason: ctx.resolution.reason,
        target,
        tls: 'hyperdrive',
        pool: { max: pool.max, min: pool.min, idleTimeoutMs: pool.idleTimeoutMs, maxLifetimeMs: pool.maxLifetimeMs },
      },
    });
  };
}
