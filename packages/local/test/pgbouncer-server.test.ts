// A real PgBouncer (the system package) in front of the test run's real PostgreSQL.
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { inspect } from 'node:util';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { assertPortFree, LocalError, type LocalPgBouncer, startPgBouncer } from '../src/index.js';

const upstream = inject('databaseUrl');
const started: LocalPgBouncer[] = [];
const clients: pg.Client[] = [];

afterAll(async () => {
  await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  await Promise.all(started.map((b) => b.close()));
});

async function bouncer(opts: Partial<Parameters<typeof startPgBouncer>[0]> = {}): Promise<LocalPgBouncer> {
  const b = await startPgBouncer({ upstream, ...opts });
  started.push(b);
  return b;
}

async function client(url: string, config: pg.ClientConfig = {}): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url, ...config });
  c.on('error', () => {});
  await c.connect();
  clients.push(c);
  return c;
}

async function backendPid(c: pg.Client): Promise<number> {
  return (await c.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The PgBouncer's folder, from its command line (the ini file's path). */
function folderOf(pid: number): string {
  const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  return dirname(args.at(-1)!);
}

describe('startPgBouncer', () => {
  it('passes queries through with the upstream URL user, password and database', async () => {
    const b = await bouncer();
    const upstreamUrl = new URL(upstream);
    const url = new URL(b.url);
    expect(url.port).toBe(String(b.port));
    expect(url.port).not.toBe(upstreamUrl.port);
    expect(url.username).toBe(upstreamUrl.username);
    const c = await client(b.url);
    const row = (await c.query('select current_user as u, current_database() as d, $1::int + 1 as n', [41])).rows[0];
    expect(row).toEqual({ u: decodeURIComponent(upstreamUrl.username), d: upstreamUrl.pathname.slice(1), n: 42 });
    // Logged and inspected handles never show the password.
    const password = decodeURIComponent(upstreamUrl.password);
    expect(JSON.stringify(b)).not.toContain(password);
    expect(inspect(b, { depth: 5 })).not.toContain(password);
  });

  it('refuses a wrong password (SQLSTATE 08P01, not 28P01)', async () => {
    const b = await bouncer();
    const wrong = new URL(b.url);
    wrong.password = 'not-the-password';
    const c = new pg.Client({ connectionString: wrong.toString() });
    c.on('error', () => {});
    const err = (await c.connect().catch((e: unknown) => e)) as { code?: string; message: string };
    // PgBouncer 1.18 says "SASL authentication failed" with 08P01 (protocol_violation), where
    // PostgreSQL says "password authentication failed" with 28P01.
    expect(err.message).toMatch(/SASL authentication failed/);
    expect(err.code).toBe('08P01');
  });

  it('logs in a role whose password has quotes, spaces and URL characters', async () => {
    const role = `anypg_pgb_${process.pid}`;
    const password = `a"b c'd@e:f/%`;
    const direct = await client(upstream);
    await direct.query(`create role ${role} login password '${password.replaceAll("'", "''")}'`);
    try {
      const u = new URL(upstream);
      u.username = role;
      u.password = encodeURIComponent(password);
      const b = await bouncer({ upstream: u.toString() });
      const c = await client(b.url);
      expect((await c.query('select current_user as u')).rows[0].u).toBe(role);
      await c.end();
      await b.close();
    } finally {
      await direct.query(`drop role if exists ${role}`);
    }
  });

  it('runs as a non-root user when started as root', async () => {
    const b = await bouncer();
    const uid = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${b.pid}/status`, 'utf8'))![1]);
    if (process.getuid?.() === 0) expect(uid).not.toBe(0);
    else expect(uid).toBe(process.getuid?.());
  });

  it('transaction mode: many clients share one server connection (SHOW POOLS and backend pids agree)', async () => {
    const b = await bouncer({ defaultPoolSize: 1 });
    const cs = await Promise.all([1, 2, 3, 4].map(() => client(b.url)));
    const pids = new Set<number>();
    for (const c of cs) {
      pids.add(await backendPid(c));
      await c.query('begin');
      pids.add(await backendPid(c));
      await c.query('commit');
    }
    expect(pids.size).toBe(1);
    const admin = await client(b.adminUrl);
    const pools = (await admin.query('SHOW POOLS')).rows as Array<Record<string, unknown>>;
    const pool = pools.find((p) => p.database === new URL(upstream).pathname.slice(1));
    expect(pool).toBeDefined();
    expect(pool!.pool_mode).toBe('transaction');
    expect(Number(pool!.cl_active) + Number(pool!.cl_waiting)).toBe(4);
    expect(Number(pool!.sv_active) + Number(pool!.sv_idle) + Number(pool!.sv_used)).toBe(1);
  });

  it('transaction mode: a session SET from one client is seen by another (why poolers forbid it)', async () => {
    const b = await bouncer({ defaultPoolSize: 1 });
    const a = await client(b.url);
    const other = await client(b.url);
    const before = (await other.query('show work_mem')).rows[0].work_mem;
    await a.query(`set work_mem = '7777kB'`);
    const after = (await other.query('show work_mem')).rows[0].work_mem;
    expect(before).not.toBe('7777kB');
    expect(after).toBe('7777kB');
    await a.query('reset work_mem');
  });

  it('session mode: each client keeps its own server connection', async () => {
    const b = await bouncer({ poolMode: 'session', defaultPoolSize: 2 });
    const a = await client(b.url);
    const other = await client(b.url);
    expect(await backendPid(a)).not.toBe(await backendPid(other));
    await a.query(`set work_mem = '7777kB'`);
    expect((await other.query('show work_mem')).rows[0].work_mem).not.toBe('7777kB');
    expect((await a.query('show work_mem')).rows[0].work_mem).toBe('7777kB');
  });

  it('transaction mode breaks pg named prepared statements across clients (PgBouncer 1.18 has no protocol support)', async () => {
    const b = await bouncer({ defaultPoolSize: 1 });
    const a = await client(b.url);
    const other = await client(b.url);
    const stmt = { name: 'anypg_named_fixture', text: 'select $1::int as n' };
    expect((await a.query({ ...stmt, values: [1] })).rows[0].n).toBe(1);
    const err = (await other.query({ ...stmt, values: [2] }).catch((e: unknown) => e)) as {
      code?: string;
      message: string;
    };
    expect(err.code).toBe('42P05');
    expect(err.message).toMatch(/prepared statement "anypg_named_fixture" already exists/);
    // Unnamed statements (pg's default, also with parameters) are fine through the same pool.
    expect((await other.query('select $1::int as n', [3])).rows[0].n).toBe(3);
    expect((await a.query('select $1::int as n', [4])).rows[0].n).toBe(4);
  });

  it('refuses statement_timeout and options startup parameters unless told to ignore them (then they are dropped)', async () => {
    const strict = await bouncer();
    for (const config of [{ statement_timeout: 5000 }, { options: '-c search_path=public' }]) {
      const c = new pg.Client({ connectionString: strict.url, ...config });
      c.on('error', () => {});
      const err = (await c.connect().catch((e: unknown) => e)) as { code?: string; message: string };
      expect(err.code).toBe('08P01');
      expect(err.message).toMatch(/unsupported startup parameter: (statement_timeout|options)/);
    }
    // application_name is tracked by PgBouncer itself and reaches the server.
    const named = await client(strict.url, { application_name: 'anypg-fixture' });
    expect((await named.query('show application_name')).rows[0].application_name).toBe('anypg-fixture');

    const lenient = await bouncer({ ignoreStartupParameters: ['statement_timeout'] });
    const direct = await client(upstream);
    const serverDefault = (await direct.query('show statement_timeout')).rows[0].statement_timeout;
    const c = await client(lenient.url, { statement_timeout: 4321 });
    const seen = (await c.query('show statement_timeout')).rows[0].statement_timeout;
    expect(seen).toBe(serverDefault);
    expect(seen).not.toBe('4321ms');
  });

  it('close() stops the process, frees the port and removes its folder', async () => {
    const b = await startPgBouncer({ upstream });
    const folder = folderOf(b.pid);
    expect(folder.startsWith(tmpdir())).toBe(true);
    expect(existsSync(join(folder, 'userlist.txt'))).toBe(true);
    const c = await client(b.url);
    await c.query('begin'); // an open transaction must not hold up close()
    await b.close();
    await b.close(); // twice is fine
    expect(alive(b.pid)).toBe(false);
    expect(existsSync(folder)).toBe(false);
    await expect(assertPortFree(b.port, b.host, 'test')).resolves.toBeUndefined();
  });

  it('says which port is in use', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      const err = await startPgBouncer({ upstream, port }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LocalError);
      expect((err as LocalError).code).toBe('PORT_IN_USE');
      expect((err as LocalError).message).toContain(String(port));
    } finally {
      blocker.close();
    }
  });

  it('says how to install PgBouncer when the binary is missing (option or ANYPG_PGBOUNCER_BIN)', async () => {
    const nowhere = join(tmpdir(), 'no-such-dir', 'pgbouncer');
    const viaOption = await startPgBouncer({ upstream, binary: nowhere }).catch((e: unknown) => e);
    expect(viaOption).toBeInstanceOf(LocalError);
    expect((viaOption as LocalError).code).toBe('BINARY_MISSING');
    expect((viaOption as LocalError).message).toContain('apt-get install -y pgbouncer');

    const saved = process.env.ANYPG_PGBOUNCER_BIN;
    process.env.ANYPG_PGBOUNCER_BIN = nowhere;
    try {
      const viaEnv = await startPgBouncer({ upstream }).catch((e: unknown) => e);
      expect((viaEnv as LocalError).code).toBe('BINARY_MISSING');
      expect((viaEnv as LocalError).message).toContain('ANYPG_PGBOUNCER_BIN');
    } finally {
      if (saved === undefined) delete process.env.ANYPG_PGBOUNCER_BIN;
      else process.env.ANYPG_PGBOUNCER_BIN = saved;
    }
  });

  it('rejects bad options with BAD_OPTION and never echoes the upstream URL', async () => {
    const err = await startPgBouncer({ upstream: 'postgresql://u:s3cret@host:bad/db' }).catch((e: unknown) => e);
    expect((err as LocalError).code).toBe('BAD_OPTION');
    expect((err as LocalError).message).not.toContain('s3cret');
    const mode = await startPgBouncer({ upstream, poolMode: 'bogus' as 'session' }).catch((e: unknown) => e);
    expect((mode as LocalError).code).toBe('BAD_OPTION');
    const injected = await startPgBouncer({ upstream, settings: { 'x\nauth_type': 'trust' } }).catch((e: unknown) => e);
    expect((injected as LocalError).code).toBe('BAD_OPTION');
  });
});
