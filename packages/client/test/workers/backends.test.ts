// anypg inside workerd: the test Worker (app.ts) creates a db per request, on the Hyperdrive
// binding (pg through miniflare's local Hyperdrive, a plain TCP pipe to the test PostgreSQL) and on
// neon-http (the Neon driver over workerd's fetch to the local Neon endpoint). What the Worker
// reports is checked against what Node sees on the server (the ADMIN binding).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ddl, dropDdl } from './schema.js';
import {
  admin,
  type Backend,
  call,
  expectBarePgRejection,
  settledBackends,
  URL_WITH_PASSWORD,
  unique,
} from './support.js';

const t = unique('wk');
const app = unique('anypg_wk');

beforeAll(async () => {
  await admin(ddl(t));
});

afterAll(async () => {
  await admin(dropDdl(t));
});

const namesLike = async (prefix: string) =>
  (await admin<{ name: string }>(`select name from ${t}_authors where name like $1 order by name`, [`${prefix}%`])).map(
    (r) => r.name,
  );

describe('hyperdrive', () => {
  it('is chosen because of the binding, and says so', async () => {
    const { status, body } = await call('hyperdrive', 'info', { t, app });
    expect(status).toBe(200);
    expect(body.backend).toMatchObject({
      runtime: 'workerd',
      backend: 'hyperdrive',
      reason: 'binding HYPERDRIVE found in env',
      tls: 'hyperdrive',
      pool: { max: 1 },
    });
    // The binding's password never shows.
    // No connection URL with a password other than the redaction (the test server's is random).
    expect(JSON.stringify(body)).not.toMatch(URL_WITH_PASSWORD);
    expect(body.capabilities).toMatchObject({ interactiveTransactions: true, savepoints: true, batchAtomic: true });
  });

  it('reads through $fresh on the uncached binding, and closes both connections', async () => {
    const name = unique('anypg_wk_fresh');
    const { status, body } = await call('hyperdrive', 'fresh', { t, app: name, name, uncached: true });
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body.row).toEqual({ name });
    expect(body.fresh.reason).toMatch(/HYPERDRIVE_UNCACHED \(no cache\)/);
    expect(body.fresh.target).not.toBe(body.backend.target); // another binding, another host
    expect(new Set(body.pids).size).toBe(2); // two server sessions
    expect(await settledBackends(name)).toBe(0);
  });
});

describe('neon-http', () => {
  it('is chosen because of the configured endpoint, and says so', async () => {
    const { status, body } = await call('neon-http', 'info', { t, app });
    expect(status).toBe(200);
    expect(body.backend).toMatchObject({ runtime: 'workerd', backend: 'neon-http' });
    expect(body.backend.reason).toMatch(/no TCP sockets/);
    expect(body.capabilities.batchRoundTrips3).toBe(1);
  });
});

describe.each(['hyperdrive', 'neon-http'] as Backend[])('%s inside workerd', (backend) => {
  const tag = (s: string) => `${backend}-${s}-${Math.random().toString(36).slice(2, 8)}`;

  it('runs the query builder and relational queries', async () => {
    const name = tag('crud');
    const { status, body } = await call(backend, 'crud', { t, app, name });
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body.inserted).toEqual({ id: expect.any(Number), name });
    expect(body.updated).toEqual({ id: body.inserted.id, name: `${name}!` });
    expect(body.selected).toEqual([
      { title: 'first', score: '1.50', at: { $date: expect.any(String) } },
      { title: 'second', score: null, at: { $date: expect.any(String) } },
    ]);
    expect(body.related).toEqual({
      id: body.inserted.id,
      name: `${name}!`,
      posts: [{ title: 'first' }, { title: 'second' }],
    });
    expect(await namesLike(name)).toEqual([`${name}!`]);
  });

  it("execute returns rows, fields, command and rowCount with the same values as drizzle's drivers on Node", async () => {
    const { status, body } = await call(backend, 'execute', { t, app });
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body.command).toBe('SELECT');
    expect(body.rowCount).toBe(1);
    expect(body.fields.map((f: { name: string; dataTypeID: number }) => [f.name, f.dataTypeID])).toEqual([
      ['big', 20],
      ['num', 1700],
      ['small', 23],
      ['ts', 1184],
      ['arr', 1007],
      ['j', 114],
      ['nothing', 25],
      ['bytes', 17],
      ['flag', 16],
      ['word', 25],
    ]);
    expect(body.rows).toEqual([
      {
        big: '1',
        num: '2.5',
        small: 3,
        // A timestamptz as PostgreSQL's text, as drizzle's drivers give it from execute().
        ts: expect.stringMatching(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?[+-]\d\d(:\d\d)?$/),
        arr: [1, 2],
        j: { a: 1 },
        nothing: null,
        bytes: { $bytes: '0102' },
        flag: true,
        word: 'é',
      },
    ]);
  });

  it('commits a transaction', async () => {
    const name = tag('commit');
    const { status, body } = await call(backend, 'txCommit', { t, app, name });
    expect(status, JSON.stringify(body)).toBe(200);
    expect(await namesLike(name)).toEqual([name]);
    const posts = await admin(`select title from ${t}_posts where id = $1 and author_id = $2`, [
      body.post,
      body.author,
    ]);
    expect(posts).toEqual([{ title: 'in tx' }]);
  });

  it('rolls back a transaction whose callback throws', async () => {
    const name = tag('rollback');
    const { status, body } = await call(backend, 'txRollback', { t, app, name });
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body.seen).toEqual(expect.any(Number)); // the insert ran inside the transaction...
    expect(body.error).toBe('changed my mind');
    expect(await namesLike(name)).toEqual([]); // ...and did not survive it
  });

  it('rolls back to a savepoint in a nested transaction', async () => {
    const name = tag('savepoint');
    const { status, body } = await call(backend, 'txSavepoint', { t, app, name });
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body.inner).toBe('undo the inner one');
    expect(await namesLike(name)).toEqual([`${name}-outer`]);
  });

  it('runs a batch in order, atomically', async () => {
    const name = tag('batch');
    const { status, body } = await call(backend, 'batch', { t, app, name });
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body.inserted).toEqual([{ id: expect.any(Number), name }]);
    expect(body.selected).toEqual([{ name }]);
    expect(body.updated).toEqual([{ name: `${name}+` }]);
    expect(await namesLike(name)).toEqual([`${name}+`]);

    const failing = tag('batchfail');
    await admin(`insert into ${t}_authors (name) values ($1)`, [failing]);
    const failed = await call(backend, 'batchFails', { t, app, name: failing });
    expect(failed.body.error).toMatchObject({ isDatabaseError: true, sqlstate: '23505' });
    expect(await namesLike(failing)).toEqual([failing]); // the batch's first insert was undone
  });

  it('maps a unique violation to DatabaseError with its SQLSTATE and fields', async () => {
    const name = tag('unique');
    const { status, body } = await call(backend, 'unique', { t, app, name });
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body.error).toMatchObject({
      class: 'DatabaseError',
      isAnypgError: true,
      isDatabaseError: true,
      code: 'DATABASE',
      sqlstate: '23505',
      constraint: `${t}_authors_name_key`,
      table: `${t}_authors`,
    });
    // No parameter value in the message.
    expect(body.error.message).not.toContain(name);
  });
});

describe('closing', () => {
  it('leaves no hyperdrive connection open once the requests are done', async () => {
    const name = unique('anypg_wk_close');
    for (let i = 0; i < 5; i++) {
      const { status } = await call('hyperdrive', 'execute', { t, app: name });
      expect(status).toBe(200);
    }
    expect(await settledBackends(name)).toBe(0);
  });

  it('gives every pg client an error listener: no "Stream was cancelled" rejection from anypg', async () => {
    const name = unique('anypg_wk_rej');
    const before = (await call('hyperdrive', 'rejections', {})).body.rejections as string[];
    for (let i = 0; i < 5; i++) await call('hyperdrive', 'txCommit', { t, app: name, name: `${name}-${i}` });
    expect(await settledBackends(name)).toBe(0);
    const after = (await call('hyperdrive', 'rejections', {})).body.rejections as string[];
    expect(after.slice(before.length)).toEqual([]);

    // The control: pg used bare (no listener) leaves one per client, so the count above can fail.
    // (workerd's message is "This socket has been closed."; older releases said "Stream was cancelled".)
    await expectBarePgRejection();
    await call('hyperdrive', 'barePg', {});
    let bare: string[] = [];
    for (let i = 0; i < 50 && bare.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      bare = ((await call('hyperdrive', 'rejections', {})).body.rejections as string[]).slice(after.length);
    }
    expect(bare).toEqual([expect.stringMatching(/This socket has been closed|Stream was cancelled/)]);
  });
});
