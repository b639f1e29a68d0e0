// neon-http and neon-ws against the local Neon endpoint (the unmodified Neon driver inside anypg),
// on a real PostgreSQL. The same statements through pg directly are the oracle.
import { type NeonEndpoint, startNeonEndpoint } from '@anypg/local';
import { until } from '@anypg/testkit';
import { neonConfig } from '@neondatabase/serverless';
import { eq, sql } from 'drizzle-orm';
import { pgTable, serial, text, timestamp } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AnypgDatabase, ConnectionError, createDb, DatabaseError, OutcomeUnknownError } from '../src/node.js';
import { admin, databaseUrl, uniqueName } from './support/db.js';
import { startProxy, type TestProxy } from './support/proxy.js';

const table = uniqueName('neon');
const addRow = uniqueName('neon_add');
const items = pgTable(table, {
  id: serial('id').primaryKey(),
  name: text('name').notNull().unique(),
  at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
});

let endpoint: NeonEndpoint;
let proxy: TestProxy;
let http: AnypgDatabase;
let ws: AnypgDatabase;

beforeAll(async () => {
  await admin((c) =>
    c.query(
      `create table ${table} (id serial primary key, name text not null unique, at timestamptz not null default now())`,
    ),
  );
  // A function that writes, called from a statement that reads like a SELECT.
  await admin((c) =>
    c.query(
      `create function ${addRow}(v text) returns int language sql as $$ insert into ${table} (name) values (v) returning 1 $$`,
    ),
  );
  endpoint = await startNeonEndpoint({ upstream: databaseUrl() });
  // A TCP proxy in front of the endpoint counts HTTP connections.
  proxy = await startProxy(endpoint.port);
  const neon = { ...endpoint.neonConfig, fetchEndpoint: `http://127.0.0.1:${proxy.port}/sql` };
  http = createDb({ url: databaseUrl(), env: {}, backend: 'neon-http', neon });
  ws = createDb({ url: databaseUrl(), env: {}, backend: 'neon-ws', neon: endpoint.neonConfig });
});

afterAll(async () => {
  await http?.$close();
  await ws?.$close();
  await proxy?.close();
  await endpoint?.close();
  await admin((c) => c.query(`drop function ${addRow}(text); drop table ${table}`));
});

describe.each([
  ['neon-http', () => http],
  ['neon-ws', () => ws],
])('%s', (name, db) => {
  it('says what it is', () => {
    expect(db().$backend.backend).toBe(name);
    expect(db().$backend.reason).toMatch(/asked for/);
  });

  it('runs the query builder, execute and relational shapes like pg', async () => {
    const n = uniqueName(name);
    const [row] = await db().insert(items).values({ name: n }).returning();
    expect(row!.at).toBeInstanceOf(Date);
    expect(await db().select({ name: items.name }).from(items).where(eq(items.id, row!.id))).toEqual([{ name: n }]);
    const q = sql`select 1::int8 as big, 2.5::numeric as num, now()::timestamptz as ts, '{1,2}'::int[] as arr, '{"a":1}'::json as j`;
    const ours = await db().execute(q);
    const oracle = await admin((c) =>
      c.query(
        `select 1::int8 as big, 2.5::numeric as num, now()::timestamptz as ts, '{1,2}'::int[] as arr, '{"a":1}'::json as j`,
      ),
    );
    expect(Object.keys(ours.rows[0] as object)).toEqual(Object.keys(oracle.rows[0]));
    expect(ours.fields.map((f) => f.dataTypeID)).toEqual(oracle.fields.map((f) => f.dataTypeID));
    const { ts: a, ...restOurs } = ours.rows[0] as Record<string, unknown>;
    const { ts: b, ...restOracle } = oracle.rows[0];
    expect(restOurs).toEqual(restOracle);
    // execute() gives timestamptz as PostgreSQL's text, as drizzle's drivers do; pg parses it.
    expect(a).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?[+-]\d\d/);
    expect(b).toBeInstanceOf(Date);
  });

  it('interactive transactions commit and roll back', async () => {
    const kept = uniqueName('kept');
    const lost = uniqueName('lost');
    await db().transaction(async (tx) => {
      const [r] = await tx.insert(items).values({ name: kept }).returning({ id: items.id });
      await tx
        .update(items)
        .set({ name: `${kept}!` })
        .where(eq(items.id, r!.id));
    });
    await expect(
      db().transaction(async (tx) => {
        await tx.insert(items).values({ name: lost });
        throw new Error('undo');
      }),
    ).rejects.toThrow('undo');
    const names = (await db().select({ name: items.name }).from(items)).map((r) => r.name);
    expect(names).toContain(`${kept}!`);
    expect(names).not.toContain(lost);
  });

  it('batch is atomic', async () => {
    const dup = uniqueName('dup');
    const err = await db()
      .batch([db().insert(items).values({ name: dup }), db().insert(items).values({ name: dup })])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatabaseError);
    expect((err as DatabaseError).sqlstate).toBe('23505');
    expect((err as DatabaseError).constraint).toBe(`${table}_name_key`);
    expect(await db().select().from(items).where(eq(items.name, dup))).toEqual([]);
  });
});

describe('neon-http interactive transactions on Node: warm WebSocket sessions', () => {
  it('a warm transaction of 3 statements costs 4 round trips on the kept session (BEGIN with the first)', async () => {
    const wsProxy = await startProxy(endpoint.port);
    const db = createDb({
      url: databaseUrl(),
      env: {},
      backend: 'neon-http',
      neon: { ...endpoint.neonConfig, wsProxy: `127.0.0.1:${wsProxy.port}/v2` },
    });
    const tx3 = (n: string) =>
      db.transaction(async (tx) => {
        const [a] = await tx
          .insert(items)
          .values({ name: `${n}a` })
          .returning({ id: items.id });
        await tx
          .update(items)
          .set({ name: `${n}b` })
          .where(eq(items.id, a!.id));
        await tx.select().from(items).where(eq(items.id, a!.id));
      });
    try {
      await tx3(uniqueName('cold'));
      const cold = wsProxy.roundTrips();
      expect(wsProxy.connections()).toBe(1);
      wsProxy.resetCounts();
      await tx3(uniqueName('warm'));
      expect(wsProxy.roundTrips()).toBeLessThanOrEqual(4);
      expect(wsProxy.connections()).toBe(1); // the same session
      expect(db.$stats()).toMatchObject({ opened: 1, total: 1, idle: 1 });
      console.log(
        `neon-http transaction of 3 statements over WebSocket: cold ${cold} round trips, warm ${wsProxy.roundTrips()}`,
      );
    } finally {
      await db.$close();
      await wsProxy.close();
    }
  });

  it('a session the server closed while idle is replaced before the next transaction sends anything', async () => {
    const app = uniqueName('neon_ws_idle');
    const url = new URL(databaseUrl());
    url.searchParams.set('application_name', app);
    const db = createDb({
      url: url.toString(),
      env: {},
      applicationName: app,
      backend: 'neon-http',
      neon: endpoint.neonConfig,
    });
    try {
      await db.transaction(async (tx) => tx.execute(sql`select 1`));
      await admin((c) =>
        c.query('select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1', [app]),
      );
      await until('the pool to drop the closed session', () => db.$stats().idle === 0);
      const n = uniqueName('after');
      await db.transaction(async (tx) => tx.insert(items).values({ name: n }));
      expect(await db.select().from(items).where(eq(items.name, n))).toHaveLength(1);
      expect(db.$stats()).toMatchObject({ opened: 2, outcomeUnknown: 0 });
    } finally {
      await db.$close();
    }
  });
});

describe('neon-http on the wire', () => {
  it('reuses one kept-alive connection for warm queries, and sends a batch as one request', async () => {
    await http.execute(sql`select 1`);
    const connections = proxy.connections();
    proxy.resetCounts();
    for (let i = 0; i < 10; i++) await http.execute(sql`select ${i}::int`);
    // At most one new connection: the kept-alive one may have reached fetch's idle limit (about
    // 4 s) just as the loop began, on a busy machine.
    expect(proxy.connections() - connections).toBeLessThanOrEqual(1);
    expect(proxy.roundTrips()).toBe(10);
    proxy.resetCounts();
    await http.batch([
      http.execute(sql`select 1`),
      http.execute(sql`select 2`),
      http.execute(sql`select 3`),
      http.execute(sql`select 4`),
    ]);
    expect(proxy.roundTrips()).toBe(1);
  });

  it('two clients with different endpoints in one process do not interfere, and neonConfig stays untouched', async () => {
    const before = { fetchEndpoint: neonConfig.fetchEndpoint, wsProxy: neonConfig.wsProxy };
    const other = await startNeonEndpoint({ upstream: databaseUrl() });
    const otherProxy = await startProxy(other.port);
    try {
      const a = createDb({
        url: databaseUrl(),
        env: {},
        backend: 'neon-http',
        neon: { fetchEndpoint: `http://127.0.0.1:${otherProxy.port}/sql` },
      });
      proxy.resetCounts();
      otherProxy.resetCounts();
      await Promise.all([a.execute(sql`select 1`), http.execute(sql`select 2`), a.execute(sql`select 3`)]);
      expect(otherProxy.roundTrips()).toBe(2);
      expect(proxy.roundTrips()).toBe(1);
      expect({ fetchEndpoint: neonConfig.fetchEndpoint, wsProxy: neonConfig.wsProxy }).toEqual(before);
    } finally {
      await otherProxy.close();
      await other.close();
    }
  });

  it('a SELECT that calls a writing function is not replayed: the read-only resend proves it writes', async () => {
    const v = uniqueName('fn');
    await http.execute(sql`select 1`);
    proxy.killOnNextAnswer();
    const err = await http.execute(sql`select ${sql.raw(addRow)}(${v}) as n`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OutcomeUnknownError);
    expect((err as Error).message).toMatch(/25006/);
    expect((err as Error).message).not.toContain(v);
    const rows = () =>
      admin(async (c) => (await c.query(`select count(*)::int as n from ${table} where name = $1`, [v])).rows[0].n);
    await until('the first request to commit', async () => (await rows()) > 0);
    expect(await rows()).toBe(1);
  });

  it('the resend of a read whose answer was lost runs READ ONLY', async () => {
    await http.execute(sql`select 1`);
    const retries = http.$stats().retries;
    proxy.killAfterNextClientChunk();
    const res = await http.execute<{ ro: string }>(sql`select current_setting('transaction_read_only') as ro`);
    expect(res.rows).toEqual([{ ro: 'on' }]);
    expect(http.$stats().retries - retries).toBe(1);
  });

  it('a refused connection is a ConnectionError, safe to retry, even for a write', async () => {
    const closed = await startProxy(endpoint.port);
    const port = closed.port;
    await closed.close(); // nothing listens there now
    const refused = createDb({
      url: databaseUrl(),
      env: {},
      backend: 'neon-http',
      neon: { ...endpoint.neonConfig, fetchEndpoint: `http://127.0.0.1:${port}/sql` },
    });
    const err = await refused
      .insert(items)
      .values({ name: uniqueName('never') })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as ConnectionError).retryable).toBe(true);
    expect(refused.$stats().outcomeUnknown).toBe(0);
  });

  it('a write whose request dies after it was sent is not replayed', async () => {
    const v = uniqueName('w');
    await http.execute(sql`select 1`);
    proxy.killOnNextAnswer(); // the insert ran; its answer never arrives
    const err = await http
      .insert(items)
      .values({ name: v })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OutcomeUnknownError);
    const rows = () =>
      admin(async (c) => (await c.query(`select count(*)::int as n from ${table} where name = $1`, [v])).rows[0].n);
    // The server may still be finishing the insert: wait for it, then check it landed once.
    await until('the insert to commit', async () => (await rows()) > 0);
    expect(await rows()).toBe(1);
  });
});
