// The WebSocket relay with the unmodified Neon driver's Pool and Client (and raw WebSocket frames
// where the driver hides what matters), against real PostgreSQL servers.

import { until as waitUntil } from '@anypg/testkit';
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
    // 'R' AuthenticationCleartextPassword (3): the endpoint asks for the password, as Neon's proxy
    // does, whatever the server uses (SCRAM here).
    expect(String.fromCharCode(all[1]!)).toBe('R');
    expect(all.readInt32BE(6)).toBe(3);
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

describe('login as Neon does it: the endpoint asks for a cleartext password and logs in upstream', () => {
  // One server, one role per auth method (pg_hba lines), the default neonConfig (pipelined login).
  const PW = 'login-pw-1';
  const roles = { 'scram-sha-256': 'neon_login_scram', md5: 'neon_login_md5', password: 'neon_login_cleartext' };
  let server: LocalPostgres;
  let login: NeonEndpoint;
  let admin: pg.Client;

  beforeAll(async () => {
    server = await startPostgres({
      hba: [
        ...Object.entries(roles).map(([method, role]) => `host all ${role} 127.0.0.1/32 ${method}`),
        'host all neon_login_trust 127.0.0.1/32 trust',
      ],
    });
    admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
    for (const [method, role] of Object.entries(roles)) {
      // md5 auth needs the password stored as an md5 hash (a SCRAM verifier makes PostgreSQL use SCRAM).
      await admin.query(`set password_encryption = '${method === 'md5' ? 'md5' : 'scram-sha-256'}'`);
      await admin.query(`create role ${role} login password '${PW}'`);
    }
    await admin.query(`reset password_encryption; create role neon_login_trust login`);
    await admin.query(`create schema login_a; create schema login_b;
      create table login_a.t as select 'a'::text as v; create table login_b.t as select 'b'::text as v;
      grant usage on schema login_a, login_b to public; grant select on login_a.t, login_b.t to public`);
    const stored = await admin.query(
      `select rolname, rolpassword like 'md5%' as md5 from pg_authid where rolname = any($1) order by rolname`,
      [Object.values(roles)],
    );
    expect(Object.fromEntries(stored.rows.map((r) => [r.rolname, r.md5]))).toEqual({
      neon_login_cleartext: false,
      neon_login_md5: true,
      neon_login_scram: false,
    });
    login = await startNeonEndpoint({ upstream: server.url });
  });

  afterAll(async () => {
    await login?.close();
    await admin?.end();
    await server?.stop();
  });

  function urlFor(role: string, password: string | undefined, params: Record<string, string> = {}): string {
    const u = new URL(server.urlFor('postgres', params));
    u.username = role;
    u.password = password ?? '';
    return u.toString();
  }

  /** The unmodified Client with the driver's defaults; only where the endpoint is changes. */
  function clientFor(connectionString: string, pipelineConnect?: false): Client {
    const client = new Client(connectionString);
    client.neonConfig.wsProxy = login.wsProxy;
    client.neonConfig.useSecureWebSocket = false;
    client.neonConfig.webSocketConstructor = globalThis.WebSocket as never;
    if (pipelineConnect === false) client.neonConfig.pipelineConnect = false;
    return client;
  }

  const sessions = (app: string) =>
    count(`select count(*)::int as n from pg_stat_activity where application_name = $1`, [app], admin);

  it('uses the driver default: pipelined login (startup, password and query sent at once)', () => {
    expect(login.neonConfig.pipelineConnect).toBe('password');
    expect(new Client(url).neonConfig.pipelineConnect).toBe('password');
    expect(login.snippet()).not.toContain('pipelineConnect');
  });

  for (const [method, role] of Object.entries(roles)) {
    for (const pipelineConnect of [undefined, false] as const) {
      const mode = pipelineConnect === false ? 'pipelineConnect = false' : 'the default pipelined login';
      it(`logs in to a ${method} upstream with ${mode}`, async () => {
        const client = clientFor(urlFor(role, PW, { application_name: `login_${role}` }), pipelineConnect);
        await client.connect();
        const r = await client.query('select current_user as who, $1::int + 1 as n', [41]);
        expect(r.rows).toEqual([{ who: role, n: 42 }]);
        // The session is a normal one: its cancel key was relayed, and a cancel request (which the
        // driver sends on a WebSocket of its own) reaches the upstream.
        const running = client.query('select pg_sleep(30)').catch((e: unknown) => e);
        await waitUntil(
          'the query to run',
          async () =>
            (await count(
              `select count(*)::int as n from pg_stat_activity where application_name = $1 and state = 'active'`,
              [`login_${role}`],
              admin,
            )) === 1,
        );
        const canceller = clientFor(urlFor(role, PW)) as unknown as { cancel(c: unknown, q: unknown): void };
        canceller.cancel(client, (client as unknown as { activeQuery: unknown }).activeQuery);
        expect(((await running) as { code?: string }).code).toBe('57014');
        await client.end();
      });
    }

    it(`refuses a wrong password for a ${method} upstream with Neon's error, pipelined or not`, async () => {
      const app = `login_wrong_${role}`;
      // Pipelined: connect() resolves before the server answers; the first query carries the refusal.
      const pipelined = clientFor(urlFor(role, 'not-the-password', { application_name: app }));
      const events: Error[] = [];
      pipelined.on('error', (e: Error) => events.push(e));
      // The endpoint closes the tunnel after the refusal, as PostgreSQL closes the connection.
      const ended = new Promise((resolve) => pipelined.once('end', resolve));
      await pipelined.connect();
      const err = (await pipelined.query('select 1').catch((e: unknown) => e)) as Error & Record<string, unknown>;
      expect(err).toBeInstanceOf(Error);
      expect(err.message).toBe(`password authentication failed for user '${role}'`);
      expect(err.code).toBe('XX000');
      expect(err.severity).toBe('ERROR');
      // No end() after that: the driver's end() waits for an 'end' event that already came.
      await ended;

      // Not pipelined: connect() itself fails, with the same error.
      const waiting = clientFor(urlFor(role, 'not-the-password', { application_name: app }), false);
      waiting.on('error', () => {});
      const refused = (await waiting.connect().catch((e: unknown) => e)) as Error & Record<string, unknown>;
      expect(refused.message).toBe(`password authentication failed for user '${role}'`);
      expect(refused.code).toBe('XX000');
      expect(await sessions(app)).toBe(0);
      expect(JSON.stringify(events)).not.toContain('not-the-password');
    });
  }

  it('passes other refusals on as PostgreSQL words them (no such database)', async () => {
    const client = clientFor(urlFor(roles['scram-sha-256'], PW).replace(/\/postgres$/, '/no_such_db'), false);
    client.on('error', () => {});
    const err = (await client.connect().catch((e: unknown) => e)) as Error & Record<string, unknown>;
    expect(err.code).toBe('3D000');
    expect(err.message).toBe('database "no_such_db" does not exist');
    await client.end().catch(() => {});
  });

  it('logs in to a trust upstream, dropping the pipelined password PostgreSQL did not ask for', async () => {
    const client = clientFor(urlFor('neon_login_trust', 'any-pw'));
    await client.connect();
    const r = await client.query('select current_user as who');
    expect(r.rows).toEqual([{ who: 'neon_login_trust' }]);
    await client.end();
  });

  it("applies each connection string's startup options to its own sessions, interleaved", async () => {
    const role = roles['scram-sha-256'];
    // `endpoint=` is Neon's routing word: the endpoint drops it, PostgreSQL would refuse it.
    const a = clientFor(
      urlFor(role, PW, { options: 'endpoint=ep-local-1 -c search_path=login_a', application_name: 'opts_a' }),
    );
    const b = clientFor(urlFor(role, PW, { options: '-c search_path=login_b', application_name: 'opts_b' }));
    await Promise.all([a.connect(), b.connect()]);
    const seen: string[] = [];
    for (let i = 0; i < 3; i++) {
      const [ra, rb] = await Promise.all([
        a.query('select current_schema() as s, v, current_setting($1) as app from t', ['application_name']),
        b.query('select current_schema() as s, v, current_setting($1) as app from t', ['application_name']),
      ]);
      seen.push(
        `${ra.rows[0].s}/${ra.rows[0].v}/${ra.rows[0].app}`,
        `${rb.rows[0].s}/${rb.rows[0].v}/${rb.rows[0].app}`,
      );
    }
    expect(seen).toEqual(Array.from({ length: 3 }, () => ['login_a/a/opts_a', 'login_b/b/opts_b']).flat());
    await Promise.all([a.end(), b.end()]);
  });

  it('is the byte stream PostgreSQL would send after the login (raw frames)', async () => {
    const socket = new WebSocket(`ws://${login.wsProxy}`);
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    const got = collect(socket);
    const role = roles.md5;
    const body = Buffer.from(`user\0${role}\0database\0postgres\0\0`);
    const startup = Buffer.alloc(8 + body.length);
    startup.writeInt32BE(startup.length, 0);
    startup.writeInt32BE(196608, 4);
    body.copy(startup, 8);
    const pw = Buffer.from(`${PW}\0`);
    const password = Buffer.alloc(5 + pw.length);
    password.write('p', 0);
    password.writeInt32BE(4 + pw.length, 1);
    pw.copy(password, 5);
    const query = Buffer.from('Q\0\0\0\x0dselect 1\0', 'latin1');
    // Everything at once, as the pipelined driver sends it.
    socket.send(Buffer.concat([startup, password, query]));
    const types = await got.typesUntil('Z', 2);
    // R(3) from the endpoint, then the upstream's R(0), parameters, key, ready; then the query's answer.
    expect(types[0]).toBe('R3');
    expect(types).toContain('R0');
    expect(types).toContain('K');
    expect(types.slice(-4)).toEqual(['T', 'D', 'C', 'Z']);
    socket.close(1000);
  });
});

/** Collects server messages from a raw WebSocket and reads their types ('R' with its code). */
function collect(socket: WebSocket) {
  let buf = Buffer.alloc(0);
  let wake: (() => void) | undefined;
  socket.on('message', (data: Buffer) => {
    buf = Buffer.concat([buf, Buffer.from(data)]);
    wake?.();
  });
  const types = (): string[] => {
    const out: string[] = [];
    for (let i = 0; i + 5 <= buf.length; ) {
      const len = buf.readInt32BE(i + 1);
      if (i + 1 + len > buf.length) break;
      const t = String.fromCharCode(buf[i]!);
      out.push(t === 'R' ? `R${buf.readInt32BE(i + 5)}` : t);
      i += 1 + len;
    }
    return out;
  };
  return {
    /** Waits (for messages, not time) until `type` was seen `times` times. */
    async typesUntil(type: string, times: number): Promise<string[]> {
      while (types().filter((t) => t === type).length < times) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
      return types();
    },
  };
}
