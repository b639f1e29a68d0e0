// The data-api backend against the local RDS Data API endpoint (the unmodified
// @aws-sdk/client-rds-data inside anypg) on a real PostgreSQL; pg direct on the same database is
// the oracle for results, shapes and errors.
import { type DataApiEndpoint, startDataApiEndpoint } from '@anypg/local';
import { budget } from '@anypg/testkit';
import { asc, eq, relations, sql } from 'drizzle-orm';
import { bigint, boolean, doublePrecision, integer, pgTable, serial, text } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDataApiTransport } from '../src/backends/data-api/factory.js';
import type { BackendContext } from '../src/core/context.js';
import {
  AbortedError,
  type AnypgDatabase,
  AnypgError,
  ConfigurationError,
  ConnectionError,
  ConnectionLostError,
  createDb,
  DatabaseError,
  OutcomeUnknownError,
  type QueryEvent,
  QueryTimeoutError,
  StatementTimeoutError,
} from '../src/node.js';
import { QueryEventSink } from '../src/observe/events.js';
import { admin, databaseUrl, uniqueName } from './support/db.js';
import { startProxy, type TestProxy } from './support/proxy.js';

const usersName = uniqueName('da_users');
const postsName = uniqueName('da_posts');
const users = pgTable(usersName, {
  id: serial('id').primaryKey(),
  name: text('name').notNull().unique(),
  age: integer('age'),
  active: boolean('active').notNull().default(true),
  score: doublePrecision('score'),
  big: bigint('big', { mode: 'number' }),
});
const posts = pgTable(postsName, {
  id: serial('id').primaryKey(),
  userId: integer('user_id')
    .notNull()
    .references(() => users.id),
  title: text('title').notNull(),
});
const usersRelations = relations(users, ({ many }) => ({ posts: many(posts) }));
const postsRelations = relations(posts, ({ one }) => ({
  user: one(users, { fields: [posts.userId], references: [users.id] }),
}));
const schema = { users, posts, usersRelations, postsRelations };

let endpoint: DataApiEndpoint;
let db: AnypgDatabase<typeof schema>;
let oracle: AnypgDatabase<typeof schema>;
const events: QueryEvent[] = [];

function dataApiOf(e: DataApiEndpoint, endpointUrl = e.url) {
  return {
    resourceArn: e.resourceArn,
    secretArn: e.secretArn,
    database: e.database,
    endpoint: endpointUrl,
    region: e.region,
    credentials: e.clientConfig.credentials,
  };
}

const unexpected = (): never => {
  throw new Error('expected this call to fail');
};

/** Requests the endpoint has answered (or refused) so far. */
const requests = () => endpoint.stats().requests;

async function count(where: string, values: unknown[] = []): Promise<number> {
  return admin(
    async (c) => (await c.query(`select count(*)::int as n from ${usersName} where ${where}`, values)).rows[0].n,
  );
}

beforeAll(async () => {
  await admin((c) =>
    c.query(`create table ${usersName} (id serial primary key, name text not null unique, age integer,
      active boolean not null default true, score double precision, big bigint);
    create table ${postsName} (id serial primary key, user_id integer not null references ${usersName}(id), title text not null)`),
  );
  endpoint = await startDataApiEndpoint({ upstream: databaseUrl() });
  db = createDb({
    env: {},
    schema,
    backend: 'data-api',
    dataApi: dataApiOf(endpoint),
    onQuery: (e) => events.push(e),
  });
  oracle = createDb({ url: databaseUrl(), env: {}, schema, backend: 'pg' });
});

afterAll(async () => {
  await db?.$close();
  await oracle?.$close();
  await endpoint?.close();
  await admin((c) => c.query(`drop table if exists ${postsName}; drop table if exists ${usersName}`));
});

describe('data-api', () => {
  it('says what it is and what it can do', () => {
    expect(db.$backend.backend).toBe('data-api');
    expect(db.$backend.reason).toMatch(/asked for/);
    expect(db.$backend.target).toContain(endpoint.resourceArn);
    expect(db.$backend.target).not.toContain(endpoint.secretArn);
    expect(db.$backend.tls).toBe('disable'); // a local http endpoint
    expect(db.$capabilities).toMatchObject({ interactiveTransactions: true, savepoints: true, batchAtomic: true });
    expect(db.$capabilities.namedStatements).toBe(false);
    expect(db.$capabilities.batchRoundTrips(1)).toBe(1);
    expect(db.$capabilities.batchRoundTrips(3)).toBe(5);
  });

  it('runs insert, select, update, delete and returning like pg', async () => {
    const name = uniqueName('u');
    const [row] = await db
      .insert(users)
      .values({ name, age: 30, score: 2.5, big: 2 ** 40 })
      .returning();
    expect(row).toEqual({ id: row!.id, name, age: 30, active: true, score: 2.5, big: 2 ** 40 });
    expect(await oracle.select().from(users).where(eq(users.id, row!.id))).toEqual([row]);

    const updated = await db
      .update(users)
      .set({ age: 31, active: false })
      .where(eq(users.name, name))
      .returning({ age: users.age, active: users.active });
    expect(updated).toEqual([{ age: 31, active: false }]);
    expect(await db.select({ age: users.age }).from(users).where(eq(users.id, row!.id))).toEqual([{ age: 31 }]);

    const deleted = await db.delete(users).where(eq(users.id, row!.id)).returning({ id: users.id });
    expect(deleted).toEqual([{ id: row!.id }]);
    expect(await count('id = $1', [row!.id])).toBe(0);
  });

  it('runs relational queries like pg', async () => {
    const name = uniqueName('rel');
    const [u] = await db.insert(users).values({ name }).returning({ id: users.id });
    await db.insert(posts).values([
      { userId: u!.id, title: 'first' },
      { userId: u!.id, title: 'second' },
    ]);
    const query = (d: typeof db) =>
      d.query.users.findFirst({
        where: eq(users.id, u!.id),
        with: { posts: { orderBy: [asc(posts.id)] } },
      });
    const ours = await query(db);
    // (drizzle's result type loses `posts` through the generic database type here; the value has it.)
    expect((ours as unknown as { posts: { title: string }[] }).posts.map((p) => p.title)).toEqual(['first', 'second']);
    expect(ours).toEqual(await query(oracle));
  });

  it('execute() returns the same command, rowCount and fields as pg', async () => {
    const t = uniqueName('da_exec');
    const statements = [
      sql.raw(`create table ${t} (id int primary key, v text)`),
      sql.raw(`insert into ${t} values (1, 'a'), (2, 'b')`),
      sql.raw(`insert into ${t} values (3, 'c') returning id`),
      sql.raw(`update ${t} set v = v || '!' where id < 3`),
      sql.raw(`select id, v from ${t} order by id`),
      sql.raw(`with gone as (delete from ${t} where id = 3 returning id) select count(*) from gone`),
      sql.raw(`values (1), (2)`),
      sql.raw(`delete from ${t} where false`),
      sql.raw(`drop table ${t}`),
    ];
    const shape = (r: { command: string; rowCount: number | null; fields: unknown[]; rows: unknown[] }) => ({
      command: r.command,
      rowCount: r.rowCount,
      fields: r.fields,
      rows: r.rows,
    });
    // Run on the Data API, then the same statements again through pg on a twin table.
    const ours = [];
    for (const s of statements) ours.push(shape(await db.execute(s)));
    const theirs = [];
    for (const s of statements) theirs.push(shape(await oracle.execute(s)));
    expect(ours).toEqual(theirs);
    expect(ours.map((r) => r.command)).toEqual([
      'CREATE',
      'INSERT',
      'INSERT',
      'UPDATE',
      'SELECT',
      'SELECT',
      'SELECT',
      'DELETE',
      'DROP',
    ]);
  });

  it('commits, rolls back, and keeps savepoints inside a transaction', async () => {
    const kept = uniqueName('kept');
    const lost = uniqueName('lost');
    const inner = uniqueName('inner');
    await db.transaction(async (tx) => {
      const [r] = await tx.insert(users).values({ name: kept }).returning({ id: users.id });
      await tx.update(users).set({ age: 7 }).where(eq(users.id, r!.id));
      // A savepoint that is rolled back: its insert goes, the outer work stays.
      await expect(
        tx.transaction(async (sp) => {
          await sp.insert(users).values({ name: inner });
          throw new Error('undo inner');
        }),
      ).rejects.toThrow('undo inner');
      // The transaction sees its own uncommitted row; nobody else does yet.
      expect(await tx.select({ age: users.age }).from(users).where(eq(users.name, kept))).toEqual([{ age: 7 }]);
      expect(await count('name = $1', [kept])).toBe(0);
    });
    expect(await count('name = $1 and age = 7', [kept])).toBe(1);
    expect(await count('name = $1', [inner])).toBe(0);

    await expect(
      db.transaction(async (tx) => {
        await tx.insert(users).values({ name: lost });
        throw new Error('undo');
      }),
    ).rejects.toThrow('undo');
    expect(await count('name = $1', [lost])).toBe(0);
    expect(endpoint.stats().openTransactions).toBe(0);
  });

  it('applies transaction settings with SET TRANSACTION, as pg applies them with BEGIN', async () => {
    const name = uniqueName('ro');
    const readOnly = (d: typeof db) =>
      d
        .transaction(
          async (tx) => {
            await tx.insert(users).values({ name });
          },
          { accessMode: 'read only' },
        )
        .catch((e: unknown) => e);
    const ours = (await readOnly(db)) as DatabaseError;
    const theirs = (await readOnly(oracle)) as DatabaseError;
    expect(ours).toBeInstanceOf(DatabaseError);
    expect(ours.sqlstate).toBe('25006'); // read_only_sql_transaction
    expect(ours.sqlstate).toBe(theirs.sqlstate);
    expect(ours.message).toBe(theirs.message);
    const level = await db.transaction(async (tx) => (await tx.execute(sql`show transaction_isolation`)).rows[0], {
      isolationLevel: 'serializable',
    });
    expect(level).toEqual({ transaction_isolation: 'serializable' });
  });

  it('runs a batch atomically in n + 2 calls (one call for a single statement)', async () => {
    const a = uniqueName('ba');
    const b = uniqueName('bb');
    const before = requests();
    const [inserted, selected, updated] = await db.batch([
      db.insert(users).values({ name: a }).returning({ name: users.name }),
      db.select({ name: users.name }).from(users).where(eq(users.name, a)),
      db.update(users).set({ age: 1 }).where(eq(users.name, a)).returning({ age: users.age }),
    ]);
    expect(requests() - before).toBe(3 + 2);
    expect(inserted).toEqual([{ name: a }]);
    expect(selected).toEqual([{ name: a }]);
    expect(updated).toEqual([{ age: 1 }]);

    const single = requests();
    expect(await db.batch([db.select({ n: sql<number>`1` }).from(users).limit(1)])).toEqual([[{ n: 1 }]]);
    expect(requests() - single).toBe(1);

    const err = await db
      .batch([db.insert(users).values({ name: b }), db.insert(users).values({ name: b })])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatabaseError);
    expect((err as DatabaseError).sqlstate).toBe('23505');
    expect(await count('name = $1', [b])).toBe(0);
  });

  it('turns an array parameter into an array literal where the SQL casts it, and refuses it elsewhere', async () => {
    const q = sql`select ${sql.param([1, 2, 3])}::int[] as a, cast(${sql.param(['x', 'y "z"', null])} as text[]) as b`;
    const ours = await db.execute(q);
    expect(ours.rows).toEqual([{ a: [1, 2, 3], b: ['x', 'y "z"', null] }]);
    expect(ours.rows).toEqual((await oracle.execute(q)).rows);
    const before = requests();
    const err = await db.execute(sql`select ${sql.param([1, 2])} as a`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AnypgError);
    expect((err as AnypgError).code).toBe('UNSUPPORTED');
    expect((err as Error).message).toMatch(/does not accept array parameters/);
    expect(requests()).toBe(before); // refused before sending
  });

  it('sends $n as :n without touching strings, quoted names, comments, dollar quotes or slices', async () => {
    const q = sql`select ${'p1'} as "$1 :1", '$2 :2' as s, $$ $3 :x $$ as d, /* $4 */ (array[10,20,30])[2:3] as sl, ${'p2'} as two -- $5 :y`;
    const ours = await db.execute(q);
    expect(ours.rows).toEqual([{ '$1 :1': 'p1', s: '$2 :2', d: ' $3 :x ', sl: [20, 30], two: 'p2' }]);
    expect(ours.rows).toEqual((await oracle.execute(q)).rows);
  });
});

describe('data-api errors', () => {
  /** The same statement through both backends. */
  async function both(run: (d: typeof db) => Promise<unknown>): Promise<[DatabaseError, DatabaseError]> {
    const ours = await run(db).catch((e: unknown) => e);
    const theirs = await run(oracle).catch((e: unknown) => e);
    expect(ours).toBeInstanceOf(DatabaseError);
    expect(theirs).toBeInstanceOf(DatabaseError);
    return [ours as DatabaseError, theirs as DatabaseError];
  }

  /** The fields both carry (pg has more: schema, file, line, routine, which the Data API does not send). */
  const common = (e: DatabaseError) => ({
    name: e.name,
    code: e.code,
    sqlstate: e.sqlstate,
    message: e.message,
    retryable: e.retryable,
    httpStatus: e.httpStatus,
    constraint: e.constraint,
    table: e.table,
    column: e.column,
    position: e.position,
  });

  it('unique violation: 23505 with the constraint, and no parameter value in the message', async () => {
    const name = uniqueName('secret-value');
    await db.insert(users).values({ name });
    const [ours, theirs] = await both((d) => d.insert(users).values({ name }));
    expect(ours.sqlstate).toBe('23505');
    expect(ours.constraint).toBe(`${usersName}_name_key`);
    expect(common(ours)).toEqual({ ...common(theirs), table: undefined });
    expect(ours.detail).toBe(theirs.detail);
    expect(ours.message).not.toContain(name);
  });

  it('not-null violation: 23502 with the column and table', async () => {
    const [ours, theirs] = await both((d) => d.execute(sql.raw(`insert into ${usersName} (name) values (null)`)));
    expect(ours.sqlstate).toBe('23502');
    expect(ours.column).toBe('name');
    expect(ours.table).toBe(usersName);
    expect(common(ours)).toEqual(common(theirs));
  });

  it('foreign key violation: 23503 with the constraint and table', async () => {
    const [ours, theirs] = await both((d) => d.insert(posts).values({ userId: -1, title: 'orphan' }));
    expect(ours.sqlstate).toBe('23503');
    expect(ours.constraint).toBe(`${postsName}_user_id_fkey`);
    expect(common(ours)).toEqual(common(theirs));
    expect(ours.detail).toBe(theirs.detail);
  });

  it('syntax error: 42601 at the same position, also after an array slice and parameters', async () => {
    const [ours, theirs] = await both((d) =>
      d.execute(sql`select (array[1,2,3])[1:2] as a, ${1} as b, ${'x'} as c from from`),
    );
    expect(ours.sqlstate).toBe('42601');
    expect(ours.position).toBeDefined();
    expect(common(ours)).toEqual(common(theirs));
  });

  it('division by zero: 22012', async () => {
    const [ours, theirs] = await both((d) => d.execute(sql`select 1 / ${0}::int as x`));
    expect(ours.sqlstate).toBe('22012');
    expect(common(ours)).toEqual(common(theirs));
  });

  it('reads the other message layout seen from AWS (newline-separated, no SQLState suffix)', async () => {
    const older = await startDataApiEndpoint({
      upstream: databaseUrl(),
      errorMessages: { layout: 'newline', sqlState: false },
    });
    const d = createDb({ env: {}, schema, backend: 'data-api', dataApi: dataApiOf(older) });
    try {
      const name = uniqueName('older');
      await db.insert(users).values({ name });
      const dup = (x: typeof db) =>
        x
          .insert(users)
          .values({ name })
          .then(unexpected, (e: unknown) => e as DatabaseError);
      const [ours, theirs] = [await dup(d), await dup(oracle)];
      expect(ours).toBeInstanceOf(DatabaseError);
      expect(common(ours)).toEqual({ ...common(theirs), table: undefined });
      expect(ours.detail).toBe(theirs.detail);
      const syntax = (x: typeof db) =>
        x.execute(sql`select ${1} as a from from`).then(unexpected, (e: unknown) => e as DatabaseError);
      expect(common(await syntax(d))).toEqual(common(await syntax(oracle)));
    } finally {
      await d.$close();
      await older.close();
    }
  });

  it('a statement past the Data API time limit is a StatementTimeoutError (57014)', async () => {
    const slow = await startDataApiEndpoint({ upstream: databaseUrl(), statementTimeoutMs: 200 });
    const d = createDb({ env: {}, backend: 'data-api', dataApi: dataApiOf(slow) });
    try {
      const err = await d.execute(sql`select pg_sleep(5)`).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StatementTimeoutError);
      expect((err as StatementTimeoutError).code).toBe('STATEMENT_TIMEOUT');
      expect((err as StatementTimeoutError).sqlstate).toBe('57014');
    } finally {
      await d.$close();
      await slow.close();
    }
  });

  it('several statements in one call are refused, saying what to do instead', async () => {
    // Accepted difference: the Data API takes one statement per call (pg runs several when there
    // are no parameters).
    const before = requests();
    const err = await db.execute(sql.raw('select 1 as a; select 2 as b')).catch((e: unknown) => e);
    expect(requests() - before).toBe(1);
    expect(err).toBeInstanceOf(AnypgError);
    expect((err as AnypgError).code).toBe('UNSUPPORTED');
    expect((err as Error).message).toMatch(/one statement per call/);
  });

  it('a COMMIT PostgreSQL turns into ROLLBACK fails (25P02) instead of passing silently', async () => {
    const name = uniqueName('aborted');
    const err = await db
      .transaction(async (tx) => {
        await tx.insert(users).values({ name });
        await tx.execute(sql`select 1 / 0`).catch(() => undefined); // swallowed: the transaction is aborted
      })
      .catch((e: unknown) => e);
    // Accepted difference: pg reports success for such a COMMIT (its tag is ROLLBACK); the Data API
    // raises an error. Either way nothing was committed.
    expect(err).toBeInstanceOf(DatabaseError);
    expect((err as DatabaseError).sqlstate).toBe('25P02');
    expect(await count('name = $1', [name])).toBe(0);
  });
});

describe('data-api retries', () => {
  it('retries DatabaseResumingException until Aurora answers', async () => {
    const before = requests();
    const retries = db.$stats().retries;
    endpoint.failNextCalls(2);
    expect((await db.execute(sql`select 42 as answer`)).rows).toEqual([{ answer: 42 }]);
    expect(requests() - before).toBe(3);
    expect(db.$stats().retries - retries).toBe(2);
    expect(events.at(-1)).toMatchObject({ backend: 'data-api', retried: true, command: 'SELECT' });

    // A write is retried too: a resuming cluster ran nothing. So is a transaction's BeginTransaction.
    const name = uniqueName('resumed');
    endpoint.failNextCalls(1);
    await db.transaction(async (tx) => {
      endpoint.failNextCalls(1);
      await tx.insert(users).values({ name });
    });
    expect(await count('name = $1', [name])).toBe(1);
    expect(endpoint.stats().pendingFailures).toBe(0);
  });

  it('gives up after resumeTimeoutMs with an error that says Aurora is resuming', async () => {
    const paused = await startDataApiEndpoint({ upstream: databaseUrl() });
    const d = createDb({ env: {}, backend: 'data-api', dataApi: { ...dataApiOf(paused), resumeTimeoutMs: 1_200 } });
    try {
      paused.failNextCalls(10);
      const err = await d.execute(sql`select 1`).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectionError);
      expect((err as ConnectionError).code).toBe('CONNECTION_FAILED');
      expect((err as ConnectionError).retryable).toBe(true);
      expect((err as Error).message).toMatch(/resuming from auto-pause.*resumeTimeoutMs \(1200 ms, 2 attempts\)/);
      // 0.5 s after the first attempt a second one; the next wait (1 s) would pass the 1.2 s limit.
      expect(paused.stats().requests).toBe(2);
    } finally {
      await d.$close();
      await paused.close();
    }
  });

  describe('through a proxy that can cut connections', () => {
    let proxy: TestProxy;
    let d: AnypgDatabase<typeof schema>;
    beforeAll(async () => {
      proxy = await startProxy(endpoint.port);
      d = createDb({
        env: {},
        schema,
        backend: 'data-api',
        dataApi: dataApiOf(endpoint, `http://127.0.0.1:${proxy.port}`),
      });
    });
    afterAll(async () => {
      await d?.$close();
      await proxy?.close();
    });

    it('does not replay a write whose answer was lost', async () => {
      const name = uniqueName('once');
      await d.execute(sql`select 1`);
      const unknown = d.$stats().outcomeUnknown;
      proxy.killOnNextAnswer();
      const err = await d
        .insert(users)
        .values({ name })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OutcomeUnknownError);
      expect((err as Error).message).not.toContain(name);
      expect(d.$stats().outcomeUnknown - unknown).toBe(1);
      // It reached the database once, and was not sent again.
      await expect.poll(() => count('name = $1', [name])).toBe(1);
    });

    it('does not replay a SELECT that calls a writing function: the read-only resend proves it writes', async () => {
      const fn = uniqueName('da_add');
      await admin((c) =>
        c.query(
          `create function ${fn}(v text) returns int language sql as $$ insert into ${usersName} (name) values (v) returning 1 $$`,
        ),
      );
      try {
        const name = uniqueName('fn');
        await d.execute(sql`select 1`);
        proxy.killOnNextAnswer();
        const err = await d.execute(sql`select ${sql.raw(fn)}(${name}) as n`).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(OutcomeUnknownError);
        expect((err as Error).message).toMatch(/25006/);
        expect((err as Error).message).not.toContain(name);
        await expect.poll(() => count('name = $1', [name])).toBe(1);
        await expect.poll(() => endpoint.stats().openTransactions).toBe(0);
      } finally {
        await admin((c) => c.query(`drop function ${fn}(text)`));
      }
    });

    it('the resend of a read whose answer was lost runs READ ONLY', async () => {
      await d.execute(sql`select 1`);
      proxy.killAfterNextClientChunk();
      const res = await d.execute<{ ro: string }>(sql`select current_setting('transaction_read_only') as ro`);
      expect(res.rows).toEqual([{ ro: 'on' }]);
      await expect.poll(() => endpoint.stats().openTransactions).toBe(0);
    });

    it('sends a plain read once more when its answer was lost', async () => {
      const retries = d.$stats().retries;
      proxy.killAfterNextClientChunk();
      expect((await d.execute(sql`select 7 as seven`)).rows).toEqual([{ seven: 7 }]);
      expect(d.$stats().retries - retries).toBe(1);
    });

    it('inside a transaction, a lost answer fails with CONNECTION_LOST and the transaction is rolled back', async () => {
      const name = uniqueName('txlost');
      const err = await d
        .transaction(async (tx) => {
          await tx.execute(sql`select 1`);
          proxy.killAfterNextClientChunk();
          await tx.insert(users).values({ name });
        })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectionLostError);
      expect((err as ConnectionLostError).retryable).toBe(true);
      expect(await count('name = $1', [name])).toBe(0);
      await expect.poll(() => endpoint.stats().openTransactions).toBe(0);
    });
  });

  it('keeps one connection while calls come often, and drops idle ones older than pool.idleTimeoutMs', async () => {
    const proxy = await startProxy(endpoint.port);
    const url = `http://127.0.0.1:${proxy.port}`;
    const warm = createDb({ env: {}, backend: 'data-api', dataApi: dataApiOf(endpoint, url) });
    const idle = createDb({
      env: {},
      backend: 'data-api',
      dataApi: dataApiOf(endpoint, url),
      pool: { idleTimeoutMs: 1 },
    });
    try {
      for (let i = 0; i < 3; i++) await warm.execute(sql`select ${i}::int`);
      expect(proxy.connections()).toBe(1);
      expect(warm.$stats()).toMatchObject({ opened: 1, staleReplaced: 0 });
      for (let i = 0; i < 3; i++) {
        await idle.execute(sql`select ${i}::int`);
        await new Promise((r) => setTimeout(r, 20)); // idle for longer than 1 ms by the wall clock
      }
      expect(proxy.connections()).toBe(1 + 3);
      expect(idle.$stats()).toMatchObject({ opened: 3, staleReplaced: 2 });
    } finally {
      await warm.$close();
      await idle.$close();
      await proxy.close();
    }
  });

  it('a request that cannot be sent fails with CONNECTION_FAILED after one more try', async () => {
    const closed = await startProxy(endpoint.port);
    const port = closed.port;
    await closed.close(); // nothing listens there now
    const d = createDb({ env: {}, backend: 'data-api', dataApi: dataApiOf(endpoint, `http://127.0.0.1:${port}`) });
    try {
      const err = await d
        .insert(users)
        .values({ name: uniqueName('never') })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectionError);
      expect((err as ConnectionError).code).toBe('CONNECTION_FAILED');
      expect(d.$stats().retries).toBe(1);
    } finally {
      await d.$close();
    }
  });

  it('a call without an answer within queryTimeoutMs fails with QUERY_TIMEOUT, and the client goes on', async () => {
    // An endpoint of its own, which stops the statement itself a little later (so it does not hold
    // a connection after the test). anypg's own SDK client and no caller's deadline: the time limit
    // is the light one (CallLimit).
    const limitMs = budget(2_000);
    const slow = await startDataApiEndpoint({ upstream: databaseUrl(), statementTimeoutMs: limitMs });
    const quick = createDb({ env: {}, backend: 'data-api', dataApi: dataApiOf(slow), queryTimeoutMs: 300 });
    try {
      const started = performance.now();
      // Not a plain read (a DO block): it is not sent again, and its outcome is unknown.
      const err = await quick
        .execute(sql.raw(`do $$ begin perform pg_sleep(${Math.ceil((2 * limitMs) / 1000)}); end $$`))
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(QueryTimeoutError);
      expect((err as Error).message).toMatch(/300 ms.*unknown/);
      // Ended by anypg's limit, not by the endpoint's.
      expect(performance.now() - started).toBeLessThan(limitMs);
      expect((await quick.execute(sql`select 1 as n`)).rows).toEqual([{ n: 1 }]);
    } finally {
      await quick.$close();
      await slow.close();
    }
  });

  it('a deadline ends the wait with ABORTED', async () => {
    const err = await db
      .$withTimeout(100)
      .execute(sql`select pg_sleep(0.5)`)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortedError);
    expect((err as AbortedError).code).toBe('ABORTED');
    // Inside a transaction: the statement keeps running on the server after the caller gave up, and
    // the Data API refuses the rollback until it ends; anypg rolls back once it can.
    const tx = await db
      .$withTimeout(100)
      .transaction(async (t) => t.execute(sql`select pg_sleep(0.5)`))
      .catch((e: unknown) => e);
    expect(tx).toBeInstanceOf(AbortedError);
    await expect.poll(() => endpoint.stats().openTransactions, { timeout: 10_000 }).toBe(0);
  });
});

describe('data-api query events', () => {
  it('carry the statement with placeholders, never the parameter values', async () => {
    const secret = uniqueName('hunter2');
    events.length = 0;
    await db.select().from(users).where(eq(users.name, secret));
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ backend: 'data-api', command: 'SELECT', rowCount: 0, retried: false });
    expect(events[0]!.sql).toContain('$1');
    expect(JSON.stringify(events)).not.toContain(secret);
  });
});

describe('data-api parameters with drizzle typings', () => {
  // drizzle computes, for each parameter, the type of the column it is bound to (Query.typings);
  // with them the transport sends the typeHint the Data API needs for timestamp, date, time, uuid,
  // json and numeric columns (a string without a hint is typed text there).
  it('sends each typed value with its hint, in the format the Data API takes', async () => {
    const t = uniqueName('da_typed');
    await admin((c) =>
      c.query(
        `create table ${t} (ts timestamp(3), tz timestamptz, d date, tm time, u uuid, j jsonb, n numeric(30, 10), nan numeric)`,
      ),
    );
    const ctx = {
      options: { dataApi: dataApiOf(endpoint) },
      env: {},
      runtime: { name: 'node', evidence: 'test' } as BackendContext['runtime'],
      resolution: { backend: 'data-api', reason: 'test' },
      url: undefined,
      rawUrl: undefined,
      events: new QueryEventSink({}),
      pooler: undefined,
    } as BackendContext;
    const transport = createDataApiTransport(ctx);
    try {
      const statement = {
        text: `insert into ${t} values ($1, $2, $3, $4, $5, $6, $7, $8)`,
        params: [
          '2024-01-02T03:04:05.678Z',
          '2024-01-02T03:04:05.5+05:30',
          '2024-01-02T00:00:00.000Z',
          '10:11:12.5',
          'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11',
          '{"a":[1,2]}',
          '12345678901234567890.0123456789',
          'NaN',
        ],
        typings: ['timestamp', 'timestamp', 'date', 'time', 'uuid', 'json', 'decimal', 'decimal'],
        rowMode: 'array' as const,
        parse: 'raw' as const,
      };
      expect(await transport.query(statement)).toMatchObject({ command: 'INSERT', rowCount: 1 });
      const row = await admin(
        async (c) =>
          (
            await c.query(
              `select ts::text, (tz at time zone 'UTC')::text as tz, d::text, tm::text, u::text, j, n::text, nan::text from ${t}`,
            )
          ).rows[0],
      );
      expect(row).toEqual({
        ts: '2024-01-02 03:04:05.678',
        tz: '2024-01-01 21:34:05.5',
        d: '2024-01-02',
        tm: '10:11:12.5',
        u: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
        j: { a: [1, 2] },
        n: '12345678901234567890.0123456789',
        nan: 'NaN',
      });
      // Without typings the same string is typed text, and PostgreSQL refuses it for a timestamp.
      const withoutTypings = { ...statement, typings: undefined };
      const untyped = await transport.query(withoutTypings).catch((e: unknown) => e);
      expect((untyped as DatabaseError).sqlstate).toBe('42804');
    } finally {
      await transport.close();
      await admin((c) => c.query(`drop table ${t}`));
    }
  });
});

describe('data-api configuration', () => {
  it('fails at createDb, naming the option, when something needed is missing or unsafe', () => {
    const base = dataApiOf(endpoint);
    const attempt = (dataApi: Record<string, unknown>, env: Record<string, unknown> = {}) => {
      try {
        createDb({ env, backend: 'data-api', dataApi: dataApi as never });
        return undefined;
      } catch (err) {
        return err as ConfigurationError;
      }
    };
    expect(attempt({ ...base, secretArn: 'not-an-arn' })?.option).toBe('dataApi.secretArn');
    expect(attempt({ ...base, region: undefined })?.option).toBe('dataApi.region');
    expect(attempt({ ...base, region: undefined }, { AWS_REGION: 'eu-west-1' })).toBeUndefined();
    const remote = attempt({ ...base, endpoint: 'http://db.example.com' });
    expect(remote).toBeInstanceOf(ConfigurationError);
    expect(remote?.option).toBe('dataApi.endpoint');
    expect(attempt({ ...base, resumeTimeoutMs: -1 })?.option).toBe('dataApi.resumeTimeoutMs');
    expect(attempt({ ...base, client: {} })?.option).toBe('dataApi.client');
  });

  it('refuses calls after $close()', async () => {
    const d = createDb({ env: {}, backend: 'data-api', dataApi: dataApiOf(endpoint) });
    await d.execute(sql`select 1`);
    await d.$close();
    const err = await d.execute(sql`select 1`).catch((e: unknown) => e);
    expect((err as AnypgError).code).toBe('CLIENT_CLOSED');
  });
});
