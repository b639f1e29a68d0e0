// Every path at its round-trip floor, counted by a TCP proxy in front of a real PostgreSQL (a round
// trip: the client sends, the server answers). Counts, never times.
import { sql } from 'drizzle-orm';
import { integer, pgTable, serial, text } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, DatabaseError } from '../src/node.js';
import { admin, serverPort, uniqueName, viaPort } from './support/db.js';
import { startProxy, type TestProxy } from './support/proxy.js';

const table = uniqueName('rt');
const items = pgTable(table, { id: serial('id').primaryKey(), v: text('v').notNull().unique(), n: integer('n') });
let proxy: TestProxy;

beforeAll(async () => {
  await admin((c) => c.query(`create table ${table} (id serial primary key, v text not null unique, n int)`));
  proxy = await startProxy(serverPort());
});
afterAll(async () => {
  await proxy.close();
  await admin((c) => c.query(`drop table ${table}`));
});

const count = async (v: string) =>
  admin(async (c) => Number((await c.query(`select count(*)::int as n from ${table} where v like $1`, [v])).rows[0].n));

/** A connected client through the proxy, the counter reset after its first (connecting) statement. */
async function warm(options: Parameters<typeof createDb>[0] = {}) {
  const db = createDb({ url: viaPort(proxy.port), env: {}, pool: { max: 1 }, ...options });
  await db.execute(sql`select 1`);
  proxy.resetCounts();
  return db;
}

describe('db.batch()', () => {
  it('is one round trip: BEGIN, the statements and COMMIT in one flight', async () => {
    const db = await warm();
    expect(db.$capabilities.batchRoundTrips(5)).toBe(1);
    const v = uniqueName('b');
    const results = await db.batch([
      db.insert(items).values({ v: `${v}1`, n: 1 }),
      db.insert(items).values({ v: `${v}2`, n: 2 }),
      db
        .update(items)
        .set({ n: 20 })
        .where(sql`${items.v} = ${`${v}2`}`),
      db
        .select({ n: items.n })
        .from(items)
        .where(sql`${items.v} like ${`${v}%`}`)
        .orderBy(items.n),
      db.execute(sql`select count(*)::int as c from ${items} where ${items.v} like ${`${v}%`}`),
    ]);
    expect(proxy.roundTrips()).toBe(1);
    expect(results[3]).toEqual([{ n: 1 }, { n: 20 }]);
    expect((results[4] as { rows: unknown[] }).rows).toEqual([{ c: 2 }]);
    expect((results[0] as { rowCount: number }).rowCount).toBe(1);
    await db.$close();
  });

  it('is atomic: a failing statement undoes the ones before it and the ones after it never run', async () => {
    const db = await warm();
    const v = uniqueName('atomic');
    const err = await db
      .batch([
        db.insert(items).values({ v: `${v}a` }),
        db.insert(items).values({ v: `${v}a` }), // unique violation
        db.insert(items).values({ v: `${v}b` }),
      ])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatabaseError);
    expect((err as DatabaseError).sqlstate).toBe('23505');
    expect(await count(`${v}%`)).toBe(0);
    // The failed unit left no transaction open: the connection serves the next statement.
    expect((await db.execute<{ ok: number }>(sql`select 1 as ok`)).rows).toEqual([{ ok: 1 }]);
    expect(db.$stats().opened).toBe(1);
    await db.$close();
  });

  it('inside a transaction runs in it, in one round trip', async () => {
    const db = await warm();
    const v = uniqueName('txb');
    await db.transaction(async (tx) => {
      await tx.insert(items).values({ v: `${v}0` });
      proxy.resetCounts();
      // AnypgTransaction has batch(); drizzle's transaction type does not declare it.
      const inTx = tx as unknown as Pick<typeof db, 'batch'>;
      await inTx.batch([tx.insert(items).values({ v: `${v}1` }), tx.insert(items).values({ v: `${v}2` })]);
      expect(proxy.roundTrips()).toBe(1);
    });
    expect(await count(`${v}%`)).toBe(3);
    await db.$close();
  });
});

describe('interactive transactions', () => {
  it.each([1, 3, 5])('of %i dependent statements cost k + 1 round trips: BEGIN travels with the first', async (k) => {
    const db = await warm();
    const v = uniqueName('tx');
    await db.transaction(async (tx) => {
      let n = 0;
      for (let i = 0; i < k; i++) {
        // Each statement needs the previous one's answer.
        const [row] = await tx
          .insert(items)
          .values({ v: `${v}${i}`, n: n + 1 })
          .returning({ n: items.n });
        n = row!.n!;
      }
    });
    expect(proxy.roundTrips()).toBe(k + 1);
    expect(await count(`${v}%`)).toBe(k);
    await db.$close();
  });

  it('that run nothing cost nothing', async () => {
    const db = await warm();
    expect(await db.transaction(async () => 'nothing')).toBe('nothing');
    expect(proxy.roundTrips()).toBe(0);
    await db.$close();
  });

  it('run the first statement inside the transaction (isolation level included), never outside it', async () => {
    const db = await warm();
    const r = await db.transaction(
      async (tx) =>
        (
          await tx.execute<{ iso: string; ro: string }>(
            sql`select current_setting('transaction_isolation') as iso, current_setting('transaction_read_only') as ro`,
          )
        ).rows[0],
      { isolationLevel: 'serializable', accessMode: 'read only' },
    );
    expect(r).toEqual({ iso: 'serializable', ro: 'on' });
    expect(proxy.roundTrips()).toBe(2);
    await db.$close();
  });

  it('a failing first statement rolls the transaction back and leaves the connection clean', async () => {
    const db = await warm();
    const err = await db
      .transaction(async (tx) => {
        await tx.execute(sql`select 1/0`);
      })
      .catch((e: unknown) => e);
    expect((err as DatabaseError).sqlstate).toBe('22012');
    expect((await db.execute<{ s: string }>(sql`select pg_current_xact_id_if_assigned()::text as s`)).rows).toEqual([
      { s: null },
    ]);
    expect(db.$stats().opened).toBe(1);
    await db.$close();
  });

  it('a statement holding several statements still runs (BEGIN goes alone before it)', async () => {
    const db = await warm();
    const v = uniqueName('multi');
    await db.transaction(async (tx) => {
      await tx.execute(sql.raw(`insert into ${table} (v) values ('${v}1'); insert into ${table} (v) values ('${v}2')`));
    });
    expect(await count(`${v}%`)).toBe(2);
    await db.$close();
  });

  it('COMMIT of a transaction whose failed statement was caught is reported, not taken for a commit', async () => {
    const db = await warm();
    const v = uniqueName('swallow');
    const err = await db
      .transaction(async (tx) => {
        await tx.insert(items).values({ v });
        await tx.execute(sql`select 1/0`).catch(() => undefined);
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatabaseError);
    expect((err as DatabaseError).sqlstate).toBe('25P02');
    expect(await count(v)).toBe(0);
    await db.$close();
  });
});

describe('concurrent callers on a pool of one', () => {
  it('100 concurrent queries share the connection: at most 5 round trips, each its own answer', async () => {
    const db = await warm();
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => db.execute<{ i: number }>(sql`select ${i}::int as i`)),
    );
    expect(results.map((r) => r.rows[0]!.i)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(proxy.roundTrips()).toBeLessThanOrEqual(5);
    expect(db.$stats()).toMatchObject({ opened: 1, total: 1 });
    await db.$close();
  });

  it('an error in one pipelined statement fails that statement alone', async () => {
    const db = await warm();
    const v = uniqueName('alone');
    const settled = await Promise.allSettled([
      db.insert(items).values({ v: `${v}1` }),
      db.execute(sql`select 1/0`),
      db.insert(items).values({ v: `${v}2` }),
      db.execute<{ ok: number }>(sql`select 1 as ok`),
    ]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect(((settled[1] as PromiseRejectedResult).reason as DatabaseError).sqlstate).toBe('22012');
    expect(await count(`${v}%`)).toBe(2);
    expect(proxy.roundTrips()).toBe(1);
    await db.$close();
  });

  it('a transaction waits for the pipelined statements ahead of it, and none runs inside it', async () => {
    const db = await warm();
    const v = uniqueName('mix');
    const before = Array.from({ length: 10 }, (_, i) =>
      db.execute<{ x: string }>(sql`select pg_current_xact_id_if_assigned()::text as x, ${i}::int as i`),
    );
    const tx = db.transaction(async (t) => {
      await t.insert(items).values({ v: `${v}tx` });
      return (await t.execute<{ x: string }>(sql`select pg_current_xact_id_if_assigned()::text as x`)).rows[0]!.x;
    });
    const after = Array.from({ length: 10 }, () =>
      db.execute<{ x: string }>(sql`select pg_current_xact_id_if_assigned()::text as x`),
    );
    const txid = await tx;
    expect(txid).not.toBeNull();
    // Statements outside the transaction never saw its transaction id (none ran inside it).
    for (const r of await Promise.all([...before, ...after])) expect(r.rows[0]!.x).toBeNull();
    expect(await count(`${v}%`)).toBe(1);
    expect(db.$stats().opened).toBe(1);
    await db.$close();
  });

  it('with pipeline: false each query waits for the connection (one round trip each)', async () => {
    const db = await warm({ pipeline: false });
    await Promise.all(Array.from({ length: 10 }, (_, i) => db.execute(sql`select ${i}::int`)));
    expect(proxy.roundTrips()).toBe(10);
    await db.$close();
  });
});

describe('the statement cache (direct connections)', () => {
  const cached = (db: ReturnType<typeof createDb>) =>
    db.execute<{ n: number; texts: string[] }>(
      sql`select count(*)::int as n, array_agg(statement) as texts from pg_prepared_statements where name like 'anypg_s%'`,
    );

  it('prepares a query once per connection and reuses it', async () => {
    const db = await warm();
    for (let i = 0; i < 5; i++) await db.select().from(items).where(sql`${items.n} = ${i}`);
    const { rows } = await cached(db);
    const selects = rows[0]!.texts.filter((t) => t.includes(`from "${table}"`));
    expect(selects).toHaveLength(1);
    await db.$close();
  });

  it('is not used through a transaction-mode pooler', async () => {
    const db = createDb({ url: viaPort(proxy.port, { pgbouncer: 'true' }), env: {}, pool: { max: 1 } });
    expect(db.$backend.backend).toBe('pg-pooler');
    for (let i = 0; i < 3; i++) await db.select().from(items).where(sql`${items.n} = ${i}`);
    expect((await cached(db)).rows[0]!.n).toBe(0);
    await db.$close();
  });

  it('parses again, without failing the call, after DDL changed what a cached query returns', async () => {
    const t = uniqueName('ddl');
    await admin((c) => c.query(`create table ${t} (a int); insert into ${t} values (1)`));
    const db = await warm();
    try {
      const q = () => db.execute<Record<string, number>>(sql`select * from ${sql.raw(t)} where a = ${1}`);
      expect((await q()).rows).toEqual([{ a: 1 }]);
      await admin((c) => c.query(`alter table ${t} add column b int default 2`));
      // The cached plan no longer fits (SQLSTATE 0A000): refused before it ran, parsed again.
      expect((await q()).rows).toEqual([{ a: 1, b: 2 }]);
      expect(db.$stats().opened).toBe(1);
    } finally {
      await db.$close();
      await admin((c) => c.query(`drop table ${t}`));
    }
  });
});
