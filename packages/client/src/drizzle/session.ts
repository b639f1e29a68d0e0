// anypg's Drizzle driver: one PgSession over the transport contract, for every backend.
//
// Drizzle's own drivers each bind a session to one client library. Ours binds to the Executor
// contract, so the query builder, relational queries, execute(), transaction() and batch() behave
// the same whatever carries the bytes. Errors are never wrapped in DrizzleQueryError, whose message
// includes the parameter values.
import { entityKind, fillPlaceholders, type Query, type QueryWithTypings, type SQL, sql } from 'drizzle-orm';
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
import type { Executor, QueryResult, Statement, Transport } from '../transport/contract.js';

export interface AnypgQueryResultHKT extends PgQueryResultHKT {
  type: QueryResult<this['row'] extends Record<string, unknown> ? this['row'] : Record<string, unknown>>;
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

  constructor(
    private readonly executor: Executor,
    query: Query,
    private readonly fields: SelectedFieldsOrdered | undefined,
    private readonly name: string | undefined,
    private readonly arrayMode: boolean,
    private readonly customResultMapper: CustomMapper<T> | undefined,
  ) {
    super(query, undefined, undefined, undefined);
  }

  /** The statement as the transport takes it; also used by batch(). */
  statement(placeholderValues: Record<string, unknown> = {}) {
    const params = fillPlaceholders(this.query.params, placeholderValues);
    const raw = !this.fields && !this.customResultMapper;
    return {
      text: this.query.sql,
      params,
      rowMode: raw ? ('object' as const) : ('array' as const),
      parse: raw ? ('raw' as const) : ('builder' as const),
      ...(this.name !== undefined && { name: this.name }),
      ...((this.query as QueryWithTypings).typings && { typings: (this.query as QueryWithTypings).typings }),
    };
  }

  async execute(placeholderValues: Record<string, unknown> = {}): Promise<T['execute']> {
    const result = await this.executor.query(this.statement(placeholderValues));
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
    const result = await this.executor.query({ text: this.query.sql, params, rowMode: 'object', parse: 'raw' });
    return result.rows;
  }

  /** @internal drizzle asks this when building batches and relational queries */
  isResponseInArrayMode(): boolean {
    return this.arrayMode;
  }
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
  ) {
    super(dialect);
  }

  prepareQuery<T extends PreparedQueryConfig = PreparedQueryConfig>(
    query: Query,
    fields: SelectedFieldsOrdered | undefined,
    name: string | undefined,
    isResponseInArrayMode: boolean,
    customResultMapper?: (rows: unknown[][]) => T['execute'],
  ): PgPreparedQuery<T> {
    return new AnypgPreparedQuery<T>(this.executor, query, fields, name, isResponseInArrayMode, customResultMapper);
  }

  override async transaction<T>(
    fn: (tx: AnypgTransaction<TFullSchema, TSchema>) => Promise<T>,
    config?: PgTransactionConfig,
  ): Promise<T> {
    return this.transport.transaction(async (executor) => {
      const session = new AnypgSession<TFullSchema, TSchema>(this.dialect, executor, this.transport, this.schema);
      const tx = new AnypgTransaction<TFullSchema, TSchema>(this.dialect, session, this.schema);
      return fn(tx);
    }, config);
  }

  /**
   * Runs the queries atomically, in order, and returns each one's result as if run alone.
   * Inside a transaction they run in it; otherwise in a transaction of their own.
   */
  async batch(queries: readonly Preparable[]): Promise<unknown[]> {
    const prepared = queries.map((q) => batchStatement(q._prepare()));
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
}

/** What drizzle's batch items have at run time (a method its types mark internal). */
export interface Preparable {
  _prepare(): unknown;
}

/**
 * The statement and result mapper of one batch item. Query builders prepare an AnypgPreparedQuery;
 * `db.execute(sql)` prepares to drizzle's PgRaw, which only knows its SQL and its mapper.
 */
function batchStatement(prepared: unknown): { statement: Statement; map: (r: QueryResult) => unknown } {
  if (prepared instanceof AnypgPreparedQuery) {
    return { statement: prepared.statement(), map: (r) => prepared.mapResult(r) };
  }
  const raw = prepared as { getQuery(): Query; mapResult(r: unknown, fromBatch: boolean): unknown };
  const q = raw.getQuery() as QueryWithTypings;
  return {
    statement: {
      text: q.sql,
      params: q.params,
      rowMode: 'object',
      parse: 'raw',
      ...(q.typings && { typings: q.typings }),
    },
    map: (r) => raw.mapResult(r, true),
  };
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
