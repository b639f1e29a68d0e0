// Builds the pg transport from createDb's options: pool sizing by runtime, TLS, timeouts as
// startup parameters, the circuit breaker.
import { availableParallelism } from 'node:os';
import { redactUrl } from '../../config/connection-string.js';
import { positiveInt, resolvePoolOptions } from '../../config/options.js';
import { resolveTls } from '../../config/tls.js';
import type { BackendContext } from '../../core/context.js';
import { ConfigurationError } from '../../errors.js';
import { CircuitBreaker } from '../../resilience/breaker.js';
import { sendCancel } from './cancel.js';
import { type PgDriver, PgTransport } from './transport.js';

async function loadPg(): Promise<PgDriver> {
  const { default: pg } = await import('pg');
  return { Client: pg.Client, types: pg.types as PgDriver['types'] };
}

export function createPgTransport(ctx: BackendContext): PgTransport {
  const { options, env, runtime } = ctx;
  const parts = ctx.url;
  if (!parts)
    throw new ConfigurationError(
      'url',
      'The pg backend needs a connection URL: pass createDb({ url }) or set DATABASE_URL.',
    );
  const tls = resolveTls(parts.host, parts.params.sslmode, options.ssl);
  const pool = resolvePoolOptions(options.pool, runtime.name, availableParallelism());

  const statementTimeoutMs = options.statementTimeoutMs ?? 30_000;
  positiveInt('statementTimeoutMs', statementTimeoutMs, 0);
  const queryTimeoutMs = options.queryTimeoutMs ?? (statementTimeoutMs ? statementTimeoutMs + 5_000 : 0);
  positiveInt('queryTimeoutMs', queryTimeoutMs, 0);
  const applicationName =
    options.applicationName ??
    parts.params.application_name ??
    (typeof env.AWS_LAMBDA_FUNCTION_NAME === 'string' ? env.AWS_LAMBDA_FUNCTION_NAME : undefined) ??
    'anypg';
  const target = redactUrl(parts);

  return new PgTransport({
    driver: loadPg,
    cancel: sendCancel,
    pool: {
      max: pool.max,
      min: pool.min,
      idleTimeoutMs: pool.idleTimeoutMs,
      maxLifetimeMs: pool.maxLifetimeMs,
      acquireTimeoutMs: pool.acquireTimeoutMs,
      target,
    },
    client: {
      host: parts.host,
      port: parts.port,
      user: parts.user,
      database: parts.database,
      ssl: tls.pg,
      // Startup parameters: they cost no round trip and do not pin RDS Proxy the way SET does.
      application_name: applicationName,
      ...(statementTimeoutMs ? { statement_timeout: statementTimeoutMs } : {}),
      ...(parts.params.options ? { options: parts.params.options } : {}),
      connectionTimeoutMillis: pool.connectTimeoutMs,
      keepAlive: pool.keepAlive,
      keepAliveInitialDelayMillis: pool.keepAliveInitialDelayMs,
    },
    password: parts.password,
    queryTimeoutMs: queryTimeoutMs || undefined,
    leakWarningMs: pool.leakWarningMs || undefined,
    breaker: options.circuitBreaker === false ? undefined : new CircuitBreaker(options.circuitBreaker ?? {}),
    events: ctx.events,
    info: {
      runtime: runtime.name,
      backend: ctx.resolution.backend,
      reason: ctx.resolution.reason,
      target,
      tls: tls.mode,
      pool: { max: pool.max, min: pool.min, idleTimeoutMs: pool.idleTimeoutMs, maxLifetimeMs: pool.maxLifetimeMs },
    },
  });
}
