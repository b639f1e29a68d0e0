// createDb(): options in, a Drizzle handle out. Reads the environment when called, never at import,
// and opens no connection until the first query (so it belongs at a Lambda handler's global scope).
import { availableParallelism } from 'node:os';
import { PgTransport } from './backends/pg/transport.js';
import { parseConnectionString, redactUrl } from './config/connection-string.js';
import { type CreateDbOptions, positiveInt, resolvePoolOptions } from './config/options.js';
import { resolveTls } from './config/tls.js';
import { type AnypgDatabase, buildDatabase } from './drizzle/database.js';
import { ConfigurationError } from './errors.js';
import { QueryEventSink } from './observe/events.js';
import { CircuitBreaker } from './resilience/breaker.js';
import { detectRuntime } from './runtime/detect.js';

export function createDb<TSchema extends Record<string, unknown> = Record<string, never>>(
  options: CreateDbOptions<TSchema> = {},
): AnypgDatabase<TSchema> {
  const env = options.env ?? (process.env as Record<string, unknown>);
  const runtime = detectRuntime(env);
  if (options.backend !== undefined && options.backend !== 'pg') {
    throw new ConfigurationError(
      'backend',
      `backend ${JSON.stringify(String(options.backend))} is not available; this build has: pg.`,
    );
  }
  const fromEnv = options.url === undefined;
  const url = options.url ?? env.DATABASE_URL;
  if (url === undefined || url === '') {
    throw new ConfigurationError(
      'url',
      'No database URL: pass createDb({ url }) or set DATABASE_URL (postgresql://user:password@host:5432/database).',
    );
  }
  if (typeof url !== 'string') throw new ConfigurationError('url', `url must be a string, got a ${typeof url}.`);
  const parts = parseConnectionString(url, fromEnv ? 'DATABASE_URL' : 'url');
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
  const reason =
    runtime.name === 'aws-lambda'
      ? `AWS Lambda (${runtime.evidence}): a pg pool of ${pool.max} connection(s) per container, reused by warm invocations`
      : `${runtime.name} (${runtime.evidence}): a pg pool of up to ${pool.max} connection(s)`;

  const transport = new PgTransport({
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
    events: new QueryEventSink(options),
    info: {
      runtime: runtime.name,
      backend: 'pg',
      reason: options.backend ? `backend: 'pg' was asked for; ${reason}` : reason,
      target,
      tls: tls.mode,
      pool: { max: pool.max, min: pool.min, idleTimeoutMs: pool.idleTimeoutMs, maxLifetimeMs: pool.maxLifetimeMs },
    },
  });
  return buildDatabase(transport, options);
}
