// anypg's Drizzle driver: one PgSession over the transport contract, for every backend.
//
// Drizzle's own drivers each bind a session to one client library. Ours binds to the Executor
// contract, so the query builder, relational queries, execute(), transaction() and batch() behave
// the same whatever carries the bytes. Errors are never wrapped in DrizzleQueryError, whose message
// includes the parameter values.
//
// What drizzle's drivers do around each statement, anypg does here, the same on every backend:
// the `logger` sees each statement before it runs, and the `cache` (drizzle's Cache) is asked
// before a select and told after a write, with drizzle's rules (strategy 'explicit' or 'all',
// `$withCache()` per query, a tag or the query's hash as key, the tables a query used).
import {
  entityKind,
  fillPlaceholders,
  is,
  Param,
  Placeholder,
  type Query,
  type QueryWithTypings,
  type SQL,
  sql,
} from 'drizzle-orm';
import { type Cache, hashQuery, NoopCache } from 'drizzle-orm/cache/core';
import type { WithCacheConfig } from 'drizzle-orm/cache/core/types';
import type { Logger } from 'drizzle-orm/logger';
import type { PgDialect, SelectedFieldsOrdered } from 'drizzle-orm/pg-core';
import {
  PgPreparedQuery,
  type PgQueryResultHKT,
  PgSession,
  PgTransaction,
  type PgTransactionConfig,
  type PreparedQueryConfig,
} from 'drizzle-orm/pg-core';
import type { RelationalSchemaConfig, TablesRelationalConfig } from 'drizzle-orm/relations';
import * as drizzleUtils from 'drizzle-orm/utils';
import { beginStatement } from '../transport/begin.js';
import type { Executor, QueryResult, Statement, Transport } from '../transport/contract.js';

export interface AnypgQueryResultHKT extends PgQueryResultHKT {
  type: QueryResult<this['row'] extends Record<string, unknown> ? this['row'] : Record<string, unknown>>;
}

/** What every session and prepared query of one client shares. */
export interface SessionOptions {
  /** drizzle's Logger, told each statement before it runs. */
  logger: Logger | undefined;
  /** drizzle's Cache (undefined: none). */
  cache: Cache | undefined;
  /**
   * How statements without a result mapper (`db.execute()`) parse values: `builder` gives what
   * drizzle's node-postgres driver gives (date and time types as text), `raw` node-postgres' defaults.
   */
  rawParse: Statement['parse'];
  /** The typing of a parameter bound to `encoder`, for backends whose dialect sets them (the Data API). */
  typingOf: ((encoder: unknown) => string) | undefined;
  /** The result columns' types from drizzle's selected fields, for backends that use them (the Data API). */
  resultTypesOf: ((fields: SelectedFieldsOrdered) => readonly string[] | undefined) | undefined;
}

interface QueryMetadata {
  type: 'select' | 'update' | 'delete' | 'insert';
  tables: string[];
}

// Drizzle's row mapper is public at run time but marked internal in its types.
const mapResultRow = (drizzleUtils as unknown as { mapResultRow: MapResultRow }).mapResultRow;
type MapResultRow = (
  fields: SelectedFieldsOrdered,
  row: unknown[],
  joinsNotNullableMap: Record<string, boolean> | undefined,
) => unknown;

type CustomMapper<T extends PreparedQueryConfig> = (rows: unknown[][]) => T['execute'];

export class AnypgPreparedQuery<T extends PreparedQueryConfig> extends PgPreparedQuery<T> {
  static override readonly [entityKind]: string = 'AnypgPreparedQuery';
  readonly #typings: readonly string[] | undefined;
  readonly #resultTypes: readonly string[] | undefined;
  readonly #meta: QueryMetadata | undefined;
  readonly #cacheConfig: WithCacheConfig | undefined;

  constructor(
    private readonly executor: Executor,
    query: Query,
    private readonly fields: SelectedFieldsOrdered | undefined,
    private readonly name: string | undefined,
    private readonly arrayMode: boolean,
    private readonly customResultMapper: CustomMapper<T> | undefined,
    private readonly options: SessionOptions,
    queryMetadata: QueryMetadata | undefined,
    cacheConfig: WithCacheConfig | undefined,
  ) {
    super(query, options.cache, queryMetadata, cacheConfig);
    this.#meta = queryMetadata;
    // drizzle's rules: strategy 'all' caches every select unless told otherwise; a config that
    // does not enable caching is no config.
    const cache = options.cache;
    const config =
      cache && cache.strategy() === 'all' && cacheConfig === undefined
        ? { enable: true, autoInvalidate: true }
        : cacheConfig;
    this.#cacheConfig = config?.enable ? config : undefined;
    this.#typings = typingsOf(query, options.typingOf);
    this.#resultTypes = fields && !customResultMapper ? options.resultTypesOf?.(fields) : undefined;
  }

  /** The statement as the transport takes it; also used by batch(). */
  statement(placeholderValues: Record<string, unknown> = {}): Statement {
    const params = fillPlaceholders(this.query.params, placeholderValues);
    const raw = !this.fields && !this.customResultMapper;
    return {
      text: this.query.sql,
      params,
      rowMode: raw ? 'object' : 'array',
      parse: raw ? this.options.rawParse : 'builder',
      ...(this.name !== undefined && { name: this.name }),
      ...(this.#typings && { typings: this.#typings }),
      ...(this.#resultTypes && { resultTypes: this.#resultTypes }),
    };
  }

  async execute(placeholderValues: Record<string, unknown> = {}): Promise<T['execute']> {
    const stmt = this.statement(placeholderValues);
    this.options.logger?.logQuery(stmt.text, stmt.params);
    const result = await this.#cached(stmt, () => this.executor.query(stmt));
    return this.mapResult(result);
  }

  override mapResult(response: unknown): unknown {
    const result = response as QueryResult;
    if (!this.fields && !this.customResultMapper) return result;
    const rows = result.rows as unknown[][];
    if (this.customResultMapper) return this.customResultMapper(rows);
    return rows.map((row) =>
      mapResultRow(this.fields!, row, (this as { joinsNotNullableMap?: never }).joinsNotNullableMap),
    );
  }

  async all(placeholderValues: Record<string, unknown> = {}): Promise<T['all']> {
    const params = fillPlaceholders(this.query.params, placeholderValues);
    const stmt: Statement = {
      text: this.query.sql,
      params,
      rowMode: 'object',
      parse: this.options.rawParse,
      ...(this.#typings && { typings: this.#typings }),
    };
    this.options.logger?.logQuery(stmt.text, stmt.params);
    const result = await this.#cached(stmt, () => this.executor.query(stmt));
    return result.rows;
  }

  /** @internal drizzle asks this when building batches and relational queries */
  isResponseInArrayMode(): boolean {
    return this.arrayMode;
  }

  /** Runs `run` through the cache, with drizzle's rules (see the file header). */
  async #cached(stmt: Statement, run: () => Promise<QueryResult>): Promise<QueryResult> {
    const cache = this.options.cache;
    const meta = this.#meta;
    if (!cache || is(cache, NoopCache) || !meta) return run();
    if (meta.type !== 'select') {
      if (meta.tables.length === 0) return run();
      // Told at the same time as the write runs, as drizzle's drivers do.
      const [result] = await Promise.all([run(), cache.onMutate({ tables: meta.tables })]);
      return result;
    }
    const config = this.#cacheConfig;
    if (!config) return run();
    const isTag = config.tag !== undefined;
    const key = config.tag ?? (await hashQuery(stmt.text, stmt.params));
    const hit = (await cache.get(key, meta.tables, isTag, config.autoInvalidate)) as QueryResult | undefined;
    if (hit !== undefined) return hit;
    const result = await run();
    await cache.put(key, result, config.autoInvalidate ? meta.tables : [], isTag, config.config);
    return result;
  }
}

/**
 * The query's typings, with the typing of parameters that are placeholders filled in later
 * (drizzle types those 'none'; their encoder is the column they are bound to).
 */
function typingsOf(query: Query, typingOf: SessionOptions['typingOf']): readonly string[] | undefined {
  const typings = (query as QueryWithTypings).typings;
  if (!typings || !typingOf) return typings;
  let patched: string[] | undefined;
  query.params.forEach((p, i) => {
    if (typings[i] === 'none' && is(p, Param) && is(p.value, Placeholder)) {
      patched ??= [...typings];
      patched[i] = typingOf(p.encoder);
    }
  });
  return patched ?? typings;
}

export class AnypgSession<
  TFullSchema extends Record<string, unknown>,
  TSchema extends TablesRelationalConfig,
> extends PgSession<AnypgQueryResultHKT, TFullSchema, TSchema> {
  static override readonly [entityKind]: string = 'AnypgSession';

  constructor(
    dialect: PgDialect,
    private readonly executor: Executor,
    private readonly transport: Transport,
    private readonly schema: RelationalSchemaConfig<TSchema> | undefined,
    readonly options: SessionOptions,
  ) {
    super(dialect);
  }

  prepareQuery<T extends PreparedQueryConfig = PreparedQueryConfig>(
    query: Query,
    fields: SelectedFieldsOrdered | undefined,
    name: string | undefined,
    isResponseInArrayMode: boolean,
    customResultMapper?: (rows: unknown[][]) => T['execute'],
    queryMetadata?: QueryMetadata,
    cacheConfig?: WithCacheConfig,
  ): PgPreparedQuery<T> {
    return new AnypgPreparedQuery<T>(
      this.executor,
      query,
      fields,
      name,
      isResponseInArrayMode,
      customResultMapper,
      this.options,
      queryMetadata,
      cacheConfig,
    );
  }

  override async transaction<T>(
    fn: (tx: AnypgTransaction<TFullSchema, TSchema>) => Promise<T>,
    config?: PgTransactionConfig,
  ): Promise<T> {
    const logger = this.options.logger;
    // The statements drizzle's drivers send for a transaction, told to the logger as they would be.
    logger?.logQuery(beginStatement(config), []);
    let result: T;
    try {
      result = await this.transport.transaction(async (executor) => {
        const session = new AnypgSession<TFullSchema, TSchema>(
          this.dialect,
          executor,
          this.transport,
          this.schema,
          this.options,
        );
        const tx = new AnypgTransaction<TFullSchema, TSchema>(this.dialect, session, this.schema);
        return fn(tx);
      }, config);
    } catch (err) {
      logger?.logQuery('rollback', []);
      throw err;
    }
    logger?.logQuery('commit', []);
    return result;
  }

  /**
   * Runs the queries atomically, in order, and returns each one's result as if run alone.
   * Inside a transaction they run in it; otherwise in a transaction of their own.
   */
  async batch(queries: readonly Preparable[]): Promise<unknown[]> {
    const prepared = queries.map((q) => this.#batchStatement(q._prepare()));
    for (const p of prepared) this.options.logger?.logQuery(p.statement.text, p.statement.params);
    const run = async (executor: Executor) => {
      const results: unknown[] = [];
      for (const p of prepared) results.push(p.map(await executor.query(p.statement)));
      return results;
    };
    if (this.executor !== this.transport) {
      // Inside a transaction: in one round trip where the backend can.
      const executor = this.executor;
      if (executor.batch) {
        const results = await executor.batch(prepared.map((p) => p.statement));
        return results.map((r, i) => prepared[i]!.map(r));
      }
      return run(executor);
    }
    if (this.transport.batch) {
      const results = await this.transport.batch(prepared.map((p) => p.statement));
      return results.map((r, i) => prepared[i]!.map(r));
    }
    return this.transport.transaction(run);
  }

  override async count(countSql: SQL): Promise<number> {
    const res = await this.execute<QueryResult<{ count: unknown }>>(countSql);
    return Number(res.rows[0]?.count);
  }

  /**
   * The statement and result mapper of one batch item. Query builders prepare an AnypgPreparedQuery;
   * `db.execute(sql)` prepares to drizzle's PgRaw, which only knows its SQL and its mapper.
   */
  #batchStatement(prepared: unknown): { statement: Statement; map: (r: QueryResult) => unknown } {
    if (prepared instanceof AnypgPreparedQuery) {
      return { statement: prepared.statement(), map: (r) => prepared.mapResult(r) };
    }
    const raw = prepared as { getQuery(): Query; mapResult(r: unknown, fromBatch: boolean): unknown };
    const q = raw.getQuery();
    const typings = typingsOf(q, this.options.typingOf);
    return {
      statement: {
        text: q.sql,
        params: q.params,
        rowMode: 'object',
        parse: this.options.rawParse,
        ...(typings && { typings }),
      },
      map: (r) => raw.mapResult(r, true),
    };
  }
}

/** What drizzle's batch items have at run time (a method its types mark internal). */
export interface Preparable {
  _prepare(): unknown;
}

export class AnypgTransaction<
  TFullSchema extends Record<string, unknown>,
  TSchema extends TablesRelationalConfig,
> extends PgTransaction<AnypgQueryResultHKT, TFullSchema, TSchema> {
  static override readonly [entityKind]: string = 'AnypgTransaction';

  /** The dialect and session drizzle keeps on the instance (typed as internal in drizzle). */
  private get internals() {
    return this as unknown as { dialect: PgDialect; session: AnypgSession<TFullSchema, TSchema> };
  }

  override async transaction<T>(fn: (tx: AnypgTransaction<TFullSchema, TSchema>) => Promise<T>): Promise<T> {
    const savepoint = `sp${this.nestedIndex + 1}`;
    const tx = new AnypgTransaction<TFullSchema, TSchema>(
      this.internals.dialect,
      this.internals.session,
      this.schema as RelationalSchemaConfig<TSchema> | undefined,
      this.nestedIndex + 1,
    );
    await tx.execute(sql.raw(`savepoint ${savepoint}`));
    try {
      const result = await fn(tx);
      await tx.execute(sql.raw(`release savepoint ${savepoint}`));
      return result;
    } catch (err) {
      await tx.execute(sql.raw(`rollback to savepoint ${savepoint}`));
      throw err;
    }
  }

  /** db.batch() inside a transaction: runs in it. */
  async batch(queries: readonly Preparable[]): Promise<unknown[]> {
    return this.internals.session.batch(queries);
  }
}
