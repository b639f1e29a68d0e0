// drizzle-orm's own aws-data-api/pg driver (unmodified, on the unmodified SDK) against the local
// endpoint, with the process in a time zone other than UTC: Lambda runs in UTC, developers do not.
// Set before anything in this file builds a Date; Node applies a TZ change at once.
const savedTz = process.env.TZ;
process.env.TZ = 'Asia/Kolkata'; // UTC+05:30 all year: no daylight-saving ambiguity

import { DatabaseErrorException, ExecuteStatementCommand, RDSDataClient } from '@aws-sdk/client-rds-data';
import { and, asc, eq, gt, sql, TransactionRollbackError } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/aws-data-api/pg';
import {
  bigint,
  boolean,
  date,
  doublePrecision,
  integer,
  jsonb,
  numeric,
  pgSchema,
  serial,
  text,
  timestamp,
  uuid,
} from 'drizzle-orm/pg-core';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { type DataApiEndpoint, startDataApiEndpoint } from '../src/index.js';

const SCHEMA = `dataapi_drizzle_${process.pid}`;
const IST_OFFSET_MS = 330 * 60_000;

const s = pgSchema(SCHEMA);
const mood = s.enum('mood', ['sad', 'ok', 'happy']);
const users = s.table('users', {
  id: serial('id').primaryKey(),
  name: text('name').notNull(),
  age: integer('age'),
  active: boolean('active').notNull().default(true),
  profile: jsonb('profile').$type<{ tags: string[]; level: number }>(),
  born: date('born', { mode: 'date' }),
  bornText: date('born_text'),
  seenAt: timestamp('seen_at', { mode: 'date', precision: 3 }),
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  stampedAt: timestamp('stamped_at', { withTimezone: true, mode: 'string' }),
  balance: numeric('balance', { precision: 12, scale: 2 }),
  uid: uuid('uid').defaultRandom(),
  tags: text('tags').array(),
  big: bigint('big', { mode: 'number' }),
  score: doublePrecision('score'),
  feeling: mood('feeling'),
});

let direct: pg.Client;
let endpoint: DataApiEndpoint;
let lenient: DataApiEndpoint;
let client: RDSDataClient;
let lenientClient: RDSDataClient;
let db: ReturnType<typeof drizzle>;

beforeAll(async () => {
  const url = inject('databaseUrl');
  direct = new pg.Client({ connectionString: url });
  await direct.connect();
  await direct.query(`drop schema if exists ${SCHEMA} cascade; create schema ${SCHEMA}`);
  await direct.query(`create type ${SCHEMA}.mood as enum ('sad', 'ok', 'happy')`);
  await direct.query(`create table ${SCHEMA}.users (
    id serial primary key, name text not null, age integer, active boolean not null default true,
    profile jsonb, born date, born_text date, seen_at timestamp(3), created_at timestamptz not null default now(),
    stamped_at timestamptz, balance numeric(12, 2), uid uuid default gen_random_uuid(), tags text[], big bigint,
    score double precision, feeling ${SCHEMA}.mood)`);
  endpoint = await startDataApiEndpoint({ upstream: url });
  lenient = await startDataApiEndpoint({ upstream: url, strict: false });
  client = new RDSDataClient(endpoint.clientConfig);
  lenientClient = new RDSDataClient(lenient.clientConfig);
  db = drizzle(client, {
    resourceArn: endpoint.resourceArn,
    secretArn: endpoint.secretArn,
    database: endpoint.database,
  });
});

beforeEach(async () => {
  await direct.query(`truncate ${SCHEMA}.users restart identity`);
});

afterAll(async () => {
  client?.destroy();
  lenientClient?.destroy();
  await endpoint?.close();
  await lenient?.close();
  await direct?.query(`drop schema if exists ${SCHEMA} cascade`);
  await direct?.end();
  if (savedTz === undefined) delete process.env.TZ;
  else process.env.TZ = savedTz;
});

const seenAt = new Date('2024-05-06T07:08:09.123Z');

describe('drizzle aws-data-api/pg with TZ=Asia/Kolkata', () => {
  it('runs in the time zone it asked for', () => {
    expect(new Date('2024-01-01T00:00:00Z').getTimezoneOffset()).toBe(-330);
    expect(new Date(2024, 0, 1).toISOString()).toBe('2023-12-31T18:30:00.000Z');
  });

  it('inserts with returning, every column kind round-tripping', async () => {
    const [row] = await db
      .insert(users)
      .values({
        name: 'Ada',
        age: 36,
        profile: { tags: ['math', 'engines'], level: 3 },
        born: new Date('1815-12-10T00:00:00Z'),
        bornText: '1815-12-10',
        seenAt,
        stampedAt: '2024-05-06 07:08:09.123',
        balance: '1234.50',
        tags: ['a', 'b c', 'd"e'],
        big: 9007199254740991,
        score: 0.1,
      })
      .returning();
    expect(row).toMatchObject({
      id: 1,
      name: 'Ada',
      age: 36,
      active: true,
      profile: { tags: ['math', 'engines'], level: 3 },
      bornText: '1815-12-10',
      stampedAt: '2024-05-06 07:08:09.123',
      balance: '1234.50',
      tags: ['a', 'b c', 'd"e'],
      big: 9007199254740991,
      score: 0.1,
      feeling: null,
    });
    expect(row!.born!.toISOString()).toBe('1815-12-10T00:00:00.000Z');
    // timestamp without time zone: drizzle sends and reads UTC wall-clock time, so it is exact in any TZ.
    expect(row!.seenAt!.getTime()).toBe(seenAt.getTime());
    expect(row!.uid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('timestamptz: the endpoint returns UTC without an offset, which drizzle reads as local time', async () => {
    const now = new Date('2024-05-06T07:08:09.123Z');
    await direct.query(`insert into ${SCHEMA}.users (name, created_at) values ('Tz', $1)`, [now]);
    // What the Data API sends (as AWS documents): the instant in UTC, no offset.
    const raw = await client.send(
      new ExecuteStatementCommand({
        resourceArn: endpoint.resourceArn,
        secretArn: endpoint.secretArn,
        sql: `select created_at from ${SCHEMA}.users where name = 'Tz'`,
      }),
    );
    expect(raw.records![0]![0]!.stringValue).toBe('2024-05-06 07:08:09.123');
    // drizzle parses it with new Date(text): local time. Right only with TZ=UTC (as in Lambda); here
    // it is off by exactly the local offset. anypg's Data API backend has to correct this.
    const [row] = await db.select({ createdAt: users.createdAt }).from(users).where(eq(users.name, 'Tz'));
    expect(row!.createdAt.getTime()).toBe(now.getTime() - IST_OFFSET_MS);
  });

  it('selects with where, and, order by and partial fields', async () => {
    await db.insert(users).values([
      { name: 'A', age: 20, seenAt },
      { name: 'B', age: 30, seenAt: new Date(seenAt.getTime() + 1000) },
      { name: 'C', age: 40, active: false },
    ]);
    const rows = await db
      .select({ name: users.name, age: users.age })
      .from(users)
      .where(and(gt(users.age, 15), eq(users.active, true)))
      .orderBy(asc(users.age));
    expect(rows).toEqual([
      { name: 'A', age: 20 },
      { name: 'B', age: 30 },
    ]);
    const later = await db.select({ name: users.name }).from(users).where(gt(users.seenAt, seenAt));
    expect(later).toEqual([{ name: 'B' }]);
    const [{ uid }] = (await db.select({ uid: users.uid }).from(users).where(eq(users.name, 'C'))) as [{ uid: string }];
    const byUuid = await db.select({ name: users.name }).from(users).where(eq(users.uid, uid));
    expect(byUuid).toEqual([{ name: 'C' }]);
  });

  it('updates and deletes with returning', async () => {
    await db.insert(users).values([
      { name: 'A', age: 1 },
      { name: 'B', age: 2 },
    ]);
    const updated = await db
      .update(users)
      .set({ age: sql`${users.age} + 10`, balance: '9.99', tags: ['x'] })
      .where(eq(users.name, 'A'))
      .returning({ name: users.name, age: users.age, balance: users.balance, tags: users.tags });
    expect(updated).toEqual([{ name: 'A', age: 11, balance: '9.99', tags: ['x'] }]);
    const deleted = await db.delete(users).where(eq(users.name, 'B')).returning({ id: users.id, name: users.name });
    expect(deleted).toEqual([{ id: 2, name: 'B' }]);
    const left = await db.select({ name: users.name }).from(users);
    expect(left).toEqual([{ name: 'A' }]);
    const result = await db.delete(users).where(eq(users.name, 'nobody'));
    expect(result.numberOfRecordsUpdated).toBe(0);
  });

  it('commits a transaction, and rolls one back on tx.rollback()', async () => {
    const id = await db.transaction(async (tx) => {
      const [row] = await tx.insert(users).values({ name: 'T', age: 1 }).returning({ id: users.id });
      await tx.update(users).set({ age: 2 }).where(eq(users.id, row!.id));
      // Not visible outside the transaction yet.
      const outside = await db.select().from(users);
      expect(outside).toEqual([]);
      return row!.id;
    });
    expect(await db.select({ id: users.id, age: users.age }).from(users)).toEqual([{ id, age: 2 }]);

    await expect(
      db.transaction(async (tx) => {
        await tx.insert(users).values({ name: 'gone' });
        tx.rollback();
      }),
    ).rejects.toBeInstanceOf(TransactionRollbackError);
    expect(await db.select({ name: users.name }).from(users)).toEqual([{ name: 'T' }]);
    expect(endpoint.stats().openTransactions).toBe(0);
  });

  it('rolls back a nested transaction (savepoint) without losing the outer one', async () => {
    await db.transaction(async (tx) => {
      await tx.insert(users).values({ name: 'outer' });
      await expect(
        tx.transaction(async (inner) => {
          await inner.insert(users).values({ name: 'inner' });
          inner.rollback();
        }),
      ).rejects.toBeInstanceOf(TransactionRollbackError);
    });
    expect(await db.select({ name: users.name }).from(users)).toEqual([{ name: 'outer' }]);
  });

  it('rolls back when the callback throws a database error', async () => {
    const err = await db
      .transaction(async (tx) => {
        await tx.insert(users).values({ name: 'X' });
        await tx.execute(sql`select * from no_such_table_here`);
      })
      .catch((e: unknown) => e as Error);
    expect((err as Error).cause).toBeInstanceOf(DatabaseErrorException);
    expect(await db.select().from(users)).toEqual([]);
  });

  it('db.execute maps rows by the column names in columnMetadata', async () => {
    await db.insert(users).values({ name: 'E', age: 5 });
    const res = await db.execute<{ name: string; doubled: number; n: string }>(
      sql`select name, age * ${2} as doubled, ${'x'} || name as n from ${users} where age = ${5}`,
    );
    expect(res.rows).toEqual([{ name: 'E', doubled: 10, n: 'xE' }]);
  });

  it('an enum column gets an unhinted string: refused as on AWS (strict), accepted by the lenient endpoint', async () => {
    const err = await db
      .insert(users)
      .values({ name: 'M', feeling: 'happy' })
      .catch((e: unknown) => e as Error);
    expect((err as Error).cause).toBeInstanceOf(DatabaseErrorException);
    expect(((err as Error).cause as Error).message).toMatch(
      /column "feeling" is of type .*mood but expression is of type text/,
    );

    const loose = drizzle(lenientClient, {
      resourceArn: lenient.resourceArn,
      secretArn: lenient.secretArn,
      database: lenient.database,
    });
    await loose.insert(users).values({ name: 'M', feeling: 'happy' });
    expect(await loose.select({ feeling: users.feeling }).from(users)).toEqual([{ feeling: 'happy' }]);
  });
});
