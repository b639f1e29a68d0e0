// The differential test: one corpus of PostgreSQL values through `pg` directly (the oracle),
// through the unmodified Neon driver over HTTP (`neon()`) and over WebSocket (`Pool`), all three
// against the same real PostgreSQL. Values must come out identical.
import { neon, neonConfig, Pool } from '@neondatabase/serverless';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import ws from 'ws';
import { type NeonEndpoint, startNeonEndpoint } from '../src/index.js';

const url = inject('databaseUrl');
const S = 'neon_types_t';
let endpoint: NeonEndpoint;
let direct: pg.Client;
let pool: Pool;

// neonConfig is global to the driver: set once for this file (each test file has its own module graph).
beforeAll(async () => {
  endpoint = await startNeonEndpoint({ upstream: url });
  Object.assign(neonConfig, endpoint.neonConfig);
  neonConfig.webSocketConstructor = ws;
  direct = new pg.Client({ connectionString: url });
  await direct.connect();
  await direct.query(`drop schema if exists ${S} cascade; create schema ${S};
    create type ${S}.mood as enum ('sad', 'ok', 'happy');
    create domain ${S}.posint as int check (value > 0)`);
  pool = new Pool({ connectionString: url, max: 2 });
});

afterAll(async () => {
  await pool?.end();
  await direct?.query(`drop schema if exists ${S} cascade`);
  await direct?.end();
  await endpoint?.close();
});

// Every type the issue names, with the edge cases that break naive encoders.
const CORPUS = `select
  1::int2 as i2, (-2147483648)::int4 as i4, 9223372036854775807::int8 as i8, (-9223372036854775807 - 1)::int8 as i8_min,
  '12345678901234567890.000000000123'::numeric as num, 'NaN'::numeric as num_nan, '-0.5e-3'::numeric as num_small,
  1.5::float4 as f4, 'NaN'::float4 as f4_nan, 'Infinity'::float4 as f4_inf, 0.1::float8 as f8,
  'NaN'::float8 as f8_nan, 'Infinity'::float8 as f8_inf, '-Infinity'::float8 as f8_ninf, 1e308::float8 as f8_big, (-0.0)::float8 as f8_negzero,
  true as b_t, false as b_f,
  'héllo wörld 🌍 — ∑ 中文' as t_unicode, '' as t_empty, E'line1\\nline2\\t"q" \\\\ back\\r' as t_esc, 'NULL' as t_nullword,
  '  padded  ' as t_pad, repeat('long ', 200) as t_long, 'x'::char(3) as t_bpchar, 'v'::varchar(5) as t_varchar, 'nm'::name as t_name,
  '0b5c1a5e-8f3e-4c1b-9c7a-2f1e0d9b8a77'::uuid as u,
  '{"a": [1, 2.5, {"b": null}], "c": "ü", "d": "\\u00e9"}'::json as j, '{"z": 1, "a": [true, false], "n": 1e3}'::jsonb as jb,
  '"just a string"'::jsonb as jb_scalar, 'null'::jsonb as jb_null,
  '2024-02-29'::date as d, 'infinity'::date as d_inf, '0044-03-15 BC'::date as d_bc,
  '13:14:15.123456'::time as tm, '24:00:00'::time as tm_24, '13:14:15+05:30'::timetz as tmtz,
  '2024-02-29 13:14:15.123456'::timestamp as ts, '2024-02-29 13:14:15.123+02'::timestamptz as tstz,
  '-infinity'::timestamptz as tstz_ninf, '1970-01-01 00:00:00+00'::timestamptz as tstz_epoch,
  '1 year 2 mons 3 days 04:05:06.789'::interval as iv, '-1 day -00:00:01'::interval as iv_neg, '0'::interval as iv_zero,
  '\\x00ff10'::bytea as by, ''::bytea as by_empty,
  'happy'::${S}.mood as en, 7::${S}.posint as dom,
  '{1,NULL,3}'::int[] as a_int, '{{1,2},{NULL,4}}'::int[] as a_int2d, '{}'::int[] as a_empty,
  '{"a,b",NULL,"\\"q\\"","NULL","",x}'::text[] as a_text, '{{{1.5,NaN}},{{Infinity,-0}}}'::float8[] as a_f8_3d,
  '{t,f,NULL}'::bool[] as a_bool, '{happy,NULL,sad}'::${S}.mood[] as a_enum, '{1,2}'::${S}.posint[] as a_dom,
  array['2024-01-01'::date, null] as a_date, array['2024-01-01 10:00:00+00'::timestamptz, null] as a_tstz,
  array['{"x": 1}'::jsonb, null] as a_jsonb, array['\\x01ff'::bytea, null] as a_bytea,
  '[0:1]={7,8}'::int[] as a_bounds, '{9223372036854775807,NULL}'::int8[] as a_int8, '{1.5,NaN}'::numeric[] as a_num,
  array['0b5c1a5e-8f3e-4c1b-9c7a-2f1e0d9b8a77'::uuid] as a_uuid, array['1 day'::interval] as a_iv,
  null::int as n_int, null::text as n_text, null::jsonb as n_jsonb, null::int[] as n_arr,
  '127.0.0.1/32'::inet as inet, '10.0.0.0/8'::cidr as cidr, '08:00:2b:01:02:03'::macaddr as mac,
  42::oid as oid, 'x'::"char" as ch, '(1,2)'::point as pt, '1.5'::money as money, 'a & b'::tsquery as tsq,
  '<a>x</a>'::xml as x`;

/** A structural copy that keeps what equality must see: class names, dates, bytes, NaN. */
function normalize(v: unknown): unknown {
  if (v === null || v === undefined || typeof v !== 'object') return v;
  if (v instanceof Date) return { date: Number.isNaN(v.getTime()) ? 'invalid' : v.toISOString() };
  // The driver bundles its own Buffer class: compare bytes, not prototypes.
  if (ArrayBuffer.isView(v)) return { bytes: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex') };
  if (Array.isArray(v)) return v.map(normalize);
  const out: Record<string, unknown> = { __class: v.constructor?.name ?? 'null-prototype' };
  for (const [k, x] of Object.entries(v)) out[k] = normalize(x);
  return out;
}

const rows = (r: { rows: unknown[] }) => normalize(r.rows);

describe('type corpus: pg direct = neon() over HTTP = Pool over WebSocket', () => {
  it('returns identical values for every type, as objects', async () => {
    const expected = rows(await direct.query(CORPUS));
    const sql = neon(url);
    const http = normalize(await sql.query(CORPUS));
    const wsRows = rows(await pool.query(CORPUS));
    expect(http).toEqual(expected);
    expect(wsRows).toEqual(expected);
    // Spot checks that the oracle itself parsed values (a corpus of strings would prove nothing).
    const row = (expected as Record<string, unknown>[])[0]!;
    expect(row.i4).toBe(-2147483648);
    expect(row.b_t).toBe(true);
    expect(row.f8_inf).toBe(Number.POSITIVE_INFINITY);
    expect(row.j).toEqual({ __class: 'Object', a: [1, 2.5, { __class: 'Object', b: null }], c: 'ü', d: 'é' });
    expect(row.a_int2d).toEqual([
      [1, 2],
      [null, 4],
    ]);
    expect(row.a_text).toEqual(['a,b', null, '"q"', 'NULL', '', 'x']);
    expect(row.by).toEqual({ bytes: '00ff10' });
    expect(row.tstz).toEqual({ date: '2024-02-29T11:14:15.123Z' });
  });

  it('returns identical values in arrayMode, and fields equal to pg', async () => {
    const expected = await direct.query({ text: CORPUS, rowMode: 'array' });
    const sql = neon(url, { arrayMode: true, fullResults: true });
    const http = await sql.query(CORPUS);
    expect(http.rowAsArray).toBe(true);
    expect(normalize(http.rows)).toEqual(normalize(expected.rows));
    expect(http.fields.map((f) => ({ ...f }))).toEqual(expected.fields.map((f) => ({ ...f })));
    expect(http.command).toBe('SELECT');
    expect(http.rowCount).toBe(1);
    const wsRes = await pool.query({ text: CORPUS, rowMode: 'array' });
    expect(normalize(wsRes.rows)).toEqual(normalize(expected.rows));
  });

  it('round-trips parameters the way pg does (dates, bigints as strings, arrays, bytes, JSON)', async () => {
    const text = `select $1::int8 as p_i8, $2::timestamptz as p_tstz, $3::int[] as p_arr, $4::bytea as p_by,
      $5::jsonb as p_jb, $6::text as p_t, $7::bool as p_b, $8::numeric as p_num, $9::date as p_d,
      $10::text[] as p_tarr, $11::text as p_null, $12::float8 as p_f, $13::${S}.mood as p_enum, $14::timestamp as p_ts`;
    const values = [
      '9007199254740993',
      new Date('2024-05-06T07:08:09.123Z'),
      [1, null, 3],
      Buffer.from([0, 1, 255]),
      { a: 1, b: [true, null], s: 'ü "q"' },
      'ünïcode "quotes" \\ back',
      true,
      '1.25',
      '2024-01-02',
      ['a,b', null, 'c"d', 'NULL'],
      null,
      -1.5e-7,
      'ok',
      new Date('2024-05-06T07:08:09.123Z'),
    ];
    const expected = rows(await direct.query(text, values));
    const http = normalize(await neon(url).query(text, values));
    const wsRows = rows(await pool.query(text, values));
    expect(http).toEqual(expected);
    expect(wsRows).toEqual(expected);
    const row = (expected as Record<string, unknown>[])[0]!;
    expect(row.p_i8).toBe('9007199254740993');
    expect(row.p_tarr).toEqual(['a,b', null, 'c"d', 'NULL']);
  });

  it('returns many rows and NULL-only rows identically', async () => {
    const text = `select g as n, case when g % 3 = 0 then null else g::text || 'é' end as t,
      case when g % 2 = 0 then array[g, null] end as a from generate_series(1, 500) g`;
    const expected = rows(await direct.query(text));
    expect(normalize(await neon(url).query(text))).toEqual(expected);
    expect(rows(await pool.query(text))).toEqual(expected);
    expect((expected as unknown[]).length).toBe(500);
  });
});
