// What happens when connections die, stall or run out, against a real PostgreSQL. A TCP proxy in
// front of the server lets a test cut a connection at an exact point or count round trips.

import { budget, deferred, until } from '@anypg/testkit';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AbortedError,
  type AnypgWarning,
  CircuitOpenError,
  ConnectionError,
  createDb,
  type DatabaseError,
  OutcomeUnknownError,
  PoolExhaustedError,
  type QueryEvent,
  QueryTimeoutError,
  StatementTimeoutError,
  sqlstateOf,
} from '../src/node.js';
import { isReplaySafe } from '../src/resilience/replay.js';
import { admin, backendsNamed, databaseUrl, serverPort, uniqueName, viaPort } from './support/db.js';
import { startProxy, type TestProxy } from './support/proxy.js';

const table = uniqueName('res');
let proxy: TestProxy;

const addRow = uniqueName('add_row');

beforeAll(async () => {
  await admin((c) => c.query(`create table ${table} (id serial primary key, v text)`));
  // A function that writes, called from a statement that reads like a SELECT.
  await admin((c) =>
    c.query(
      `create function ${addRow}(v text) returns int language sql as $$ insert into ${table} (v) values (v) returning 1 $$`,
    ),
  );
  proxy = await startProxy(serverPort());
});
afterAll(async () => {
  await proxy.close();
  await admin((c) => c.query(`drop function ${addRow}(text); drop table ${table}`));
});

const countRows = (v: string) =>
  admin(async (c) => Number((await c.query(`select count(*)::int as n from ${table} where v = $1`, [v])).rows[0].n));

describe('warm reuse', () => {
  it('N warm invocations on Lambda share exactly one backend connection', async () => {
    const app = uniqueName('lambda');
    const db = createDb({ url: databaseUrl(), env: { AWS_LAMBDA_FUNCTION_NAME: app } });
    expect(db.$backend.runtime).toBe('aws-lambda');
    expect(db.$backend.pool.max).toBe(1);
    expect(db.$backend.reason).toMatch(/AWS_LAMBDA_FUNCTION_NAME/);
    // application_name defaults to the function name, sent as a startup parameter.
    for (let i = 0; i < 25; i++) await db.execute(sql`select ${i}::int as i`);
    // Concurrent calls inside one invocation queue for the single connection.
    await Promise.all(Array.from({ length: 10 }, () => db.execute(sql`select 1`)));
    expect(await backendsNamed(app)).toHaveLength(1);
    expect(db.$stats()).toMatchObject({ total: 1, opened: 1, staleReplaced: 0 });
    await db.$close();
    expect(await backendsNamed(app)).toHaveLength(0);
  });

  it('a Node server gets a pool sized cores x 2 + 1, and connects only when first used', async () => {
    const app = uniqueName('node');
    const db = createDb({ url: databaseUrl(), env: {}, applicationName: app });
    expect(db.$backend.runtime).toBe('node');
    expect(db.$backend.pool.max).toBeGreaterThanOrEqual(3);
    expect(await backendsNamed(app)).toHaveLength(0);
    expect((await db.$ping()).ok).toBe(true);
    expect(await backendsNamed(app)).toHaveLength(1);
    await db.$close();
  });

  it('a warm statement costs exactly one round trip', async () => {
    const db = createDb({ url: viaPort(proxy.port), env: {} });
    await db.execute(sql`select 1`); // connect
    proxy.resetCounts();
    await db.execute(sql`select ${'x'}::text as t, ${2}::int as n`);
    expect(proxy.roundTrips()).toBe(1);
    await db.$close();
  });
});

describe('dead connections', () => {
  it('a connection killed by the server while idle is replaced, and the next call succeeds', async () => {
    const app = uniqueName('killed');
    const db = createDb({ url: databaseUrl(), env: { AWS_LAMBDA_FUNCTION_NAME: app } });
    await db.execute(sql`select 1`);
    const [pid] = await backendsNamed(app);
    await admin((c) => c.query('select pg_terminate_backend($1)', [pid]));
    // The pool drops an idle connection as soon as its socket reports the close.
    await until('the pool to see the idle connection close', () => db.$stats().idle === 0);
    const res = await db.execute<{ ok: number }>(sql`select 1 as ok`);
    expect(res.rows).toEqual([{ ok: 1 }]);
    expect(db.$stats()).toMatchObject({ opened: 2, staleReplaced: 1, retries: 0 });
    await db.$close();
  });

  it('idle_session_timeout closing the connection is survived with one reconnect', async () => {
    const url = new URL(databaseUrl());
    // Long enough that a busy machine's gap between login and first statement does not trip it.
    url.searchParams.set('options', '-c idle_session_timeout=1000');
    const db = createDb({ url: url.toString(), env: { AWS_LAMBDA_FUNCTION_NAME: uniqueName('ist') } });
    await db.execute(sql`select 1`);
    await until('the server to close the idle session', () => db.$stats().idle === 0);
    expect((await db.execute<{ ok: number }>(sql`select 1 as ok`)).rows).toEqual([{ ok: 1 }]);
    expect(db.$stats()).toMatchObject({ opened: 2, staleReplaced: 1 });
    await db.$close();
  });

  it('an idle connection older than idleTimeoutMs is not used, even if no timer ran', async () => {
    const db = createDb({ url: viaPort(proxy.port), env: {}, pool: { idleTimeoutMs: 50 } });
    await db.execute(sql`select 1`);
    // Simulate a frozen process: the idle timer cannot fire while we block the event loop.
    const until = Date.now() + 120;
    while (Date.now() < until) {
      /* busy wait past the idle timeout */
    }
    const before = proxy.connections();
    await db.execute(sql`select 1`);
    expect(proxy.connections()).toBe(before + 1);
    expect(db.$stats().staleReplaced).toBe(1);
    await db.$close();
  });

  it('a write whose connection dies after it was sent is not replayed', async () => {
    const db = createDb({ url: viaPort(proxy.port), env: {} });
    await db.execute(sql`select 1`);
    const v = uniqueName('w');
    proxy.killAfterNextClientChunk();
    const err = await db.execute(sql.raw(`insert into ${table} (v) values ('${v}')`)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OutcomeUnknownError);
    expect((err as OutcomeUnknownError).retryable).toBe(false);
    // It reached the server (and committed) exactly once: no second copy from a replay. (The
    // server may still be finishing it: wait for the row, then check there is only one.)
    await until('the insert to commit', async () => (await countRows(v)) > 0);
    expect(await countRows(v)).toBe(1);
    expect(db.$stats()).toMatchObject({ retries: 0, outcomeUnknown: 1 });
    // The client carries on with a new connection.
    expect((await db.$ping()).ok).toBe(true);
    await db.$close();
  });

  it('a read whose connection dies after it was sent is retried once', async () => {
    const db = createDb({ url: viaPort(proxy.port), env: {} });
    await db.execute(sql`select 1`);
    proxy.killAfterNextClientChunk();
    const res = await db.execute<{ n: number }>(sql`select 7 as n`);
    expect(res.rows).toEqual([{ n: 7 }]);
    expect(db.$stats().retries).toBe(1);
    await db.$close();
  });

  it('a SELECT that calls a writing function is not replayed: the read-only resend proves it writes', async () => {
    const db = createDb({ url: viaPort(proxy.port), env: {} });
    await db.execute(sql`select 1`);
    const v = uniqueName('fn');
    proxy.killAfterNextClientChunk();
    const err = await db.execute(sql`select ${sql.raw(addRow)}(${v}) as n`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OutcomeUnknownError);
    expect((err as Error).message).toMatch(/25006/);
    expect(((err as Error).cause as DatabaseError).sqlstate).toBe('25006');
    expect((err as Error).message).not.toContain(v);
    await until('the first call to commit', async () => (await countRows(v)) > 0);
    expect(await countRows(v)).toBe(1);
    expect(db.$stats()).toMatchObject({ retries: 1, outcomeUnknown: 1 });
    await db.$close();
  });

  it('the resend of a read runs inside a READ ONLY transaction', async () => {
    const db = createDb({ url: viaPort(proxy.port), env: {} });
    await db.execute(sql`select 1`);
    expect((await db.execute(sql`select current_setting('transaction_read_only') as ro`)).rows).toEqual([
      { ro: 'off' },
    ]);
    proxy.killAfterNextClientChunk();
    const res = await db.execute<{ ro: string }>(sql`select current_setting('transaction_read_only') as ro`);
    expect(res.rows).toEqual([{ ro: 'on' }]);
    expect(db.$stats().retries).toBe(1);
    // The connection it used is back in the pool outside any transaction.
    expect((await db.execute(sql`select current_setting('transaction_read_only') as ro`)).rows).toEqual([
      { ro: 'off' },
    ]);
    await db.$close();
  });

  it('several statements in one text are never resent (a COMMIT among them would end READ ONLY)', async () => {
    const db = createDb({ url: viaPort(proxy.port), env: {} });
    await db.execute(sql`select 1`);
    proxy.killAfterNextClientChunk();
    const err = await db.execute(sql.raw('select 1; select 2')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OutcomeUnknownError);
    expect(db.$stats().retries).toBe(0);
    await db.$close();
  });

  it('a COMMIT whose connection dies is reported as outcome unknown', async () => {
    const db = createDb({ url: viaPort(proxy.port), env: {} });
    const v = uniqueName('c');
    const err = await db
      .transaction(async (tx) => {
        await tx.execute(sql.raw(`insert into ${table} (v) values ('${v}')`));
        proxy.killAfterNextClientChunk(); // the next bytes are COMMIT
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OutcomeUnknownError);
    expect((err as Error).message).toMatch(/COMMIT/);
    await until('the COMMIT to take effect', async () => (await countRows(v)) > 0);
    expect(await countRows(v)).toBe(1);
    await db.$close();
  });

  it('an error on an idle connection does not crash the process', async () => {
    const app = uniqueName('idleerr');
    const db = createDb({ url: databaseUrl(), env: {}, applicationName: app, pool: { max: 3 } });
    await Promise.all([db.execute(sql`select pg_sleep(0.05)`), db.execute(sql`select pg_sleep(0.05)`)]);
    const pids = await backendsNamed(app);
    expect(pids.length).toBe(2);
    await admin((c) =>
      c.query('select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1', [app]),
    );
    // Both idle connections are dropped when their sockets close, with no crash on the way.
    await until('the pool to drop both idle connections', () => db.$stats().idle === 0);
    expect(db.$stats().total).toBe(0);
    expect((await db.$ping()).ok).toBe(true);
    await db.$close();
  });
});

describe('limits', () => {
  it('a full pool fails with POOL_EXHAUSTED after the acquire timeout', async () => {
    const db = createDb({ url: databaseUrl(), env: {}, pool: { max: 1, acquireTimeoutMs: 150 } });
    const inside = deferred();
    const release = deferred();
    const held = db.transaction(() => {
      inside.resolve();
      return release.promise;
    });
    await inside.promise; // the only connection is now held
    const started = Date.now();
    const err = await db.execute(sql`select 1`).catch((e: unknown) => e);
    const waited = Date.now() - started;
    release.resolve();
    await held;
    expect(err).toBeInstanceOf(PoolExhaustedError);
    expect((err as PoolExhaustedError).httpStatus).toBe(503);
    expect((err as PoolExhaustedError).message).toMatch(/in use/);
    expect(waited).toBeGreaterThanOrEqual(140);
    expect(db.$stats().acquireTimeouts).toBe(1);
    await db.$close();
  });

  it('a statement over statement_timeout is cancelled and the connection stays usable', async () => {
    const db = createDb({ url: databaseUrl(), env: {}, statementTimeoutMs: 100, pool: { max: 1 } });
    const pid = (await db.execute<{ pid: number }>(sql`select pg_backend_pid() as pid`)).rows[0]!.pid;
    const err = await db.execute(sql`select pg_sleep(5)`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StatementTimeoutError);
    expect((err as StatementTimeoutError).sqlstate).toBe('57014');
    expect((err as StatementTimeoutError).code).toBe('STATEMENT_TIMEOUT');
    const after = (await db.execute<{ pid: number }>(sql`select pg_backend_pid() as pid`)).rows[0]!.pid;
    expect(after).toBe(pid);
    expect(db.$stats().opened).toBe(1);
    await db.$close();
  });

  it('the client-side query timeout answers at the deadline and cancels the statement on the server', async () => {
    const db = createDb({ url: databaseUrl(), env: {}, statementTimeoutMs: 0, queryTimeoutMs: 100, pool: { max: 1 } });
    const pid = (await db.execute<{ pid: number }>(sql`select pg_backend_pid() as pid`)).rows[0]!.pid;
    const err = await db.execute(sql`select pg_sleep(5)`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QueryTimeoutError);
    expect((err as QueryTimeoutError).code).toBe('QUERY_TIMEOUT');
    // The cancelled statement ends on the server, and the same connection serves the next one.
    const after = (await db.execute<{ pid: number }>(sql`select pg_backend_pid() as pid`)).rows[0]!.pid;
    expect(after).toBe(pid);
    await db.$close();
  });

  it('the query timeout is the bound even when the server and the cancel are blackholed', async () => {
    const limit = 300;
    const db = createDb({ url: viaPort(proxy.port), env: {}, statementTimeoutMs: 0, queryTimeoutMs: limit });
    await db.execute(sql`select 1`);
    proxy.blackhole(true);
    try {
      const started = Date.now();
      const err = await db.execute(sql`select 1`).catch((e: unknown) => e);
      const took = Date.now() - started;
      expect(err).toBeInstanceOf(QueryTimeoutError);
      // Before: the limit plus a fixed 2 s wait for the cancel to be confirmed. The margin is for a
      // busy machine's late timers; the wait it rules out is 2 s.
      expect(took).toBeLessThan(limit + 1_500);
    } finally {
      proxy.blackhole(false);
      await db.$close();
    }
  });

  it('the circuit opens after repeated connection failures, fails fast, then probes', async () => {
    proxy.refuse(true);
    const db = createDb({
      url: viaPort(proxy.port),
      env: {},
      circuitBreaker: { failureThreshold: 2, cooldownMs: 200 },
    });
    try {
      expect(await db.execute(sql`select 1`).catch((e: unknown) => e)).toBeInstanceOf(ConnectionError);
      expect(await db.execute(sql`select 1`).catch((e: unknown) => e)).toBeInstanceOf(ConnectionError);
      const before = proxy.connections();
      const open = await db.execute(sql`select 1`).catch((e: unknown) => e);
      expect(open).toBeInstanceOf(CircuitOpenError);
      expect((open as CircuitOpenError).message).toMatch(/fails fast/);
      expect((open as CircuitOpenError).cause).toBeInstanceOf(ConnectionError);
      expect(db.$stats().circuit).toBe('open');
      expect(proxy.connections()).toBe(before);
      proxy.refuse(false);
      await until('the cooldown to end', () => db.$stats().circuit === 'half-open');
      expect((await db.execute<{ ok: number }>(sql`select 1 as ok`)).rows).toEqual([{ ok: 1 }]);
      expect(db.$stats().circuit).toBe('closed');
    } finally {
      proxy.refuse(false);
      await db.$close();
    }
  });
});

describe('too many clients (SQLSTATE 53300) at connect', () => {
  const role = uniqueName('limited');
  const roleUrl = (port: number) => {
    const u = new URL(viaPort(port));
    u.username = role;
    u.password = 'limited-pw';
    return u.toString();
  };
  beforeAll(() => admin((c) => c.query(`create role ${role} login password 'limited-pw' connection limit 1`)));
  afterAll(() => admin((c) => c.query(`drop role ${role}`)));

  /** Holds the role's only connection slot. */
  async function holdSlot() {
    const { default: pg } = await import('pg');
    const held = new pg.Client({ connectionString: roleUrl(serverPort()) });
    await held.connect();
    return held;
  }

  it('retries the connect with backoff within connectTimeoutMs, and succeeds once a slot frees', async () => {
    const limiter = await startProxy(serverPort());
    const held = await holdSlot();
    const db = createDb({ url: roleUrl(limiter.port), env: {}, pool: { connectTimeoutMs: 20_000 } });
    try {
      // (drizzle's query is lazy: then() starts it.)
      const query = db.execute<{ ok: number }>(sql`select 1 as ok`).then((r) => r);
      // The server refused a first attempt (an ErrorResponse, 53300, instead of a login)...
      await until('a refused connect', () => limiter.refusedLogins() > 0);
      await held.end();
      // ...and a later one within connectTimeoutMs gets the freed slot.
      expect((await query).rows).toEqual([{ ok: 1 }]);
      expect(limiter.connections()).toBeGreaterThan(1);
      expect(db.$stats()).toMatchObject({ opened: 1, circuit: 'closed' });
    } finally {
      await held.end().catch(() => undefined);
      await db.$close();
      await limiter.close();
    }
  });

  it('fails with a ConnectionError that carries the SQLSTATE once connectTimeoutMs is spent', async () => {
    const limiter = await startProxy(serverPort());
    const held = await holdSlot();
    // Time for a few attempts (each a full login), even on a busy machine.
    const db = createDb({ url: roleUrl(limiter.port), env: {}, pool: { connectTimeoutMs: budget(1_500) } });
    try {
      const err = await db.execute(sql`select 1`).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectionError);
      expect((err as ConnectionError).sqlstate).toBe('53300');
      expect(sqlstateOf(err)).toBe('53300');
      expect((err as ConnectionError).retryable).toBe(true);
      expect((err as ConnectionError).httpStatus).toBe(503);
      expect((err as Error).message).toMatch(/pooler/);
      expect(limiter.connections()).toBeGreaterThan(1); // it did try again
    } finally {
      await held.end();
      await db.$close();
      await limiter.close();
    }
  });
});

describe('the replay rule (text check; the READ ONLY resend is the proof)', () => {
  it.each([
    ['select 1', true],
    ['  (select a from t) union (select b from u)', true],
    ['with x as (select 1) select * from x', true],
    ["select 'insert into t' as s", true],
    ['select 1; select 2', false],
    ['select 1; commit; select 2', false],
    ['select 1;  ', true],
    ['insert into t values (1)', false],
    ['with d as (delete from t returning *) select * from d', false],
    ['select * from t for update', false],
    ["select nextval('s')", false],
    ['select pg_advisory_lock(1)', false],
    ['select * into t2 from t', false],
    ['update t set a = 1', false],
  ])('%s -> %s', (text, safe) => {
    expect(isReplaySafe(text)).toBe(safe);
  });
});

describe('observability', () => {
  it('query events carry timing and codes but never parameter values', async () => {
    const events: QueryEvent[] = [];
    const db = createDb({ url: databaseUrl(), env: {}, onQuery: (e) => events.push(e) });
    await db.execute(sql`select ${'secret-param-value'}::text as t`);
    await db.execute(sql`select 1/0`).catch(() => undefined);
    expect(events).toHaveLength(2);
    expect(events[0]).toMatchObject({ backend: 'pg', command: 'SELECT', rowCount: 1, retried: false });
    expect(events[0]!.sql).toContain('$1');
    expect(events[0]!.durationMs).toBeGreaterThanOrEqual(0);
    expect(events[1]).toMatchObject({ errorCode: 'DATABASE', sqlstate: '22012' });
    expect(JSON.stringify(events)).not.toContain('secret-param-value');
    await db.$close();
  });

  it('warns when a transaction holds its connection too long', async () => {
    const warnings: AnypgWarning[] = [];
    const db = createDb({
      url: databaseUrl(),
      env: {},
      pool: { leakWarningMs: 30 },
      onWarning: (w) => warnings.push(w),
    });
    await db.transaction(async () => new Promise((r) => setTimeout(r, 120)));
    expect(warnings.map((w) => w.code)).toEqual(['CONNECTION_HELD']);
    await db.transaction(async () => undefined);
    expect(warnings).toHaveLength(1);
    await db.$close();
  });
});

describe('deadlines', () => {
  it('$withTimeout bounds a running statement: it is cancelled and the connection stays usable', async () => {
    const db = createDb({ url: databaseUrl(), env: {}, pool: { max: 1 } });
    const pid = (await db.execute<{ pid: number }>(sql`select pg_backend_pid() as pid`)).rows[0]!.pid;
    const err = await db
      .$withTimeout(100)
      .execute(sql`select pg_sleep(5)`)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortedError);
    expect((err as AbortedError).message).toMatch(/deadline/);
    // The server was told to cancel: the same connection answers the next statement.
    const after = (await db.execute<{ pid: number }>(sql`select pg_backend_pid() as pid`)).rows[0]!.pid;
    expect(after).toBe(pid);
    const active = await admin(
      async (c) =>
        (
          await c.query(
            `select count(*)::int as n from pg_stat_activity where query like '%pg_sleep(5)%' and pid = $1`,
            [pid],
          )
        ).rows[0].n,
    );
    expect(active).toBe(0);
    await db.$close();
  });

  it('an AbortSignal ends the wait for a connection and for a transaction', async () => {
    const db = createDb({ url: databaseUrl(), env: {}, pool: { max: 1, acquireTimeoutMs: 10_000 } });
    const inside = deferred();
    const release = deferred();
    const held = db.transaction(() => {
      inside.resolve();
      return release.promise;
    });
    await inside.promise;
    const controller = new AbortController();
    const waiting = db.$withSignal(controller.signal).execute(sql`select 1`);
    const inTx = db.$withSignal(controller.signal).transaction(async (tx) => tx.execute(sql`select 1`));
    controller.abort();
    expect(await waiting.catch((e: unknown) => e)).toBeInstanceOf(AbortedError);
    expect(await inTx.catch((e: unknown) => e)).toBeInstanceOf(AbortedError);
    expect(db.$stats().waiting).toBe(0);
    release.resolve();
    await held;
    expect((await db.$ping()).ok).toBe(true);
    await db.$close();
  });
});
