// Every HTTP and WebSocket listener of @anypg/local, played against the way a browser page can
// reach it: a "simple" cross-origin POST (no preflight), a preflight from a foreign origin, a
// WebSocket upgrade with a foreign Origin, a no-cors request (no Origin, Sec-Fetch-Site:
// cross-site), and a DNS-rebinding Host header. Each must be refused with a 403 that names the
// option allowing it, and the server-side check is that nothing ran: no statement (a marker table
// stays empty, no session opened), no invocation, no Runtime API event taken.
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { fileURLToPath } from 'node:url';
import { ExecuteStatementCommand, RDSDataClient } from '@aws-sdk/client-rds-data';
import { Client, neon, neonConfig } from '@neondatabase/serverless';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import WebSocket from 'ws';
import {
  type DataApiEndpoint,
  LocalError,
  type LocalGateway,
  type LocalLambda,
  type NeonEndpoint,
  startDataApiEndpoint,
  startGateway,
  startLambda,
  startNeonEndpoint,
} from '../src/index.js';

const url = inject('databaseUrl');
const HTTP_HANDLER = fileURLToPath(new URL('./fixtures/lambda/http.mjs', import.meta.url));
const EVIL = 'http://evil.example';
const T = 'browser_guard_marks';
let direct: pg.Client;

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/** node:http, so that Host and Origin go out exactly as given (fetch would set its own). */
function raw(
  base: string,
  init: { method?: string; path?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Reply> {
  const u = new URL(init.path ?? '/', base);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname + u.search,
        method: init.method ?? 'POST',
        headers: init.headers ?? {},
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
        });
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
      },
    );
    req.on('error', reject);
    req.end(init.body);
  });
}

/** A WebSocket upgrade with these headers: resolves to the HTTP status of a refusal, or 101. */
function upgrade(wsUrl: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(wsUrl, { headers });
    socket.once('open', () => {
      socket.terminate();
      resolve({ status: 101, body: '' });
    });
    socket.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    socket.once('error', (err) => {
      if (!/Unexpected server response/.test(err.message)) reject(err);
    });
  });
}

const marks = async () => (await direct.query(`select count(*)::int as n from ${T}`)).rows[0].n as number;
const sessionsOf = async (app: string) =>
  (await direct.query('select count(*)::int as n from pg_stat_activity where application_name = $1', [app])).rows[0]
    .n as number;

beforeAll(async () => {
  direct = new pg.Client({ connectionString: url });
  await direct.connect();
  await direct.query(`drop table if exists ${T}; create table ${T} (what text)`);
});

afterAll(async () => {
  await direct?.query(`drop table if exists ${T}`);
  await direct?.end();
});

describe('the Neon endpoint (HTTP and WebSocket on one port)', () => {
  let endpoint: NeonEndpoint;
  let allowing: NeonEndpoint;
  const app = 'browser_guard_neon';
  const withApp = (base = url) => {
    const u = new URL(base);
    u.searchParams.set('application_name', app);
    return u.toString();
  };
  const insert = JSON.stringify({ query: `insert into ${T} values ('neon')`, params: [] });

  beforeAll(async () => {
    endpoint = await startNeonEndpoint({ upstream: url });
    allowing = await startNeonEndpoint({
      upstream: url,
      allowOrigins: ['https://app.example.test'],
      allowHosts: ['dev.example.test'],
    });
  });
  afterAll(async () => {
    await endpoint?.close();
    await allowing?.close();
  });

  it('refuses a simple cross-origin POST (text/plain, no preflight), and one with the driver headers', async () => {
    const simple = await raw(endpoint.httpUrl, {
      path: '/sql',
      headers: { Origin: EVIL, 'Content-Type': 'text/plain;charset=UTF-8' },
      body: insert,
    });
    expect(simple.status).toBe(403);
    expect(JSON.parse(simple.text).message).toContain('--allow-origin http://evil.example');
    expect(simple.headers['access-control-allow-origin']).toBeUndefined();
    const shaped = await raw(endpoint.httpUrl, {
      path: '/sql',
      headers: { Origin: EVIL, 'Neon-Connection-String': withApp(), 'Neon-Raw-Text-Output': 'true' },
      body: insert,
    });
    expect(shaped.status).toBe(403);
    const noCors = await raw(endpoint.httpUrl, {
      path: '/sql',
      headers: { 'Sec-Fetch-Site': 'cross-site', 'Neon-Connection-String': withApp() },
      body: insert,
    });
    expect(noCors.status).toBe(403);
    expect(await marks()).toBe(0);
    expect(await sessionsOf(app)).toBe(0);
  });

  it('answers a foreign preflight with 403, a loopback or allowed one with the CORS headers', async () => {
    const preflight = (base: string, origin: string) =>
      raw(base, {
        method: 'OPTIONS',
        path: '/sql',
        headers: {
          Origin: origin,
          'Access-Control-Request-Method': 'POST',
          'Access-Control-Request-Headers': 'neon-connection-string',
        },
      });
    const evil = await preflight(endpoint.httpUrl, EVIL);
    expect(evil.status).toBe(403);
    expect(evil.headers['access-control-allow-origin']).toBeUndefined();
    const local = await preflight(endpoint.httpUrl, 'http://127.0.0.1:3000');
    expect(local.status).toBe(200);
    expect(local.headers['access-control-allow-origin']).toBe('http://127.0.0.1:3000');
    expect(local.headers['access-control-allow-headers']).toContain('Neon-Connection-String');
    const allowed = await preflight(allowing.httpUrl, 'https://app.example.test');
    expect(allowed.status).toBe(200);
    expect(allowed.headers['access-control-allow-origin']).toBe('https://app.example.test');
    expect((await preflight(allowing.httpUrl, EVIL)).status).toBe(403);
  });

  it('refuses a WebSocket upgrade with a foreign Origin or a rebinding Host: no login, no session', async () => {
    const ws = `ws://${endpoint.wsProxy}`;
    const foreign = await upgrade(ws, { Origin: EVIL });
    expect(foreign.status).toBe(403);
    expect(foreign.body).toContain('--allow-origin');
    const rebound = await upgrade(ws, { Host: `rebind.example:${endpoint.port}` });
    expect(rebound.status).toBe(403);
    expect(rebound.body).toContain('DNS rebinding');
    expect(rebound.body).toContain('--allow-host NAME');
    expect((await upgrade(ws, { Origin: 'http://localhost:8080' })).status).toBe(101);
    expect(await sessionsOf(app)).toBe(0);
  });

  it('refuses a rebinding Host header on POST /sql, and admits an allowed host name', async () => {
    const headers = { 'Neon-Connection-String': withApp(), 'Neon-Raw-Text-Output': 'true' };
    const rebound = await raw(endpoint.httpUrl, {
      path: '/sql',
      headers: { ...headers, Host: `rebind.example:${endpoint.port}` },
      body: insert,
    });
    expect(rebound.status).toBe(403);
    expect(JSON.parse(rebound.text).message).toMatch(/DNS rebinding/);
    expect(await marks()).toBe(0);
    expect(await sessionsOf(app)).toBe(0);
    // A loopback name with another port is a port forward or a proxy in front (the name is what a
    // rebinding page cannot fake): admitted.
    const forwarded = await raw(endpoint.httpUrl, {
      path: '/sql',
      headers: { ...headers, Host: `localhost:${endpoint.port + 1}` },
      body: JSON.stringify({ query: 'select 1 as one', params: [] }),
    });
    expect(forwarded.status).toBe(200);
    const named = await raw(allowing.httpUrl, {
      path: '/sql',
      headers: { ...headers, Host: `dev.example.test:${allowing.port}` },
      body: JSON.stringify({ query: 'select 1 as one', params: [] }),
    });
    expect(named.status).toBe(200);
  });

  it('still serves the unmodified driver (no Origin) and a loopback page', async () => {
    // fetchEndpoint is global to the driver; this file only uses it here.
    neonConfig.fetchEndpoint = endpoint.fetchEndpoint;
    expect(await neon(url)`select 2 as two`).toEqual([{ two: 2 }]);
    const client = new Client(url);
    client.neonConfig.wsProxy = endpoint.wsProxy;
    client.neonConfig.useSecureWebSocket = false;
    client.neonConfig.webSocketConstructor = globalThis.WebSocket as never;
    await client.connect();
    expect((await client.query('select 3 as three')).rows).toEqual([{ three: 3 }]);
    await client.end();
    const page = await raw(endpoint.httpUrl, {
      path: '/sql',
      headers: { Origin: 'http://localhost:3000', 'Neon-Connection-String': url },
      body: JSON.stringify({ query: 'select 4 as four', params: [] }),
    });
    expect(page.status).toBe(200);
  });

  it('refuses an allowOrigins entry that is not an origin', async () => {
    const err = await startNeonEndpoint({ upstream: url, allowOrigins: ['evil.example'] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LocalError);
    expect((err as LocalError).code).toBe('BAD_OPTION');
  });
});

describe('the Data API endpoint', () => {
  let endpoint: DataApiEndpoint;
  const body = () =>
    JSON.stringify({ resourceArn: 'arn:x', secretArn: 'arn:y', sql: `insert into ${T} values ('data-api')` });
  const sigv4 = 'AWS4-HMAC-SHA256 Credential=anypg-local/20260101/us-east-1/rds-data/aws4_request, Signature=00';

  beforeAll(async () => {
    endpoint = await startDataApiEndpoint({ upstream: url });
  });
  afterAll(async () => {
    await endpoint?.close();
  });

  it('refuses what a page can send without a preflight, from any origin: text/plain, no SigV4', async () => {
    const before = endpoint.stats().requests;
    for (const origin of [EVIL, 'http://localhost:3000', undefined]) {
      const r = await raw(endpoint.url, {
        path: '/Execute',
        headers: { 'Content-Type': 'text/plain', ...(origin && { Origin: origin }) },
        body: body(),
      });
      expect(r.status).toBe(403);
      expect(r.headers['x-amzn-errortype']).toBe('AccessDeniedException');
    }
    const form = await raw(endpoint.url, {
      path: '/Execute',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: body(),
    });
    expect(form.status).toBe(403);
    const unsigned = await raw(endpoint.url, {
      path: '/Execute',
      headers: { 'Content-Type': 'application/json' },
      body: body(),
    });
    expect(unsigned.status).toBe(403);
    expect(JSON.parse(unsigned.text).message).toMatch(/SigV4/);
    expect(endpoint.stats().requests).toBe(before);
    expect(await marks()).toBe(0);
  });

  it('refuses a foreign origin and a rebinding Host even with the SDK shape', async () => {
    const shaped = { 'Content-Type': 'application/json', Authorization: sigv4 };
    const foreign = await raw(endpoint.url, { path: '/Execute', headers: { ...shaped, Origin: EVIL }, body: body() });
    expect(foreign.status).toBe(403);
    expect(JSON.parse(foreign.text).message).toContain('--allow-origin http://evil.example');
    const rebound = await raw(endpoint.url, {
      path: '/Execute',
      headers: { ...shaped, Host: `rebind.example:${endpoint.port}` },
      body: body(),
    });
    expect(rebound.status).toBe(403);
    expect(JSON.parse(rebound.text).message).toMatch(/DNS rebinding/);
    const control = await raw(endpoint.url, {
      path: '/_anypg/fail-next-calls',
      headers: { 'Content-Type': 'text/plain', Origin: EVIL },
      body: '{"count": 5}',
    });
    expect(control.status).toBe(403);
    expect(endpoint.stats().pendingFailures).toBe(0);
    expect(await marks()).toBe(0);
  });

  it('answers preflights only for admitted origins', async () => {
    const preflight = (origin: string) =>
      raw(endpoint.url, {
        method: 'OPTIONS',
        path: '/Execute',
        headers: {
          Origin: origin,
          'Access-Control-Request-Method': 'POST',
          'Access-Control-Request-Headers': 'authorization',
        },
      });
    const evil = await preflight(EVIL);
    expect(evil.status).toBe(403);
    expect(evil.headers['access-control-allow-origin']).toBeUndefined();
    const local = await preflight('http://localhost:3000');
    expect(local.status).toBe(204);
    expect(local.headers['access-control-allow-origin']).toBe('http://localhost:3000');
    expect(local.headers['access-control-allow-headers']).toContain('authorization');
  });

  it('still serves the unmodified AWS SDK', async () => {
    const client = new RDSDataClient(endpoint.clientConfig);
    const r = await client.send(
      new ExecuteStatementCommand({
        resourceArn: endpoint.resourceArn,
        secretArn: endpoint.secretArn,
        sql: 'select 9',
      }),
    );
    expect(r.records).toEqual([[{ longValue: 9 }]]);
    client.destroy();
  });
});

describe('the local API Gateway and the Lambda Runtime API', () => {
  let lambda: LocalLambda;
  let gateway: LocalGateway;

  beforeAll(async () => {
    lambda = await startLambda({ handler: HTTP_HANDLER, timeoutMs: 5000 });
    gateway = await startGateway({ lambda, allowOrigins: ['https://app.example.test'] });
  });
  afterAll(async () => {
    await gateway?.close();
    await lambda?.close();
  });

  it('refuses foreign pages and rebinding hosts before invoking the function', async () => {
    const before = lambda.invocations;
    const attempts: Array<Parameters<typeof raw>[1]> = [
      { path: '/plain', headers: { Origin: EVIL, 'Content-Type': 'text/plain' }, body: 'x' },
      { method: 'GET', path: '/plain', headers: { 'Sec-Fetch-Site': 'cross-site', 'Sec-Fetch-Mode': 'no-cors' } },
      { method: 'GET', path: '/plain', headers: { 'Sec-Fetch-Site': 'cross-site', 'Sec-Fetch-Mode': 'navigate' } },
      { method: 'OPTIONS', path: '/plain', headers: { Origin: EVIL, 'Access-Control-Request-Method': 'POST' } },
      { method: 'GET', path: '/plain', headers: { Host: `rebind.example:${gateway.port}` } },
      { method: 'GET', path: '/plain', headers: { Origin: 'null' } },
    ];
    for (const attempt of attempts) {
      const r = await raw(gateway.url, attempt);
      expect(r.status).toBe(403);
      expect(JSON.parse(r.text).message).toMatch(/--allow-(origin|host)/);
    }
    expect(lambda.invocations).toBe(before);
  });

  it('passes loopback pages and allowed origins on to the function (CORS is its business)', async () => {
    const before = lambda.invocations;
    for (const origin of ['http://localhost:3000', 'https://app.example.test']) {
      const r = await raw(gateway.url, {
        method: 'GET',
        path: '/plain',
        headers: { Origin: origin, 'Sec-Fetch-Site': 'cross-site' },
      });
      expect(r.status).toBe(200);
      expect(JSON.parse(r.text)).toEqual({ hello: 'world', n: 1 });
    }
    expect((await raw(gateway.url, { method: 'GET', path: '/plain' })).status).toBe(200);
    expect(lambda.invocations).toBe(before + 3);
  });

  it('the Runtime API refuses every browser request and rebinding Host; the runtime itself is unaffected', async () => {
    const base = `http://${lambda.runtimeApi}`;
    const next = '/2018-06-01/runtime/invocation/next';
    const attempts: Array<Parameters<typeof raw>[1]> = [
      { method: 'GET', path: next, headers: { Origin: 'http://localhost:3000' } },
      { method: 'GET', path: next, headers: { 'Sec-Fetch-Site': 'cross-site' } },
      { method: 'GET', path: next, headers: { 'Sec-Fetch-Site': 'same-site' } },
      { method: 'GET', path: next, headers: { Host: `rebind.example:${new URL(base).port}` } },
      {
        method: 'POST',
        path: '/2018-06-01/runtime/invocation/x/response',
        headers: { Origin: EVIL, 'Content-Type': 'text/plain' },
        body: '{}',
      },
    ];
    for (const attempt of attempts) {
      const r = await raw(base, attempt);
      expect(r.status).toBe(403);
      expect(JSON.parse(r.text).errorType).toBe('AccessDenied');
    }
    // No event was taken or answered by those: the function still gets its next one.
    const result = await lambda.invoke({ rawPath: '/plain' });
    expect(result.error).toBeUndefined();
    expect(result.payload).toEqual({ hello: 'world', n: 1 });
  });
});
