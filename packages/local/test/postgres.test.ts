import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { LocalError, startPostgres } from '../src/index.js';

async function scalar(url: string, sql: string): Promise<unknown> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql)).rows[0];
  } finally {
    await c.end();
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('startPostgres', () => {
  const started: Array<{ stop(): Promise<void> }> = [];
  afterAll(async () => {
    await Promise.all(started.map((s) => s.stop()));
  });

  it('serves the shared test database (DATABASE_URL or ephemeral)', async () => {
    const row = (await scalar(inject('databaseUrl'), 'select 1 as one')) as { one: number };
    expect(row.one).toBe(1);
  });

  it('applies settings, runs in UTC, and removes its ephemeral folder at stop', async () => {
    const server = await startPostgres({ settings: { idle_session_timeout: '1234ms', max_connections: 17 } });
    started.push(server);
    const row = (await scalar(
      server.url,
      `select current_setting('idle_session_timeout') as ist, current_setting('max_connections') as mc,
              current_setting('TimeZone') as tz, version() as v`,
    )) as Record<string, string>;
    expect(row.ist).toBe('1234ms');
    expect(row.mc).toBe('17');
    expect(row.tz).toBe('UTC');
    expect(row.v).toMatch(/^PostgreSQL \d+/);
    expect(existsSync(server.dataDir)).toBe(true);
    await server.stop();
    await server.stop(); // twice is fine
    expect(existsSync(server.dataDir)).toBe(false);
  });

  it('keeps a persistent cluster between starts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'anypg-persist-'));
    try {
      const a = await startPostgres({ dataDir: dir });
      await scalar(a.url, 'create table kept (x int)');
      await scalar(a.url, 'insert into kept values (42)');
      await a.stop();
      const b = await startPostgres({ dataDir: dir });
      const row = (await scalar(b.url, 'select x from kept')) as { x: number };
      await b.stop();
      expect(row.x).toBe(42);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gets a random superuser password at each start unless one is given; postgres:postgres is refused', async () => {
    const [a, b] = await Promise.all([startPostgres(), startPostgres()]);
    started.push(a, b);
    expect(a.password()).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(a.password()).not.toBe(b.password());
    expect(decodeURIComponent(new URL(a.url).password)).toBe(a.password());
    expect(await scalar(a.url, 'select 1 as one')).toEqual({ one: 1 });
    const wellKnown = new URL(a.url);
    wellKnown.password = 'postgres';
    const refused = new pg.Client({ connectionString: wellKnown.toString() });
    await expect(refused.connect()).rejects.toThrow(/password authentication failed/);
    await Promise.all([a.stop(), b.stop()]);
  });

  it('a persistent cluster keeps its password; a given one is set at start, never in SQL text or logs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'anypg-persist-pw-'));
    try {
      const first = await startPostgres({ dataDir: dir });
      const kept = first.password();
      await first.stop();
      expect(statSync(join(dir, 'superuser-password')).mode & 0o777).toBe(0o600);
      const again = await startPostgres({ dataDir: dir });
      expect(again.password()).toBe(kept);
      expect(await scalar(again.url, 'select 2 as two')).toEqual({ two: 2 });
      await again.stop();
      const logs: string[] = [];
      const given = await startPostgres({
        dataDir: dir,
        password: 'given-pw-7',
        settings: { log_statement: 'all' },
        onLog: (l) => logs.push(l),
      });
      expect(await scalar(given.url, 'select 3 as three')).toEqual({ three: 3 });
      const old = new URL(given.url);
      old.password = kept;
      await expect(new pg.Client({ connectionString: old.toString() }).connect()).rejects.toThrow(/password/);
      await given.stop();
      // The ALTER ROLE was logged (log_statement = all) with a SCRAM verifier, not the password.
      expect(logs.some((l) => l.includes('ALTER ROLE'))).toBe(true);
      expect(logs.join('\n')).not.toContain('given-pw-7');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('enforces the chosen auth method and never shows the password when inspected', async () => {
    const server = await startPostgres({ password: 's3cret-pw', authMethod: 'md5' });
    started.push(server);
    const row = (await scalar(server.url, 'select 1 as ok')) as { ok: number };
    expect(row.ok).toBe(1);
    const bad = new pg.Client({ connectionString: server.urlFor('postgres').replace('s3cret-pw', 'wrong') });
    await expect(bad.connect()).rejects.toThrow(/password authentication failed/);
    expect(JSON.stringify(server)).not.toContain('s3cret-pw');
    expect(inspect(server, { depth: 5 })).not.toContain('s3cret-pw');
    await server.stop();
  });

  it('says which port is in use instead of failing with undefined', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      const err = await startPostgres({ port }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(LocalError);
      expect((err as LocalError).code).toBe('PORT_IN_USE');
      expect((err as LocalError).message).toContain(String(port));
    } finally {
      blocker.close();
    }
  });

  it('says what to do when the binaries are missing', async () => {
    const err = await startPostgres({ binDir: join(tmpdir(), 'no-such-pg-bin') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LocalError);
    expect((err as LocalError).code).toBe('BINARY_MISSING');
    expect((err as LocalError).message).toMatch(/ANYPG_PG_BIN/);
  });

  it('reports a failed start with the server output', async () => {
    const err = await startPostgres({ settings: { shared_buffers: 'not-a-size' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LocalError);
    expect((err as LocalError).code).toBe('START_FAILED');
    expect((err as LocalError).message).toMatch(/shared_buffers/);
  });

  it('leaves no server behind when its owner is killed with SIGKILL', async () => {
    // A child Node process starts a server, prints the postmaster pid, and is then SIGKILLed.
    // It runs the built package (turbo builds it before the tests).
    const script = `
      import { startPostgres } from ${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)};
      const s = await startPostgres();
      const { readFileSync } = await import('node:fs');
      const pid = readFileSync(s.dataDir + '/postmaster.pid', 'utf8').split('\\n')[0];
      console.log(JSON.stringify({ pid: Number(pid), dataDir: s.dataDir }));
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const info = await new Promise<{ pid: number; dataDir: string }>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d;
        if (out.includes('\n')) resolve(JSON.parse(out));
      });
      child.once('exit', (code) => reject(new Error(`child exited ${code}`)));
    });
    expect(alive(info.pid)).toBe(true);
    child.kill('SIGKILL');
    const deadline = Date.now() + 15_000;
    while (alive(info.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(alive(info.pid)).toBe(false);
    while (existsSync(info.dataDir) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(info.dataDir)).toBe(false);
    // and no postgres process still points at that folder
    const ps = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
    expect(ps).not.toContain(info.dataDir);
  });
});
