// PostgreSQL types as the Data API sees them: how a value is rendered (its Field kind), what JDBC
// type and name `columnMetadata` reports, and which types AWS refuses to return at all.
//
// AWS documents the supported scalar types (bool, bytea, date, cidr, numeric, enum, float4/8, inet,
// int2/4/8, json(b), text/char/varchar/name, time, timestamp, uuid, vector) and arrays of them, says
// timestamptz comes back in UTC, and answers anything else with `UnsupportedResultException: The
// result contains the unsupported data type X.` (observed for interval, timetz, "char", regclass).
import type pg from 'pg';

export type Kind =
  | 'bool'
  | 'long'
  | 'double'
  | 'decimal'
  | 'string'
  | 'date'
  | 'timestamp'
  | 'timestamptz'
  | 'bytea'
  | 'bit'
  | 'array'
  | 'unsupported';

export interface TypeInfo {
  oid: number;
  /** PostgreSQL's type name as the JDBC driver reports it (`int4`, `_text`, `"char"`). */
  name: string;
  kind: Kind;
  /** java.sql.Types code for `columnMetadata[].type`. */
  jdbcType: number;
  /** For arrays: the element type. */
  element?: TypeInfo;
  /** The name used in UnsupportedResultException messages. */
  displayName: string;
}

// java.sql.Types
const BIT = -7;
const SMALLINT = 5;
const INTEGER = 4;
const BIGINT = -5;
const REAL = 7;
const DOUBLE = 8;
const NUMERIC = 2;
const CHAR = 1;
const VARCHAR = 12;
const BINARY = -2;
const DATE = 91;
const TIME = 92;
const TIMESTAMP = 93;
const OTHER = 1111;
const ARRAY = 2003;
const SQLXML = 2009;

type Row = [oid: number, name: string, kind: Kind, jdbc: number, arrayOid?: number];

const SCALARS: Row[] = [
  [16, 'bool', 'bool', BIT, 1000],
  [17, 'bytea', 'bytea', BINARY, 1001],
  [18, '"char"', 'unsupported', CHAR, 1002],
  [19, 'name', 'string', VARCHAR, 1003],
  [20, 'int8', 'long', BIGINT, 1016],
  [21, 'int2', 'long', SMALLINT, 1005],
  [23, 'int4', 'long', INTEGER, 1007],
  [25, 'text', 'string', VARCHAR, 1009],
  [26, 'oid', 'long', BIGINT, 1028],
  [114, 'json', 'string', OTHER, 199],
  [142, 'xml', 'unsupported', SQLXML, 143],
  [650, 'cidr', 'string', OTHER, 651],
  [869, 'inet', 'string', OTHER, 1041],
  [700, 'float4', 'double', REAL, 1021],
  [701, 'float8', 'double', DOUBLE, 1022],
  [705, 'unknown', 'string', VARCHAR],
  [790, 'money', 'unsupported', DOUBLE, 791],
  [1042, 'bpchar', 'string', CHAR, 1014],
  [1043, 'varchar', 'string', VARCHAR, 1015],
  [1082, 'date', 'date', DATE, 1182],
  [1083, 'time', 'string', TIME, 1183],
  [1114, 'timestamp', 'timestamp', TIMESTAMP, 1115],
  [1184, 'timestamptz', 'timestamptz', TIMESTAMP, 1185],
  [1186, 'interval', 'unsupported', OTHER, 1187],
  [1266, 'timetz', 'unsupported', TIME, 1270],
  [1560, 'bit', 'bit', BIT, 1561],
  [1562, 'varbit', 'unsupported', OTHER, 1563],
  [1700, 'numeric', 'decimal', NUMERIC, 1231],
  [2950, 'uuid', 'string', OTHER, 2951],
  [3802, 'jsonb', 'string', OTHER, 3807],
  // A function returning void (`select pg_sleep(0)`): the JDBC driver reads an empty string.
  [2278, 'void', 'string', OTHER],
];

const BUILTIN = new Map<number, TypeInfo>();
for (const [oid, name, kind, jdbcType, arrayOid] of SCALARS) {
  const scalar: TypeInfo = { oid, name, kind, jdbcType, displayName: displayName(name, 'pg_catalog') };
  BUILTIN.set(oid, scalar);
  if (arrayOid !== undefined) {
    const arrayName = `_${name.replaceAll('"', '')}`;
    BUILTIN.set(arrayOid, arrayType(arrayOid, arrayName, scalar, 'pg_catalog'));
  }
}

// Extension types AWS lists as supported (pgvector) or that are plain text underneath.
const TEXTLIKE_EXTENSION_TYPES = new Set(['vector', 'halfvec', 'sparsevec', 'citext']);

function arrayType(oid: number, name: string, element: TypeInfo, namespace: string): TypeInfo {
  // bytea[] has no Field list to go in (ArrayValue holds booleans, longs, doubles, strings, arrays).
  const unsupported = element.kind === 'unsupported' || element.kind === 'bytea';
  return {
    oid,
    name,
    kind: unsupported ? 'unsupported' : 'array',
    jdbcType: ARRAY,
    element,
    displayName: displayName(name, namespace),
  };
}

/**
 * The service names built-in types in capitals (`INTERVAL`, `"CHAR"`) but has been seen naming
 * `regclass` as is; other types (extensions, user types) keep their own names.
 */
function displayName(name: string, namespace: string): string {
  if (namespace !== 'pg_catalog' || name.startsWith('reg') || name.startsWith('_reg')) return name;
  return name.toUpperCase();
}

export function builtinType(oid: number): TypeInfo | undefined {
  return BUILTIN.get(oid);
}

interface PgTypeRow {
  oid: number;
  typname: string;
  typtype: string;
  typelem: number;
  typcategory: string;
  nspname: string;
}

/**
 * Type information for every OID in `oids`, asking the server (on the same connection: a type created
 * inside the current transaction is visible only there) about those that are not built in. Results
 * are cached per database in `cache`.
 */
export async function resolveTypes(
  client: pg.ClientBase,
  oids: number[],
  cache: Map<number, TypeInfo>,
): Promise<Map<number, TypeInfo>> {
  const out = new Map<number, TypeInfo>();
  const missing = new Set<number>();
  for (const oid of oids) {
    const known = BUILTIN.get(oid) ?? cache.get(oid);
    if (known) out.set(oid, known);
    else missing.add(oid);
  }
  if (missing.size === 0) return out;

  const rows = new Map<number, PgTypeRow>();
  let ask = [...missing];
  // Two rounds at most: the types, then the element types of arrays among them.
  for (let round = 0; round < 2 && ask.length > 0; round++) {
    const res = await client.query<PgTypeRow>({
      text: `select t.oid::int as oid, t.typname, t.typtype, t.typelem::int as typelem, t.typcategory, n.nspname
             from pg_catalog.pg_type t join pg_catalog.pg_namespace n on n.oid = t.typnamespace
             where t.oid = any($1::oid[])`,
      values: [ask],
    });
    const next: number[] = [];
    for (const row of res.rows) {
      rows.set(row.oid, row);
      if (row.typelem !== 0 && !BUILTIN.has(row.typelem) && !rows.has(row.typelem) && !cache.has(row.typelem)) {
        next.push(row.typelem);
      }
    }
    ask = next;
  }

  const build = (oid: number): TypeInfo => {
    const known = BUILTIN.get(oid) ?? cache.get(oid);
    if (known) return known;
    const row = rows.get(oid);
    let info: TypeInfo;
    if (!row) {
      info = { oid, name: String(oid), kind: 'unsupported', jdbcType: OTHER, displayName: String(oid) };
    } else if (row.typcategory === 'A' && row.typelem !== 0) {
      info = arrayType(oid, row.typname, build(row.typelem), row.nspname);
    } else if (row.typtype === 'e') {
      info = { oid, name: row.typname, kind: 'string', jdbcType: VARCHAR, displayName: row.typname };
    } else if (TEXTLIKE_EXTENSION_TYPES.has(row.typname)) {
      info = { oid, name: row.typname, kind: 'string', jdbcType: OTHER, displayName: row.typname };
    } else {
      info = {
        oid,
        name: row.typname,
        kind: 'unsupported',
        jdbcType: OTHER,
        displayName: displayName(row.typname, row.nspname),
      };
    }
    cache.set(oid, info);
    return info;
  };
  for (const oid of missing) out.set(oid, build(oid));
  return out;
}

/** `columnMetadata[].precision` and `.scale` the way the JDBC driver computes them from a type modifier. */
export function precisionAndScale(type: TypeInfo, typmod: number): { precision: number; scale: number } {
  const unbounded = 2147483647;
  switch (type.name) {
    case 'bool':
      return { precision: 1, scale: 0 };
    case 'int2':
      return { precision: 5, scale: 0 };
    case 'int4':
    case 'oid':
      return { precision: 10, scale: 0 };
    case 'int8':
      return { precision: 19, scale: 0 };
    case 'float4':
      return { precision: 8, scale: 8 };
    case 'float8':
      return { precision: 17, scale: 17 };
    case 'numeric':
      return typmod === -1
        ? { precision: 0, scale: 0 }
        : { precision: ((typmod - 4) >> 16) & 0xffff, scale: (typmod - 4) & 0xffff };
    case 'bpchar':
    case 'varchar':
      return { precision: typmod === -1 ? unbounded : typmod - 4, scale: 0 };
    case 'date':
      return { precision: 13, scale: 0 };
    case 'time':
      return { precision: 15, scale: typmod === -1 ? 6 : typmod };
    case 'timestamp':
      return { precision: 29, scale: typmod === -1 ? 6 : typmod };
    case 'timestamptz':
      return { precision: 35, scale: typmod === -1 ? 6 : typmod };
    case 'bit':
      return { precision: typmod === -1 ? 1 : typmod, scale: 0 };
    default:
      return { precision: unbounded, scale: 0 };
  }
}

const SIGNED = new Set(['int2', 'int4', 'int8', 'float4', 'float8', 'numeric', 'money']);
const CASE_INSENSITIVE = new Set([
  'bool',
  'bit',
  'int2',
  'int4',
  'int8',
  'oid',
  'float4',
  'float8',
  'numeric',
  'money',
  'date',
  'time',
  'timetz',
  'timestamp',
  'timestamptz',
  'interval',
]);

export const isSigned = (t: TypeInfo) => SIGNED.has(t.name);
export const isCaseSensitive = (t: TypeInfo) => !CASE_INSENSITIVE.has(t.name);
export const isCurrency = (t: TypeInfo) => t.name === 'money';
