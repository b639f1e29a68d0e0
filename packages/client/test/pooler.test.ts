// pg-pooler through a real PgBouncer 1.18 in transaction mode (the negative fixture: it cannot keep
// named prepared statements, and refuses startup parameters other than a few).
import { type LocalPgBouncer, startPgBouncer } from '@anypg/local';
import { sql } from 'drizzle-orm';
import { pgTable, serial, text } from 'drizzle-orm/pg-core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortedError, type AnypgWarning, createDb, type DatabaseError, OutcomeUnknownError } from '../src/node.js';
import { admin, databaseUrl, uniqueName } from './support/db.js';
import { startProxy } from './support/proxy.js';

let bouncer: LocalPgBouncer;

const table = uniqueName('pool');
const items = pgTable(table, { id: serial('id').primaryKey(), v: text('v').notNull().unique() });

beforeAll(async () => {
  await admin((c) => c.query(`create table ${table} (id serial primary key, v text not null unique)`));
  bouncer = await startPgBouncer({ upstream: databaseUrl(), defaultPoolSize: 2 });
});
afterAll(async () => {
  await bouncer?.close();
  await admin((c) => c.query(`drop table ${table}`));
});

const count = (like: string) =>
  admin(async (c) =>
    Number((await c.query(`select count(*)::int as n from ${table} where v like $1`, [like])).rows[0].n),
  );

/** The bouncer's URL through a counting (and optionally segmenting) proxy. */
async function viaProxy(options: { segmentBytes?: number } = {}) {
  const proxy = await startProxy(bouncer.port, '127.0.0.1', options);
  const u = new URL(bouncer.urlFor(undefined, { pgbouncer: 'true' }));
  u.port = String(proxy.port);
  return { proxy, url: u.toString() };
}

const viaBouncer = () => bouncer.urlFor(undefined, { pgbouncer: 'true' });

describe('pg-pooler through PgBouncer (transaction mode)', () => {
  it('is detected from ?pgbouncer=true and says so', () => {
    const db = createDb({ url: viaBouncer(), env: {} });
    expect(db.$backend.backend).toBe('pg-pooler');
    expect(db.$backend.reason).toMatch(/pgbouncer=true/);
    expect(db.$capabilities.namedStatements).toBe(false);
  });

  it('runs prepared queries from many connections without named statements', async () => {
    // The control: plain pg with named statements fails through this PgBouncer.
    const a = new pg.Client({ connectionString: bouncer.url });
    const b = new pg.Client({ connectionString: bouncer.url });
    await Promise.all([a.connect(), b.connect()]);
    try {
      await a.query({ name: 'same_name', text: 'select 1' });
      const control = await b.query({ name: 'same_name', text: 'select 1' }).then(
        () => undefined,
        (e: { code?: string }) => e.code,
      );
      expect(['42P05', '26000']).toContain(control);
    } finally {
      await Promise.all([a.end(), b.end()]);
    }

    const db = createDb({ url: viaBouncer(), env: {}, pool: { max: 4 } });
    const q = db
      .select({ v: sql<number>`${sql.placeholder('x')}::int * 2` })
      .from(sql`(select 1) t`)
      .prepare('doubled');
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => q.execute({ x: i })));
    expect(results.map((r) => r[0]!.v)).toEqual(Array.from({ length: 40 }, (_, i) => i * 2));
    await db.$close();
  });

  it('connects although PgBouncer refuses statement_timeout as a startup parameter', async () => {
    const db = createDb({ url: viaBouncer(), env: {}, statementTimeoutMs: 5000 });
    expect((await db.execute<{ ok: number }>(sql`select 1 as ok`)).rows).toEqual([{ ok: 1 }]);
    await db.$close();
  });

  it('warns once about statements that leak session state through the pooler', async () => {
    const warnings: AnypgWarning[] = [];
    const db = createDb({ url: viaBouncer(), env: {}, onWarning: (w) => warnings.push(w) });
    await db.execute(sql`set search_path to public`);
    await db.execute(sql`set search_path to public`);
    await db.transaction(async (tx) => {
      await tx.execute(sql`set local search_path to public`);
    });
    expect(warnings.map((w) => w.code)).toEqual(['POOLER_UNSAFE_STATEMENT']);
    expect(warnings[0]!.message).toMatch(/SET LOCAL|session/i);
    await db.$close();
  });
});

describe('round trips and safety through PgBouncer (transaction mode)', () => {
  it('a batch is one round trip and atomic; a transaction of k statements costs k + 1', async () => {
    const { proxy, url } = await viaProxy();
    const db = createDb({ url, env: {}, pool: { max: 1 } });
    try {
      await db.execute(sql`select 1`);
      const v = uniqueName('pb');
      proxy.resetCounts();
      await db.batch([db.insert(items).values({ v: `${v}1` }), db.insert(items).values({ v: `${v}2` })]);
      expect(proxy.roundTrips()).toBe(1);
      const err = await db
        .batch([db.insert(items).values({ v: `${v}3` }), db.insert(items).values({ v: `${v}1` })])
        .catch((e: unknown) => e);
      expect((err as DatabaseError).sqlstate).toBe('23505');
      expect(await count(`${v}%`)).toBe(2);
      proxy.resetCounts();
      await db.transaction(async (tx) => {
        for (let i = 4; i < 7; i++) await tx.insert(items).values({ v: `${v}${i}` });
      });
      expect(proxy.roundTrips()).toBe(4);
      expect(await count(`${v}%`)).toBe(5);
    } finally {
      await db.$close();
      await proxy.close();
    }
  });

  it('does not pipeline statements of concurrent callers (one round trip each)', async () => {
    const { proxy, url } = await viaProxy();
    const db = createDb({ url, env: {}, pool: { max: 1 } });
    try {
      await db.execute(sql`select 1`);
      proxy.resetCounts();
      const rows = await Promise.all(
        Array.from({ length: 10 }, (_, i) => db.execute<{ i: number }>(sql`select ${i}::int as i`)),
      );
      expect(rows.map((r) => r.rows[0]!.i)).toEqual(Array.from({ length: 10 }, (_, i) => i));
      expect(proxy.roundTrips()).toBe(10);
    } finally {
      await db.$close();
      await proxy.close();
    }
  });

  it('keeps each unit whole when its bytes arrive in pieces while other clients contend for the servers', async () => {
    // Why pipelining stays off through PgBouncer: with several Syncs in flight and the bytes in
    // pieces, it hands the server to another client mid-pipeline. A unit has one Sync: it holds.
    const { proxy, url } = await viaProxy({ segmentBytes: 64 });
    const db = createDb({ url, env: {}, pool: { max: 1 } });
    const others = Array.from({ length: 6 }, () => new pg.Client({ connectionString: bouncer.url }));
    await Promise.all(others.map((c) => c.connect()));
    let stop = false;
    const errors: unknown[] = [];
    const contend = others.map(async (c, k) => {
      for (let i = 0; !stop; i++) {
        const r = await c.query('select $1::int as k', [k * 100_000 + i]).catch((e: unknown) => {
          errors.push(e);
          return undefined;
        });
        if (r && r.rows[0].k !== k * 100_000 + i) errors.push(new Error('a result went to the wrong client'));
      }
    });
    try {
      const v = uniqueName('seg');
      for (let i = 0; i < 25; i++) {
        const padded = `${v}_${i}_${'x'.repeat(200)}`;
        const [, sel] = await db.batch([
          db.insert(items).values({ v: padded }),
          db.select({ v: items.v }).from(items).where(sql`${items.v} = ${padded}`),
        ]);
        expect(sel).toEqual([{ v: padded }]);
        const got = await db.transaction(async (tx) => {
          const [r] = await tx.execute<{ v: string }>(sql`select ${padded}::text as v`).then((x) => x.rows);
          return r!.v;
        });
        expect(got).toBe(padded);
      }
      expect(await count(`${v}_%`)).toBe(25);
    } finally {
      stop = true;
      await Promise.all(contend);
      await Promise.all(others.map((c) => c.end()));
      await db.$close();
      await proxy.close();
    }
    expect(errors).toEqual([]);
  });

  it('a batch with a write whose connection breaks after it was sent is not replayed', async () => {
    const { proxy, url } = await viaProxy();
    const db = createDb({ url, env: {}, pool: { max: 1 } });
    try {
      await db.execute(sql`select 1`);
      const v = uniqueName('kb');
      proxy.killAfterNextClientChunk();
      const err = await db.batch([db.insert(items).values({ v }), db.execute(sql`select 1`)]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OutcomeUnknownError);
      expect(db.$stats()).toMatchObject({ retries: 0, outcomeUnknown: 1 });
      expect(await count(v)).toBeLessThanOrEqual(1);
      // A batch of reads is resent, read-only.
      await db.execute(sql`select 1`); // a new connection first: the next bytes are the batch
      proxy.killAfterNextClientChunk();
      const [a, b] = await db.batch([
        db.execute<{ ro: string }>(sql`select current_setting('transaction_read_only') as ro`),
        db.execute<{ n: number }>(sql`select 2 as n`),
      ]);
      expect(a.rows).toEqual([{ ro: 'on' }]);
      expect(b.rows).toEqual([{ n: 2 }]);
      expect(db.$stats().retries).toBe(1);
    } finally {
      await db.$close();
      await proxy.close();
    }
  });

  it('a deadline inside a transaction cancels its statement through PgBouncer, and the client goes on', async () => {
    const db = createDb({ url: viaBouncer(), env: {}, pool: { max: 1 } });
    try {
      const err = await db
        .$withTimeout(200)
        .transaction(async (tx) => {
          await tx.execute(sql`select 1`);
          await tx.execute(sql`select pg_sleep(30)`);
        })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AbortedError);
      expect((await db.execute<{ ok: number }>(sql`select 1 as ok`)).rows).toEqual([{ ok: 1 }]);
    } finally {
      await db.$close();
    }
  });

  it('a prepared query (named in drizzle) runs as the first statement of transactions, unnamed', async () => {
    const db = createDb({ url: viaBouncer(), env: {}, pool: { max: 4 } });
    try {
      const out = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          db.transaction(async (tx) => {
            const q = tx
              .select({ v: sql<number>`${sql.placeholder('x')}::int + 1` })
              .from(sql`(select 1) t`)
              .prepare('plus_one');
            return (await q.execute({ x: i }))[0]!.v + (await q.execute({ x: 0 }))[0]!.v;
          }),
        ),
      );
      expect(out).toEqual(Array.from({ length: 20 }, (_, i) => i + 2));
    } finally {
      await db.$close();
    }
  });
});
