// The WebSocket relay with the unmodified Neon driver's Pool and Client (and raw WebSocket frames
// where the driver hides what matters), against real PostgreSQL servers.
import { Client, neonConfig, Pool } from '@neondatabase/serverless';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import WebSocket from 'ws';
import { type LocalPostgres, type NeonEndpoint, startNeonEndpoint, startPostgres } from '../src/index.js';

const url = inject('databaseUrl');
const S = 'neon_ws_t';
let endpoint: NeonEndpoint;
let direct: pg.Client;
let pool: Pool;

function withApp(app: string, base = url, host?: string): string {
  const u = new URL(base);
  u.searchParams.set('application_name', app);
  if (host) u.hostname = host;
  return u.toString();
}

async function count(sql: string, values: unknown[], client = direct): Promise<number> {
  return (await client.query(sql, values)).rows[0].n;
}

const activeOf = (app: string, client = direct) =>
  count(
    `select count(*)::int as n from pg_stat_activity where application_name = $1 and state = 'active'`,
    [app],
    client,
  );
const sessionsOf = (app: string, client = direct) =>
  count(`select count(*)::int as n from pg_stat_activity where application_name = $1`, [app], client);

async function until<T>(read: () => Promise<T>, check: (v: T) => boolean, tries = 200): Promise<T> {
  let v = await read();
  for (let i = 0; i < tries && !check(v); i++) {
    await new Promise((r) => setTimeout(r, 25));
    v = await read();
  }
  return v;
}

beforeAll(async () => {
  endpoint = await startNeonEndpoint({ upstream: url });
  // Global to the driver: set once for this file. pipelineConnect is false (the server uses SCRAM).
  Object.assign(neonConfig, endpoint.neonConfig);
  neonConfig.webSocketConstructor = WebSocket;
  direct = new pg.Client({ connectionString: url });
  await direct.connect();
  await direct.query(`drop schema if exists ${S} cascade; create schema ${S};
    create table ${S}.accounts (id int primary key, balance int not null check (balance >= 0))`);
  pool = new Pool({ connectionString: withApp('neon_ws_pool'), max: 3 });
});

afterAll(async () => {
  await pool?.end();
  await direct?.query(`drop schema if exists ${S} cascade`);
  await direct?.end();
  await endpoint?.close();
});

describe('Pool and Client over the relay', () => {
  it('runs pool queries, concurrently, with parameters', async () => {
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        pool.query('select $1::int * 2 as n, current_setting($2) as tz', [i, 'TimeZone']),
      ),
    );
    expect(results.map((r) => r.rows[0].n)).toEqual(Array.from({ length: 12 }, (_, i) => i * 2));
    expect(await sessionsOf('neon_ws_pool')).toBeLessThanOrEqual(3);
  });

  it('runs an interactive transaction that others see only after COMMIT, and rolls back another', async () => {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`insert into ${S}.accounts values (1, 100), (2, 50)`);
      const inside = await client.query(`select sum(balance)::int as total from ${S}.accounts`);
      expect(inside.rows[0].total).toBe(150);
      expect(await count(`select count(*)::int as n from ${S}.accounts`, [])).toBe(0);
      await client.query('COMMIT');
      expect(await count(`select count(*)::int as n from ${S}.accounts`, [])).toBe(2);

      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await client.query(`update ${S}.accounts set balance = balance - 30 where id = 1`);
      const err = await client.query(`update ${S}.accounts set balance = balance - 80 where id = 2`).catch((e) => e);
      expect(err.code).toBe('23514');
      expect(err.constraint).toBe('accounts_balance_check');
      const aborted = await client.query('select 1').catch((e) => e);
      expect(aborted.code).toBe('25P02');
      await client.query('ROLLBACK');
      const balances = await client.query(`select id, balance from ${S}.accounts order by id`);
      expect(balances.rows).toEqual([
        { id: 1, balance: 100 },
        { id: 2, balance: 50 },
      ]);
    } finally {
      client.release();
    }
  });

  it('moves a large result through the tunnel intact', async () => {
    const r = await pool.query(`select g, repeat(chr(65 + g % 26), 1000) as s from generate_series(1, 5000) g`);
    expect(r.rows).toHaveLength(5000);
    expect(r.rows[4999]).toEqual({ g: 5000, s: 'I'.repeat(1000) }); // chr(65 + 5000 % 26)
    expect(
      r.rows.every((row: { g: number; s: string }) => row.s === String.fromCharCode(65 + (row.g % 26)).repeat(1000)),
    ).toBe(true);
  });

  it('routes to its upstream whatever host the connection string names', async () => {
    const client = new Client(withApp('neon_ws_elsewhere', url, 'db.example.invalid'));
    await client.connect();
    const r = await client.query('select current_database() as db, inet_server_port() as port');
    expect(r.rows[0].port).toBe(Number(new URL(url).port));
    await client.end();
  });

  it('closes cleanly both ways: client end() ends the session, a terminated backend closes the client', async () => {
    const client = new Client(withApp('neon_ws_close'));
    await client.connect();
    const { pid } = (await client.query('select pg_backend_pid() as pid')).rows[0];
    expect(await sessionsOf('neon_ws_close')).toBe(1);
    await client.end();
    expect(
      await until(
        () => sessionsOf('neon_ws_close'),
        (n) => n === 0,
      ),
    ).toBe(0);
    expect(await count('select count(*)::int as n from pg_stat_activity where pid = $1', [pid])).toBe(0);

    const victim = new Client(withApp('neon_ws_terminated'));
    const ended = new Promise<void>((resolve) => victim.on('end', () => resolve()));
    victim.on('error', () => {});
    await victim.connect();
    const victimPid = (await victim.query('select pg_backend_pid() as pid')).rows[0].pid;
    await direct.query('select pg_terminate_backend($1)', [victimPid]);
    await ended;
    const after = await victim.query('select 1').catch((e) => e);
    expect(after).toBeInstanceOf(Error);
  });

  it('cancels the running query when the WebSocket drops mid-query', async () => {
    const app = 'neon_ws_dropped';
    const client = new Client(withApp(app));
    client.on('error', () => {});
    await client.connect();
    const running = client.query('select pg_sleep(60)').catch((e) => e);
    expect(
      await until(
        () => activeOf(app),
        (n) => n === 1,
      ),
    ).toBe(1);
    // Cut the tunnel without a Terminate message, as a crashed or frozen client would.
    (client as unknown as { connection: { stream: { ws: WebSocket } } }).connection.stream.ws.terminate();
    expect(
      await until(
        () => sessionsOf(app),
        (n) => n === 0,
      ),
    ).toBe(0);
    expect(await running).toBeInstanceOf(Error);
  });
});

describe('raw frames', () => {
  function open(path = '/v2?address=127.0.0.2:1'): Promise<WebSocket> {
    const socket = new WebSocket(`ws://${endpoint.wsProxy.replace('/v2', path)}`);
    return new Promise((resolve, reject) => {
      socket.once('open', () => resolve(socket));
      socket.once('error', reject);
    });
  }

  function startupMessage(user: string, database: string): Buffer {
    const body = Buffer.from(`user\0${user}\0database\0${database}\0\0`);
    const msg = Buffer.alloc(8 + body.length);
    msg.writeInt32BE(msg.length, 0);
    msg.writeInt32BE(196608, 4); // protocol 3.0
    body.copy(msg, 8);
    return msg;
  }

  it('is a byte stream: a startup split into one-byte frames (after an SSLRequest) gets the auth request', async () => {
    const socket = await open();
    const received: Buffer[] = [];
    socket.on('message', (data: Buffer) => received.push(Buffer.from(data)));
    const sslRequest = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
    socket.send(sslRequest);
    await until(
      async () => Buffer.concat(received).length,
      (n) => n >= 1,
    );
    expect(Buffer.concat(received).subarray(0, 1).toString()).toBe('N');
    const startup = startupMessage(new URL(url).username, 'postgres');
    for (const byte of startup) socket.send(Buffer.from([byte]));
    const all = await until(
      async () => Buffer.concat(received),
      (b) => b.length >= 1 + 9,
    );
    // 'R' AuthenticationSASL (10) or MD5 (5) / cleartext (3): the server asks the client to log in.
    expect(String.fromCharCode(all[1]!)).toBe('R');
    expect([3, 5, 10]).toContain(all.readInt32BE(6));
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    socket.close(1000);
    expect(await closed).toBe(1000);
  });

  it('refuses text frames with close code 1003', async () => {
    const socket = await open('/v2');
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    socket.send('select 1');
    expect(await closed).toBe(1003);
  });
});

describe('pipelined cleartext login (the driver default)', () => {
  let server: LocalPostgres;
  let pipelined: NeonEndpoint;
  let admin: pg.Client;

  beforeAll(async () => {
    // The driver's default login sends the password before the server asks: PostgreSQL must ask
    // this role for a cleartext `password`, which is what this pg_hba line does.
    server = await startPostgres({ hba: ['host all neon_pipelined 127.0.0.1/32 password'] });
    admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
    await admin.query(`create role neon_pipelined login password 'pipe-pw-1'`);
    pipelined = await startNeonEndpoint({ upstream: server.url, pipelineConnect: 'password' });
  });

  afterAll(async () => {
    await pipelined?.close();
    await admin?.end();
    await server?.stop();
  });

  function clientFor(connectionString: string): Client {
    const client = new Client(connectionString);
    // Per-client settings override the file's global ones.
    client.neonConfig.wsProxy = pipelined.wsProxy;
    client.neonConfig.pipelineConnect = 'password';
    // Node 22+ has a global WebSocket: the driver needs no constructor there.
    client.neonConfig.webSocketConstructor = globalThis.WebSocket as never;
    client.on('error', () => {});
    return client;
  }

  it('logs in with the pipelined password when pg_hba asks for `password`', async () => {
    expect(pipelined.neonConfig.pipelineConnect).toBe('password');
    expect(pipelined.snippet()).not.toContain('pipelineConnect');
    const u = new URL(server.urlFor('postgres'));
    u.username = 'neon_pipelined';
    u.password = 'pipe-pw-1';
    const client = clientFor(u.toString());
    await client.connect();
    const r = await client.query('select current_user as who, $1::int + 1 as n', [41]);
    expect(r.rows).toEqual([{ who: 'neon_pipelined', n: 42 }]);
    await client.end();
  });

  it('fails with the SASL error when the role uses SCRAM, as documented', async () => {
    const client = clientFor(server.url);
    const errors: Error[] = [];
    client.on('error', (e: Error) => errors.push(e));
    // A pipelined connect() resolves before the server has answered the login: the failure
    // surfaces on the first query (or as an error event).
    const err = await client
      .connect()
      .then(() => client.query('select 1'))
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    const seen = [err, ...errors].filter((e): e is Error => e instanceof Error).map((e) => e.message);
    expect(seen.join(' | ')).toMatch(/client selected an invalid SASL authentication mechanism/);
    await client.end().catch(() => {});
  });
});
