// Values both ways between the Data API's `Field` union and PostgreSQL's text format.
//
// Parameters: each Field kind is bound with a definite type, as AWS binds them (longValue int8,
// doubleValue float8, booleanValue bool, blobValue bytea, stringValue text, or the type its typeHint
// names), so an unhinted string compared with a uuid, timestamp or enum column fails as it does on AWS.
// The lenient switch binds unhinted strings as `unknown` (OID 0) so PostgreSQL infers the type.
//
// Results: PostgreSQL's text output, reshaped as AWS renders it (timestamptz in UTC without an
// offset, numeric as a string, bytea as base64, 1-D arrays as arrayValue).
import { badRequest, DataApiError } from './errors.js';
import { JsonNumber, rawJson } from './json.js';
import type { TypeInfo } from './types.js';

// ---------------------------------------------------------------- parameters

export type TypeHint = 'DATE' | 'DECIMAL' | 'JSON' | 'TIME' | 'TIMESTAMP' | 'UUID';

const HINT_TYPES: Record<TypeHint, number> = {
  DATE: 1082,
  DECIMAL: 1700,
  JSON: 114,
  TIME: 1083,
  TIMESTAMP: 1114,
  UUID: 2950,
};

// The formats AWS documents for hinted strings (Java's Date/Time/Timestamp.valueOf and BigDecimal):
// an ISO `2024-01-02T03:04:05Z` is refused for TIMESTAMP, as on AWS.
const HINT_FORMATS: Partial<Record<TypeHint, { pattern: RegExp; expected: string }>> = {
  DATE: { pattern: /^\d{4}-\d{1,2}-\d{1,2}$/, expected: 'YYYY-MM-DD' },
  TIME: { pattern: /^\d{1,2}:\d{2}:\d{2}(\.\d{1,9})?$/, expected: 'HH:MM:SS[.FFF]' },
  TIMESTAMP: {
    pattern: /^\d{4}-\d{1,2}-\d{1,2} \d{1,2}:\d{2}:\d{2}(\.\d{1,9})?$/,
    expected: 'YYYY-MM-DD HH:MM:SS[.FFF]',
  },
  DECIMAL: { pattern: /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/, expected: 'a decimal number such as 12.50' },
};

const OID = { bool: 16, bytea: 17, int8: 20, text: 25, float8: 701, unknown: 0 } as const;
const ARRAY_OID = { bool: 1000, int8: 1016, text: 1009, float8: 1022 } as const;

export interface BoundParameter {
  /** Text (or bytes, for bytea) sent to PostgreSQL; null is SQL NULL. */
  value: string | Buffer | null;
  /** The parameter's type OID in the Parse message (0: let the server infer it). */
  type: number;
}

type Json = unknown;

/** One `SqlParameter` (`{ name, value: Field, typeHint? }`) to a bound value and type. */
export function bindParameter(param: Json, strict: boolean): { name: string; bound: BoundParameter } {
  if (!isObject(param) || typeof param.name !== 'string' || param.name === '') {
    throw badRequest('Each parameter needs a name and a value.');
  }
  const name = param.name;
  const field = param.value;
  const hint = param.typeHint;
  if (hint !== undefined && !(typeof hint === 'string' && Object.hasOwn(HINT_TYPES, hint))) {
    throw badRequest(
      `Invalid typeHint ${JSON.stringify(hint)} for parameter ${name}: use DATE, DECIMAL, JSON, TIME, TIMESTAMP or UUID.`,
    );
  }
  if (!isObject(field)) throw badRequest(`Parameter ${name} has no value.`);
  const members = Object.keys(field).filter((k) => field[k] !== undefined && field[k] !== null);
  if (members.length !== 1) {
    throw badRequest(`Parameter ${name}: a Field holds exactly one value, got ${members.length}.`);
  }
  const kind = members[0]!;
  const v = field[kind];
  switch (kind) {
    case 'isNull':
      return { name, bound: { value: null, type: hint ? HINT_TYPES[hint as TypeHint] : OID.unknown } };
    case 'booleanValue':
      if (typeof v !== 'boolean') throw badRequest(`Parameter ${name}: booleanValue must be true or false.`);
      return { name, bound: { value: v ? 'true' : 'false', type: OID.bool } };
    case 'longValue':
      return { name, bound: { value: longText(v, name), type: OID.int8 } };
    case 'doubleValue':
      return { name, bound: { value: doubleText(v, name), type: OID.float8 } };
    case 'blobValue':
      if (typeof v !== 'string') throw badRequest(`Parameter ${name}: blobValue must be base64 text.`);
      return { name, bound: { value: Buffer.from(v, 'base64'), type: OID.bytea } };
    case 'stringValue': {
      if (typeof v !== 'string') throw badRequest(`Parameter ${name}: stringValue must be a string.`);
      if (hint) {
        const h = hint as TypeHint;
        const format = HINT_FORMATS[h];
        if (strict && format && !format.pattern.test(v)) {
          throw badRequest(
            `Parameter ${name}: the value of a ${h} typeHint must be in the format ${format.expected}, got ${JSON.stringify(v.slice(0, 40))}.`,
          );
        }
        return { name, bound: { value: v, type: HINT_TYPES[h] } };
      }
      return { name, bound: { value: v, type: strict ? OID.text : OID.unknown } };
    }
    case 'arrayValue':
      if (strict) throw badRequest('Array parameters are not supported.');
      return { name, bound: arrayParameter(v, name) };
    default:
      throw badRequest(`Parameter ${name}: unknown Field member ${JSON.stringify(kind)}.`);
  }
}

function longText(v: unknown, name: string): string {
  const text = v instanceof JsonNumber ? v.source : typeof v === 'number' ? String(v) : undefined;
  if (text === undefined || !/^-?\d+$/.test(text)) throw badRequest(`Parameter ${name}: longValue must be an integer.`);
  const big = BigInt(text);
  if (big > 9223372036854775807n || big < -9223372036854775808n) {
    throw badRequest(`Parameter ${name}: longValue ${text} is outside the 64-bit range.`);
  }
  return text;
}

function doubleText(v: unknown, name: string): string {
  if (v instanceof JsonNumber) return v.source;
  if (typeof v === 'number') return String(v);
  // The SDK sends non-finite doubles as these strings.
  if (v === 'NaN' || v === 'Infinity' || v === '-Infinity') return v;
  throw badRequest(`Parameter ${name}: doubleValue must be a number.`);
}

/** Lenient mode only: an ArrayValue as a PostgreSQL array literal of the matching element type. */
function arrayParameter(v: unknown, name: string): BoundParameter {
  let elementType: keyof typeof ARRAY_OID | undefined;
  const literal = (a: unknown): string => {
    if (!isObject(a)) throw badRequest(`Parameter ${name}: arrayValue must be an object.`);
    const [key, list] = Object.entries(a).find(([, l]) => Array.isArray(l)) ?? [];
    if (!key || !Array.isArray(list)) throw badRequest(`Parameter ${name}: arrayValue holds no list.`);
    const items = list.map((item) => {
      if (item === null || item === undefined) return 'NULL';
      switch (key) {
        case 'arrayValues':
          return literal(item);
        case 'longValues':
          elementType = 'int8';
          return longText(item, name);
        case 'doubleValues':
          elementType = 'float8';
          return doubleText(item, name);
        case 'booleanValues':
          elementType = 'bool';
          return item ? 'true' : 'false';
        case 'stringValues':
          elementType = 'text';
          return `"${String(item).replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
        default:
          throw badRequest(`Parameter ${name}: unknown ArrayValue member ${JSON.stringify(key)}.`);
      }
    });
    return `{${items.join(',')}}`;
  };
  const text = literal(v);
  return { value: text, type: elementType ? ARRAY_OID[elementType] : OID.unknown };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// ---------------------------------------------------------------- results

export interface RenderOptions {
  decimalReturnType: 'STRING' | 'DOUBLE_OR_LONG';
  longReturnType: 'LONG' | 'STRING';
  /** Strict: refuse what AWS refuses (unsupported types, multi-dimensional arrays, infinite dates). */
  strict: boolean;
}

/** A Field as JSON-ready data (numbers that must keep their digits are raw JSON). */
export type Field = Record<string, unknown>;

const unsupported = (type: TypeInfo) =>
  new DataApiError('UnsupportedResultException', `The result contains the unsupported data type ${type.displayName}.`);

const multidimensional = () =>
  new DataApiError('UnsupportedResultException', 'The result contains a multidimensional array.');

/** One column value (PostgreSQL text output, or null) to a Field. */
export function toField(text: string | null, type: TypeInfo, o: RenderOptions): Field {
  if (text === null) return { isNull: true };
  switch (type.kind) {
    case 'bool':
      return { booleanValue: text === 't' };
    case 'long':
      return o.longReturnType === 'STRING' ? { stringValue: text } : { longValue: rawJson(text) };
    case 'double':
      return { doubleValue: doubleValue(text) };
    case 'decimal':
      return decimalField(text, o);
    case 'bytea':
      return { blobValue: byteaToBuffer(text).toString('base64') };
    case 'bit':
      return text.length === 1 ? { booleanValue: text === '1' } : { stringValue: text };
    case 'date':
    case 'timestamp':
      return { stringValue: finiteDate(text, o) };
    case 'timestamptz':
      return { stringValue: timestamptzToUtc(finiteDate(text, o)) };
    case 'array':
      return { arrayValue: arrayValue(parseArrayLiteral(text), type.element!, o) };
    case 'unsupported':
      if (o.strict) throw unsupported(type);
      return { stringValue: text };
    default:
      return { stringValue: text };
  }
}

function decimalField(text: string, o: RenderOptions): Field {
  if (o.decimalReturnType === 'STRING') return { stringValue: text };
  if (/^-?\d+$/.test(text)) {
    const big = BigInt(text);
    if (big <= 9223372036854775807n && big >= -9223372036854775808n) return { longValue: rawJson(text) };
  }
  return { doubleValue: doubleValue(text) };
}

/** JSON has no NaN or Infinity: the SDK reads these strings for non-finite doubles. */
function doubleValue(text: string): number | string {
  if (text === 'NaN' || text === 'Infinity' || text === '-Infinity') return text;
  return Number(text);
}

/** AWS fails a result holding an infinite date or timestamp (an InternalServerErrorException, no message). */
function finiteDate(text: string, o: RenderOptions): string {
  if (o.strict && (text === 'infinity' || text === '-infinity')) {
    throw new DataApiError('InternalServerErrorException', '');
  }
  return text;
}

function arrayValue(items: ArrayItems, element: TypeInfo, o: RenderOptions): Field {
  if (items.some((i) => Array.isArray(i))) {
    if (o.strict) throw multidimensional();
    return { arrayValues: items.map((i) => (Array.isArray(i) ? arrayValue(i, element, o) : null)) };
  }
  const flat = items as (string | null)[];
  const map = <T>(f: (s: string) => T) => flat.map((s) => (s === null ? null : f(s)));
  switch (element.kind) {
    case 'bool':
      return { booleanValues: map((s) => s === 't') };
    case 'bit':
      return { booleanValues: map((s) => s === '1') };
    case 'long':
      return o.longReturnType === 'STRING' ? { stringValues: map((s) => s) } : { longValues: map(rawJson) };
    case 'double':
      return { doubleValues: map(doubleValue) };
    case 'decimal':
      return o.decimalReturnType === 'STRING' ? { stringValues: map((s) => s) } : { doubleValues: map(doubleValue) };
    case 'timestamptz':
      return { stringValues: map((s) => timestamptzToUtc(finiteDate(s, o))) };
    case 'date':
    case 'timestamp':
      return { stringValues: map((s) => finiteDate(s, o)) };
    default:
      return { stringValues: map((s) => s) };
  }
}

/** One value as it appears in `formattedRecords` (JSON text). */
export function toJsonText(text: string | null, type: TypeInfo, o: RenderOptions): string {
  if (text === null) return 'null';
  switch (type.kind) {
    case 'bool':
      return text === 't' ? 'true' : 'false';
    case 'long':
      return o.longReturnType === 'STRING' ? JSON.stringify(text) : text;
    case 'double':
      return javaDouble(text);
    case 'decimal': {
      if (o.decimalReturnType === 'STRING') return JSON.stringify(text);
      const f = decimalField(text, o);
      return 'longValue' in f ? text : javaDouble(text);
    }
    case 'bytea':
      return JSON.stringify(byteaToBuffer(text).toString('base64'));
    case 'bit':
      return text.length === 1 ? (text === '1' ? 'true' : 'false') : JSON.stringify(text);
    case 'date':
    case 'timestamp':
      return JSON.stringify(finiteDate(text, o));
    case 'timestamptz':
      return JSON.stringify(timestamptzToUtc(finiteDate(text, o)));
    case 'array':
      return jsonArray(parseArrayLiteral(text), type.element!, o);
    case 'unsupported':
      if (o.strict) throw unsupported(type);
      return JSON.stringify(text);
    default:
      return JSON.stringify(text);
  }
}

function jsonArray(items: ArrayItems, element: TypeInfo, o: RenderOptions): string {
  if (o.strict && items.some((i) => Array.isArray(i))) throw multidimensional();
  return `[${items.map((i) => (Array.isArray(i) ? jsonArray(i, element, o) : toJsonText(i, element, o))).join(',')}]`;
}

/**
 * A double as Java's Double.toString writes it (the service serialises JSON results with Java):
 * `10.0`, `1.5E-7`, `1.7976931348623157E308`. Non-finite values become strings (JSON has none).
 */
export function javaDouble(text: string): string {
  const x = Number(text);
  if (!Number.isFinite(x))
    return JSON.stringify(text === 'NaN' || Number.isNaN(x) ? 'NaN' : x > 0 ? 'Infinity' : '-Infinity');
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const abs = Math.abs(x);
  if (abs >= 1e-3 && abs < 1e7) {
    const s = String(x);
    return s.includes('.') ? s : `${s}.0`;
  }
  const [mantissa, exponent] = x.toExponential().split('e') as [string, string];
  return `${mantissa.includes('.') ? mantissa : `${mantissa}.0`}E${Number(exponent)}`;
}

// ---------------------------------------------------------------- PostgreSQL text formats

/** `\x68656c6c6f` (hex output) or the older escape format, to bytes. */
export function byteaToBuffer(text: string): Buffer {
  if (text.startsWith('\\x')) return Buffer.from(text.slice(2), 'hex');
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '\\') {
      if (text[i + 1] === '\\') {
        bytes.push(0x5c);
        i++;
      } else {
        bytes.push(Number.parseInt(text.slice(i + 1, i + 4), 8));
        i += 3;
      }
    } else {
      bytes.push(...Buffer.from(text[i]!, 'utf8'));
    }
  }
  return Buffer.from(bytes);
}

const TIMESTAMPTZ =
  /^(\d{4,})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(\.\d+)?([+-])(\d{2})(?::(\d{2}))?(?::(\d{2}))?( BC)?$/;

/**
 * `2024-01-02 04:04:05.5+01` (ISO output in any session time zone) to `2024-01-02 03:04:05.5`: the
 * Data API returns timestamptz in UTC without an offset. Anything else (infinity) is returned as is.
 */
export function timestamptzToUtc(text: string): string {
  const m = TIMESTAMPTZ.exec(text);
  if (!m) return text;
  const [, y, mo, d, h, mi, s, frac = '', sign, oh, om = '0', os = '0', bc = ''] = m;
  const offset = (sign === '-' ? -1 : 1) * (Number(oh) * 3600 + Number(om) * 60 + Number(os));
  if (offset === 0) return `${y}-${mo}-${d} ${h}:${mi}:${s}${frac}${bc}`;
  if (bc) return text; // not worth the calendar arithmetic: sessions run in UTC
  const t = new Date(0);
  t.setUTCFullYear(Number(y), Number(mo) - 1, Number(d));
  t.setUTCHours(Number(h), Number(mi), Number(s) - offset, 0);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return (
    `${pad(t.getUTCFullYear(), 4)}-${pad(t.getUTCMonth() + 1)}-${pad(t.getUTCDate())} ` +
    `${pad(t.getUTCHours())}:${pad(t.getUTCMinutes())}:${pad(t.getUTCSeconds())}${frac}`
  );
}

export type ArrayItems = (string | null | ArrayItems)[];

/** A PostgreSQL array literal (`{1,NULL,"a b"}`, nested, optionally `[0:1]={..}`) to nested lists. */
export function parseArrayLiteral(text: string): ArrayItems {
  let i = 0;
  if (text[0] === '[') {
    const eq = text.indexOf('=');
    if (eq > 0) i = eq + 1; // explicit bounds: the values are what matter here
  }
  const parse = (): ArrayItems => {
    if (text[i] !== '{') throw new Error(`malformed array literal at ${i}`);
    i++;
    const items: ArrayItems = [];
    if (text[i] === '}') {
      i++;
      return items;
    }
    for (;;) {
      if (text[i] === '{') {
        items.push(parse());
      } else if (text[i] === '"') {
        let s = '';
        i++;
        while (i < text.length && text[i] !== '"') {
          if (text[i] === '\\') i++;
          s += text[i];
          i++;
        }
        i++;
        items.push(s);
      } else {
        let j = i;
        while (j < text.length && text[j] !== ',' && text[j] !== '}') j++;
        const raw = text.slice(i, j).trim();
        items.push(raw === 'NULL' ? null : raw);
        i = j;
      }
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] === '}') {
        i++;
        return items;
      }
      throw new Error(`malformed array literal at ${i}`);
    }
  };
  return parse();
}
