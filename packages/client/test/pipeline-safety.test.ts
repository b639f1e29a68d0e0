// The safety rules hold with statements pipelined on one connection, against a real PostgreSQL
// through the fault proxy: a broken pipeline replays no write, an error fails one statement (or the
// whole transaction it is in), and a cancel or timeout hits only the statement it was meant for.
// Waits are for events (a lock held, a backend gone), never for time.
import { deferred, until } from '@anypg/testkit';
import { sql } from 'drizzle-orm';
import { pgTable, serial, text } from 'drizzle-orm/pg-core';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AbortedError,
  createDb,
  type DatabaseError,
  OutcomeUnknownError,
  QueryTimeoutError,
  StatementTimeoutError,
} from '../src/node.js';
import { admin, backendsNamed, databaseUrl, serverPort, uniqueName, viaPort } from './support/db.js';
import { startProxy, type TestProxy } from './support/proxy.js';

const table = uniqueName('pls');
const locked = uniqueName('pls_locked');
const addRow = uniqueName('pls_add');
const items = pgTable(table, { id: serial('id').primaryKey(), v: text('v').notNull() });
let proxy: TestProxy;

beforeAll(async () => {
  await admin((c) =>
    c.query(`create table ${table} (id serial primary key, v text not null);
             create table ${locked} (id int);
             create function ${addRow}(x text) returns int language sql as $$ insert into ${table} (v) values (x) returning 1 $$`),
  );
  proxy = await startProxy(serverPort());
});
afterAll(async () => {
  await proxy.close();
  await admin((c) => c.query(`drop function ${addRow}(text); drop table ${table}; drop table ${locked}`));
});

const count = (v: string) =>
  admin(async (c) => Number((await c.query(`select count(*)::int as n from ${table} where v = $1`, [v])).rows[0].n));

/** Holds an ACCESS EXCLUSIVE lock on `locked` until release(): statements reading it wait. */
async function holdLock() {
  const { default: pgm } = await import('pg');
  const c: pg.Client = new pgm.Client({ connectionString: databaseUrl() });
  await c.connect();
  await c.query(`begin; lock table ${locked} in access exclusive mode`);
  return {
    release: async () => {
      await c.query('commit');
      await c.end();
    },
  };
}

/** Backends of `app` waiting for a lock. */
const waitingOnLock = (app: string) =>
  admin(async (c) =>
    Number(
      (
        await c.query(
          `select count(*)::int as n from pg_stat_activity where application_name = $1 and wait_event_type = 'Lock'`,
          [app],
        )
      ).rows[0].n,
    ),
  );

describe('a pipeline that breaks after it was sent', () => {
  it('replays no write (each is OUTCOME_UNKNOWN) and resends each plain read once, read-only', async () => {
    const app = uniqueName('broken');
    const db = createDb({ url: viaPort(proxy.port), env: {}, applicationName: app, pool: { max: 1 } });
    const pid = (await db.execute<{ pid: number }>(sql`select pg_backend_pid() as pid`)).rows[0]!.pid;
    const v = uniqueName('w');
    proxy.killAfterNextClientChunk();
    const settled = await Promise.allSettled([
      db.insert(items).values({ v: `${v}a` }),
      db.execute<{ n: number }>(sql`select 7 as n`),
      db.execute(sql`select ${sql.raw(addRow)}(${`${v}f`}) as n`),
      db.insert(items).values({ v: `${v}b` }),
      db.execute<{ ro: string }>(sql`select current_setting('transaction_read_only') as ro`),
    ]);
    const [insertA, read, writingFn, insertB, readOnly] = settled;
    expect((insertA as PromiseRejectedResult).reason).toBeInstanceOf(OutcomeUnknownError);
    expect((insertB as PromiseRejectedResult).reason).toBeInstanceOf(OutcomeUnknownError);
    expect((read as PromiseFulfilledResult<{ rows: unknown[] }>).value.rows).toEqual([{ n: 7 }]);
    expect((readOnly as PromiseFulfilledResult<{ rows: unknown[] }>).value.rows).toEqual([{ ro: 'on' }]);
    // The read that hides a write: its read-only resend proves it writes, so it is not replayed.
    expect((writingFn as PromiseRejectedResult).reason).toBeInstanceOf(OutcomeUnknownError);
    expect(((writingFn as PromiseRejectedResult).reason as Error).message).toMatch(/25006/);
    expect(db.$stats()).toMatchObject({ retries: 3, outcomeUnknown: 3 });
    // Once the old backend is gone, nothing of it can still run: each write landed at most once.
    await until('the broken backend to exit', async () => !(await backendsNamed(app)).includes(pid));
    for (const x of ['a', 'b', 'f']) expect(await count(`${v}${x}`)).toBeLessThanOrEqual(1);
    await db.$close();
  });
});

describe('errors', () => {
  it('inside a transaction, an error fails the statements pipelined behind it and the transaction', async () => {
    const db = createDb({ url: databaseUrl(), env: {}, pool: { max: 1 } });
    const v = uniqueName('txerr');
    const err = await db
      .transaction(async (tx) => {
        await Promise.all([
          tx.insert(items).values({ v }),
          tx.execute(sql`select 1/0`),
          tx.insert(items).values({ v }),
        ]);
      })
      .catch((e: unknown) => e);
    expect((err as DatabaseError).sqlstate).toBe('22012');
    expect(await count(v)).toBe(0);
    await db.$close();
  });

  it('statement_timeout ends exactly the pipelined statement that ran too long', async () => {
    const db = createDb({ url: databaseUrl(), env: {}, statementTimeoutMs: 200, pool: { max: 1 } });
    await db.execute(sql`select 1`);
    const v = uniqueName('st');
    const settled = await Promise.allSettled([
      db.execute<{ n: number }>(sql`select 1 as n`),
      db.execute(sql`select pg_sleep(30)`),
      db.insert(items).values({ v }),
      db.execute<{ n: number }>(sql`select 2 as n`),
    ]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect((settled[1] as PromiseRejectedResult).reason).toBeInstanceOf(StatementTimeoutError);
    expect(await count(v)).toBe(1);
    expect(db.$stats().opened).toBe(1);
    await db.$close();
  });
});

describe('a caller giving up on a pipelined statement', () => {
  it('does not cancel the statement of another caller pipelined behind it (its own runs on)', async () => {
    const app = uniqueName('nocancel');
    const db = createDb({ url: databaseUrl(), env: {}, applicationName: app, statementTimeoutMs: 0, pool: { max: 1 } });
    await db.execute(sql`select 1`);
    const lock = await holdLock();
    const v = uniqueName('a');
    const controller = new AbortController();
    try {
      // A waits for the lock; B (another caller, no deadline) is written behind it.
      const a = db
        .$withSignal(controller.signal)
        .execute(sql`insert into ${items} (v) select ${v} from ${sql.raw(locked)} union all select ${v}`)
        .then((r) => r);
      const b = db.execute<{ b: string }>(sql`select 'b' as b`).then((r) => r);
      await until('A to wait for the lock', async () => (await waitingOnLock(app)) === 1);
      controller.abort();
      expect(await a.catch((e: unknown) => e)).toBeInstanceOf(AbortedError);
      // A cancel now could land on B once A ends: none is sent while B waits. A runs to its end.
      await lock.release();
      expect((await b).rows).toEqual([{ b: 'b' }]);
      expect(await count(v)).toBe(1);
      expect(db.$stats().opened).toBe(1);
    } finally {
      await lock.release().catch(() => undefined);
      await db.$close();
    }
  });

  it('is cancelled once every statement on the connection was given up; the connection is reused', async () => {
    const app = uniqueName('cancel');
    const db = createDb({ url: databaseUrl(), env: {}, applicationName: app, statementTimeoutMs: 0, pool: { max: 1 } });
    const pid = (await db.execute<{ pid: number }>(sql`select pg_backend_pid() as pid`)).rows[0]!.pid;
    const lock = await holdLock();
    const v = uniqueName('c');
    const controller = new AbortController();
    const scoped = db.$withSignal(controller.signal);
    try {
      const a = scoped
        .execute(sql`insert into ${items} (v) select ${v} from ${sql.raw(locked)} union all select ${v}`)
        .then((r) => r);
      const b = scoped.execute<{ b: string }>(sql`select 'b' as b`).then((r) => r);
      await until('A to wait for the lock', async () => (await waitingOnLock(app)) === 1);
      controller.abort();
      expect(await a.catch((e: unknown) => e)).toBeInstanceOf(AbortedError);
      // B's answer may beat the cancel's handoff (A cancelled, B run): a true answer then, else ABORTED.
      const rb = await b.catch((e: unknown) => e);
      if (rb instanceof Error) expect(rb).toBeInstanceOf(AbortedError);
      else expect((rb as { rows: unknown[] }).rows).toEqual([{ b: 'b' }]);
      // Nobody waits for either: A is cancelled on the server while the lock is still held.
      await until('A to be cancelled', async () => (await waitingOnLock(app)) === 0);
      await lock.release();
      // The same connection serves the next statement once everything on it has ended.
      expect((await db.execute<{ pid: number }>(sql`select pg_backend_pid() as pid`)).rows[0]!.pid).toBe(pid);
      expect(await count(v)).toBe(0);
    } finally {
      await lock.release().catch(() => undefined);
      await db.$close();
    }
  });

  it('ahead of it, a live statement runs first; the given-up one is cancelled when its turn comes', async () => {
    const app = uniqueName('behind');
    const db = createDb({ url: databaseUrl(), env: {}, applicationName: app, statementTimeoutMs: 0, pool: { max: 1 } });
    const pid = (await db.execute<{ pid: number }>(sql`select pg_backend_pid() as pid`)).rows[0]!.pid;
    const lock = await holdLock();
    const controller = new AbortController();
    try {
      const live = db.execute<{ n: number }>(sql`select count(*)::int as n from ${sql.raw(locked)}`).then((r) => r);
      // Behind it: a statement that would sleep for a minute, given up before it starts.
      const late = db
        .$withSignal(controller.signal)
        .execute(sql`select pg_sleep(60)`)
        .then((r) => r);
      await until('the live statement to wait for the lock', async () => (await waitingOnLock(app)) === 1);
      controller.abort();
      expect(await late.catch((e: unknown) => e)).toBeInstanceOf(AbortedError);
      await lock.release();
      expect((await live).rows).toEqual([{ n: 0 }]);
      // pg_sleep(60) was cancelled when it became the running statement: the connection is free
      // long before a minute.
      expect((await db.execute<{ pid: number }>(sql`select pg_backend_pid() as pid`)).rows[0]!.pid).toBe(pid);
    } finally {
      await lock.release().catch(() => undefined);
      await db.$close();
    }
  });

  it('queryTimeoutMs answers every pipelined statement at its deadline when the server stops answering', async () => {
    const limit = 300;
    const db = createDb({
      url: viaPort(proxy.port),
      env: {},
      statementTimeoutMs: 0,
      queryTimeoutMs: limit,
      pool: { max: 1 },
    });
    await db.execute(sql`select 1`);
    proxy.blackhole(true);
    const done = deferred<unknown[]>();
    try {
      void Promise.allSettled(Array.from({ length: 5 }, (_, i) => db.execute(sql`select ${i}::int`))).then((s) =>
        done.resolve(s.map((r) => (r as PromiseRejectedResult).reason)),
      );
      const reasons = await done.promise;
      for (const r of reasons) expect(r).toBeInstanceOf(QueryTimeoutError);
    } finally {
      proxy.blackhole(false);
      await db.$close();
    }
  });
});
