// Data API result values (`Field` unions plus `columnMetadata`) to the JavaScript values the other
// backends return, column type by column type.
//
// `raw` mode (db.execute) gives what node-postgres' default parsers (pg-types 2) give: int8 and
// numeric as strings, int2/int4/float as numbers, json parsed, bytea as a Buffer, date and
// timestamp as local-time Dates, timestamptz as the right instant, arrays parsed element by element
// (numeric[] as floats, as pg-types does), and an array type pg-types has no parser for as
// PostgreSQL's array literal text.
// `builder` mode (the query builder) keeps date, timestamp, timestamptz, their arrays and numeric[]
// as PostgreSQL's text for drizzle's column classes (types/parsing.ts).
//
// The Data API renders timestamptz in UTC without an offset; builder mode adds `+00` so drizzle
// reads the right instant whatever the process time zone.
import type { Field } from '../../transport/contract.js';
import { parseArrayLiteral } from '../../types/array-literal.js';

/** The part of the SDK's ColumnMetadata used here. */
export interface ColumnMetadataLike {
  name?: string | undefined;
  label?: string | undefined;
  typeName?: string | undefined;
}

/** The SDK's Field union, loosely. */
export interface FieldLike {
  isNull?: boolean | undefined;
  booleanValue?: boolean | undefined;
  longValue?: number | undefined;
  doubleValue?: number | undefined;
  stringValue?: string | undefined;
  blobValue?: Uint8Array | undefined;
  arrayValue?: ArrayValueLike | undefined;
}

export interface ArrayValueLike {
  booleanValues?: (boolean | null)[] | undefined;
  longValues?: (number | null)[] | undefined;
  doubleValues?: (number | null)[] | undefined;
  stringValues?: (string | null)[] | undefined;
  arrayValues?: ArrayValueLike[] | undefined;
}

type Kind =
  | 'bool'
  | 'int'
  | 'int8'
  | 'float'
  | 'numeric'
  | 'json'
  | 'bytea'
  | 'date'
  | 'timestamp'
  | 'timestamptz'
  | 'bit'
  | 'text';

// PostgreSQL type name (as the JDBC driver behind the Data API reports it) to OID, array OID, kind.
const TYPES: Record<string, [oid: number, arrayOid: number, kind: Kind]> = {
  bool: [16, 1000, 'bool'],
  bytea: [17, 1001, 'bytea'],
  name: [19, 1003, 'text'],
  int8: [20, 1016, 'int8'],
  int2: [21, 1005, 'int'],
  int4: [23, 1007, 'int'],
  text: [25, 1009, 'text'],
  oid: [26, 1028, 'int'],
  json: [114, 199, 'json'],
  cidr: [650, 651, 'text'],
  float4: [700, 1021, 'float'],
  float8: [701, 1022, 'float'],
  inet: [869, 1041, 'text'],
  bpchar: [1042, 1014, 'text'],
  varchar: [1043, 1015, 'text'],
  date: [1082, 1182, 'date'],
  time: [1083, 1183, 'text'],
  timestamp: [1114, 1115, 'timestamp'],
  timestamptz: [1184, 1185, 'timestamptz'],
  interval: [1186, 1187, 'text'],
  timetz: [1266, 1270, 'text'],
  bit: [1560, 1561, 'bit'],
  numeric: [1700, 1231, 'numeric'],
  uuid: [2950, 2951, 'text'],
  jsonb: [3802, 3807, 'json'],
  void: [2278, 0, 'text'],
  // The JDBC driver names auto-incrementing integer columns by their serial pseudo-type.
  serial: [23, 1007, 'int'],
  smallserial: [21, 1005, 'int'],
  bigserial: [20, 1016, 'int8'],
};

/** Array types pg-types parses (the rest come back as PostgreSQL's array literal text). */
const PARSED_ARRAYS = new Set([
  1000, 1001, 1005, 1007, 1028, 1016, 1021, 1022, 1231, 1014, 1015, 1009, 1041, 651, 1115, 1182, 1185, 199, 3807, 2951,
  1183, 1270,
]);
/** Array types the query builder gets as text (types/parsing.ts KEEP_TEXT). */
const BUILDER_TEXT = new Set([1115, 1185, 1182, 1187, 1231]);

export interface Column {
  name: string;
  /** PostgreSQL type OID; 0 for a type anypg does not know (user types such as enums). */
  oid: number;
  kind: Kind;
  /** For arrays: the element column. */
  element?: Column;
}

/** One result column from its metadata. */
export function columnOf(meta: ColumnMetadataLike | undefined): Column {
  const name = meta?.label || meta?.name || '?column?';
  const typeName = (meta?.typeName ?? '').replaceAll('"', '').toLowerCase();
  if (typeName.startsWith('_')) {
    const element = TYPES[typeName.slice(1)];
    return {
      name,
      oid: element?.[1] ?? 0,
      kind: 'text',
      element: { name, oid: element?.[0] ?? 0, kind: element?.[2] ?? 'text' },
    };
  }
  const t = TYPES[typeName];
  return { name, oid: t?.[0] ?? 0, kind: t?.[2] ?? 'text' };
}

/** SQL spellings of built-in types (as drizzle's columns name them) to the names above. */
const SPELLINGS: Record<string, string> = {
  boolean: 'bool',
  smallint: 'int2',
  integer: 'int4',
  int: 'int4',
  bigint: 'int8',
  real: 'float4',
  'double precision': 'float8',
  'character varying': 'varchar',
  character: 'bpchar',
  char: 'bpchar',
  decimal: 'numeric',
  'timestamp without time zone': 'timestamp',
  'timestamp with time zone': 'timestamptz',
  'time without time zone': 'time',
  'time with time zone': 'timetz',
  'bit varying': 'varbit',
};

/**
 * A result column from its SQL type as the caller knows it (`Statement.resultTypes`: drizzle's
 * column types, e.g. `timestamp with time zone`, `integer[]`, `"mood"`), for results read without
 * column metadata. A type not known here (an enum, an extension's type) decodes as text.
 */
export function columnOfType(type: string, name = '?column?'): Column {
  if (name === '?column?') {
    let column = byType.get(type);
    if (!column) {
      column = columnFromType(type, name);
      if (byType.size < 1000) byType.set(type, column);
    }
    return column;
  }
  return columnFromType(type, name);
}

/** Columns by type name (the few types an application uses, decoded on every call). */
const byType = new Map<string, Column>();

function columnFromType(type: string, name: string): Column {
  const array = type.endsWith('[]');
  const base = type
    .replace(/(\[\])+$/, '')
    .replaceAll('"', '')
    .toLowerCase();
  const typeName = SPELLINGS[base] ?? base;
  return columnOf({ name, typeName: array ? `_${typeName}` : typeName });
}

export function fieldsOf(columns: readonly Column[]): Field[] {
  return columns.map((c) => ({ name: c.name, dataTypeID: c.oid }));
}

/** One value. */
export function decode(field: FieldLike, column: Column, mode: 'builder' | 'raw'): unknown {
  if (field.isNull) return null;
  if (field.arrayValue !== undefined) return decodeArray(field.arrayValue, column, mode);
  if (field.blobValue !== undefined) return toBuffer(field.blobValue);
  // An array as text: a column the Data API cannot return as an array (multi-dimensional) that
  // anypg selected as text (drizzle/readable-selection.ts).
  if (column.element && field.stringValue !== undefined) return decodeArrayText(field.stringValue, column, mode);
  const v = field.stringValue ?? field.longValue ?? field.doubleValue ?? field.booleanValue;
  if (v === undefined) return null;
  return scalar(v, column.kind, mode);
}

function scalar(v: string | number | boolean, kind: Kind, mode: 'builder' | 'raw'): unknown {
  switch (kind) {
    case 'bool':
      return typeof v === 'boolean' ? v : v === 't' || v === 'true';
    case 'int':
      return typeof v === 'number' ? v : Number.parseInt(String(v), 10);
    case 'int8':
    case 'numeric':
      return String(v);
    case 'float':
      return typeof v === 'number' ? v : Number.parseFloat(String(v));
    case 'json':
      return typeof v === 'string' ? JSON.parse(v) : v;
    case 'bit':
      // A bit(1) comes back as a boolean; PostgreSQL (and pg) print it as 0 or 1.
      return typeof v === 'boolean' ? (v ? '1' : '0') : String(v);
    case 'date':
    case 'timestamp':
      return mode === 'builder' ? String(v) : parseDate(String(v), 'local');
    case 'timestamptz':
      return mode === 'builder' ? withUtcOffset(String(v)) : parseDate(String(v), 'utc');
    default:
      return String(v);
  }
}

/** Whether pg gives this array column as PostgreSQL's text in `mode` (no parser, or kept as text). */
function arrayAsText(column: Column, mode: 'builder' | 'raw'): boolean {
  return !PARSED_ARRAYS.has(column.oid) || (mode === 'builder' && BUILDER_TEXT.has(column.oid));
}

function decodeArrayText(text: string, column: Column, mode: 'builder' | 'raw'): unknown {
  if (arrayAsText(column, mode)) return text;
  return decodeItems(parseArrayLiteral(text), column);
}

function decodeArray(a: ArrayValueLike, column: Column, mode: 'builder' | 'raw'): unknown {
  const element = column.element ?? { name: column.name, oid: 0, kind: 'text' as Kind };
  const items = arrayItems(a);
  if (arrayAsText(column, mode)) return literal(items, element);
  return decodeItems(items, column);
}

/** Array items parsed element by element, as pg-types does. */
function decodeItems(items: NestedItems, column: Column): unknown[] {
  const element = column.element ?? { name: column.name, oid: 0, kind: 'text' as Kind };
  const parse = (list: NestedItems): unknown[] =>
    list.map((item) => {
      if (item === null) return null;
      if (Array.isArray(item)) return parse(item);
      // pg-types parses numeric[] into floats.
      if (element.kind === 'numeric') return Number.parseFloat(String(item));
      // Only from an array read as text (an ArrayValue has no bytes): `\x..` hex, as pg reads it.
      if (element.kind === 'bytea') return Buffer.from(String(item).slice(2), 'hex');
      return scalar(item, element.kind, 'raw');
    });
  return parse(items);
}

type NestedItems = (string | number | boolean | null | NestedItems)[];

function arrayItems(a: ArrayValueLike): NestedItems {
  if (a.arrayValues) return a.arrayValues.map(arrayItems);
  return (a.stringValues ?? a.longValues ?? a.doubleValues ?? a.booleanValues ?? []) as NestedItems;
}

/** PostgreSQL's text output of an array: `{1,NULL,"a b"}`. */
function literal(items: NestedItems, element: Column): string {
  const out = items.map((item) => {
    if (item === null) return 'NULL';
    if (Array.isArray(item)) return literal(item, element);
    return quote(elementText(item, element.kind));
  });
  return `{${out.join(',')}}`;
}

/** An element as PostgreSQL prints it. */
function elementText(v: string | number | boolean, kind: Kind): string {
  if (typeof v === 'boolean') return kind === 'bit' ? (v ? '1' : '0') : v ? 't' : 'f';
  if (kind === 'timestamptz') return withUtcOffset(String(v));
  return String(v);
}

/** Array output quoting: empty, NULL, whitespace or any of {}",\ gets quotes. */
function quote(text: string): string {
  if (text === '' || /^null$/i.test(text) || /[{}",\\\s]/.test(text)) {
    return `"${text.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
  }
  return text;
}

/** `2024-01-02 03:04:05.5` (UTC, no offset) to PostgreSQL's `2024-01-02 03:04:05.5+00`. */
function withUtcOffset(text: string): string {
  if (/^-?infinity$/.test(text) || /([+-]\d{2}(:?\d{2})?|Z)$/.test(text)) return text;
  if (text.endsWith(' BC')) return `${text.slice(0, -3)}+00 BC`;
  return `${text}+00`;
}

const DATE_TIME =
  /^(\d{1,})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2}):(\d{2})(\.\d+)?)?(?:\s*(Z|[+-]\d{2}(?::?\d{2})?))?( BC)?$/;

/**
 * A date or timestamp as pg-types parses it: a date or a timestamp without time zone in local time,
 * a timestamptz (which the Data API gives in UTC, without an offset) at its instant.
 */
export function parseDate(text: string, zone: 'local' | 'utc'): Date | number | string {
  if (text === 'infinity') return Number.POSITIVE_INFINITY;
  if (text === '-infinity') return Number.NEGATIVE_INFINITY;
  const m = DATE_TIME.exec(text);
  if (!m) return text;
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac, offset, bc] = m;
  let year = Number(y);
  if (bc) year = -(year - 1);
  const ms = frac ? 1000 * Number.parseFloat(frac) : 0;
  let date: Date;
  if (zone === 'utc' || offset) {
    date = new Date(Date.UTC(year, Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), ms));
    if (year >= 0 && year < 100) date.setUTCFullYear(year);
    if (offset && offset !== 'Z') {
      const sign = offset[0] === '-' ? -1 : 1;
      const digits = offset.slice(1).replace(':', '');
      const minutes = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || 0);
      date = new Date(date.getTime() - sign * minutes * 60_000);
    }
  } else {
    date = new Date(year, Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), ms);
    if (year >= 0 && year < 100) date.setFullYear(year);
  }
  return date;
}

function toBuffer(v: Uint8Array): Buffer {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}
