// Values through the unmodified @aws-sdk/client-rds-data against the local endpoint, with pg direct
// on the same PostgreSQL as the oracle. Each corpus entry names the one documented Data API
// rendering allowed for it; everything else must be exactly what PostgreSQL says.
import {
  BadRequestException,
  DatabaseErrorException,
  ExecuteStatementCommand,
  type ExecuteStatementCommandInput,
  type Field,
  RDSDataClient,
  type SqlParameter,
  UnsupportedResultException,
} from '@aws-sdk/client-rds-data';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type DataApiEndpoint, startDataApiEndpoint } from '../src/index.js';

const SCHEMA = `dataapi_types_${process.pid}`;

let endpoint: DataApiEndpoint;
let lenient: DataApiEndpoint;
let client: RDSDataClient;
let lenientClient: RDSDataClient;
let direct: pg.Client;

beforeAll(async () => {
  const url = inject('databaseUrl');
  direct = new pg.Client({ connectionString: url });
  await direct.connect();
  await direct.query("set timezone = 'UTC'");
  await direct.query(`drop schema if exists ${SCHEMA} cascade; create schema ${SCHEMA}`);
  await direct.query(`create type ${SCHEMA}.mood as enum ('sad', 'ok', 'happy')`);
  endpoint = await startDataApiEndpoint({ upstream: url });
  lenient = await startDataApiEndpoint({ upstream: url, strict: false });
  client = new RDSDataClient(endpoint.clientConfig);
  lenientClient = new RDSDataClient(lenient.clientConfig);
});

afterAll(async () => {
  client?.destroy();
  lenientClient?.destroy();
  await endpoint?.close();
  await lenient?.close();
  await direct?.query(`drop schema if exists ${SCHEMA} cascade`);
  await direct?.end();
});

function exec(
  input: Omit<ExecuteStatementCommandInput, 'resourceArn' | 'secretArn'>,
  on: 'strict' | 'lenient' = 'strict',
) {
  const e = on === 'strict' ? endpoint : lenient;
  const c = on === 'strict' ? client : lenientClient;
  return c.send(new ExecuteStatementCommand({ resourceArn: e.resourceArn, secretArn: e.secretArn, ...input }));
}

const RAW_TEXT = { getTypeParser: () => (text: string) => text };

/** PostgreSQL's own text output for an expression, in a UTC session like the endpoint's (the oracle). */
async function pgText(expr: string): Promise<string | null> {
  const res = await direct.query({ text: `select ${expr} as v`, rowMode: 'array', types: RAW_TEXT });
  return res.rows[0]![0];
}

/** The elements of an array expression as PostgreSQL prints each of them (the oracle for arrays). */
async function pgElements(expr: string): Promise<(string | null)[]> {
  const res = await direct.query({
    text: `select array(select x::text from unnest(${expr}) with ordinality u(x, i) order by i) as v`,
    rowMode: 'array',
  });
  return res.rows[0]![0];
}

/** PostgreSQL timestamptz text (`2024-01-02 01:04:05.5+00`) as an ISO string JavaScript parses. */
const iso = (text: string) => text.replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00');

type Rule = 'bool' | 'long' | 'double' | 'string' | 'json' | 'utc' | 'blob' | 'void';

/** Checks one value against its documented rendering of PostgreSQL's text `text`. */
function expectRendering(rule: Rule, text: string, value: unknown, where: string) {
  switch (rule) {
    case 'bool':
      expect(value, where).toBe(text === 'true' || text === 't');
      break;
    case 'long':
      expect(value, where).toBe(Number(text));
      break;
    case 'double':
      expect(Object.is(value, Number(text)) || value === Number(text), `${where}: ${value} vs ${text}`).toBe(true);
      break;
    case 'string':
    case 'void':
      expect(value, where).toBe(text);
      break;
    case 'json':
      expect(value, where).toBe(text);
      expect(JSON.parse(value as string)).toEqual(JSON.parse(text));
      break;
    case 'utc':
      // The documented rendering: the same instant, in UTC, without an offset, digits kept.
      expect(value, where).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,6})?$/);
      expect(Date.parse(`${(value as string).replace(' ', 'T')}Z`), where).toBe(Date.parse(iso(text)));
      expect((value as string).split('.')[1], where).toBe(/\.(\d+)/.exec(text)?.[1]);
      break;
    case 'blob':
      expect(Buffer.from(value as Uint8Array).toString('hex'), where).toBe(text.slice(2));
      break;
  }
}

function scalarOf(field: Field, rule: Rule): unknown {
  switch (rule) {
    case 'bool':
      return field.booleanValue;
    case 'long':
      return field.longValue;
    case 'double':
      return field.doubleValue;
    case 'blob':
      return field.blobValue;
    default:
      return field.stringValue;
  }
}

const SCALARS: Array<[expr: string, rule: Rule]> = [
  ['true', 'bool'],
  ['false', 'bool'],
  ['32767::int2', 'long'],
  ['(-2147483648)::int4', 'long'],
  ['9007199254740991::int8', 'long'],
  ['-42::int8', 'long'],
  ['1.5::float4', 'double'],
  ['0.1::float4', 'double'],
  ['-1.25e300::float8', 'double'],
  ['5e-324::float8', 'double'],
  ["'NaN'::float8", 'double'],
  ["'Infinity'::float8", 'double'],
  ["'-Infinity'::float4", 'double'],
  ['12.50::numeric', 'string'],
  ['-0.000001::numeric(20,10)', 'string'],
  ['123456789012345678901234567890.123456789::numeric', 'string'],
  ["'NaN'::numeric", 'string'],
  ["'hello, wörld ✓'::text", 'string'],
  ["E'tab\\there\\nnewline'::text", 'string'],
  ["'x'::varchar(3)", 'string'],
  ["'ab'::char(4)", 'string'],
  ["'pg_class'::name", 'string'],
  ["'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid", 'string'],
  [`'{"a": [1, 2.5, "x"], "b": null}'::jsonb`, 'json'],
  [`'{"b":1,  "a":2}'::json`, 'json'],
  ["'2024-02-29'::date", 'string'],
  ["'0001-01-01 BC'::date", 'string'],
  ["'13:14:15.5'::time", 'string'],
  ["'2024-01-02 03:04:05.123456'::timestamp", 'string'],
  ["'2024-01-02 03:04:05'::timestamp", 'string'],
  ["'2024-01-02 03:04:05.5+02'::timestamptz", 'utc'],
  ["'1999-12-31 23:59:59.000001-08'::timestamptz", 'utc'],
  ["'2024-07-01 00:00:00+00'::timestamptz", 'utc'],
  ["'\\x00ff10'::bytea", 'blob'],
  ["''::bytea", 'blob'],
  ["'192.168.0.1/24'::inet", 'string'],
  ["'10.0.0.0/8'::cidr", 'string'],
  [`'happy'::${SCHEMA}.mood`, 'string'],
  ['pg_sleep(0)', 'void'],
];

const ARRAYS: Array<[expr: string, list: keyof NonNullable<Field['arrayValue']>, rule: Rule]> = [
  ['array[1, 2, null]::int4[]', 'longValues', 'long'],
  ['array[9007199254740991, -1]::int8[]', 'longValues', 'long'],
  ["'{}'::int2[]", 'longValues', 'long'],
  ['array[1.5, null, -2.25e10]::float8[]', 'doubleValues', 'double'],
  ['array[0.5]::float4[]', 'doubleValues', 'double'],
  ['array[true, false, null]', 'booleanValues', 'bool'],
  [`array['a', 'b c', 'd"e', 'f\\g', '', null, 'NULL']::text[]`, 'stringValues', 'string'],
  ['array[1.10, 2]::numeric[]', 'stringValues', 'string'],
  [`array['x', 'y']::varchar[]`, 'stringValues', 'string'],
  [`array['2024-01-01', '1999-12-31']::date[]`, 'stringValues', 'string'],
  [`array['2024-01-02 03:04:05.25']::timestamp[]`, 'stringValues', 'string'],
  [`array['2024-01-02 03:04:05.25+05:30', '2000-01-01 00:00:00+00']::timestamptz[]`, 'stringValues', 'utc'],
  [`array['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11']::uuid[]`, 'stringValues', 'string'],
  [`array['{"a":1}']::json[]`, 'stringValues', 'json'],
  [`array['sad', 'ok']::${SCHEMA}.mood[]`, 'stringValues', 'string'],
  ["'[0:1]={7,8}'::int4[]", 'longValues', 'long'],
];

describe('result values, compared with pg direct', () => {
  it.each(SCALARS)('%s', async (expr, rule) => {
    const text = await pgText(expr);
    const { records } = await exec({ sql: `select ${expr} as v` });
    expect(records).toHaveLength(1);
    const field = records![0]![0]!;
    expect(Object.keys(field), `one Field member for ${expr}`).toHaveLength(1);
    expectRendering(rule, text!, scalarOf(field, rule), expr);
  });

  it.each(ARRAYS)('%s', async (expr, list, rule) => {
    const elements = await pgElements(expr);
    const { records } = await exec({ sql: `select ${expr} as v` });
    const array = records![0]![0]!.arrayValue!;
    expect(Object.keys(array)).toEqual([list]);
    const values = array[list] as unknown[];
    expect(values).toHaveLength(elements.length);
    elements.forEach((text, i) => {
      if (text === null) expect(values[i], `${expr}[${i}]`).toBeNull();
      else expectRendering(rule, text, values[i], `${expr}[${i}]`);
    });
  });

  it('renders NULL of any type as isNull', async () => {
    const { records } = await exec({
      sql: 'select null::int4, null::text, null::timestamptz, null::bytea, null::int[]',
    });
    expect(records![0]).toEqual(Array(5).fill({ isNull: true }));
  });

  it('returns one record per row, in order', async () => {
    const { records } = await exec({ sql: 'select g, g * 2 from generate_series(1, 5) g' });
    expect(records!.map((r) => r.map((f) => f.longValue))).toEqual([
      [1, 2],
      [2, 4],
      [3, 6],
      [4, 8],
      [5, 10],
    ]);
    const empty = await exec({ sql: 'select 1 where false' });
    expect(empty.records).toEqual([]);
  });

  it('keeps timestamptz in UTC even when the statement changes the session time zone', async () => {
    const res = await exec({
      sql: `select '2024-01-02 03:04:05+00'::timestamptz at time zone 'UTC' as plain,
                   set_config('TimeZone', 'America/New_York', true) as tz,
                   '2024-06-01 12:00:00+00'::timestamptz as ts`,
    });
    expect(res.records![0]![2]!.stringValue).toBe('2024-06-01 12:00:00');
  });

  it('hands int8 beyond 2^53 to the SDK as written, and as text with longReturnType STRING', async () => {
    const sql = 'select 9223372036854775807::int8 as big, 12::int4 as small';
    const asLong = await exec({ sql });
    // The SDK parses JSON numbers into doubles: the nearest double, as with the real service.
    expect(asLong.records![0]![0]!.longValue).toBe(Number(9223372036854775807n));
    const asString = await exec({ sql, resultSetOptions: { longReturnType: 'STRING' } });
    expect(asString.records![0]).toEqual([{ stringValue: '9223372036854775807' }, { stringValue: '12' }]);
  });

  it('returns numeric as a string by default and as a long or double with DOUBLE_OR_LONG', async () => {
    const sql = 'select 12.50::numeric, 42::numeric, 99999999999999999999::numeric, array[1.5, 2]::numeric[]';
    const asString = await exec({ sql });
    expect(asString.records![0]!.slice(0, 3)).toEqual([
      { stringValue: '12.50' },
      { stringValue: '42' },
      { stringValue: '99999999999999999999' },
    ]);
    const asNumber = await exec({ sql, resultSetOptions: { decimalReturnType: 'DOUBLE_OR_LONG' } });
    expect(asNumber.records![0]).toEqual([
      { doubleValue: 12.5 },
      { longValue: 42 },
      { doubleValue: 1e20 },
      { arrayValue: { doubleValues: [1.5, 2] } },
    ]);
  });

  it('refuses types AWS does not return, naming them as AWS does', async () => {
    const refused: Array<[string, string]> = [
      ["'1 day'::interval", 'INTERVAL'],
      ["'17:08:20+02'::timetz", 'TIMETZ'],
      ['\'a\'::"char"', '"CHAR"'],
      ["'pg_class'::regclass", 'regclass'],
      ['12.5::money', 'MONEY'],
      ["'(1,2)'::point", 'POINT'],
      ["array['1 day']::interval[]", '_INTERVAL'],
      ["array['\\x00']::bytea[]", '_BYTEA'],
    ];
    for (const [expr, name] of refused) {
      const err = await exec({ sql: `select 1 as id, ${expr} as v` }).catch((e: unknown) => e);
      expect(err, expr).toBeInstanceOf(UnsupportedResultException);
      expect((err as Error).message).toBe(`The result contains the unsupported data type ${name}.`);
      // Even with no rows: the column type decides.
      await expect(exec({ sql: `select ${expr} as v where false` })).rejects.toBeInstanceOf(UnsupportedResultException);
    }
  });

  it('refuses multi-dimensional arrays', async () => {
    const err = await exec({ sql: 'select array[[1, 2], [3, 4]] as m' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnsupportedResultException);
    expect((err as Error).message).toMatch(/multidimensional array/);
  });

  it('lenient: returns unsupported types as text and nested arrays as arrayValues', async () => {
    const { records } = await exec(
      { sql: "select '1 day 02:00'::interval, array[[1, 2], [3, null]]::int[], 'infinity'::timestamptz" },
      'lenient',
    );
    expect(records![0]![0]).toEqual({ stringValue: await pgText("'1 day 02:00'::interval") });
    expect(records![0]![1]).toEqual({
      arrayValue: { arrayValues: [{ longValues: [1, 2] }, { longValues: [3, null] }] },
    });
    expect(records![0]![2]).toEqual({ stringValue: 'infinity' });
  });
});

describe('columnMetadata', () => {
  beforeAll(async () => {
    await direct.query(`create table ${SCHEMA}.meta (
      id serial primary key,
      big bigint generated always as identity,
      name varchar(20) not null,
      price numeric(10, 2),
      tags text[],
      at timestamptz,
      raw bytea,
      happy boolean
    )`);
  });

  it('is present only with includeResultMetadata, with every key the SDK models', async () => {
    const without = await exec({ sql: `select * from ${SCHEMA}.meta` });
    expect(without.columnMetadata).toBeUndefined();
    const res = await exec({
      sql: `select id, big, name, price, tags, at, raw, happy, 1 + 1 as two from ${SCHEMA}.meta`,
      includeResultMetadata: true,
    });
    const keys = [
      'name',
      'type',
      'typeName',
      'label',
      'schemaName',
      'tableName',
      'isAutoIncrement',
      'isSigned',
      'isCurrency',
      'isCaseSensitive',
      'nullable',
      'precision',
      'scale',
      'arrayBaseColumnType',
    ];
    for (const column of res.columnMetadata!) expect(Object.keys(column).sort()).toEqual([...keys].sort());
    const by = Object.fromEntries(res.columnMetadata!.map((c) => [c.name, c]));
    expect(by.id).toMatchObject({ type: 4, typeName: 'serial', isAutoIncrement: true, nullable: 0, isSigned: true });
    expect(by.id).toMatchObject({ tableName: 'meta', schemaName: '', label: 'id', precision: 10 });
    expect(by.big).toMatchObject({ type: -5, typeName: 'bigserial', isAutoIncrement: true });
    expect(by.name).toMatchObject({ type: 12, typeName: 'varchar', precision: 20, nullable: 0, isCaseSensitive: true });
    expect(by.price).toMatchObject({ type: 2, typeName: 'numeric', precision: 10, scale: 2, nullable: 1 });
    expect(by.tags).toMatchObject({ type: 2003, typeName: '_text', arrayBaseColumnType: 12 });
    expect(by.at).toMatchObject({ type: 93, typeName: 'timestamptz', isCaseSensitive: false });
    expect(by.raw).toMatchObject({ type: -2, typeName: 'bytea' });
    expect(by.happy).toMatchObject({ type: -7, typeName: 'bool', isSigned: false });
    expect(by.two).toMatchObject({ type: 4, typeName: 'int4', tableName: '', isAutoIncrement: false });
  });

  it('gives drizzle the column names it maps rows with, duplicates included', async () => {
    const res = await exec({ sql: 'select 1 as a, 2 as a, 3 as "Mixed Case"', includeResultMetadata: true });
    expect(res.columnMetadata!.map((c) => c.name)).toEqual(['a', 'a', 'Mixed Case']);
    expect(res.records![0]!.map((f) => f.longValue)).toEqual([1, 2, 3]);
  });
});

describe('formatRecordsAs JSON', () => {
  it('returns formattedRecords as a string and no records or metadata', async () => {
    const res = await exec({
      sql: `select 17 as a, 10::float8 as f, 1e-7::float8 as tiny, 12.50::numeric as n, 'x"y' as s, true as b,
                   null::int as nothing, '\\x68656c6c6f20776f726c64'::bytea as blob, array[1, 2] as arr,
                   '2024-01-02 03:04:05+01'::timestamptz as ts, 9223372036854775807::int8 as big`,
      formatRecordsAs: 'JSON',
      includeResultMetadata: true,
    });
    expect(typeof res.formattedRecords).toBe('string');
    expect(res.records).toBeUndefined();
    expect(res.columnMetadata).toBeUndefined();
    // Java writes doubles as 10.0 and 1.0E-7; the rest is plain JSON.
    expect(res.formattedRecords).toContain('"f":10.0,"tiny":1.0E-7,');
    expect(res.formattedRecords).toContain('"big":9223372036854775807}');
    expect(JSON.parse(res.formattedRecords!)).toEqual([
      {
        a: 17,
        f: 10,
        tiny: 1e-7,
        n: '12.50',
        s: 'x"y',
        b: true,
        nothing: null,
        blob: 'aGVsbG8gd29ybGQ=',
        arr: [1, 2],
        ts: '2024-01-02 02:04:05',
        big: Number(9223372036854775807n),
      },
    ]);
  });

  it('follows resultSetOptions', async () => {
    const res = await exec({
      sql: 'select 12.50::numeric as n, 7::int8 as l',
      formatRecordsAs: 'JSON',
      resultSetOptions: { decimalReturnType: 'DOUBLE_OR_LONG', longReturnType: 'STRING' },
    });
    expect(JSON.parse(res.formattedRecords!)).toEqual([{ n: 12.5, l: '7' }]);
  });

  it('refuses duplicate column names, which JSON cannot hold', async () => {
    await expect(exec({ sql: 'select 1 as a, 2 as a', formatRecordsAs: 'JSON' })).rejects.toBeInstanceOf(
      BadRequestException,
    );
  });
});

describe('parameters', () => {
  async function roundTrip(param: Omit<SqlParameter, 'name'>, on: 'strict' | 'lenient' = 'strict') {
    const res = await exec(
      { sql: 'select :p as v, pg_typeof(:p)::text as t', parameters: [{ name: 'p', ...param }] },
      on,
    );
    return { value: res.records![0]![0]!, type: res.records![0]![1]!.stringValue };
  }

  it('binds every Field kind with the type AWS gives it', async () => {
    expect(await roundTrip({ value: { longValue: 9007199254740991 } })).toEqual({
      value: { longValue: 9007199254740991 },
      type: 'bigint',
    });
    expect(await roundTrip({ value: { longValue: -5 } })).toEqual({ value: { longValue: -5 }, type: 'bigint' });
    expect(await roundTrip({ value: { doubleValue: 1.25 } })).toEqual({
      value: { doubleValue: 1.25 },
      type: 'double precision',
    });
    const nan = await roundTrip({ value: { doubleValue: Number.NaN } });
    expect(Number.isNaN(nan.value.doubleValue)).toBe(true);
    expect(await roundTrip({ value: { booleanValue: true } })).toEqual({
      value: { booleanValue: true },
      type: 'boolean',
    });
    expect(await roundTrip({ value: { stringValue: 'héllo' } })).toEqual({
      value: { stringValue: 'héllo' },
      type: 'text',
    });
    const bytes = new Uint8Array([0, 1, 254, 255]);
    const blob = await roundTrip({ value: { blobValue: bytes } });
    expect(blob.type).toBe('bytea');
    expect(Buffer.from(blob.value.blobValue!).equals(Buffer.from(bytes))).toBe(true);
    const nullParam = await exec({ sql: 'select :p::int4 as v', parameters: [{ name: 'p', value: { isNull: true } }] });
    expect(nullParam.records![0]).toEqual([{ isNull: true }]);
  });

  it('binds a hinted string as the hinted type', async () => {
    const cases: Array<[SqlParameter['typeHint'], string, string, Field]> = [
      ['DATE', '2024-02-29', 'date', { stringValue: '2024-02-29' }],
      ['TIME', '13:14:15.5', 'time without time zone', { stringValue: '13:14:15.5' }],
      [
        'TIMESTAMP',
        '2024-01-02 03:04:05.678',
        'timestamp without time zone',
        { stringValue: '2024-01-02 03:04:05.678' },
      ],
      ['DECIMAL', '12.50', 'numeric', { stringValue: '12.50' }],
      ['UUID', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', 'uuid', { stringValue: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11' }],
      ['JSON', '{"a": 1}', 'json', { stringValue: '{"a": 1}' }],
    ];
    for (const [typeHint, stringValue, type, value] of cases) {
      expect(await roundTrip({ value: { stringValue }, typeHint }), typeHint).toEqual({ value, type });
    }
  });

  it('refuses a TIMESTAMP hint in ISO form (T and Z) as AWS does; lenient lets PostgreSQL parse it', async () => {
    const param = { value: { stringValue: '2024-01-02T03:04:05.678Z' }, typeHint: 'TIMESTAMP' as const };
    await expect(roundTrip(param)).rejects.toBeInstanceOf(BadRequestException);
    expect((await roundTrip(param, 'lenient')).value).toEqual({ stringValue: '2024-01-02 03:04:05.678' });
  });

  it('types an unhinted string as text: it fails against uuid, timestamp and enum columns (strict)', async () => {
    await direct.query(`create table ${SCHEMA}.typed (id uuid, at timestamp, m ${SCHEMA}.mood)`);
    const attempts: Array<[string, string]> = [
      [`insert into ${SCHEMA}.typed (id) values (:v)`, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'],
      [`select * from ${SCHEMA}.typed where id = :v`, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'],
      [`insert into ${SCHEMA}.typed (at) values (:v)`, '2024-01-02 03:04:05'],
      [`insert into ${SCHEMA}.typed (m) values (:v)`, 'happy'],
    ];
    for (const [sql, stringValue] of attempts) {
      const err = await exec({ sql, parameters: [{ name: 'v', value: { stringValue } }] }).catch((e: unknown) => e);
      expect(err, sql).toBeInstanceOf(DatabaseErrorException);
      expect((err as Error).message, sql).toMatch(/is of type|operator does not exist/);
      expect((err as Error).message).toMatch(/; SQLState: 42(804|883)$/);
      // The documented lenient switch lets PostgreSQL infer the type instead.
      const ok = await exec({ sql, parameters: [{ name: 'v', value: { stringValue } }] }, 'lenient');
      expect(ok.$metadata.httpStatusCode).toBe(200);
    }
    const rows = await direct.query(`select count(*)::int as n from ${SCHEMA}.typed`);
    expect(rows.rows[0].n).toBe(3);
  });

  it('refuses array parameters (strict) and binds them as arrays (lenient)', async () => {
    const parameters: SqlParameter[] = [{ name: 'a', value: { arrayValue: { longValues: [1, 2, 3] } } }];
    const err = await exec({ sql: 'select :a as a', parameters }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BadRequestException);
    expect((err as Error).message).toBe('Array parameters are not supported.');
    const res = await exec({ sql: 'select :a as a, pg_typeof(:a)::text as t', parameters }, 'lenient');
    expect(res.records![0]).toEqual([{ arrayValue: { longValues: [1, 2, 3] } }, { stringValue: 'bigint[]' }]);
  });

  it('binds by name, whatever the order, and leaves unused parameters alone', async () => {
    const res = await exec({
      sql: "select :b || '-' || :a || '-' || :b as v, ':a' as literal",
      parameters: [
        { name: 'a', value: { stringValue: 'A' } },
        { name: 'b', value: { stringValue: 'B' } },
        { name: 'unused', value: { longValue: 1 } },
      ],
    });
    expect(res.records![0]).toEqual([{ stringValue: 'B-A-B' }, { stringValue: ':a' }]);
  });

  it('reports numberOfRecordsUpdated for writes and 0 for reads and DDL', async () => {
    const ddl = await exec({ sql: `create table ${SCHEMA}.counted (n int)` });
    expect(ddl.numberOfRecordsUpdated).toBe(0);
    expect(ddl.records).toBeUndefined();
    expect(ddl.generatedFields).toEqual([]);
    const insert = await exec({ sql: `insert into ${SCHEMA}.counted select generate_series(1, 3)` });
    expect(insert.numberOfRecordsUpdated).toBe(3);
    const update = await exec({
      sql: `update ${SCHEMA}.counted set n = n + 10 where n > :min`,
      parameters: [{ name: 'min', value: { longValue: 1 } }],
    });
    expect(update.numberOfRecordsUpdated).toBe(2);
    const select = await exec({ sql: `select * from ${SCHEMA}.counted` });
    expect(select.numberOfRecordsUpdated).toBe(0);
    expect(select.records).toHaveLength(3);
  });
});
