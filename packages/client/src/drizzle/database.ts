// The handle users hold: a Drizzle PgDatabase plus `$`-prefixed extras and batch().
import { entityKind } from 'drizzle-orm';
import type { BatchItem, BatchResponse } from 'drizzle-orm/batch';
import { PgDatabase, PgDialect } from 'drizzle-orm/pg-core';
import {
  createTableRelationsHelpers,
  type ExtractTablesWithRelations,
  extractTablesRelationalConfig,
  type RelationalSchemaConfig,
  type TablesRelationalConfig,
} from 'drizzle-orm/relations';
import { type ServerStats, serverStats } from '../observe/server-stats.js';
import type { PoolStats, Transport } from '../transport/contract.js';
import type { BackendInfo, Capabilities } from '../transport/info.js';
import { withSignal } from '../transport/with-signal.js';
import { CastingDialect } from './casting-dialect.js';
import { type AnypgQueryResultHKT, AnypgSession, type Preparable } from './session.js';

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
    const t = withSignal(this.#transport, signal);
    const session = new AnypgSession<TFullSchema, TSchema>(this.#dialect, t, t, this.#schema);
    return new AnypgDatabase(this.#dialect, session, this.#schema, t);
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

export function buildDatabase<TFullSchema extends Record<string, unknown>>(
  transport: Transport,
  options: { schema?: TFullSchema; casing?: 'snake_case' | 'camelCase' },
): AnypgDatabase<TFullSchema> {
  const config = options.casing ? { casing: options.casing } : {};
  // The Data API types unhinted strings as text: array and enum writes need explicit casts.
  const dialect = transport.info.backend === 'data-api' ? new CastingDialect(config) : new PgDialect(config);
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
  );
  return new AnypgDatabase(dialect, session, schema, transport);
}
