// The SQL type of a drizzle column as PostgreSQL names it, for casts and for decoding results
// without metadata (the Data API): serial types as their integer types, enums quoted and
// schema-qualified, length and precision modifiers dropped.
import { is } from 'drizzle-orm';
import { PgArray, type PgColumn } from 'drizzle-orm/pg-core';

const PSEUDO: Record<string, string> = {
  serial: 'integer',
  serial4: 'integer',
  bigserial: 'bigint',
  serial8: 'bigint',
  smallserial: 'smallint',
  serial2: 'smallint',
  // Without its modifier this means length 1: bpchar keeps any length, the assignment checks it.
  char: 'bpchar',
  character: 'bpchar',
};

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;

interface EnumLike {
  enumName: string;
  schema?: string | undefined;
}

/** Per column: a column's type is fixed, and this runs for every parameter and result column. */
const types = new WeakMap<PgColumn, string>();

/** The column's type without modifiers: serial types as their integer types, enums quoted and qualified. */
export function columnType(column: PgColumn): string {
  let type = types.get(column);
  if (type === undefined) {
    type = typeOf(column);
    types.set(column, type);
  }
  return type;
}

function typeOf(column: PgColumn): string {
  if (is(column, PgArray)) return `${columnType(column.baseColumn as PgColumn)}[]`;
  const enumOf = (column as unknown as { enum?: EnumLike }).enum;
  if (enumOf && typeof enumOf.enumName === 'string') {
    return enumOf.schema ? `${quoteIdent(enumOf.schema)}.${quoteIdent(enumOf.enumName)}` : quoteIdent(enumOf.enumName);
  }
  const bare = column
    .getSQLType()
    .replace(/\s*\([^()"]*\)/g, '')
    .replace(/\s*\[\d*\]/g, '[]')
    .replace(/\s+/g, ' ')
    .trim();
  const array = /(\[\])+$/.exec(bare)?.[0] ?? '';
  const base = bare.slice(0, bare.length - array.length);
  return `${PSEUDO[base.toLowerCase()] ?? base}${array}`;
}
