// What running in Lambda means for the function's database use, reproduced with the local runtime
// (one warm container, frozen with SIGSTOP between invocations): one connection for all warm
// invocations, recovery after a freeze longer than the server's idle timeout, failures that reach
// the client as clean 5xx answers, and the URL read from Secrets Manager at init.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { freePort } from '@anypg/local';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RunningFunction, startNotesFunction } from './support/api.js';
import { backendsOf, freshDatabase, urlFor } from './support/db.js';

const running: RunningFunction[] = [];
async function start(label: string, env: Record<string, string>): Promise<RunningFunction & { name: string }> {
  const name = `notes-${label}-${randomBytes(3).toString('hex')}`;
  const fn = await startNotesFunction({ functionName: name, env });
  running.push(fn);
  return Object.assign(fn, { name });
}

let db: { name: string; url: string };
beforeAll(async () => {
  db = await freshDatabase('runtime');
});
afterAll(async () => {
  for (const fn of running) await fn.close();
});

/** Polls (bounded) until `check` holds; returns its last value. */
async function until<T>(what: () => Promise<T>, check: (v: T) => boolean, tries = 100): Promise<T> {
  let v = await what();
  for (let i = 0; i < tries && !check(v); i++) {
    await new Promise((r) => setTimeout(r, 50));
    v = await what();
  }
  return v;
}

describe('connections', () => {
  it('200 warm invocations share exactly one database connection', async () => {
    const fn = await start('warm', { DATABASE_URL: db.url });
    const first = await fn.call('POST', '/notes', { title: 'warm 0' });
    expect(first.status).toBe(201);
    const before = await backendsOf(db.name, fn.name);
    expect(before).toHaveLength(1);
    const invocationsBefore = fn.lambda.invocations;

    const statuses = new Map<number, number>();
    for (let i = 0; i < 200; i++) {
      const r =
        i % 4 === 0
          ? await fn.call('POST', '/notes', { title: `warm ${i}` })
          : i % 4 === 1
            ? await fn.call('GET', `/notes/${first.body.id}`)
            : i % 4 === 2
              ? await fn.call('PATCH', `/notes/${first.body.id}`, { body: `edit ${i}` })
              : await fn.call('GET', '/notes?limit=10');
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    }
    expect(Object.fromEntries(statuses)).toEqual({ 200: 150, 201: 50 });
    expect(fn.lambda.invocations - invocationsBefore).toBe(200);
    // One container, frozen after every invocation, and still the same single backend process.
    expect(fn.lambda.coldStarts).toBe(1);
    expect(fn.lambda.freezes).toBeGreaterThanOrEqual(201);
    expect(await backendsOf(db.name, fn.name)).toEqual(before);
  });

  it('a freeze longer than idle_session_timeout is followed by successful invocations', async () => {
    // The server ends sessions idle for 1 s; the container stays frozen for 2 s.
    const url = urlFor(db.name, { options: '-c idle_session_timeout=1000' });
    const fn = await start('freeze', { DATABASE_URL: url });
    expect((await fn.call('GET', '/notes?limit=1')).status).toBe(200);
    const [backend] = await backendsOf(db.name, fn.name);
    expect(backend).toBeDefined();

    await fn.lambda.freezeFor(2_000);
    // The server really closed the frozen function's connection (the function could not notice).
    expect(
      await until(
        () => backendsOf(db.name, fn.name),
        (b) => b.length === 0,
      ),
    ).toEqual([]);

    const read = await fn.call('GET', '/notes?limit=1');
    expect(read.status, read.text).toBe(200);
    // And once more for a write, after another long freeze.
    await fn.lambda.freezeFor(2_000);
    expect(
      await until(
        () => backendsOf(db.name, fn.name),
        (b) => b.length === 0,
      ),
    ).toEqual([]);
    const write = await fn.call('POST', '/notes', { title: 'after a long freeze' });
    expect(write.status, write.text).toBe(201);

    const after = await backendsOf(db.name, fn.name);
    expect(after).toHaveLength(1);
    expect(after[0]!.pid).not.toBe(backend!.pid);
    expect(fn.lambda.coldStarts).toBe(1); // the same container recovered; no restart
  });
});

describe('failures reach the client as clean 5xx answers', () => {
  it('an unplanned error in the handler is a 500 with the request id, and no stack or detail', async () => {
    const fn = await start('fault', { DATABASE_URL: db.url, NOTES_DEMO_FAULTS: '1' });
    const marker = `marker-${randomBytes(6).toString('hex')}`;
    const r = await fn.call('GET', `/_faults/throw?marker=${marker}`);
    expect(r.status).toBe(500);
    const requestId = r.headers.get('x-request-id');
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.body).toEqual({ error: { code: 'INTERNAL', message: 'Internal server error.', requestId } });
    for (const leak of [marker, 'TypeError', 'at ', new URL(db.url).password, db.url])
      expect(r.text).not.toContain(leak);
    // The detail is in the function's log, under the same request id.
    const logged = fn.lambda.logs().filter((l) => l.includes(requestId!));
    expect(logged.some((l) => l.includes(marker) && l.includes('TypeError'))).toBe(true);
    // The container survived it.
    expect((await fn.call('GET', '/notes?limit=1')).status).toBe(200);
    expect(fn.lambda.coldStarts).toBe(1);
  });

  it('a function that cannot even start (bad DATABASE_URL) is the gateway 500, no secret in it', async () => {
    const password = `pw-${randomBytes(8).toString('hex')}`;
    const fn = await start('badurl', { DATABASE_URL: `postgresql://app:${password}@127.0.0.1:notaport/app` });
    const r = await fn.call('GET', '/notes');
    expect(r.status).toBe(500);
    expect(r.body).toEqual({ message: 'Internal Server Error' });
    expect(r.headers.get('apigw-requestid')).toBeTruthy();
    // anypg's error names the variable, not its value, in the init error Lambda logs.
    const logs = fn.lambda.logs().join('\n');
    expect(logs).toContain('DATABASE_URL');
    expect(logs).not.toContain(password);
  });

  it('an unreachable database is a 503 with Retry-After, then fails fast once the circuit opens', async () => {
    const port = await freePort();
    const password = `pw-${randomBytes(8).toString('hex')}`;
    const fn = await start('down', { DATABASE_URL: `postgresql://app:${password}@127.0.0.1:${port}/app` });
    const codes: string[] = [];
    for (let i = 0; i < 7; i++) {
      const r = await fn.call('GET', '/notes');
      expect(r.status).toBe(503);
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(r.body.error.requestId).toBe(r.headers.get('x-request-id'));
      expect(r.text).not.toContain(password);
      expect(r.text).not.toContain(String(port));
      codes.push(r.body.error.code);
    }
    expect(codes[0]).toBe('CONNECTION_FAILED');
    expect(codes.at(-1)).toBe('CIRCUIT_OPEN');
  });
});

describe('the database URL from Secrets Manager (through the Parameters and Secrets extension)', () => {
  let extension: Server;
  const requests: IncomingMessage[] = [];
  const secretArn = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:notes-db-AbCdEf';
  const token = `session-${randomBytes(6).toString('hex')}`;

  beforeAll(async () => {
    const url = new URL(db.url);
    // A stand-in for the extension's localhost endpoint: GET /secretsmanager/get?secretId=..., the
    // session token in X-Aws-Parameters-Secrets-Token, GetSecretValue's JSON in the answer.
    extension = createServer((req, res) => {
      requests.push(req);
      const q = new URL(req.url ?? '/', 'http://localhost');
      if (req.headers['x-aws-parameters-secrets-token'] !== token) {
        res.writeHead(401).end('missing or wrong token');
      } else if (q.pathname !== '/secretsmanager/get' || q.searchParams.get('secretId') !== secretArn) {
        res.writeHead(400).end('unknown secret');
      } else {
        const secret = {
          engine: 'postgres',
          username: decodeURIComponent(url.username),
          password: decodeURIComponent(url.password),
          host: url.hostname,
          port: Number(url.port),
          dbname: db.name,
        };
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ARN: secretArn, Name: 'notes-db', SecretString: JSON.stringify(secret) }));
      }
    });
    await new Promise<void>((resolve) => extension.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    await new Promise((resolve) => extension?.close(resolve));
  });
  afterEach(() => {
    requests.length = 0;
  });

  const extensionEnv = () => ({
    AWS_SESSION_TOKEN: token,
    PARAMETERS_SECRETS_EXTENSION_HTTP_PORT: String((extension.address() as AddressInfo).port),
  });

  it('is read once, at init, and used by every warm invocation', async () => {
    const fn = await start('secret', { DATABASE_SECRET_ARN: secretArn, ...extensionEnv() });
    for (let i = 0; i < 5; i++) expect((await fn.call('GET', '/notes?limit=1')).status).toBe(200);
    expect(requests).toHaveLength(1);
    expect(await backendsOf(db.name, fn.name)).toHaveLength(1);
  });

  it('a refused secret fails init with a message that says what to check', async () => {
    const fn = await start('nosecret', {
      DATABASE_SECRET_ARN: `${secretArn}-other`,
      ...extensionEnv(),
    });
    const r = await fn.call('GET', '/notes');
    expect(r.status).toBe(500);
    expect(requests.length).toBeGreaterThanOrEqual(1);
    expect(fn.lambda.logs().join('\n')).toMatch(/HTTP 400 for the database secret.*secretsmanager:GetSecretValue/);
  });
});

describe('deadlines', () => {
  it('a statement that would outlive the function answers 504 in time, and the container stays warm', async () => {
    const fn = await startNotesFunction({
      functionName: `notes-deadline-${randomBytes(3).toString('hex')}`,
      env: { DATABASE_URL: db.url },
      timeoutMs: 3_000, // the handler keeps 1 s back: its database deadline is about 2 s
    });
    running.push(fn);
    const { body: note } = await fn.call('POST', '/notes', { title: 'locked' });
    // Another session holds an exclusive lock on the table, so even a read waits. (A read, so the
    // outcome is certain: a write cancelled at its deadline may still have been applied.)
    const locker = new pg.Client({ connectionString: db.url });
    await locker.connect();
    try {
      await locker.query('begin');
      await locker.query('lock table notes in access exclusive mode');
      const r = await fn.call('GET', `/notes/${note.id}`);
      expect(r.status, r.text).toBe(504);
      expect(r.body.error.code).toBe('ABORTED'); // anypg: the deadline passed, the statement was cancelled
      expect(r.body.error.requestId).toBe(r.headers.get('x-request-id'));
    } finally {
      await locker.query('rollback');
      await locker.end();
    }
    // Not a Lambda timeout: the same container, and it still serves.
    expect(fn.lambda.coldStarts).toBe(1);
    expect((await fn.call('GET', `/notes/${note.id}`)).body.title).toBe('locked');
  });
});
