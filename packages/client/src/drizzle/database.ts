// The handle users hold: a Drizzle PgDatabase plus `$`-prefixed extras and batch().
import { entityKind } from 'drizzle-orm';
import type { BatchItem, BatchResponse } from 'drizzle-orm/batch';
import type { Cache } from 'drizzle-orm/cache/core';
import type { Logger } from 'drizzle-orm/logger';
import { PgDatabase, PgDialect } from 'drizzle-orm/pg-core';
import {
  createTableRelationsHelpers,
  type ExtractTablesWithRelations,
  extractTablesRelationalConfig,
  type RelationalSchemaConfig,
  type TablesRelationalConfig,
} from 'drizzle-orm/relations';
import { ConfigurationError } from '../errors.js';
import { type ServerStats, serverStats } from '../observe/server-stats.js';
import type { DrizzleKit, PoolStats, Transport } from '../transport/contract.js';
import type { BackendInfo, Capabilities } from '../transport/info.js';
import { type AuthToken, withAuthToken } from '../transport/with-auth.js';
import { withSignal } from '../transport/with-signal.js';
import { loggerFrom } from './logger.js';
import { type AnypgQueryResultHKT, AnypgSession, type Preparable, type SessionOptions } from './session.js';

export interface PingResult {
  ok: boolean;
  latencyMs: number;
  /** anypg's error code when the check failed. */
  error?: string;
}

export class AnypgDatabase<
  TFullSchema extends Record<string, unknown> = Record<string, never>,
  TSchema extends TablesRelationalConfig = ExtractTablesWithRelations<TFullSchema>,
> extends PgDatabase<AnypgQueryResultHKT, TFullSchema, TSchema> {
  static override readonly [entityKind]: string = 'AnypgDatabase';
  readonly #transport: Transport;
  readonly #session: AnypgSession<TFullSchema, TSchema>;
  readonly #dialect: PgDialect;
  readonly #schema: RelationalSchemaConfig<TSchema> | undefined;
  #fresh: AnypgDatabase<TFullSchema, TSchema> | undefined;
  #client: unknown;

  constructor(
    dialect: PgDialect,
    session: AnypgSession<TFullSchema, TSchema>,
    schema: RelationalSchemaConfig<TSchema> | undefined,
    transport: Transport,
  ) {
    super(dialect, session, schema);
    this.#transport = transport;
    this.#session = session;
    this.#dialect = dialect;
    this.#schema = schema;
    // drizzle's drivers make `$cache` the Cache itself, with `invalidate` standing for onMutate.
    const cache = session.options.cache;
    if (cache) this.$cache = cache as unknown as typeof this.$cache;
  }

  /** The same database over another view of the transport (a deadline, an auth token). */
  #over(t: Transport): AnypgDatabase<TFullSchema, TSchema> {
    const session = new AnypgSession<TFullSchema, TSchema>(this.#dialect, t, t, this.#schema, this.#session.options);
    return new AnypgDatabase(this.#dialect, session, this.#schema, t);
  }

  /** Runs the queries atomically, in order; one result per query, as if each ran alone. */
  async batch<U extends BatchItem<'pg'>, T extends Readonly<[U, ...U[]]>>(queries: T): Promise<BatchResponse<T>> {
    return (await this.#session.batch(queries as unknown as readonly Preparable[])) as BatchResponse<T>;
  }

  /**
   * The same database, with every wait (connection, statement, transaction) bounded by `signal`:
   * e.g. \`db.$withSignal(AbortSignal.timeout(context.getRemainingTimeInMillis() - 500))\` in a
   * Lambda handler, or the Worker request's signal. A statement still running is cancelled.
   */
  $withSignal(signal: AbortSignal): AnypgDatabase<TFullSchema, TSchema> {
    return this.#over(withSignal(this.#transport, signal));
  }

  /**
   * The same database with every statement sent with `token` (a string, or a function giving one
   * per statement): Neon's per-request JWT, checked by its HTTP endpoint for row-level security,
   * as drizzle's neon-http `$withAuth`. neon-http only (`$capabilities.withAuth`); elsewhere a
   * ConfigurationError. Interactive transactions cannot carry the token (they run on a WebSocket
   * session): `batch()` can.
   */
  $withAuth(token: AuthToken): AnypgDatabase<TFullSchema, TSchema> {
    if (!this.#transport.capabilities.withAuth) {
      throw new ConfigurationError(
        '$withAuth',
        `$withAuth is not available on ${this.#transport.info.backend}: only Neon's HTTP endpoint takes a per-request auth token (backend 'neon-http'). On a connection, use the role and settings of the connection (set_config within a transaction) for row-level security.`,
      );
    }
    if (typeof token !== 'string' && typeof token !== 'function') {
      throw new ConfigurationError('$withAuth', '$withAuth takes a token string or a function that returns one.');
    }
    return this.#over(withAuthToken(this.#transport, token));
  }

  /**
   * The driver-level client behind this database, as drizzle's `db.$client` (see the README for
   * each backend): a pg.Pool-shaped view of anypg's pool (pg, pg-pooler, neon-ws, hyperdrive), the
   * Neon driver's query function (neon-http), the RDSDataClient (data-api).
   */
  get $client(): unknown {
    this.#client ??= this.#transport.client?.();
    return this.#client;
  }

  /** $withSignal with a deadline in milliseconds from now. */
  $withTimeout(ms: number): AnypgDatabase<TFullSchema, TSchema> {
    return this.$withSignal(AbortSignal.timeout(ms));
  }

  /**
   * The same database on a connection that bypasses caches, for reads that must see the latest
   * writes: with Hyperdrive, the binding named by `hyperdrive.uncachedBinding` (Hyperdrive's query
   * cache has no per-query bypass). Without one, the database itself.
   */
  get $fresh(): AnypgDatabase<TFullSchema, TSchema> {
    return this.#fresh ?? this;
  }

  /** @internal set by createDb when an uncached binding is configured */
  $setFresh(fresh: AnypgDatabase<TFullSchema, TSchema>): void {
    this.#fresh = fresh;
  }

  /** What was chosen and why (runtime, backend, reason, target without password, TLS mode, pool). */
  get $backend(): BackendInfo {
    return this.#transport.info;
  }

  /** What this backend can do, known before any call. */
  get $capabilities(): Capabilities {
    return this.#transport.capabilities;
  }

  /** Connection counts and counters (opened, stale replaced, acquire timeouts, retries, outcome unknown). */
  $stats(): PoolStats {
    return this.#transport.stats();
  }

  /** This application's sessions as the server sees them (pg_stat_activity), or why this backend cannot tell. */
  $serverStats(): Promise<ServerStats> {
    return serverStats(this.#transport);
  }

  /** Health check: one `select 1`. Never throws. */
  async $ping(): Promise<PingResult> {
    const started = performance.now();
    try {
      await this.#transport.query({ text: 'select 1', params: [], rowMode: 'array', parse: 'raw' });
      return { ok: true, latencyMs: performance.now() - started };
    } catch (err) {
      return { ok: false, latencyMs: performance.now() - started, error: (err as { code?: string }).code ?? 'UNKNOWN' };
    }
  }

  /** Closes every connection. The client cannot be used afterwards. */
  async $close(): Promise<void> {
    await Promise.all([this.#transport.close(), this.#fresh?.$close()]);
  }
}

export interface DatabaseOptions<TFullSchema> {
  schema?: TFullSchema;
  casing?: 'snake_case' | 'camelCase';
  logger?: boolean | Logger;
  cache?: Cache;
  executeTypes?: 'drizzle' | 'node-postgres';
}

export function buildDatabase<TFullSchema extends Record<string, unknown>>(
  transport: Transport,
  options: DatabaseOptions<TFullSchema>,
  /** The backend's own drizzle layer, if it has one (the Data API's casting dialect). */
  kit: DrizzleKit | undefined = transport.drizzle,
): AnypgDatabase<TFullSchema> {
  if (options.casing !== undefined && options.casing !== 'snake_case' && options.casing !== 'camelCase') {
    throw new ConfigurationError('casing', "casing must be 'snake_case' or 'camelCase'.");
  }
  const config = options.casing ? { casing: options.casing } : {};
  const dialect = kit ? kit.dialect(config) : new PgDialect(config);
  const sessionOptions: SessionOptions = {
    logger: loggerFrom(options.logger),
    cache: cacheFrom(options.cache),
    rawParse: executeParse(options.executeTypes),
    typingOf: kit?.typingOf,
    resultTypesOf: kit?.resultTypesOf,
  };
  let schema: RelationalSchemaConfig<ExtractTablesWithRelations<TFullSchema>> | undefined;
  if (options.schema) {
    const tables = extractTablesRelationalConfig(options.schema, createTableRelationsHelpers);
    schema = {
      fullSchema: options.schema,
      schema: tables.tables as ExtractTablesWithRelations<TFullSchema>,
      tableNamesMap: tables.tableNamesMap,
    };
  }
  const session = new AnypgSession<TFullSchema, ExtractTablesWithRelations<TFullSchema>>(
    dialect,
    transport,
    transport,
    schema,
    sessionOptions,
  );
  return new AnypgDatabase(dialect, session, schema, transport);
}

function executeParse(option: DatabaseOptions<unknown>['executeTypes']): SessionOptions['rawParse'] {
  if (option === undefined || option === 'drizzle') return 'builder';
  if (option === 'node-postgres') return 'raw';
  throw new ConfigurationError('executeTypes', "executeTypes must be 'drizzle' or 'node-postgres'.");
}

/** The cache, checked, with drizzle's `invalidate` (= onMutate) added where it is missing. */
function cacheFrom(cache: Cache | undefined): Cache | undefined {
  if (cache === undefined) return undefined;
  const methods = ['strategy', 'get', 'put', 'onMutate'] as const;
  if (typeof cache !== 'object' || cache === null || methods.some((m) => typeof cache[m] !== 'function')) {
    throw new ConfigurationError(
      'cache',
      "cache must be a drizzle Cache (strategy, get, put, onMutate), e.g. upstashCache() from 'drizzle-orm/cache/upstash'.",
    );
  }
  const withInvalidate = cache as Cache & { invalidate?: Cache['onMutate'] };
  if (typeof withInvalidate.invalidate !== 'function') {
    Object.defineProperty(cache, 'invalidate', {
      value: (params: Parameters<Cache['onMutate']>[0]) => cache.onMutate(params),
      configurable: true,
      writable: true,
    });
  }
  return cache;
}
