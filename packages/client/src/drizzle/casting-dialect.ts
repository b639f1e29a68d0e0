// A PgDialect for the Data API, which cannot let PostgreSQL infer parameter types: each Field kind
// has a fixed type (longValue int8, stringValue text unless a hint names date, time, timestamp,
// uuid, json or decimal), so a string compared with or written to an enum, interval, array,
// inet... column fails ("column is of type interval but expression is of type text",
// "operator does not exist: text[] @> text").
//
// The parameters' SQL text stays what drizzle builds for node-postgres (so `toSQL()` shows no
// casts for them). Instead, each parameter's typing (drizzle's `Query.typings`, which drizzle fills from the
// column a parameter is bound to) says what the parameter needs: one of drizzle's hints ('json',
// 'decimal', 'time', 'timestamp', 'date', 'uuid'), `cast:<type>` for a column type no hint covers,
// or 'none'. The Data API transport wraps `cast:` parameters in `cast(:n as <type>)` as it sends
// them (backends/data-api/placeholders.ts).
//
// The cast type is the column's real type, as PostgreSQL would infer it for the parameter:
//   - serial, bigserial and smallserial are not types (only column shorthands): integer, bigint, smallint;
//   - enums are quoted and schema-qualified as declared ("Mood", "app"."Mood");
//   - length and precision modifiers are dropped (varchar(2), char(2), bit(3), numeric(10,2)...):
//     an explicit cast to varchar(2) truncates silently where an assignment raises 22001, so the
//     modifier is left to the assignment, as with node-postgres.
// A value written with a bare `sql` template (`json: sql\`${text}\``) is a parameter no column is
// bound to; insert and update bind it to its column so it gets the column's typing too. So is a
// placeholder compared with a column (`eq(users.id, sql.placeholder('id'))`: drizzle's operators
// leave placeholders unbound): it is bound to that column, whose encoder and typing it then gets.
//
// Results: columns of types the Data API does not return are selected as text
// (readable-selection.ts).
import { getTableColumns, is, Param, Placeholder, SQL, StringChunk, sql } from 'drizzle-orm';
import { PgColumn, PgDialect, type PgTable } from 'drizzle-orm/pg-core';
import type { DrizzleKit } from '../transport/contract.js';
import { CAST_TYPING } from '../types/typings.js';
import { columnType } from './column-types.js';
import { ReadableSelections } from './readable-selection.js';

export { columnType } from './column-types.js';

/** The encoder of a parameter written to `column` through a bare `sql` template: the value as given. */
class BoundToColumn {
  constructor(readonly column: PgColumn) {}
  mapToDriverValue(value: unknown): unknown {
    return value;
  }
}

/**
 * Column types every Field kind reaches by an implicit cast (lower case, modifiers dropped): no
 * cast needed. numeric, json, uuid, date and time types need drizzle's hint instead (a string is
 * text otherwise): a column of theirs without one (numeric in mode 'number', a custom type named
 * uuid) gets a cast.
 */
const CARRIED = new Set([
  'smallint',
  'integer',
  'int',
  'bigint',
  'int2',
  'int4',
  'int8',
  'real',
  'float4',
  'double precision',
  'float8',
  'boolean',
  'bool',
  'text',
  'varchar',
  'character varying',
  'bpchar',
  'bytea',
]);

/** The type a parameter bound to `column` is cast to (see the header): bit(n) as varbit, whose length any value keeps. */
export function parameterType(column: PgColumn): string {
  const type = columnType(column);
  return /^bit(\[\])*$/i.test(type) ? type.replace(/^bit/i, 'varbit') : type;
}

/**
 * The types of a query's result columns when drizzle selected only columns (a select or returning
 * of table columns): the Data API transport then decodes values without asking for column
 * metadata. Undefined when a field is an expression, whose type only the server knows.
 */
export function resultTypesOf(fields: readonly { field: unknown }[]): string[] | undefined {
  const types: string[] = [];
  for (const { field } of fields) {
    if (!is(field, PgColumn)) return undefined;
    types.push(columnType(field));
  }
  return types;
}

/** A parameter's typing for the Data API transport: drizzle's hint, a cast, or 'none'. */
export function dataApiTyping(encoder: unknown): string {
  const column = encoder instanceof BoundToColumn ? encoder.column : is(encoder, PgColumn) ? encoder : undefined;
  if (!column) return 'none';
  let typing = typings.get(column);
  if (typing === undefined) {
    typing = columnTyping(column);
    typings.set(column, typing);
  }
  return typing;
}

/** Per column (drizzle's hint takes several entity checks; this runs for every parameter). */
const typings = new WeakMap<PgColumn, string>();

function columnTyping(column: PgColumn): string {
  const hint = PgDialect.prototype.prepareTyping.call(undefined, column);
  const type = parameterType(column);
  const lower = type.toLowerCase();
  // drizzle hints 'time' for timetz too, which the TIME hint (no offset) cannot carry.
  if (hint !== 'none' && !(hint === 'time' && lower.includes('with time zone'))) return hint;
  return CARRIED.has(lower) ? 'none' : `${CAST_TYPING}${type}`;
}

/** An `sql` value that is only a parameter (`sql\`${value}\``), bound to `column`; other SQL as is. */
function bindBareValue(value: SQL, column: PgColumn): SQL {
  const chunks = value.queryChunks.filter(
    (c) => !(is(c, StringChunk) && (c as StringChunk).value.every((s) => s.trim() === '')),
  );
  if (chunks.length !== 1) return value;
  const only = chunks[0];
  if (is(only, Param)) {
    if (is(only.encoder, PgColumn) || only.encoder instanceof BoundToColumn) return value;
    return new SQL([new Param(only.value, new BoundToColumn(column))]);
  }
  const primitive = ['string', 'number', 'boolean', 'bigint'].includes(typeof only) || only === null;
  return primitive ? new SQL([new Param(only, new BoundToColumn(column))]) : value;
}

/** What drizzle's comparison operators put between a column and the value compared with it. */
const OPERATOR = /^\s*(=|<>|!=|<=|>=|<|>|@>|<@|&&|(not\s+)?i?like)\s*$/i;

/** `sql` with each placeholder that follows `column <operator>` bound to that column (a copy when any is). */
export function bindPlaceholders(query: SQL): SQL {
  let changed = false;
  const chunks = query.queryChunks.map((chunk, i, all) => {
    if (is(chunk, SQL)) {
      const bound = bindPlaceholders(chunk);
      if (bound !== chunk) changed = true;
      return bound;
    }
    if (is(chunk, Placeholder)) {
      const op = all[i - 1];
      const column = all[i - 2];
      if (is(op, StringChunk) && OPERATOR.test(op.value.join('')) && is(column, PgColumn)) {
        changed = true;
        return new Param(chunk, column);
      }
    }
    return chunk;
  });
  if (!changed) return query;
  // A copy that keeps the decoder and the other settings of the original.
  return Object.assign(Object.create(Object.getPrototypeOf(query)) as SQL, query, { queryChunks: chunks });
}

type BuildSelection = (fields: { path: string[]; field: unknown }[], options?: { isSingleTable?: boolean }) => SQL;

export class CastingDialect extends PgDialect {
  /** Columns the Data API cannot return, selected as text (readable-selection.ts). */
  readonly readable = new ReadableSelections();

  override sqlToQuery(query: SQL, invokeSource?: 'indexes'): ReturnType<PgDialect['sqlToQuery']> {
    return this.readable.sending(query, () => {
      const built = super.sqlToQuery(query, invokeSource);
      // Unbound placeholders are rare: the tree is walked only when the statement has one.
      if (!built.params.some((p) => is(p, Placeholder))) return built;
      return super.sqlToQuery(bindPlaceholders(query), invokeSource);
    });
  }

  override buildSelectQuery(config: Parameters<PgDialect['buildSelectQuery']>[0]): SQL {
    return this.readable.statement(() => super.buildSelectQuery(config));
  }

  override buildUpdateQuery(config: Parameters<PgDialect['buildUpdateQuery']>[0]): SQL {
    return this.readable.statement(() => super.buildUpdateQuery(config));
  }

  override buildDeleteQuery(config: Parameters<PgDialect['buildDeleteQuery']>[0]): SQL {
    return this.readable.statement(() => super.buildDeleteQuery(config));
  }

  override prepareTyping(encoder: Parameters<PgDialect['prepareTyping']>[0]): ReturnType<PgDialect['prepareTyping']> {
    // Called unbound by drizzle (`prepareTyping: this.prepareTyping`): a plain function.
    return dataApiTyping(encoder) as ReturnType<PgDialect['prepareTyping']>;
  }

  override buildInsertQuery(config: Parameters<PgDialect['buildInsertQuery']>[0]): SQL {
    if (!config.select) {
      const columns = getTableColumns(config.table);
      for (const row of config.values as Record<string, unknown>[]) {
        for (const [key, column] of Object.entries(columns)) {
          const value = row[key];
          if (is(value, SQL)) row[key] = bindBareValue(value, column as PgColumn);
        }
      }
    }
    return this.readable.statement(() => super.buildInsertQuery(config));
  }

  override buildUpdateSet(table: PgTable, set: Parameters<PgDialect['buildUpdateSet']>[1]): SQL {
    const columns = getTableColumns(table) as Record<string, PgColumn>;
    const bound: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(set)) {
      bound[key] = is(value, SQL) && columns[key] ? bindBareValue(value, columns[key]) : value;
    }
    return super.buildUpdateSet(table, bound as typeof set);
  }
}

// drizzle's buildSelection is private in its types: wrapped on the prototype. Unreadable columns
// get markers; drizzle builds the selection as always.
const buildSelection = (PgDialect.prototype as unknown as { buildSelection: BuildSelection }).buildSelection;
Object.defineProperty(CastingDialect.prototype, 'buildSelection', {
  value: function (
    this: CastingDialect,
    fields: Parameters<BuildSelection>[0],
    options?: Parameters<BuildSelection>[1],
  ) {
    const casing = (this as unknown as { casing: { getColumnCasing(c: PgColumn): string } }).casing;
    const wrapped = this.readable.wrap(fields, options?.isSingleTable ?? false, (c) =>
      sql.identifier(casing.getColumnCasing(c)),
    );
    return buildSelection.call(this, wrapped, options);
  },
  configurable: true,
  writable: true,
});

/** The Data API's drizzle layer (transport/contract.ts DrizzleKit), attached by its factory. */
export const dataApiDrizzle: DrizzleKit = {
  dialect: (config) => new CastingDialect(config),
  typingOf: dataApiTyping,
  resultTypesOf,
};
