// createDb's options, their defaults, and their validation.

import type { Cache } from 'drizzle-orm/cache/core';
import type { Logger } from 'drizzle-orm/logger';
import { ConfigurationError } from '../errors.js';
import type { ObserveOptions } from '../observe/events.js';
import type { Telemetry } from '../observe/trace.js';
import type { BreakerOptions } from '../resilience/breaker.js';
import type { RuntimeName } from '../runtime/detect.js';
import type { BackendName } from '../transport/info.js';
import type { SslMode, SslOptions } from './tls.js';

export interface PoolOptions {
  /** Most connections open at once. Default: 1 on AWS Lambda; elsewhere cores x 2 + 1. */
  max?: number;
  /** Connections kept open while idle. Default 0. */
  min?: number;
  /**
   * An idle connection older than this is closed, and is never used again even if the process was
   * frozen while the timer should have fired (checked by wall clock at checkout). Default 120 s on
   * Lambda (below the ~350 s after which Lambda's network drops idle connections, and below common
   * load-balancer and NAT idle limits of 240-350 s), 30 s elsewhere.
   */
  idleTimeoutMs?: number;
  /** A connection older than this is replaced at its next checkout (DNS failover, rotated credentials). Default 30 min. */
  maxLifetimeMs?: number;
  /** Opening a connection (TCP, TLS, authentication) fails after this. Default 5 s. */
  connectTimeoutMs?: number;
  /** Waiting for a free connection fails with POOL_EXHAUSTED after this. Default 10 s. */
  acquireTimeoutMs?: number;
  /** TCP keepalive on every connection. Default true. */
  keepAlive?: boolean;
  /** Idle time before the first keepalive probe. Default 30 s. */
  keepAliveInitialDelayMs?: number;
  /** Warn (onWarning) when a transaction holds its connection longer than this. Default 10 s; 0 turns it off. */
  leakWarningMs?: number;
}

export interface CreateDbOptions<TSchema extends Record<string, unknown> = Record<string, never>>
  extends ObserveOptions {
  /** Drizzle schema (tables and relations) for `db.query.*`. */
  schema?: TSchema;
  /** Drizzle's column name casing. */
  casing?: 'snake_case' | 'camelCase';
  /**
   * drizzle's Logger, told each statement (and its parameter values) before it runs; `true` logs
   * each statement to the console with its parameter count, never the values (drizzle's own
   * `logger: true` prints them: pass `new DefaultLogger()` from drizzle-orm for that).
   */
  logger?: boolean | Logger;
  /** drizzle's Cache (e.g. drizzle-orm/cache/upstash): `$withCache()` and `db.$cache` work as in drizzle. */
  cache?: Cache;
  /**
   * How `db.execute()` returns date and time values. `'drizzle'` (default): as drizzle's
   * node-postgres driver does, on every backend: date, timestamp, timestamptz, interval, their
   * arrays and numeric[] as PostgreSQL's text. `'node-postgres'`: node-postgres' default parsers
   * (Date objects, numeric[] as numbers). The query builder is not affected.
   */
  executeTypes?: 'drizzle' | 'node-postgres';
  /** Connection URL. Default: DATABASE_URL from `env`, read when createDb() is called. */
  url?: string;
  /** Where to read DATABASE_URL and bindings from (a Worker's env, process.env...). Default: process.env. */
  env?: object;
  /** Use this backend instead of detecting one (ANYPG_BACKEND in env does the same). */
  backend?: BackendName;
  /** Neon endpoint settings (neon-http, neon-ws): per client, never through the driver's global config. */
  neon?: NeonOptions;
  /** Cloudflare Hyperdrive: which binding (default: the first in env), and one without cache for fresh reads. */
  hyperdrive?: HyperdriveOptions;
  /**
   * The `pg` module, for backends that need it where anypg will not load it itself: Hyperdrive in a
   * Worker (`import pg from 'pg'`). On Node, pg is loaded on the first query.
   */
  pg?: unknown;
  /** RDS Data API (data-api backend). Default: ANYPG_DATA_API_RESOURCE_ARN / _SECRET_ARN / _DATABASE in env. */
  dataApi?: DataApiOptions;
  /**
   * The pooler in front of the database, when the URL does not tell (RDS Proxy, Supavisor, Neon
   * `-pooler` hosts and `?pgbouncer=true` are detected); 'none' turns detection off.
   */
  pooler?: 'pgbouncer' | 'rds-proxy' | 'supavisor' | 'neon-pooler' | 'hyperdrive' | 'none';
  /**
   * IAM authentication for RDS / RDS Proxy: a token signed by @aws-sdk/rds-signer (loaded only
   * then) replaces the password, cached and refreshed 5 minutes before its 15 run out. Needs TLS.
   */
  iam?: boolean | { region?: string; credentials?: unknown; refreshBeforeMs?: number };
  pool?: PoolOptions;
  /** TLS: an sslmode name or detailed options. Default: verify-full for remote hosts, none for local ones. */
  ssl?: SslMode | SslOptions;
  /** Sent as a startup parameter (never with SET). Default: the Lambda function name, else "anypg". */
  applicationName?: string;
  /** Server-side limit per statement (statement_timeout, a startup parameter). Default 30 s; 0 turns it off. */
  statementTimeoutMs?: number;
  /**
   * Client-side limit per statement, for a server or network that stops answering: the statement is
   * cancelled and fails with QUERY_TIMEOUT. Default: statementTimeoutMs + 5 s; 0 turns it off.
   */
  queryTimeoutMs?: number;
  /**
   * Pipelining: statements of concurrent callers outside a transaction share one connection,
   * written behind each other instead of waiting for it (a Lambda handler's Promise.all costs one
   * round trip, not one per query). Default: on for a direct connection (`pg`), off through a
   * transaction-mode pooler (`pg-pooler`, `hyperdrive`): PgBouncer can hand the server connection
   * to another client while part of a pipeline is still on it. Batches and a transaction's BEGIN
   * travel in one round trip either way.
   */
  pipeline?: boolean;
  /** Fail fast after repeated connection failures. Default { failureThreshold: 5, cooldownMs: 10000 }; false turns it off. */
  circuitBreaker?: BreakerOptions | false;
  /**
   * Traces and metrics: `openTelemetry(api)` (with `import * as api from '@opentelemetry/api'`).
   * On Node, default: OpenTelemetry when @opentelemetry/api is installed; elsewhere none. false turns it off.
   */
  telemetry?: Telemetry | false;
}

export interface NeonOptions {
  /** SQL-over-HTTP endpoint, e.g. a local one: 'http://127.0.0.1:4444/sql'. Default: Neon's, from the host. */
  fetchEndpoint?: string;
  /** WebSocket proxy as host[:port][/path], without scheme (neonConfig.wsProxy). Default: Neon's. */
  wsProxy?: string;
  /** wss (true, default) or ws (false, for a local endpoint). */
  useSecureWebSocket?: boolean;
  /** The driver's pipelined login ('password', its default) or none (false, needed for SCRAM on a local server). */
  pipelineConnect?: 'password' | false;
  /** Limit per HTTP request. Default 30 s. */
  timeoutMs?: number;
  /** A WebSocket class where there is no global one (Node < 22: the `ws` package). */
  webSocketConstructor?: unknown;
  /** fetch to use (default: the global one). */
  fetch?: typeof fetch;
}

export interface HyperdriveOptions {
  /** The binding to use. Default: the first Hyperdrive binding found in env. */
  binding?: string;
  /** A second binding with caching off, used by `db.$fresh` for reads that must see the latest writes. */
  uncachedBinding?: string;
}

export interface DataApiOptions {
  resourceArn: string;
  secretArn: string;
  database?: string;
  schema?: string;
  /** Default: AWS_REGION. */
  region?: string;
  /** e.g. a local endpoint: 'http://127.0.0.1:8080'. Default: the AWS endpoint of the region. */
  endpoint?: string;
  /** Default: the SDK's credential chain. */
  credentials?: unknown;
  /** An RDSDataClient you built yourself (then region, endpoint and credentials are ignored). */
  client?: unknown;
  /** How long to keep retrying DatabaseResumingException (Aurora waking up). Default 45 s. */
  resumeTimeoutMs?: number;
}

export interface ResolvedPoolOptions {
  max: number;
  min: number;
  idleTimeoutMs: number;
  maxLifetimeMs: number;
  connectTimeoutMs: number;
  acquireTimeoutMs: number;
  keepAlive: boolean;
  keepAliveInitialDelayMs: number;
  leakWarningMs: number;
}

export function resolvePoolOptions(pool: PoolOptions = {}, runtime: RuntimeName, cores: number): ResolvedPoolOptions {
  const lambda = runtime === 'aws-lambda';
  const resolved: ResolvedPoolOptions = {
    // Lambda runs one invocation at a time per container: a second connection would only ever be
    // idle, and containers x connections is what exhausts max_connections.
    max: pool.max ?? (lambda ? 1 : cores * 2 + 1),
    min: pool.min ?? 0,
    // Vercel keeps a suspended instance's connections open unless the instance is kept alive until
    // they close (pg/pool.ts's idle lease): Vercel's guidance is a short idle time, about 5 s.
    idleTimeoutMs: pool.idleTimeoutMs ?? (lambda ? 120_000 : runtime === 'vercel' ? 5_000 : 30_000),
    maxLifetimeMs: pool.maxLifetimeMs ?? 30 * 60_000,
    connectTimeoutMs: pool.connectTimeoutMs ?? 5_000,
    acquireTimeoutMs: pool.acquireTimeoutMs ?? 10_000,
    keepAlive: pool.keepAlive ?? true,
    keepAliveInitialDelayMs: pool.keepAliveInitialDelayMs ?? 30_000,
    leakWarningMs: pool.leakWarningMs ?? 10_000,
  };
  positiveInt('pool.max', resolved.max, 1);
  positiveInt('pool.min', resolved.min, 0);
  if (resolved.min > resolved.max) {
    throw new ConfigurationError('pool.min', `pool.min (${resolved.min}) is larger than pool.max (${resolved.max}).`);
  }
  for (const key of ['idleTimeoutMs', 'maxLifetimeMs', 'connectTimeoutMs', 'acquireTimeoutMs'] as const) {
    positiveInt(`pool.${key}`, resolved[key], 1);
  }
  positiveInt('pool.keepAliveInitialDelayMs', resolved.keepAliveInitialDelayMs, 0);
  positiveInt('pool.leakWarningMs', resolved.leakWarningMs, 0);
  return resolved;
}

export function positiveInt(option: string, value: unknown, min: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new ConfigurationError(option, `${option} must be an integer >= ${min}, got ${describe(value)}.`);
  }
}

/** Describes a bad value without echoing long strings (which could be secrets). */
function describe(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined)
    return String(value);
  return `a ${typeof value}`;
}
