// The endpoint's life cycle: the settings it prints, a port in use, close() with queries in
// flight, and the `anypg-local neon` CLI (the built one, as a user runs it).
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { Client, neon, neonConfig } from '@neondatabase/serverless';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import WebSocket from 'ws';
import { LocalError, neonConfigSnippet, startNeonEndpoint } from '../src/index.js';

const url = inject('databaseUrl');
const cli = new URL('../dist/cli.js', import.meta.url).pathname;
let direct: pg.Client;
// The driver's fetchEndpoint is global; this file points it at whichever endpoint a test uses.
let currentFetchEndpoint = '';

beforeAll(async () => {
  neonConfig.fetchEndpoint = () => currentFetchEndpoint;
  neonConfig.webSocketConstructor = WebSocket;
  neonConfig.useSecureWebSocket = false;
  direct = new pg.Client({ connectionString: url });
  await direct.connect();
});

afterAll(async () => {
  await direct?.end();
});

function withApp(app: string, base = url): string {
  const u = new URL(base);
  u.searchParams.set('application_name', app);
  return u.toString();
}

async function until<T>(read: () => Promise<T>, check: (v: T) => boolean, tries = 200): Promise<T> {
  let v = await read();
  for (let i = 0; i < tries && !check(v); i++) {
    await new Promise((r) => setTimeout(r, 25));
    v = await read();
  }
  return v;
}

const activeOf = async (app: string) =>
  (
    await direct.query(
      `select count(*)::int as n from pg_stat_activity where application_name = $1 and state = 'active'`,
      [app],
    )
  ).rows[0].n as number;

describe('startNeonEndpoint', () => {
  it('gives the neonConfig settings and the lines to paste', async () => {
    const endpoint = await startNeonEndpoint({ upstream: url });
    try {
      const base = `127.0.0.1:${endpoint.port}`;
      expect(endpoint.httpUrl).toBe(`http://${base}`);
      expect(endpoint.fetchEndpoint).toBe(`http://${base}/sql`);
      expect(endpoint.wsProxy).toBe(`${base}/v2`);
      expect(endpoint.neonConfig).toEqual({
        fetchEndpoint: `http://${base}/sql`,
        wsProxy: `${base}/v2`,
        useSecureWebSocket: false,
        pipelineConnect: 'password',
      });
      expect(endpoint.snippet()).toBe(neonConfigSnippet(endpoint.neonConfig));
      expect(endpoint.snippet().split('\n')).toEqual([
        `import { neonConfig } from '@neondatabase/serverless';`,
        `neonConfig.fetchEndpoint = 'http://${base}/sql';`,
        `neonConfig.wsProxy = '${base}/v2';`,
        'neonConfig.useSecureWebSocket = false;',
        `// Node < 22 (no global WebSocket): import ws from 'ws'; neonConfig.webSocketConstructor = ws;`,
      ]);
      expect(endpoint.upstream).toEqual({ host: new URL(url).hostname, port: Number(new URL(url).port) });
    } finally {
      await endpoint.close();
    }
  });

  it('advertises loopback when listening on every address', async () => {
    const endpoint = await startNeonEndpoint({ upstream: url, host: '0.0.0.0' });
    try {
      expect(endpoint.fetchEndpoint).toBe(`http://127.0.0.1:${endpoint.port}/sql`);
      currentFetchEndpoint = endpoint.fetchEndpoint;
      expect(await neon(url)`select 1 as one`).toEqual([{ one: 1 }]);
    } finally {
      await endpoint.close();
    }
  });

  it('refuses a port in use with PORT_IN_USE, and a bad upstream without echoing it', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    try {
      const err = await startNeonEndpoint({ upstream: url, port }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LocalError);
      expect((err as LocalError).code).toBe('PORT_IN_USE');
      expect((err as LocalError).message).toContain(String(port));
    } finally {
      await new Promise<void>((r) => blocker.close(() => r()));
    }
    const bad = await startNeonEndpoint({ upstream: 'postgresql://u:Upstream-Pw-51@ bad host' }).catch(
      (e: unknown) => e,
    );
    expect(bad).toBeInstanceOf(LocalError);
    expect((bad as LocalError).code).toBe('BAD_OPTION');
    expect((bad as LocalError).message).not.toContain('Upstream-Pw-51');
    const mysql = await startNeonEndpoint({ upstream: 'mysql://127.0.0.1:3306' }).catch((e: unknown) => e);
    expect((mysql as LocalError).code).toBe('BAD_OPTION');
  });

  it('close() cancels in-flight HTTP and WebSocket queries and closes every socket', async () => {
    const endpoint = await startNeonEndpoint({ upstream: url });
    currentFetchEndpoint = endpoint.fetchEndpoint;
    const httpApp = 'neon_close_http';
    const wsApp = 'neon_close_ws';
    const httpQuery = neon(withApp(httpApp))
      .query('select pg_sleep(60)')
      .then(
        () => 'finished',
        (e: Error) => e,
      );
    const client = new Client(withApp(wsApp));
    client.neonConfig.wsProxy = endpoint.wsProxy;
    client.neonConfig.pipelineConnect = false;
    const clientEnded = new Promise<void>((resolve) => client.on('end', () => resolve()));
    client.on('error', () => {});
    await client.connect();
    const wsQuery = client.query('select pg_sleep(60)').then(
      () => 'finished',
      (e: Error) => e,
    );
    expect(
      await until(
        () => activeOf(httpApp),
        (n) => n === 1,
      ),
    ).toBe(1);
    expect(
      await until(
        () => activeOf(wsApp),
        (n) => n === 1,
      ),
    ).toBe(1);

    await endpoint.close();
    await endpoint.close(); // twice is fine

    expect(await httpQuery).toBeInstanceOf(Error);
    expect(await wsQuery).toBeInstanceOf(Error);
    await clientEnded;
    expect(
      await until(
        () => activeOf(httpApp),
        (n) => n === 0,
      ),
    ).toBe(0);
    expect(
      await until(
        () => activeOf(wsApp),
        (n) => n === 0,
      ),
    ).toBe(0);
    const sessions = await direct.query(
      'select count(*)::int as n from pg_stat_activity where application_name = any($1)',
      [[httpApp, wsApp]],
    );
    expect(sessions.rows[0].n).toBe(0);
    const refused = await fetch(endpoint.fetchEndpoint, { method: 'POST', body: '{}' }).catch((e: Error) => e);
    expect(refused).toBeInstanceOf(Error);
  });
});

describe('anypg-local neon (CLI)', () => {
  /** Runs the CLI until it prints its settings; returns them and the process. */
  async function runCli(args: string[]): Promise<{ child: ChildProcess; out: string }> {
    const child = spawn(process.execPath, [cli, 'neon', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      err += d;
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the CLI printed no settings:\n${out}\n${err}`)), 30_000);
      const check = () => {
        if (out.includes('Ctrl-C stops it.')) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.on('data', check);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the CLI exited (${code}):\n${out}\n${err}`));
      });
    });
    return { child, out };
  }

  async function stop(child: ChildProcess): Promise<number | null> {
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    return exited;
  }

  function setting(out: string, name: string): string {
    const m = out.match(new RegExp(`neonConfig\\.${name} = '([^']+)';`));
    if (!m) throw new Error(`no ${name} in:\n${out}`);
    return m[1]!;
  }

  it('prints the settings for --upstream, serves them, and stops on Ctrl-C', async () => {
    const { child, out } = await runCli(['--upstream', url]);
    try {
      expect(out).toContain('neonConfig.useSecureWebSocket = false;');
      // The endpoint logs in upstream itself: the driver's default pipelined login works with SCRAM.
      expect(out).not.toContain('pipelineConnect');
      currentFetchEndpoint = setting(out, 'fetchEndpoint');
      expect(await neon(url)`select 5 as five`).toEqual([{ five: 5 }]);
      const client = new Client(url);
      client.neonConfig.wsProxy = setting(out, 'wsProxy');
      client.neonConfig.pipelineConnect = 'password';
      await client.connect();
      expect((await client.query('select 6 as six')).rows).toEqual([{ six: 6 }]);
      await client.end();
    } finally {
      expect(await stop(child)).toBe(0);
    }
  });

  it('starts an embedded PostgreSQL when no upstream is given; the driver defaults then work', async () => {
    const { child, out } = await runCli([]);
    try {
      const databaseUrl = out.match(/DATABASE_URL=(\S+)/)?.[1];
      expect(databaseUrl).toMatch(/^postgresql:\/\//);
      // Three settings: the driver's default pipelined login works.
      expect(out).not.toContain('pipelineConnect');
      currentFetchEndpoint = setting(out, 'fetchEndpoint');
      expect(await neon(databaseUrl!)`select 7 as seven`).toEqual([{ seven: 7 }]);
      const client = new Client(databaseUrl!);
      client.neonConfig.wsProxy = setting(out, 'wsProxy');
      client.neonConfig.pipelineConnect = 'password';
      await client.connect();
      expect((await client.query('select 8 as eight')).rows).toEqual([{ eight: 8 }]);
      await client.end();
    } finally {
      expect(await stop(child)).toBe(0);
    }
  });

  it('exits with a clear message when the port is in use', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    try {
      const child = spawn(process.execPath, [cli, 'neon', '--upstream', url, '--port', String(port)], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let err = '';
      child.stderr!.setEncoding('utf8').on('data', (d: string) => {
        err += d;
      });
      const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
      expect(code).toBe(1);
      expect(err).toContain(`port ${port} on 127.0.0.1 is already in use`);
    } finally {
      await new Promise<void>((r) => blocker.close(() => r()));
    }
  });
});
