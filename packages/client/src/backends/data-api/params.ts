// JavaScript parameter values to the Data API's `SqlParameter`s (`{ name, value: Field, typeHint }`).
//
// node-postgres sends every parameter as text of unknown type and lets the server infer it. The
// Data API cannot: each Field kind has a fixed type (longValue int8, doubleValue float8,
// booleanValue bool, blobValue bytea, stringValue text) unless a typeHint names one of
// DATE, TIME, TIMESTAMP, UUID, JSON, DECIMAL. So a string for a timestamp, uuid, date, json or
// numeric column needs its hint. drizzle knows the column behind each parameter (its query
// `typings`); when the statement carries them, they choose the hint here.
//
// Arrays: the Data API refuses array parameters. An array is sent as the PostgreSQL array literal
// node-postgres would send, which PostgreSQL accepts only where the SQL casts the parameter
// (`:1::int[]`, `cast(:1 as int[])`); anywhere else anypg refuses before sending, saying so.
//
// Messages never contain the values.
import { AnypgError } from '../../errors.js';

/**
 * drizzle's per-parameter typing (`Query.typings`): the column type a parameter is bound to; with
 * anypg's Data API dialect also `cast:<type>` for a type no hint covers (types/typings.ts).
 */
export type Typing = 'json' | 'decimal' | 'time' | 'timestamp' | 'date' | 'uuid' | 'none' | (string & {});

export type TypeHint = 'DATE' | 'DECIMAL' | 'JSON' | 'TIME' | 'TIMESTAMP' | 'UUID';

/** The Field union as the SDK takes it. */
export type FieldInput =
  | { isNull: true }
  | { booleanValue: boolean }
  | { longValue: number }
  | { doubleValue: number }
  | { stringValue: string }
  | { blobValue: Uint8Array };

export interface SqlParameterInput {
  name: string;
  value: FieldInput;
  typeHint?: TypeHint;
}

const HINTS: Record<string, TypeHint> = {
  json: 'JSON',
  decimal: 'DECIMAL',
  time: 'TIME',
  timestamp: 'TIMESTAMP',
  date: 'DATE',
  uuid: 'UUID',
};

const unsupported = (message: string) => new AnypgError('UNSUPPORTED', message);

/**
 * The parameters for one statement. `cast` holds the placeholder numbers the SQL casts explicitly
 * (array literals are accepted only there).
 */
export function toParameters(
  params: readonly unknown[],
  typings: readonly (string | undefined)[] | undefined,
  cast: ReadonlySet<number>,
): SqlParameterInput[] {
  return params.map((value, i) => {
    const n = i + 1;
    const hint = HINTS[typings?.[i] ?? 'none'];
    return { name: String(n), ...toField(value, hint, n, cast.has(n)) };
  });
}

function toField(
  value: unknown,
  hint: TypeHint | undefined,
  n: number,
  cast: boolean,
): { value: FieldInput; typeHint?: TypeHint } {
  if (value === null || value === undefined) return { value: { isNull: true }, ...(hint && { typeHint: hint }) };
  if (typeof value === 'string') return hinted(value, hint, n);
  if (typeof value === 'number') {
    if (hint === 'DECIMAL' && Number.isFinite(value)) return { value: { stringValue: String(value) }, typeHint: hint };
    return Number.isSafeInteger(value) ? { value: { longValue: value } } : { value: { doubleValue: value } };
  }
  if (typeof value === 'boolean') return { value: { booleanValue: value } };
  if (typeof value === 'bigint') {
    // Beyond 2^53 a JSON number loses digits: send it as a decimal, which PostgreSQL casts to int8
    // on assignment and compares with int8 exactly.
    if (value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)) {
      return { value: { longValue: Number(value) } };
    }
    return { value: { stringValue: value.toString() }, typeHint: 'DECIMAL' };
  }
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw unsupported(`Parameter $${n} is an invalid Date.`);
    if (hint === 'DATE') return { value: { stringValue: value.toISOString().slice(0, 10) }, typeHint: 'DATE' };
    // The Data API's TIMESTAMP format has no offset: UTC wall-clock time (the Data API's sessions
    // run in UTC, so a timestamptz column receives the right instant).
    return { value: { stringValue: value.toISOString().replace('T', ' ').replace('Z', '') }, typeHint: 'TIMESTAMP' };
  }
  if (value instanceof Uint8Array) return { value: { blobValue: value } };
  if (Array.isArray(value)) {
    if (!cast) {
      throw unsupported(
        `Parameter $${n} is an array, and the Data API does not accept array parameters. Cast it in the SQL (sql\`... \${sql.param(list)}::int[]\`, or cast(... as int[])): anypg then sends it as a PostgreSQL array literal. For IN lists, pass the elements separately (inArray()).`,
      );
    }
    return { value: { stringValue: arrayLiteral(value) } };
  }
  if (typeof value === 'object') {
    const toPostgres = (value as { toPostgres?: (prepare: (v: unknown) => unknown) => unknown }).toPostgres;
    if (typeof toPostgres === 'function') return toField(toPostgres.call(value, prepareValue), hint, n, cast);
    return { value: { stringValue: JSON.stringify(value) }, typeHint: 'JSON' };
  }
  throw unsupported(`Parameter $${n} is a ${typeof value}, which cannot be sent to PostgreSQL.`);
}

/** A string with the hint its column needs, in the format the Data API requires for that hint. */
function hinted(value: string, hint: TypeHint | undefined, n: number): { value: FieldInput; typeHint?: TypeHint } {
  switch (hint) {
    case undefined:
      return { value: { stringValue: value } };
    case 'TIMESTAMP': {
      const text = timestampText(value);
      if (text === undefined) {
        throw unsupported(
          `Parameter $${n} (a timestamp) is not in a form the Data API accepts: use YYYY-MM-DD HH:MM:SS[.ffffff], optionally with T, Z or an offset (infinity and BC dates cannot be sent).`,
        );
      }
      return { value: { stringValue: text }, typeHint: hint };
    }
    case 'DATE': {
      const m = /^(\d{4,})-(\d{1,2})-(\d{1,2})(?:[T ].*)?$/.exec(value);
      if (!m) {
        throw unsupported(
          `Parameter $${n} (a date) is not in a form the Data API accepts: use YYYY-MM-DD (infinity and BC dates cannot be sent).`,
        );
      }
      return { value: { stringValue: `${m[1]}-${m[2]!.padStart(2, '0')}-${m[3]!.padStart(2, '0')}` }, typeHint: hint };
    }
    case 'TIME': {
      const m = /^(\d{1,2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?$/.exec(value);
      // A time with an offset (timetz) has no hint: it goes as text.
      if (!m) return { value: { stringValue: value } };
      return { value: { stringValue: `${m[1]}:${m[2]}:${m[3] ?? '00'}${m[4] ?? ''}` }, typeHint: hint };
    }
    case 'DECIMAL':
      if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(value.trim())) {
        return { value: { stringValue: value.trim() }, typeHint: hint };
      }
      // NaN and the infinities have no DECIMAL form; a double assigns to numeric exactly for them.
      if (/^[+-]?(nan|infinity|inf)$/i.test(value.trim())) return { value: { doubleValue: Number(value.trim()) } };
      throw unsupported(`Parameter $${n} (a numeric) is not a decimal number.`);
    default:
      return { value: { stringValue: value }, typeHint: hint };
  }
}

const TIMESTAMP =
  /^(\d{4,})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?)?\s*(Z|[+-]\d{1,2}(?::?\d{2})?(?::?\d{2})?)?$/i;

/**
 * A timestamp string as the Data API's TIMESTAMP hint takes it: `YYYY-MM-DD HH:MM:SS[.fff]`, in UTC
 * when the input had an offset (the fraction is kept digit for digit).
 */
export function timestampText(value: string): string | undefined {
  const m = TIMESTAMP.exec(value.trim());
  if (!m) return undefined;
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '', zone] = m;
  const pad = (v: string | number, w = 2) => String(v).padStart(w, '0');
  if (!zone) return `${y}-${pad(mo!)}-${pad(d!)} ${pad(h)}:${pad(mi)}:${pad(s)}${frac}`;
  let offsetSeconds = 0;
  if (zone.toUpperCase() !== 'Z') {
    const digits = zone.slice(1).replaceAll(':', '');
    const oh = Number(digits.length % 2 === 1 ? digits.slice(0, 1) : digits.slice(0, 2));
    const rest = digits.length % 2 === 1 ? digits.slice(1) : digits.slice(2);
    offsetSeconds =
      (zone[0] === '-' ? -1 : 1) * (oh * 3600 + Number(rest.slice(0, 2) || 0) * 60 + Number(rest.slice(2, 4) || 0));
  }
  const t = new Date(0);
  t.setUTCFullYear(Number(y), Number(mo) - 1, Number(d));
  t.setUTCHours(Number(h), Number(mi), Number(s) - offsetSeconds, 0);
  return (
    `${pad(t.getUTCFullYear(), 4)}-${pad(t.getUTCMonth() + 1)}-${pad(t.getUTCDate())} ` +
    `${pad(t.getUTCHours())}:${pad(t.getUTCMinutes())}:${pad(t.getUTCSeconds())}${frac}`
  );
}

// ---------------------------------------------------------------- array literals, as pg builds them

/** A value as node-postgres turns it into text (for array elements). */
function prepareValue(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (value instanceof Uint8Array) return `\\x${Buffer.from(value).toString('hex')}`;
  if (value instanceof Date) return localTimestamp(value);
  if (Array.isArray(value)) return arrayLiteral(value);
  if (typeof value === 'object') {
    const toPostgres = (value as { toPostgres?: (prepare: (v: unknown) => unknown) => unknown }).toPostgres;
    if (typeof toPostgres === 'function') return prepareValue(toPostgres.call(value, prepareValue));
    return JSON.stringify(value);
  }
  return String(value);
}

/** `{1,NULL,"a \"b\""}`: every element quoted and escaped, as node-postgres writes it. */
export function arrayLiteral(values: readonly unknown[]): string {
  const items = values.map((v) => {
    if (v === null || v === undefined) return 'NULL';
    if (Array.isArray(v)) return arrayLiteral(v);
    if (v instanceof Uint8Array) return `"\\\\x${Buffer.from(v).toString('hex')}"`;
    const text = String(prepareValue(v));
    return `"${text.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
  });
  return `{${items.join(',')}}`;
}

/** A Date as node-postgres writes it: local time with the offset. */
function localTimestamp(date: Date): string {
  const pad = (v: number, w = 2) => String(Math.abs(v)).padStart(w, '0');
  const offset = -date.getTimezoneOffset();
  const year = date.getFullYear();
  const bc = year < 1;
  return (
    `${pad(bc ? 1 - year : year, 4)}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}` +
    `${offset < 0 ? '-' : '+'}${pad(Math.floor(Math.abs(offset) / 60))}:${pad(Math.abs(offset) % 60)}${bc ? ' BC' : ''}`
  );
}
