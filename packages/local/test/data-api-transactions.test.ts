// Transactions (commit, rollback, expiry, one call at a time), BatchExecuteStatement and
// concurrency, through the unmodified @aws-sdk/client-rds-data.

import { until } from '@anypg/testkit';
import {
  BatchExecuteStatementCommand,
  type BatchExecuteStatementCommandInput,
  BeginTransactionCommand,
  CommitTransactionCommand,
  DatabaseErrorException,
  ExecuteStatementCommand,
  type ExecuteStatementCommandInput,
  RDSDataClient,
  RollbackTransactionCommand,
  TransactionNotFoundException,
} from '@aws-sdk/client-rds-data';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type DataApiEndpoint, type DataApiEndpointOptions, startDataApiEndpoint } from '../src/index.js';

const SCHEMA = `dataapi_tx_${process.pid}`;
let url: string;
let direct: pg.Client;
const started: DataApiEndpoint[] = [];
const clients: RDSDataClient[] = [];

async function start(options: Partial<DataApiEndpointOptions> = {}) {
  const endpoint = await startDataApiEndpoint({ upstream: url, ...options });
  started.push(endpoint);
  const client = new RDSDataClient(endpoint.clientConfig);
  clients.push(client);
  const arns = { resourceArn: endpoint.resourceArn, secretArn: endpoint.secretArn };
  return {
    endpoint,
    exec: (input: Omit<ExecuteStatementCommandInput, 'resourceArn' | 'secretArn'>) =>
      client.send(new ExecuteStatementCommand({ ...arns, ...input })),
    batch: (input: Omit<BatchExecuteStatementCommandInput, 'resourceArn' | 'secretArn'>) =>
      client.send(new BatchExecuteStatementCommand({ ...arns, ...input })),
    begin: async () => (await client.send(new BeginTransactionCommand(arns))).transactionId!,
    commit: (transactionId: string) => client.send(new CommitTransactionCommand({ ...arns, transactionId })),
    rollback: (transactionId: string) => client.send(new RollbackTransactionCommand({ ...arns, transactionId })),
  };
}

const failure = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e as Error,
  );

async function count(table: string): Promise<number> {
  return (await direct.query(`select count(*)::int as n from ${SCHEMA}.${table}`)).rows[0].n;
}

/**
 * Endpoint upstream connections (application_name) in a transaction right now whose last statement
 * touched `table` of this file's schema: only the calling test's own transactions.
 */
async function openTransactionsOnServer(table: string): Promise<number> {
  const r = await direct.query(
    `select count(*)::int as n from pg_stat_activity
     where application_name = 'anypg-local-data-api' and state like 'idle in transaction%' and query like $1`,
    [`%${SCHEMA}.${table} %`],
  );
  return r.rows[0].n;
}

/** Whether `check` comes true before a deadline that grows with the machine's load. */
async function eventually(check: () => Promise<boolean> | boolean, everyMs = 50): Promise<boolean> {
  return until('a condition', check, { timeoutMs: 20_000, intervalMs: everyMs }).then(
    () => true,
    () => false,
  );
}

let api: Awaited<ReturnType<typeof start>>;

beforeAll(async () => {
  url = inject('databaseUrl');
  direct = new pg.Client({ connectionString: url });
  await direct.connect();
  await direct.query(`drop schema if exists ${SCHEMA} cascade; create schema ${SCHEMA}`);
  for (const t of ['c', 'r', 'e', 'b', 'bt', 'f', 'k', 'life', 'closing', 'leak']) {
    await direct.query(`create table ${SCHEMA}.${t} (id int primary key, v text)`);
  }
  api = await start();
});

afterAll(async () => {
  for (const c of clients) c.destroy();
  await Promise.all(started.map((e) => e.close()));
  await direct.query(`drop schema if exists ${SCHEMA} cascade`);
  await direct.end();
});

describe('transactions', () => {
  it('commits: invisible outside until CommitTransaction, visible after', async () => {
    const id = await api.begin();
    expect(id).toMatch(/^[A-Za-z0-9+/=]{20,192}$/);
    await api.exec({ sql: `insert into ${SCHEMA}.c values (1, 'a'), (2, 'b')`, transactionId: id });
    const inside = await api.exec({ sql: `select count(*) from ${SCHEMA}.c`, transactionId: id });
    expect(inside.records![0]![0]!.longValue).toBe(2);
    const outside = await api.exec({ sql: `select count(*) from ${SCHEMA}.c` });
    expect(outside.records![0]![0]!.longValue).toBe(0);
    const done = await api.commit(id);
    expect(done.transactionStatus).toBe('Transaction Committed');
    expect(await count('c')).toBe(2);
    // The id is gone once committed.
    expect(await failure(api.exec({ sql: 'select 1', transactionId: id }))).toBeInstanceOf(
      TransactionNotFoundException,
    );
    expect(api.endpoint.stats().openTransactions).toBe(0);
  });

  it('rolls back with RollbackTransaction', async () => {
    const id = await api.begin();
    await api.exec({ sql: `insert into ${SCHEMA}.r values (1, 'a')`, transactionId: id });
    const done = await api.rollback(id);
    expect(done.transactionStatus).toBe('Rollback Complete');
    expect(await count('r')).toBe(0);
    expect(await failure(api.rollback(id))).toBeInstanceOf(TransactionNotFoundException);
  });

  it('keeps session state inside a transaction (one dedicated connection)', async () => {
    const id = await api.begin();
    await api.exec({ sql: `create temp table scratch (n int) on commit drop`, transactionId: id });
    await api.exec({
      sql: 'insert into scratch values (:n)',
      transactionId: id,
      parameters: [{ name: 'n', value: { longValue: 5 } }],
    });
    const res = await api.exec({ sql: 'select n, pg_backend_pid() from scratch', transactionId: id });
    const again = await api.exec({ sql: 'select pg_backend_pid()', transactionId: id });
    expect(res.records![0]![0]!.longValue).toBe(5);
    expect(again.records![0]![0]!.longValue).toBe(res.records![0]![1]!.longValue);
    await api.commit(id);
  });

  it('refuses COMMIT of a transaction a statement failed in, and rolls it back', async () => {
    const id = await api.begin();
    await api.exec({ sql: `insert into ${SCHEMA}.f values (1, 'a')`, transactionId: id });
    const bad = await failure(api.exec({ sql: 'select * from nope_in_tx', transactionId: id }));
    expect(bad).toBeInstanceOf(DatabaseErrorException);
    const aborted = await failure(api.exec({ sql: 'select 1', transactionId: id }));
    expect(aborted!.message).toBe(
      'ERROR: current transaction is aborted, commands ignored until end of transaction block; SQLState: 25P02',
    );
    const commit = await failure(api.commit(id));
    expect(commit).toBeInstanceOf(DatabaseErrorException);
    expect(commit!.message).toMatch(/cannot be committed.*relation "nope_in_tx" does not exist/);
    expect(await count('f')).toBe(0);
    expect(await failure(api.exec({ sql: 'select 1', transactionId: id }))).toBeInstanceOf(
      TransactionNotFoundException,
    );
  });

  it('answers a second call on a busy transaction with "Transaction is still running a query"', async () => {
    // The first call waits on an advisory lock the test holds, so it is still running for as long
    // as the test needs, however slow the machine.
    const key = 0x5eed + (process.pid % 1000);
    await direct.query('select pg_advisory_lock($1)', [key]);
    const id = await api.begin();
    const slow = api.exec({
      sql: `select 1 as ${SCHEMA}_busy from (select pg_advisory_xact_lock(${key})) l`,
      transactionId: id,
    });
    const waiting = async () =>
      (
        await direct.query(
          `select count(*)::int as n from pg_stat_activity where state = 'active' and query like '%${SCHEMA}_busy%' and pid <> pg_backend_pid()`,
        )
      ).rows[0].n === 1;
    expect(await eventually(waiting, 20)).toBe(true);
    const second = await failure(api.exec({ sql: 'select 1', transactionId: id }));
    await direct.query('select pg_advisory_unlock($1)', [key]);
    await slow;
    expect(second).toBeInstanceOf(DatabaseErrorException);
    expect(second!.message).toBe('Transaction is still running a query');
    const after = await api.exec({ sql: 'select 2', transactionId: id });
    expect(after.records).toEqual([[{ longValue: 2 }]]);
    await api.rollback(id);
  });

  it('rolls back a transaction left unused for transactionTimeoutMs; its id is then unknown', async () => {
    const short = await start({ transactionTimeoutMs: 800 });
    const id = await short.begin();
    await short.exec({ sql: `insert into ${SCHEMA}.e values (1, 'a')`, transactionId: id });
    expect(await eventually(() => short.endpoint.stats().expiredTransactions === 1)).toBe(true);
    const err = await failure(short.exec({ sql: 'select 1', transactionId: id }));
    expect(err).toBeInstanceOf(TransactionNotFoundException);
    expect(await count('e')).toBe(0);
    expect(short.endpoint.stats().openTransactions).toBe(0);
  });

  it('keeps a transaction that is used more often than the timeout', async () => {
    const short = await start({ transactionTimeoutMs: 2000 });
    const id = await short.begin();
    for (let i = 0; i < 10; i++) {
      await short.exec({ sql: `insert into ${SCHEMA}.k values (${i}, 'x')`, transactionId: id });
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(short.endpoint.stats().expiredTransactions).toBe(0);
    await short.commit(id);
    expect(await count('k')).toBe(10);
  });

  it('rolls back a transaction at transactionMaxLifetimeMs even while it is in use', async () => {
    const short = await start({ transactionTimeoutMs: 60_000, transactionMaxLifetimeMs: 1000 });
    const id = await short.begin();
    let i = 0;
    const gone = await eventually(async () => {
      const err = await failure(
        short.exec({ sql: `insert into ${SCHEMA}.life values (${i++}, 'x')`, transactionId: id }),
      );
      return err instanceof TransactionNotFoundException;
    });
    expect(gone).toBe(true);
    expect(i).toBeGreaterThan(1);
    expect(await count('life')).toBe(0);
  });

  it('ends a transaction whose lifetime passed during a statement as soon as that statement ends', async () => {
    const short = await start({ transactionTimeoutMs: 60_000, transactionMaxLifetimeMs: 300 });
    const id = await short.begin();
    // The statement outlasts the lifetime: it finishes, and the transaction is then rolled back.
    await short.exec({ sql: `insert into ${SCHEMA}.life select 1000, 'x' from pg_sleep(0.6)`, transactionId: id });
    const err = await failure(short.exec({ sql: 'select 1', transactionId: id }));
    expect(err).toBeInstanceOf(TransactionNotFoundException);
    expect(await count('life')).toBe(0);
    expect(short.endpoint.stats().openTransactions).toBe(0);
  });

  it('close() rolls back every open transaction and closes its connection', async () => {
    const closing = await start();
    const ids = [await closing.begin(), await closing.begin()];
    for (const [n, id] of ids.entries()) {
      await closing.exec({ sql: `insert into ${SCHEMA}.closing values (${n}, 'x')`, transactionId: id });
    }
    expect(await openTransactionsOnServer('closing')).toBe(2);
    await closing.endpoint.close();
    expect(await eventually(async () => (await openTransactionsOnServer('closing')) === 0)).toBe(true);
    expect(await count('closing')).toBe(0);
    await closing.endpoint.close(); // twice is fine
  });
});

describe('calls outside a transaction', () => {
  it('autocommit: a BEGIN run as a statement does not leak into the next call on the pool', async () => {
    const single = await start({ poolSize: 1 });
    await single.exec({ sql: 'begin' });
    await single.exec({ sql: `insert into ${SCHEMA}.leak values (1, 'x')` });
    expect(await count('leak')).toBe(1);
  });
});

describe('BatchExecuteStatement', () => {
  it('runs the SQL once per parameter set and returns one updateResult each', async () => {
    const res = await api.batch({
      sql: `insert into ${SCHEMA}.b (id, v) values (:id, :v)`,
      parameterSets: [1, 2, 3].map((id) => [
        { name: 'id', value: { longValue: id } },
        { name: 'v', value: { stringValue: `row ${id}` } },
      ]),
    });
    expect(res.updateResults).toEqual([{ generatedFields: [] }, { generatedFields: [] }, { generatedFields: [] }]);
    const rows = await direct.query(`select id, v from ${SCHEMA}.b order by id`);
    expect(rows.rows).toEqual([
      { id: 1, v: 'row 1' },
      { id: 2, v: 'row 2' },
      { id: 3, v: 'row 3' },
    ]);
  });

  it('is all or nothing outside a transaction', async () => {
    const err = await failure(
      api.batch({
        sql: `insert into ${SCHEMA}.b (id, v) values (:id, 'dup')`,
        parameterSets: [[{ name: 'id', value: { longValue: 10 } }], [{ name: 'id', value: { longValue: 1 } }]],
      }),
    );
    expect(err).toBeInstanceOf(DatabaseErrorException);
    expect(err!.message).toMatch(/duplicate key.*; SQLState: 23505$/);
    expect(await count('b')).toBe(3);
  });

  it('joins a transaction when given its id', async () => {
    const id = await api.begin();
    await api.batch({
      sql: `insert into ${SCHEMA}.bt (id) values (:id)`,
      parameterSets: [[{ name: 'id', value: { longValue: 1 } }], [{ name: 'id', value: { longValue: 2 } }]],
      transactionId: id,
    });
    expect(await count('bt')).toBe(0);
    await api.rollback(id);
    expect(await count('bt')).toBe(0);
  });
});

describe('concurrency', () => {
  it('answers 50 concurrent calls, each with its own result', async () => {
    const before = api.endpoint.stats().requests;
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        api.exec({
          sql: 'select :i::int4 * 2 as twice, pg_sleep(0.01)',
          parameters: [{ name: 'i', value: { longValue: i } }],
        }),
      ),
    );
    expect(results.map((r) => r.records![0]![0]!.longValue)).toEqual(Array.from({ length: 50 }, (_, i) => i * 2));
    expect(api.endpoint.stats().requests - before).toBe(50);
  });

  it('runs 10 transactions side by side without mixing them up', async () => {
    const ids = await Promise.all(Array.from({ length: 10 }, () => api.begin()));
    expect(new Set(ids).size).toBe(10);
    const pids = await Promise.all(
      ids.map(
        async (id) =>
          (await api.exec({ sql: 'select pg_backend_pid()', transactionId: id })).records![0]![0]!.longValue,
      ),
    );
    expect(new Set(pids).size).toBe(10);
    await Promise.all(ids.map((id) => api.rollback(id)));
    expect(api.endpoint.stats().openTransactions).toBe(0);
  });
});
