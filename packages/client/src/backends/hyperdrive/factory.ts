// hyperdrive: pg over a Cloudflare Hyperdrive binding.
//
// Workers forbid using an I/O object (a socket, a pg Client) created in one request from another.
// In workerd the transport is therefore request-scoped (runtime/request-scope.ts): the db may live
// at module scope, and each request that uses it gets connections of its own, closed once that
// request stops using them. Hyperdrive pools and caches at the edge, so a connection per request
// is cheap; TLS to the origin is Hyperdrive's (the Worker-to-Hyperdrive hop is internal), so the
// client speaks plaintext to the binding.
//
// Nothing here reads the binding's properties before the first query: in workerd they are getters
// that throw at global scope, where a db created with `import { env } from 'cloudflare:workers'` is
// made.
import { type ConnectionParts, parseConnectionString, redactUrl } from '../../config/connection-string.js';
import { resolvePoolOptions } from '../../config/options.js';
import type { BackendContext } from '../../core/context.js';
import { findHyperdrive, type HyperdriveBinding, isHyperdriveBinding } from '../../core/resolve.js';
import { ConfigurationError } from '../../errors.js';
import { requestMarkers } from '../../runtime/request-context.js';
import { REQUEST_IDLE_MS, RequestScopedTransport } from '../../runtime/request-scope.js';
import type { Transport } from '../../transport/contract.js';
import type { BackendInfo } from '../../transport/info.js';
import { type PgDriver, PgTransport } from '../pg/transport.js';
import { surfaceForeignWrites } from './foreign-socket.js';

/** Where the pg module comes from: the `pg` option, else (Node entry only) a dynamic import. */
export type PgLoader = (() => Promise<unknown>) | undefined;

export function hyperdriveFactory(loadPg: PgLoader) {
  return (ctx: BackendContext): Transport => {
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
    const markers = runtime.name === 'workerd' ? requestMarkers() : undefined;
    const pool = resolvePoolOptions({ max: 1, ...options.pool }, runtime.name, 1);
    // In workerd a request's connections close this long after its last call (request-scope.ts).
    // The pool inside keeps its own, longer, idle limit: judged by wall clock at checkout, a short
    // one would replace a connection whose request was merely waiting for the CPU.
    const idleMs = options.pool?.idleTimeoutMs ?? REQUEST_IDLE_MS;
    const statementTimeoutMs = options.statementTimeoutMs ?? 30_000;
    let parts: ConnectionParts | undefined;
    const readParts = (): ConnectionParts =>
      (parts ??= parseConnectionString(
        (binding as HyperdriveBinding).connectionString,
        `env.${name}.connectionString`,
      ));
    const info: BackendInfo = {
      runtime: runtime.name,
      backend: 'hyperdrive',
      reason: ctx.resolution.reason,
      // Known once a request has read the binding (never at global scope).
      get target() {
        try {
          return redactUrl(readParts());
        } catch {
          return `the Hyperdrive binding env.${name}`;
        }
      },
      tls: 'hyperdrive',
      pool: {
        max: pool.max,
        min: pool.min,
        idleTimeoutMs: markers ? idleMs : pool.idleTimeoutMs,
        maxLifetimeMs: pool.maxLifetimeMs,
      },
    };
    const given = options.pg;
    let Client: PgDriver['Client'] | undefined;
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
      Client ??= runtime.name === 'workerd' ? foreignWritesFail(pg.Client) : pg.Client;
      return { Client, types: pg.types };
    };
    const open = (): PgTransport => {
      const p = readParts();
      return new PgTransport({
        driver,
        pool: { ...pool, target: redactUrl(p) },
        client: {
          host: p.host,
          port: p.port,
          user: p.user,
          database: p.database,
          ssl: false,
          // Hyperdrive pools in transaction mode: only application_name goes in the startup packet
          // (statement_timeout there is not known to be accepted; the client-side limit applies).
          application_name: options.applicationName ?? 'anypg',
          connectionTimeoutMillis: pool.connectTimeoutMs,
        },
        password: p.password,
        // Hyperdrive pools in transaction mode: pipelining only when asked for (see pg-pooler/detect.ts).
        pipeline: options.pipeline ?? false,
        // No CancelRequest from a Worker: a statement past the timeout closes the connection.
        queryTimeoutMs: options.queryTimeoutMs ?? (statementTimeoutMs ? statementTimeoutMs + 5_000 : undefined),
        leakWarningMs: pool.leakWarningMs || undefined,
        breaker: undefined,
        events: ctx.events,
        backendName: 'hyperdrive',
        info,
      });
    };
    if (!markers) return open();
    return new RequestScopedTransport({
      open,
      info,
      // What every request's transport can do (the same PgTransport settings each time).
      capabilities: {
        interactiveTransactions: true,
        savepoints: true,
        batchAtomic: true,
        batchRoundTrips: () => 1,
        namedStatements: true,
        maxConnections: pool.max,
        withAuth: false,
      },
      idleMs,
      markers,
    });
  };
}

/** pg's Client, with a write refused across requests failing the statement at once (foreign-socket.ts). */
function foreignWritesFail(Base: PgDriver['Client']): PgDriver['Client'] {
  return class extends Base {
    constructor(...args: ConstructorParameters<PgDriver['Client']>) {
      super(...args);
      surfaceForeignWrites(this);
    }
  };
}
