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
import type { BackendInfo } from '../../transport/info.js';
import { checkNeonOptions, configuredClientClass, loadNeon } from '../neon/driver.js';
import { type PgDriver, PgTransport } from '../pg/transport.js';

export function createNeonWsTransport(ctx: BackendContext): Transport {
  const { options, runtime } = ctx;
  const parts = ctx.url!;
  const neonOpts = options.neon ?? {};
  const ssl = options.ssl;
  checkNeonOptions(neonOpts, typeof ssl === 'object' && !!ssl.allowUnencryptedRemote);
  const markers = runtime.name === 'workerd' ? requestMarkers() : undefined;
  // Edge runtimes serve one request at a time per isolate: a small pool is plenty.
  const pool = resolvePoolOptions(options.pool, runtime.name, 2);
  // In workerd a request's sessions close this long after its last call (see hyperdrive's factory).
  const idleMs = options.pool?.idleTimeoutMs ?? REQUEST_IDLE_MS;
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
  const breaker = options.circuitBreaker === false ? undefined : new CircuitBreaker(options.circuitBreaker ?? {});
  const info: BackendInfo = {
    runtime: runtime.name,
    backend: 'neon-ws',
    reason: ctx.resolution.reason,
    target,
    // TLS is the WebSocket's (wss), not PostgreSQL's inside the tunnel.
    tls: neonOpts.useSecureWebSocket === false ? 'disable' : 'verify-full',
    pool: {
      max: pool.max,
      min: pool.min,
      idleTimeoutMs: markers ? idleMs : pool.idleTimeoutMs,
      maxLifetimeMs: pool.maxLifetimeMs,
    },
  };
  const open = (): PgTransport =>
    new PgTransport({
      driver,
      pool: { ...pool, target },
      client: {
        host: parts.host,
        port: parts.port,
        user: parts.user,
        database: parts.database,
        application_name: options.applicationName ?? parts.params.application_name ?? 'anypg',
        ...(statementTimeoutMs ? { statement_timeout: statementTimeoutMs } : {}),
        connectionTimeoutMillis: pool.connectTimeoutMs,
      },
      password: parts.password,
      queryTimeoutMs: queryTimeoutMs || undefined,
      leakWarningMs: pool.leakWarningMs || undefined,
      breaker,
      events: ctx.events,
      backendName: 'neon-ws',
      info,
    });
  if (!markers) return open();
  const sample = open();
  return new RequestScopedTransport({
    open,
    info,
    capabilities: sample.capabilities,
    idleMs,
    markers,
    circuit: () => breaker?.state ?? 'closed',
  });
}
