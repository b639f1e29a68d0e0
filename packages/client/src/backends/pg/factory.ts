// Builds the pg transport from createDb's options: pool sizing by runtime, TLS, timeouts as
// startup parameters, the circuit breaker; and for `pg-pooler`, what the pooler can keep.
//
// Through a transaction-mode pooler (PgBouncer, Supavisor, RDS Proxy, Neon's -pooler), anypg
// sends no named prepared statements unless the pooler keeps them, no startup parameters it
// refuses (statement_timeout: set it on the role instead), warns in development about statements
// that pin RDS Proxy or leak session state, and with `iam` signs a fresh token per connection.
import { availableParallelism } from 'node:os';
import { isLocalHost, redactUrl } from '../../config/connection-string.js';
import { positiveInt, resolvePoolOptions } from '../../config/options.js';
import { resolveTls } from '../../config/tls.js';
import type { BackendContext } from '../../core/context.js';
import { ConfigurationError } from '../../errors.js';
import { CircuitBreaker } from '../../resilience/breaker.js';
import { keepInvocationAlive } from '../../runtime/vercel.js';
import { driverLoadError } from '../optional-driver.js';
import { POOLER_TRAITS, type PoolerKind } from '../pg-pooler/detect.js';
import { poolerHazard } from '../pg-pooler/guard.js';
import { createIamTokenProvider } from '../pg-pooler/iam.js';
import { sendCancel } from './cancel.js';
import { type PgDriver, PgTransport, type PgTransportOptions } from './transport.js';

/** Statement texts each connection keeps prepared (drizzle builds one text per query shape). */
const STATEMENT_CACHE = 256;

async function loadPg(): Promise<PgDriver> {
  // The rejection handler right on import(): see optional-driver.ts.
  const { default: pg } = await import('pg').then(
    (mod) => mod,
    (err: unknown) => {
      throw driverLoadError('pg', 'pg', err);
    },
  );
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
  const kind = ctx.resolution.backend === 'pg-pooler' ? (ctx.pooler?.kind as PoolerKind | undefined) : undefined;
  const traits = kind ? POOLER_TRAITS[kind] : undefined;

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
  // Startup parameters cost no round trip and do not pin RDS Proxy the way SET does, but poolers
  // refuse all except a few (PgBouncer: 08P01 "unsupported startup parameter").
  const extraStartup = traits ? traits.extraStartupParameters : true;

  let password: PgTransportOptions['password'] = parts.password;
  if (options.iam) {
    if (tls.pg === false && !isLocalHost(parts.host)) {
      throw new ConfigurationError(
        'iam',
        'IAM authentication sends a token instead of a password and needs TLS: use sslmode=verify-full (the default) with the RDS CA.',
      );
    }
    const iam = typeof options.iam === 'object' ? options.iam : {};
    const provider = createIamTokenProvider({
      host: parts.host,
      port: parts.port,
      user: parts.user,
      ...(iam.region !== undefined && { region: iam.region }),
      ...(iam.credentials !== undefined && { credentials: iam.credentials as never }),
      ...(iam.refreshBeforeMs !== undefined && { refreshBeforeMs: iam.refreshBeforeMs }),
    });
    password = () => provider.getToken();
  }

  return new PgTransport({
    driver: loadPg,
    ...(traits?.cancelRequests !== false && { cancel: sendCancel }),
    namedStatements: traits ? traits.namedStatements : true,
    pipeline: options.pipeline ?? (traits ? traits.pipelining : true),
    // Prepared once per connection: only on a direct connection (a pooler may move the session).
    ...(!traits && { statementCache: STATEMENT_CACHE }),
    ...(kind && process.env.NODE_ENV !== 'production' && { guard: (sql: string) => poolerHazard(sql, kind) }),
    pool: {
      max: pool.max,
      min: pool.min,
      idleTimeoutMs: pool.idleTimeoutMs,
      maxLifetimeMs: pool.maxLifetimeMs,
      acquireTimeoutMs: pool.acquireTimeoutMs,
      target,
      // Fluid compute suspends an instance between requests: not while it holds an idle connection.
      ...(runtime.name === 'vercel' && { onIdle: keepInvocationAlive }),
    },
    client: {
      host: parts.host,
      port: parts.port,
      user: parts.user,
      database: parts.database,
      ssl: tls.pg,
      application_name: applicationName,
      ...(extraStartup && statementTimeoutMs ? { statement_timeout: statementTimeoutMs } : {}),
      ...(extraStartup && parts.params.options ? { options: parts.params.options } : {}),
      connectionTimeoutMillis: pool.connectTimeoutMs,
      keepAlive: pool.keepAlive,
      keepAliveInitialDelayMillis: pool.keepAliveInitialDelayMs,
    },
    password,
    queryTimeoutMs: queryTimeoutMs || undefined,
    leakWarningMs: pool.leakWarningMs || undefined,
    breaker: options.circuitBreaker === false ? undefined : new CircuitBreaker(options.circuitBreaker ?? {}),
    events: ctx.events,
    backendName: ctx.resolution.backend,
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
