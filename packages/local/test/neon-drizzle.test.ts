// drizzle-orm's neon-http and neon-serverless drivers, unmodified, against the local endpoint,
// with drizzle's node-postgres driver on the same database as the oracle.
import { neon, neonConfig, Pool } from '@neondatabase/serverless';
import { asc, eq, sql } from 'drizzle-orm';
import { drizzle as drizzleHttp } from 'drizzle-orm/neon-http';
import { drizzle as drizzleWs } from 'drizzle-orm/neon-serverless';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { bigint, boolean, integer, jsonb, numeric, pgSchema, serial, text, timestamp } from 'drizzle-orm/pg-core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import ws from 'ws';
import { type NeonEndpoint, startNeonEndpoint } from '../src/index.js';

const url = inject('databaseUrl');
const schema = pgSchema('neon_drizzle_t');
const notes = schema.table('notes', {
  id: serial('id').primaryKey(),
  title: text('title').notNull(),
  body: text('body'),
  tags: text('tags').array(),
  meta: jsonb('meta').$type<{ stars: number; by?: string }>(),
  amount: numeric('amount', { precision: 12, scale: 2 }),
  big: bigint('big', { mode: 'bigint' }),
  done: boolean('done').notNull().default(false),
  priority: integer('priority'),
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull(),
  localAt: timestamp('local_at', { mode: 'string' }),
});

let endpoint: NeonEndpoint;
let oraclePool: pg.Pool;
let wsPool: Pool;

beforeAll(async () => {
  endpoint = await startNeonEndpoint({ upstream: url });
  Object.assign(neonConfig, endpoint.neonConfig);
  neonConfig.webSocketConstructor = ws;
  oraclePool = new pg.Pool({ connectionString: url, max: 2 });
  await oraclePool.query(`drop schema if exists neon_drizzle_t cascade; create schema neon_drizzle_t;
    create table neon_drizzle_t.notes (id serial primary key, title text not null, body text, tags text[],
      meta jsonb, amount numeric(12, 2), big bigint, done boolean not null default false, priority integer,
      created_at timestamptz not null, local_at timestamp)`);
  wsPool = new Pool({ connectionString: url, max: 2 });
});

afterAll(async () => {
  await wsPool?.end();
  await oraclePool?.query('drop schema if exists neon_drizzle_t cascade');
  await oraclePool?.end();
  await endpoint?.close();
});

const sample = (title: string) => ({
  title,
  body: `${title} — ünïcode 🌍`,
  tags: ['a,b', 'c"d', 'NULL'],
  meta: { stars: 5, by: 'tester' },
  amount: '1234.50',
  big: 9007199254740993n,
  priority: null,
  createdAt: new Date('2024-03-04T05:06:07.089Z'),
  localAt: '2024-03-04 05:06:07.123456',
});

describe('drizzle neon-http', () => {
  it('inserts, selects, updates and deletes, with values equal to drizzle over pg', async () => {
    const db = drizzleHttp({ client: neon(url) });
    const oracle = drizzlePg({ client: oraclePool });
    const [inserted] = await db.insert(notes).values(sample('http-1')).returning();
    expect(inserted).toMatchObject({ title: 'http-1', big: 9007199254740993n, done: false });
    expect(inserted?.createdAt).toEqual(new Date('2024-03-04T05:06:07.089Z'));
    await db.insert(notes).values([sample('http-2'), sample('http-3')]);
    const updated = await db
      .update(notes)
      .set({ done: true, priority: 2 })
      .where(eq(notes.title, 'http-2'))
      .returning({ id: notes.id });
    expect(updated).toHaveLength(1);
    await db.delete(notes).where(eq(notes.title, 'http-3'));

    const viaNeon = await db.select().from(notes).where(sql`${notes.title} like 'http-%'`).orderBy(asc(notes.id));
    const viaPg = await oracle.select().from(notes).where(sql`${notes.title} like 'http-%'`).orderBy(asc(notes.id));
    expect(viaNeon).toEqual(viaPg);
    expect(viaNeon.map((n) => [n.title, n.done, n.priority])).toEqual([
      ['http-1', false, null],
      ['http-2', true, 2],
    ]);
    expect(viaNeon[0]?.tags).toEqual(['a,b', 'c"d', 'NULL']);
    expect(viaNeon[0]?.meta).toEqual({ stars: 5, by: 'tester' });
  });

  it('runs db.batch() in one transaction, all or nothing', async () => {
    const db = drizzleHttp({ client: neon(url) });
    const [ins, count] = await db.batch([
      db.insert(notes).values(sample('batch-1')).returning({ id: notes.id }),
      db.select({ n: sql<number>`count(*)::int` }).from(notes).where(eq(notes.title, 'batch-1')),
    ]);
    expect(ins).toHaveLength(1);
    expect(count).toEqual([{ n: 1 }]);
    await expect(
      db.batch([db.insert(notes).values(sample('batch-2')), db.execute(sql`select 1 / 0`)]),
    ).rejects.toMatchObject({ name: 'NeonDbError', code: '22012' });
    const left = await oraclePool.query(`select count(*)::int as n from neon_drizzle_t.notes where title = 'batch-2'`);
    expect(left.rows[0].n).toBe(0);
  });
});

describe('drizzle neon-serverless', () => {
  it('inserts and selects over WebSocket, with values equal to drizzle over pg', async () => {
    const db = drizzleWs({ client: wsPool });
    const oracle = drizzlePg({ client: oraclePool });
    const [row] = await db.insert(notes).values(sample('ws-1')).returning();
    expect(row?.big).toBe(9007199254740993n);
    const viaNeon = await db.select().from(notes).where(eq(notes.title, 'ws-1'));
    const viaPg = await oracle.select().from(notes).where(eq(notes.title, 'ws-1'));
    expect(viaNeon).toEqual(viaPg);
    expect(viaNeon).toHaveLength(1);
  });

  it('commits an interactive transaction and rolls one back', async () => {
    const db = drizzleWs({ client: wsPool });
    const id = await db.transaction(async (tx) => {
      const [r] = await tx.insert(notes).values(sample('tx-commit')).returning({ id: notes.id });
      const seen = await tx.select().from(notes).where(eq(notes.id, r!.id));
      expect(seen).toHaveLength(1);
      return r!.id;
    });
    const committed = await oraclePool.query('select title from neon_drizzle_t.notes where id = $1', [id]);
    expect(committed.rows).toEqual([{ title: 'tx-commit' }]);

    await expect(
      db.transaction(async (tx) => {
        await tx.insert(notes).values(sample('tx-rollback'));
        tx.rollback();
      }),
    ).rejects.toThrow(/Rollback/);
    const rolledBack = await oraclePool.query(
      `select count(*)::int as n from neon_drizzle_t.notes where title = 'tx-rollback'`,
    );
    expect(rolledBack.rows[0].n).toBe(0);
  });
});
