// The pooler guard: which statements it flags, for which poolers, and what it must not flag.
// The last block checks its claims against a real PgBouncer in transaction mode.
import { type LocalPgBouncer, startPgBouncer } from '@anypg/local';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { PoolerKind } from '../src/backends/pg-pooler/detect.js';
import { poolerHazard } from '../src/backends/pg-pooler/guard.js';

const TRANSACTION_POOLERS: PoolerKind[] = ['pgbouncer', 'supavisor', 'neon-pooler', 'hyperdrive'];
const ALL: PoolerKind[] = ['rds-proxy', ...TRANSACTION_POOLERS];

const code = (sql: string, kind: PoolerKind, inTransaction?: boolean) =>
  poolerHazard(sql, kind, inTransaction === undefined ? {} : { inTransaction })?.code;

describe('poolerHazard: flagged for every pooler', () => {
  const cases: Array<[string, string]> = [
    ['set search_path = app, public', 'SESSION_SET'],
    ['SET SESSION work_mem TO 1000', 'SESSION_SET'],
    ["SET TIME ZONE 'UTC'", 'SESSION_SET'],
    ['set role app_user', 'SESSION_SET'],
    ['SET SESSION AUTHORIZATION app_user', 'SESSION_SET'],
    ['SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE', 'SESSION_SET'],
    ["select set_config('app.user_id', '42', false)", 'SET_CONFIG'],
    ["select pg_catalog.set_config('app.user_id', $1, $2)", 'SET_CONFIG'],
    ['PREPARE q (int) AS select $1', 'PREPARED_STATEMENT'],
    ['execute q(1)', 'PREPARED_STATEMENT'],
    ['DEALLOCATE ALL', 'PREPARED_STATEMENT'],
    ['declare c cursor with hold for select 1', 'CURSOR'],
    ['create temp table scratch (id int)', 'TEMP_OBJECT'],
    ['CREATE TEMPORARY SEQUENCE s', 'TEMP_OBJECT'],
    ['create or replace temp view v as select 1', 'TEMP_OBJECT'],
    ['CREATE TABLE pg_temp.scratch (id int)', 'TEMP_OBJECT'],
    ['select * into temp table copy from users', 'TEMP_OBJECT'],
    ['LISTEN orders', 'LISTEN'],
    ["LOAD 'auto_explain'", 'LOAD'],
    ['select pg_advisory_lock(42)', 'ADVISORY_LOCK'],
    ['select pg_try_advisory_lock(1, 2)', 'ADVISORY_LOCK'],
    ['select pg_advisory_unlock_all()', 'ADVISORY_LOCK'],
    ['select 1; set search_path = x', 'SESSION_SET'],
  ];
  for (const [sql, expected] of cases) {
    it(`${expected}: ${sql}`, () => {
      for (const kind of ALL) expect(code(sql, kind), kind).toBe(expected);
    });
  }
});

describe('poolerHazard: RDS Proxy pins on more', () => {
  const cases: Array<[string, string]> = [
    ['RESET search_path', 'RESET'],
    ['DISCARD ALL', 'DISCARD'],
    ['begin; declare c cursor for select 1', 'CURSOR'],
    ['create temp table t (id int) on commit drop', 'TEMP_OBJECT'],
    ["select nextval('orders_id_seq')", 'SEQUENCE'],
    ["select setval('orders_id_seq', 10)", 'SEQUENCE'],
  ];
  for (const [sql, expected] of cases) {
    it(`${expected}: ${sql}`, () => {
      expect(code(sql, 'rds-proxy')).toBe(expected);
      for (const kind of TRANSACTION_POOLERS) expect(code(sql, kind), kind).toBeUndefined();
    });
  }

  it('LONG_STATEMENT: a statement over 16 KB pins RDS Proxy only', () => {
    const values = Array.from({ length: 2000 }, (_, i) => `(${i}, 'row ${i}')`).join(', ');
    const sql = `insert into t (id, name) values ${values}`;
    expect(sql.length).toBeGreaterThan(16 * 1024);
    expect(code(sql, 'rds-proxy')).toBe('LONG_STATEMENT');
    expect(code(sql, 'pgbouncer')).toBeUndefined();
    expect(code('insert into t (id) values (1)', 'rds-proxy')).toBeUndefined();
  });
});

describe('poolerHazard: context', () => {
  it('currval/lastval outside a transaction read another client’s sequence state (transaction poolers)', () => {
    expect(code('select lastval()', 'pgbouncer', false)).toBe('SESSION_SEQUENCE_VALUE');
    expect(code("select currval('s')", 'supavisor', false)).toBe('SESSION_SEQUENCE_VALUE');
    expect(code('select lastval()', 'pgbouncer', true)).toBeUndefined();
    expect(code('select lastval()', 'pgbouncer')).toBeUndefined();
  });
});

describe('poolerHazard: not flagged', () => {
  const fine = [
    'select 1',
    'select set_value, reset_at, prepared, listen_count from settings',
    "select 'SET search_path = x; LISTEN y' as text",
    "select E'it\\'s; SET x = 1' as text",
    'select $$ set search_path = x $$ as body',
    'select $tag$ LISTEN x; $notag$ set y = 1 $tag$ as body',
    'select "set" from t',
    '-- SET search_path = x\nselect 1',
    '/* SET x /* nested */ LISTEN y */ select 1',
    'update users set name = $1 where id = $2',
    'insert into t (id) values (1) on conflict (id) do update set id = excluded.id',
    'SET LOCAL search_path = app',
    'set local statement_timeout = 5000',
    'SET TRANSACTION ISOLATION LEVEL SERIALIZABLE',
    'SET CONSTRAINTS ALL DEFERRED',
    "PREPARE TRANSACTION 'tx1'",
    "select set_config('app.user_id', $1, true)",
    "select set_config('app.user_id', '42', 'true')",
    'select pg_advisory_xact_lock(42)',
    'select pg_try_advisory_xact_lock_shared(42)',
    'alter role app set search_path = app',
    'create function f() returns int language sql set search_path = app as $$ select 1 $$',
    "do $$ begin raise notice 'SET x = 1'; end $$",
    'create table temps (temp int, temporary text)',
    'create table t (id int); select 1 into t2',
    'declare c cursor without hold for select 1',
    'create temp table t (id int) on commit drop',
    "select nextval('s')",
    'NOTIFY orders',
    "select pg_notify('orders', 'x')",
    'UNLISTEN *',
  ];
  for (const sql of fine) {
    it(sql, () => {
      for (const kind of TRANSACTION_POOLERS) expect(code(sql, kind), kind).toBeUndefined();
    });
  }

  it('RDS Proxy: SET LOCAL, _xact_ locks, set_config(..., true) and strings are fine too', () => {
    for (const sql of [
      'SET LOCAL search_path = app',
      'select pg_advisory_xact_lock(1)',
      "select set_config('a.b', 'c', true)",
      "select 'nextval(1); DISCARD ALL'",
      'select reset_count from t',
    ]) {
      expect(code(sql, 'rds-proxy'), sql).toBeUndefined();
    }
  });
});

describe('poolerHazard: messages', () => {
  it('says what the statement does to the pooler and what to do, without the values in it', () => {
    const set = poolerHazard("SET app.secret_token = 'hunter2'", 'pgbouncer')!;
    expect(set.message).toContain('SET app.secret_token');
    expect(set.message).toContain('PgBouncer in transaction mode');
    expect(set.message).toMatch(/leaks/);
    expect(set.message).toContain('SET LOCAL');
    expect(set.message).not.toContain('hunter2');

    const pin = poolerHazard("select set_config('app.secret', 'hunter2', false)", 'rds-proxy')!;
    expect(pin.message).toContain('RDS Proxy');
    expect(pin.message).toMatch(/pins the session/);
    expect(pin.message).toContain('set_config(name, value, true)');
    expect(pin.message).not.toContain('hunter2');

    const lock = poolerHazard('select pg_advisory_lock(7)', 'supavisor')!;
    expect(lock.message).toContain('pg_advisory_xact_lock');
  });
});

// Ground truth: what the guard says about transaction pooling is what a real PgBouncer does.
describe('against a real PgBouncer (transaction mode, one server connection)', () => {
  let bouncer: LocalPgBouncer;
  const clients: pg.Client[] = [];
  beforeAll(async () => {
    bouncer = await startPgBouncer({ upstream: inject('databaseUrl'), defaultPoolSize: 1 });
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    await bouncer?.close();
  });
  const connect = async () => {
    const c = new pg.Client({ connectionString: bouncer.url });
    c.on('error', () => {});
    await c.connect();
    clients.push(c);
    return c;
  };
  const workMem = async (c: pg.Client) => (await c.query('show work_mem')).rows[0].work_mem as string;

  // Each statement sets work_mem to 7777kB one way or another; does another client then see it?
  const cases: Array<{ sql: string[]; leaks: boolean }> = [
    { sql: ["set work_mem = '7777kB'"], leaks: true },
    { sql: ["select set_config('work_mem', '7777kB', false)"], leaks: true },
    { sql: ['begin', "set local work_mem = '7777kB'", 'commit'], leaks: false },
    { sql: ['begin', "select set_config('work_mem', '7777kB', true)", 'commit'], leaks: false },
  ];
  for (const { sql, leaks } of cases) {
    it(`${sql.join('; ')} ${leaks ? 'leaks to another client, and is flagged' : 'stays in its transaction, and is not flagged'}`, async () => {
      const [a, b] = [await connect(), await connect()];
      try {
        expect(await workMem(b)).not.toBe('7777kB');
        for (const s of sql) await a.query(s);
        expect((await workMem(b)) === '7777kB').toBe(leaks);
        const flagged = sql.some((s) => poolerHazard(s, 'pgbouncer') !== undefined);
        expect(flagged).toBe(leaks);
      } finally {
        await a.query('reset work_mem');
      }
    });
  }

  it('a temp table outlives its transaction and another client sees it, unless ON COMMIT DROP', async () => {
    const [a, b] = [await connect(), await connect()];
    const name = `anypg_guard_tmp_${process.pid}`;
    const leaky = `create temp table ${name} (id int)`;
    await a.query(leaky);
    const seen = await b.query(`select to_regclass('pg_temp.${name}') is not null as visible`);
    expect(seen.rows[0].visible).toBe(true);
    expect(poolerHazard(leaky, 'pgbouncer')?.code).toBe('TEMP_OBJECT');
    await a.query(`drop table pg_temp.${name}`);

    const contained = `create temp table ${name} (id int) on commit drop`;
    await a.query('begin');
    await a.query(contained);
    await a.query('commit');
    const after = await b.query(`select to_regclass('pg_temp.${name}') is not null as visible`);
    expect(after.rows[0].visible).toBe(false);
    expect(poolerHazard(contained, 'pgbouncer')).toBeUndefined();
  });
});
