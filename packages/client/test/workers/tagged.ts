// JSON that keeps the JS types visible, so a value produced inside workerd can be compared with
// the same value produced in Node: { $date }, { $bigint }, { $bytes } (hex), { $number } (NaN,
// ±Infinity, -0). Class instances (pg's PostgresInterval) become their own fields.
export function tag(v: unknown): unknown {
  if (v instanceof Date) return { $date: Number.isNaN(v.getTime()) ? 'Invalid Date' : v.toISOString() };
  if (typeof v === 'bigint') return { $bigint: v.toString() };
  if (typeof v === 'number' && (!Number.isFinite(v) || Object.is(v, -0))) return { $number: String(v) };
  if (v instanceof Uint8Array) return { $bytes: [...v].map((b) => b.toString(16).padStart(2, '0')).join('') };
  if (Array.isArray(v)) return v.map(tag);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, tag(x)]));
  return v;
}

/** The fields of an error that conformance compares (anypg's DatabaseError or pg's own). */
export function errorFields(err: unknown) {
  const e = err as Record<string, unknown> & Error;
  return {
    class: e?.constructor?.name,
    message: e?.message,
    code: e?.code,
    sqlstate: e?.sqlstate,
    detail: e?.detail,
    constraint: e?.constraint,
    table: e?.table,
    column: e?.column,
    position: e?.position,
  };
}
