// Same values: one corpus of column types read through the data-api backend and through pg on the
// same database, with `execute()` (as drizzle's node-postgres driver by default, and with pg's
// default parsing) and with the query builder (drizzle's column mappers), in a process time zone
// other than UTC (Lambda runs in UTC, developers do not).
// Set before anything in this file builds a Date; Node applies a TZ change at once.
process.env.TZ = 'Asia/Kolkata'; // UTC+05:30 all year: no daylight-saving ambiguity

import { type DataApiEndpoint, startDataApiEndpoint } from '@anypg/local';
import { asc, sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import {
  bigint,
  bit,
  boolean,
  char,
  customType,
  date,
  doublePrecision,
  inet,
  integer,
  json,
  jsonb,
  numeric,
  pgEnum,
  pgTable,
  real,
  smallint,
  text,
  time,
  timestamp,
  uuid,
  varchar,
} from 'drizzle-orm/pg-core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AnypgDatabase, AnypgError, createDb } from '../src/node.js';
import { admin, databaseUrl, uniqueName } from './support/db.js';

const table = uniqueName('da_corpus');
const moodName = uniqueName('da_mood');

const bytea = customType<{ data: Buffer; driverData: Buffer }>({ dataType: () => 'bytea' });
const mood = pgEnum(moodName, ['sad', 'ok', 'happy']);
const corpus = pgTable(table, {
  id: integer('id').primaryKey(),
  b: boolean('b'),
  i2: smallint('i2'),
  i4: integer('i4'),
  i8: bigint('i8', { mode: 'bigint' }),
  i8n: bigint('i8n', { mode: 'number' }),
  num: numeric('num', { precision: 40, scale: 10 }),
  f4: real('f4'),
  f8: doublePrecision('f8'),
  t: text('t'),
  vc: varchar('vc', { length: 20 }),
  ch: char('ch', { length: 3 }),
  u: uuid('u'),
  j: json('j'),
  jb: jsonb('jb'),
  d: date('d', { mode: 'date' }),
  ds: date('ds'),
  tm: time('tm'),
  ts: timestamp('ts', { precision: 6 }),
  tss: timestamp('tss', { precision: 6, mode: 'string' }),
  tz: timestamp('tz', { withTimezone: true }),
  tzs: timestamp('tzs', { withTimezone: true, mode: 'string' }),
  by: bytea('by'),
  ip: inet('ip'),
  bit1: bit('bit1', { dimensions: 1 }),
  mood: mood('mood'),
  aI4: integer('a_i4').array(),
  aI8: bigint('a_i8', { mode: 'number' }).array(),
  aT: text('a_t').array(),
  aNum: numeric('a_num').array(),
  aTz: timestamp('a_tz', { withTimezone: true }).array(),
  aTs: timestamp('a_ts').array(),
  aD: date('a_d', { mode: 'date' }).array(),
  aB: boolean('a_b').array(),
  aJb: jsonb('a_jb').array(),
  aU: uuid('a_u').array(),
  aMood: mood('a_mood').array(),
});

const COLUMNS = `id int primary key, b bool, i2 int2, i4 int4, i8 int8, i8n int8, num numeric(40, 10), f4 float4,
  f8 float8, t text, vc varchar(20), ch char(3), u uuid, j json, jb jsonb, d date, ds date, tm time, ts timestamp(6),
  tss timestamp(6), tz timestamptz, tzs timestamptz, by bytea, ip inet, bit1 bit(1), mood ${moodName},
  a_i4 int4[], a_i8 int8[], a_t text[], a_num numeric[], a_tz timestamptz[], a_ts timestamp[], a_d date[],
  a_b bool[], a_jb jsonb[], a_u uuid[], a_mood ${moodName}[]`;

const ROWS = [
  `(1, true, -32768, 2147483647, 9007199254740993, 4503599627370496, 12345678901234567890.0123456789, 1.5, 0.1,
    'it''s "quoted"', 'varchar', 'ab', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2.5, "x"], "b": null}',
    '{"nested": {"k": true}}', '2024-02-29', '2024-02-29', '23:59:59.123456', '2024-03-10 02:30:00.123456',
    '2024-03-10 02:30:00.123456', '2024-06-30 23:59:59.999999+02', '2024-06-30 23:59:59.999999+02', '\\xdeadbeef00',
    '192.168.0.1/24', B'1', 'ok', '{1,NULL,3}', '{9007199254740993,-1}', '{"a,b","c\\"d",NULL,"","NULL"," x"}',
    '{1.5,NULL,2.25}', '{"2024-01-01 00:00:00+00","1999-12-31 23:59:59.5+05:30"}', '{"2024-01-01 10:00:00.25"}',
    '{2024-01-01,1970-01-01}', '{t,f,NULL}', '{"{\\"a\\": 1}","[1, 2]"}',
    '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}', '{sad,happy}')`,
  `(2, false, 0, -1, -9223372036854775808, -1, -0.5, -2.25, 'Infinity', '', 'x', 'abc',
    '00000000-0000-0000-0000-000000000000', '[]', '"text"', '0099-06-15', '1969-07-20', '00:00:00',
    '1969-07-20 20:17:40', '1969-07-20 20:17:40', '1900-01-01 00:00:00+00', '1900-01-01 00:00:00+00', '\\x',
    '::1', B'0', 'sad', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}')`,
  `(3${', NULL'.repeat(36)})`,
];

let endpoint: DataApiEndpoint;
/** executeTypes 'node-postgres' (Date objects from execute()), to compare with pg's own parsing. */
let db: AnypgDatabase;
let oracle: AnypgDatabase;
/** The default executeTypes, and drizzle's node-postgres driver on a UTC session. */
let dbDefault: AnypgDatabase;
let drizzlePool: pg.Pool;

beforeAll(async () => {
  await admin((c) =>
    c.query(
      `create type ${moodName} as enum ('sad', 'ok', 'happy'); create table ${table} (${COLUMNS}); insert into ${table} values ${ROWS.join(', ')}`,
    ),
  );
  endpoint = await startDataApiEndpoint({ upstream: databaseUrl() });
  const dataApi = {
    resourceArn: endpoint.resourceArn,
    secretArn: endpoint.secretArn,
    database: endpoint.database,
    endpoint: endpoint.url,
    region: endpoint.region,
    credentials: endpoint.clientConfig.credentials,
  };
  db = createDb({ env: {}, backend: 'data-api', executeTypes: 'node-postgres', dataApi });
  dbDefault = createDb({ env: {}, backend: 'data-api', dataApi });
  // The oracles' sessions render timestamptz in UTC, as the Data API does (see the accepted
  // difference below for another session time zone).
  const utc = withOptions(databaseUrl(), '-c TimeZone=UTC');
  oracle = createDb({ url: utc, env: {}, backend: 'pg', executeTypes: 'node-postgres' });
  drizzlePool = new pg.Pool({ connectionString: utc, max: 1 });
});

afterAll(async () => {
  await db?.$close();
  await dbDefault?.$close();
  await oracle?.$close();
  await drizzlePool?.end();
  await endpoint?.close();
  await admin((c) => c.query(`drop table if exists ${table}; drop type if exists ${moodName}`));
});

function withOptions(url: string, options: string): string {
  const u = new URL(url);
  u.searchParams.set('options', options);
  return u.toString();
}

/** Columns whose type OID the Data API cannot tell (a user type: the enum and its array). */
const USER_TYPES = new Set(['mood', 'a_mood']);

describe('the same values as pg', () => {
  it('runs in a time zone other than UTC (the comparisons below would be vacuous otherwise)', () => {
    expect(new Date(2024, 0, 1).getTimezoneOffset()).toBe(-330);
  });

  it("execute() by default: every column as drizzle's node-postgres driver gives it", async () => {
    const q = sql.raw(`select * from ${table} order by id`);
    const ours = await dbDefault.execute(q);
    const theirs = (await drizzle(drizzlePool).execute(q)) as unknown as pg.QueryResult;
    expect(ours.rows).toHaveLength(3);
    expect(ours.rows).toEqual(theirs.rows);
    const [first] = ours.rows as Record<string, unknown>[];
    // date, timestamp, timestamptz and their arrays, and numeric[], as PostgreSQL prints them.
    expect(first!.tz).toBe('2024-06-30 21:59:59.999999+00');
    expect(first!.ts).toBe('2024-03-10 02:30:00.123456');
    expect(first!.d).toBe('2024-02-29');
    expect(first!.a_num).toBe('{1.5,NULL,2.25}');
    expect(first!.a_tz).toBe('{"2024-01-01 00:00:00+00","1999-12-31 18:29:59.5+00"}');
    expect(first!.i8).toBe('9007199254740993');
  });

  it("execute() with executeTypes 'node-postgres': every column parsed as pg parses it", async () => {
    const q = sql.raw(`select * from ${table} order by id`);
    const ours = await db.execute(q);
    const theirs = await oracle.execute(q);
    expect(ours.rows).toHaveLength(3);
    expect(ours.rows).toEqual(theirs.rows);
    // A few spot checks, so that "equal" cannot mean "equally wrong".
    const [first, second] = ours.rows as Record<string, unknown>[];
    expect(first!.i8).toBe('9007199254740993');
    expect(first!.num).toBe('12345678901234567890.0123456789');
    expect(first!.tz).toEqual(new Date('2024-06-30T21:59:59.999Z'));
    expect(first!.ts).toEqual(new Date(2024, 2, 10, 2, 30, 0, 123)); // local time, as pg
    expect(first!.d).toEqual(new Date(2024, 1, 29)); // local midnight, as pg
    expect(first!.by).toEqual(Buffer.from('deadbeef00', 'hex'));
    expect(first!.a_t).toEqual(['a,b', 'c"d', null, '', 'NULL', ' x']);
    expect(first!.a_num).toEqual([1.5, null, 2.25]); // pg-types parses numeric[] into floats
    expect(first!.a_mood).toBe('{sad,happy}'); // pg has no parser for an enum array: its text
    expect(second!.f8).toBe(Number.POSITIVE_INFINITY);
    expect(second!.d).toEqual(new Date(new Date(99, 5, 15).setFullYear(99)));

    // Accepted difference: a user type's OID (enum, enum[]) is not in the Data API's metadata,
    // only its name; anypg reports 0 for it. Every built-in type has pg's OID.
    const oids = (r: typeof ours) => r.fields.map((f) => [f.name, USER_TYPES.has(f.name) ? 'user type' : f.dataTypeID]);
    expect(oids(ours)).toEqual(oids(theirs));
    expect(ours.fields.filter((f) => USER_TYPES.has(f.name)).map((f) => f.dataTypeID)).toEqual([0, 0]);
  });

  it('the query builder: every column mapped by drizzle as with pg', async () => {
    const ours = await db.select().from(corpus).orderBy(asc(corpus.id));
    const theirs = await oracle.select().from(corpus).orderBy(asc(corpus.id));
    expect(ours).toEqual(theirs);
    const first = ours[0]!;
    expect(first.tz).toEqual(new Date('2024-06-30T21:59:59.999Z'));
    expect(first.ts).toEqual(new Date('2024-03-10T02:30:00.123Z')); // drizzle reads timestamp as UTC
    expect(first.tzs).toBe('2024-06-30 21:59:59.999999+00');
    expect(first.tss).toBe('2024-03-10 02:30:00.123456');
    expect(first.d).toEqual(new Date('2024-02-29T00:00:00.000Z'));
    expect(first.i8).toBe(9007199254740993n);
    expect(first.aTz).toEqual([new Date('2024-01-01T00:00:00Z'), new Date('1999-12-31T18:29:59.500Z')]);
    expect(first.aI4).toEqual([1, null, 3]);
    // numeric[] reaches drizzle as text, which drizzle's own array parser reads (NULL as 'NULL', with pg too).
    expect(first.aNum).toEqual(['1.5', 'NULL', '2.25']);
    expect(first.aMood).toEqual(['sad', 'happy']);
  });

  it('relational queries (json aggregation) give the same values', async () => {
    const q = sql.raw(
      `select json_agg(json_build_object('id', id, 'tz', tz, 'num', num) order by id) as agg from ${table}`,
    );
    expect((await db.execute(q)).rows).toEqual((await oracle.execute(q)).rows);
  });

  it('values written through the query builder land as pg writes them', async () => {
    const row = {
      b: true,
      i2: 7,
      i4: -7,
      i8: 9223372036854775807n, // beyond 2^53: sent as a decimal, assigned to int8 exactly
      i8n: 2 ** 53 - 1,
      f4: 0.25,
      f8: Math.PI,
      t: 'multi\nline \\ text',
      vc: 'v',
      ch: 'c',
      by: Buffer.from([0, 1, 2, 255]),
    };
    await db.insert(corpus).values({ id: 101, ...row });
    await oracle.insert(corpus).values({ id: 102, ...row });
    const read = await oracle.select().from(corpus).where(sql`${corpus.id} in (101, 102)`).orderBy(asc(corpus.id));
    expect(read).toHaveLength(2);
    expect({ ...read[0], id: 0 }).toEqual({ ...read[1], id: 0 });
    expect(read[0]).toMatchObject({ ...row, ch: 'c  ' }); // char(3) pads
  });
});

describe('accepted differences', () => {
  it('timestamptz in mode string: the Data API renders it in UTC, pg in the session time zone (same instant)', async () => {
    const ist = createDb({ url: withOptions(databaseUrl(), '-c TimeZone=Asia/Kolkata'), env: {}, backend: 'pg' });
    try {
      const [ours] = await db.select({ tzs: corpus.tzs }).from(corpus).where(sql`${corpus.id} = 1`);
      const [theirs] = await ist.select({ tzs: corpus.tzs }).from(corpus).where(sql`${corpus.id} = 1`);
      expect(ours!.tzs).toBe('2024-06-30 21:59:59.999999+00');
      expect(theirs!.tzs).toBe('2024-07-01 03:29:59.999999+05:30');
      expect(new Date(ours!.tzs!).getTime()).toBe(new Date(theirs!.tzs!).getTime());
    } finally {
      await ist.$close();
    }
  });

  it('a parameter selected back untyped: pg infers text, the Data API types it by its Field kind', async () => {
    const q = sql`select ${true} as b, ${1.5} as f, ${5} as n, ${'x'} as s`;
    expect((await oracle.execute(q)).rows).toEqual([{ b: 'true', f: '1.5', n: '5', s: 'x' }]);
    // booleanValue is bool, doubleValue float8, longValue int8 (a string, as pg gives int8).
    expect((await db.execute(q)).rows).toEqual([{ b: true, f: 1.5, n: '5', s: 'x' }]);
  });

  it('interval results: the Data API refuses them (UnsupportedResultException); cast to text', async () => {
    const err = await db.execute(sql`select interval '1 day 02:03:04' as i`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AnypgError);
    expect((err as AnypgError).code).toBe('UNSUPPORTED');
    expect((err as Error).message).toMatch(/INTERVAL.*col::text/);
    const q = sql`select (interval '1 day 02:03:04')::text as i`;
    expect((await db.execute(q)).rows).toEqual((await oracle.execute(q)).rows);
  });
});
