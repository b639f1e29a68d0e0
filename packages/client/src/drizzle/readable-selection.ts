// Result columns the Data API refuses to return (UnsupportedResultException: interval, timetz,
// macaddr, point, line, money, multi-dimensional arrays, extension types...), read as text.
//
// When the query builder selects (or returns) such a column, the column is selected as
// `"col"::text` in the statement that is sent: the Data API returns text, which is what
// node-postgres returns for these types too, and drizzle's column classes read it (interval and
// macaddr are strings, point and line are parsed from text, arrays from their literal). Only the
// statement's own selection is rewritten, as it is sent: the same selection inside a subquery or a
// CTE keeps its type (an outer comparison may need it), and `toSQL()` shows drizzle's SQL.
//
// How: the dialect puts a marker around such columns in each selection it builds and remembers
// which statement the markers belong to. A marker renders as the bare column, except while that
// statement itself is being turned into SQL text for sending (sqlToQuery), when it adds `::text`.
import { entityKind, is, SQL, StringChunk } from 'drizzle-orm';
import { PgArray, PgColumn } from 'drizzle-orm/pg-core';
import { columnType } from './column-types.js';

/** Column types the Data API returns (lower case, modifiers dropped); enums too. */
const READABLE = new Set([
  'bool',
  'boolean',
  'bytea',
  'name',
  'smallint',
  'integer',
  'int',
  'bigint',
  'int2',
  'int4',
  'int8',
  'oid',
  'text',
  'json',
  'jsonb',
  'cidr',
  'inet',
  'real',
  'float4',
  'double precision',
  'float8',
  'bpchar',
  'varchar',
  'character varying',
  'date',
  'time',
  'time without time zone',
  'timestamp',
  'timestamp without time zone',
  'timestamp with time zone',
  'timestamptz',
  'bit',
  'numeric',
  'decimal',
  'uuid',
  'vector',
  'halfvec',
  'sparsevec',
  'citext',
]);

const refused = new WeakMap<PgColumn, boolean>();

/** Whether the Data API refuses to return values of this column. */
export function unreadable(column: PgColumn): boolean {
  let answer = refused.get(column);
  if (answer === undefined) {
    answer = isRefused(column);
    refused.set(column, answer);
  }
  return answer;
}

function isRefused(column: PgColumn): boolean {
  if (is(column, PgArray)) {
    const base = column.baseColumn as PgColumn;
    // Multi-dimensional arrays, and arrays of what has no Field list (bytea) or is refused itself.
    return is(base, PgArray) || columnType(base).toLowerCase() === 'bytea' || unreadable(base);
  }
  if ((column as unknown as { enum?: unknown }).enum) return false;
  return !READABLE.has(columnType(column).toLowerCase());
}

/** Markers whose statement is being sent right now (sqlToQuery is synchronous). */
const active = new Set<TextWhenSent>();

/** A selected column that renders `::text` while its statement is being sent. */
class TextWhenSent extends SQL {
  static override readonly [entityKind]: string = 'AnypgTextWhenSent';

  constructor(readonly target: unknown) {
    super([]);
  }
}

// drizzle reads `queryChunks` when it renders: computed, so the cast is there only while the
// marker's statement is being sent (SQL's constructor assigns the chunks; the setter ignores it).
Object.defineProperty(TextWhenSent.prototype, 'queryChunks', {
  get(this: TextWhenSent) {
    return active.has(this) ? [this.target, new StringChunk('::text')] : [this.target];
  },
  set() {},
  configurable: true,
});

type Field = { path: string[]; field: unknown };

/** Statement SQL -> the markers of its own selection. */
const markersOf = new WeakMap<SQL, TextWhenSent[]>();

export class ReadableSelections {
  /** Markers made while the current statement is built. */
  #pending: TextWhenSent[] | undefined;

  /**
   * The fields with unreadable columns wrapped in markers, for drizzle's buildSelection.
   * `identifier` renders a column as drizzle does in a single-table statement.
   */
  wrap(fields: readonly Field[], isSingleTable: boolean, identifier: (column: PgColumn) => unknown): Field[] {
    return fields.map((f) => {
      if (!is(f.field, PgColumn) || !unreadable(f.field)) return f;
      const marker = new TextWhenSent(isSingleTable ? identifier(f.field) : f.field);
      this.#pending?.push(marker);
      // Inside a plain SQL: drizzle copies a selected SQL's chunks, and keeps the marker as one.
      return { ...f, field: new SQL([marker]) };
    });
  }

  /** Builds one statement with `build`, and remembers the markers of its selection. */
  statement(build: () => SQL): SQL {
    const outer = this.#pending;
    const mine: TextWhenSent[] = [];
    this.#pending = mine;
    try {
      const built = build();
      if (mine.length > 0) markersOf.set(built, mine);
      return built;
    } finally {
      this.#pending = outer;
    }
  }

  /** Renders `query` with its own selection's markers cast to text. */
  sending<T>(query: SQL, render: () => T): T {
    const markers = markersOf.get(query);
    if (!markers) return render();
    for (const m of markers) active.add(m);
    try {
      return render();
    } finally {
      for (const m of markers) active.delete(m);
    }
  }
}
