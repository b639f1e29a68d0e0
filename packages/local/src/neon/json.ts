// JSON <-> PostgreSQL text, as Neon's SQL-over-HTTP service does it.
//
// Parameters: every JSON value becomes the text PostgreSQL parses (bound with an unspecified type).
// Results: with `Neon-Raw-Text-Output: true` (what the driver always sends) every value stays
// PostgreSQL's exact text output; without it, bool, int2/int4, float4/float8, json/jsonb and arrays
// become JSON values and everything else stays a string. Floats that JSON cannot hold (NaN,
// Infinity) stay strings, and int8/numeric stay strings so no precision is lost.

/** A JSON parameter as PostgreSQL text: null is NULL, a string as is, an array a PostgreSQL array literal. */
export function paramToPgText(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return arrayLiteral(value);
  return JSON.stringify(value);
}

// Inside an array literal strings are double-quoted with `\` and `"` escaped (PostgreSQL's array
// syntax; Neon quotes them as JSON does, which turns an escaped newline into a plain `n`), objects
// become quoted JSON text, and nested arrays become sub-arrays.
function arrayLiteral(values: unknown[]): string {
  const items = values.map((v) => {
    if (v === null || v === undefined) return 'NULL';
    if (Array.isArray(v)) return arrayLiteral(v);
    if (typeof v === 'string') return quoteArrayItem(v);
    if (typeof v === 'object') return quoteArrayItem(JSON.stringify(v));
    return JSON.stringify(v);
  });
  return `{${items.join(',')}}`;
}

function quoteArrayItem(s: string): string {
  return `"${s.replace(/[\\"]/g, '\\$&')}"`;
}

const BOOL = 16;
const INT2 = 21;
const INT4 = 23;
const FLOAT4 = 700;
const FLOAT8 = 701;
const JSON_OID = 114;
const JSONB = 3802;

/** Built-in array types (OID below 10000, the same in every PostgreSQL version) and their element types. */
// biome-ignore format: a table
const BUILTIN_ARRAYS = new Map<number, number>([
  [22, 21], [30, 26], [143, 142], [199, 114], [210, 71], [270, 75], [271, 5069], [272, 81], [273, 83],
  [629, 628], [651, 650], [719, 718], [775, 774], [791, 790], [1000, 16], [1001, 17], [1002, 18], [1003, 19],
  [1005, 21], [1006, 22], [1007, 23], [1008, 24], [1009, 25], [1010, 27], [1011, 28], [1012, 29], [1013, 30],
  [1014, 1042], [1015, 1043], [1016, 20], [1017, 600], [1018, 601], [1019, 602], [1020, 603], [1021, 700],
  [1022, 701], [1027, 604], [1028, 26], [1034, 1033], [1040, 829], [1041, 869], [1115, 1114], [1182, 1082],
  [1183, 1083], [1185, 1184], [1187, 1186], [1231, 1700], [1263, 2275], [1270, 1266], [1561, 1560],
  [1563, 1562], [2201, 1790], [2207, 2202], [2208, 2203], [2209, 2204], [2210, 2205], [2211, 2206],
  [2949, 2970], [2951, 2950], [3221, 3220], [3643, 3614], [3644, 3642], [3645, 3615], [3735, 3734],
  [3770, 3769], [3807, 3802], [3905, 3904], [3907, 3906], [3909, 3908], [3911, 3910], [3913, 3912],
  [3927, 3926], [4073, 4072], [4090, 4089], [4097, 4096], [4192, 4191], [5039, 5038], [6150, 4451],
  [6151, 4532], [6152, 4533], [6153, 4534], [6155, 4535], [6157, 4536],
]);

/** OIDs at or above this are not built in (catalog row types, extensions, user types): look them up. */
export const FIRST_NON_BUILTIN_OID = 10000;

/** The element type of a built-in array type; undefined for a scalar or a type we must look up. */
export function builtinArrayElement(oid: number): number | undefined {
  return BUILTIN_ARRAYS.get(oid);
}

/** Resolves a type OID to its array element type OID (0 when it is not an array). */
export type ElementOf = (oid: number) => number;

/** One text value as JSON text, following Neon's conversion rules for `oid`. */
export function pgTextToJson(text: string, oid: number, elementOf: ElementOf): string {
  const elem = elementOf(oid);
  if (elem !== 0) return arrayToJson(text, elem, elementOf);
  switch (oid) {
    case BOOL:
      return text === 't' ? 'true' : 'false';
    case INT2:
    case INT4:
      return String(Number.parseInt(text, 10));
    case FLOAT4:
    case FLOAT8: {
      const n = Number(text);
      return Number.isFinite(n) ? JSON.stringify(n) : JSON.stringify(text);
    }
    case JSON_OID:
    case JSONB:
      return text;
    default:
      return JSON.stringify(text);
  }
}

/**
 * A PostgreSQL array's text output as a (nested) JSON array. Bounds decoration (`[0:1]={..}`)
 * is dropped, as JSON has no place for it. The delimiter is taken to be `,` (every built-in
 * type but `box` uses it; Neon assumes the same).
 */
function arrayToJson(text: string, elem: number, elementOf: ElementOf): string {
  let s = text;
  if (s.startsWith('[')) {
    const eq = s.indexOf('=');
    if (eq < 0) throw new Error('unbalanced array');
    s = s.slice(eq + 1);
  }
  const parser = { s, i: 0 };
  skipSpace(parser);
  const out = parseArray(parser, elem, elementOf);
  skipSpace(parser);
  if (parser.i !== parser.s.length) throw new Error('unbalanced array');
  return out;
}

interface Cursor {
  s: string;
  i: number;
}

function skipSpace(p: Cursor) {
  while (p.i < p.s.length && /\s/.test(p.s[p.i]!)) p.i++;
}

function parseArray(p: Cursor, elem: number, elementOf: ElementOf): string {
  if (p.s[p.i] !== '{') throw new Error('unbalanced array');
  p.i++;
  const items: string[] = [];
  skipSpace(p);
  if (p.s[p.i] === '}') {
    p.i++;
    return '[]';
  }
  for (;;) {
    skipSpace(p);
    items.push(parseItem(p, elem, elementOf));
    skipSpace(p);
    const c = p.s[p.i];
    p.i++;
    if (c === ',') continue;
    if (c === '}') break;
    throw new Error('unbalanced array');
  }
  return `[${items.join(',')}]`;
}

function parseItem(p: Cursor, elem: number, elementOf: ElementOf): string {
  const c = p.s[p.i];
  if (c === '{') return parseArray(p, elem, elementOf);
  if (c === '"') {
    p.i++;
    let value = '';
    for (;;) {
      if (p.i >= p.s.length) throw new Error('unbalanced quoted string');
      const ch = p.s[p.i++]!;
      if (ch === '"') break;
      if (ch === '\\') {
        if (p.i >= p.s.length) throw new Error('unbalanced quoted string');
        value += p.s[p.i++];
      } else {
        value += ch;
      }
    }
    return pgTextToJson(value, elem, elementOf);
  }
  let end = p.i;
  while (end < p.s.length && p.s[end] !== ',' && p.s[end] !== '}') end++;
  if (end >= p.s.length) throw new Error('unbalanced array');
  const item = p.s.slice(p.i, end).trimEnd();
  p.i = end;
  return item === 'NULL' ? 'null' : pgTextToJson(item, elem, elementOf);
}
