// neon-ws: the Neon driver's WebSocket Client (a pg.Client over a WebSocket tunnel) in anypg's
// pool, so it gets the same freeze handling, retry rules and timeouts as pg over TCP.
//
// A WebSocket is an I/O object bound to the request that opened it: in workerd the pool is
// request-scoped (runtime/request-scope.ts), so a db at module scope gives each request sessions
// of its own, closed once the request stops using them. The circuit breaker is shared: it is plain
// state, and a database that refuses connections refuses every request's.
import { redactUrl } from '../../config/connection-string.js';
import { resolvePoolOptions } from '../../config/options.js';
import type { BackendContext } from '../../core/context.js';
import { CircuitBreaker } from '../../resilience/breaker.js';
import { requestMarkers } from '../../runtime/request-context.js';
import { REQUEST_IDLE_MS, RequestScopedTransport } from '../../runtime/request-scope.js';
import type { Transport } from '../../transport/contract.js';
import { checkNeonOptions, configuredClientClass, loadNeon } from '../neon/driver.js';
import { type PgDriver, PgTransport } from '../pg/transport.js';

export function createNeonWsTransport(ctx: BackendContext): Transport {
  const markers = ctx.runtime.name === 'workerd' ? requestMarkers() : undefined;
  if (!markers) return neonSessionTransport(ctx, 'neon-ws');
  const { options } = ctx;
  // A request's sessions close this long after its last call (see hyperdrive's factory).
  const idleMs = options.pool?.idleTimeoutMs ?? REQUEST_IDLE_MS;
  const breaker = options.circuitBreaker === false ? undefined : new CircuitBreaker(options.circuitBreaker ?? {});
  const open = () => neonSessionTransport(ctx, 'neon-ws', { breaker, reportedIdleMs: idleMs });
  const sample = open();
  return new RequestScopedTransport({
    open,
    info: sample.info,
    capabilities: sample.capabilities,
    idleMs,
    markers,
    circuit: () => breaker?.state ?? 'closed',
  });
}

interface Shared {
  /** One breaker for every request's transport. */
  breaker: CircuitBreaker | undefined;
  /** The idle limit $backend reports (the request scope's, not the inner pool's). */
  reportedIdleMs: number;
}

/**
 * The Neon driver's WebSocket Client in anypg's freeze-aware pool: the neon-ws backend, and
 * neon-http's warm sessions for interactive transactions on Node and Lambda (`backend` names the
 * backend its events and info carry).
 */
export function neonSessionTransport(
  ctx: BackendContext,
  backend: 'neon-ws' | 'neon-http',
  shared?: Shared,
): PgTransport {
  const { options, runtime } = ctx;
  const parts = ctx.url!;
  const neonOpts = options.neon ?? {};
  const ssl = options.ssl;
  checkNeonOptions(neonOpts, typeof ssl === 'object' && !!ssl.allowUnencryptedRemote);
  // Edge runtimes serve one request at a time per isolate: a small pool is plenty.
  const pool = resolvePoolOptions(options.pool, runtime.name, 2);
  const statementTimeoutMs = options.statementTimeoutMs ?? 30_000;
  const queryTimeoutMs = options.queryTimeoutMs ?? (statementTimeoutMs ? statementTimeoutMs + 5_000 : 0);
  const target = redactUrl(parts);
  const driver = async (): Promise<PgDriver> => {
    const neon = await loadNeon('neon-ws');
    return {
      Client: configuredClientClass(neon, neonOpts) as unknown as PgDriver['Client'],
      types: neon.types as never,
    };
  };
  const breaker = shared
    ? shared.breaker
    : options.circuitBreaker === false
      ? undefined
      : new CircuitBreaker(options.circuitBreaker ?? {});
  return new PgTransport({
    driver,
    pool: { ...pool, target },
    client: {
      host: parts.host,
      port: parts.port,
      user: parts.user,
      database: parts.database,
      application_name: options.applicationName ?? parts.params.application_name ?? 'anypg',
      ...(statementTimeoutMs ? { statement_timeout: statementTimeoutMs } : {}),
      // Startup options in the URL (options=-c search_path=...) reach the session, as over HTTP.
      ...(parts.params.options ? { options: parts.params.options } : {}),
      connectionTimeoutMillis: pool.connectTimeoutMs,
    },
    password: parts.password,
    queryTimeoutMs: queryTimeoutMs || undefined,
    leakWarningMs: pool.leakWarningMs || undefined,
    breaker,
    events: ctx.events,
    backendName: backend,
    info: {
      runtime: runtime.name,
      backend,
      reason: ctx.resolution.reason,
      target,
      // TLS is the WebSocket's (wss), not PostgreSQL's inside the tunnel.
      tls: neonOpts.useSecureWebSocket === false ? 'disable' : 'verify-full',
      pool: {
        max: pool.max,
        min: pool.min,
        idleTimeoutMs: shared ? shared.reportedIdleMs : pool.idleTimeoutMs,
        maxLifetimeMs: pool.maxLifetimeMs,
      },
    },
  });
}
