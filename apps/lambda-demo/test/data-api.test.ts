// The same bundle on the RDS Data API path: the function gets ARNs instead of a URL, anypg picks
// its data-api backend, and the unmodified AWS SDK talks to the local Data API endpoint (which runs
// the statements on PostgreSQL). The migrate command works the same way.
import { randomBytes } from 'node:crypto';
import { type DataApiEndpoint, startDataApiEndpoint } from '@anypg/local';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningFunction, startNotesFunction } from './support/api.js';
import { adminQuery, backendsOf, emptyDatabase, runMigrate } from './support/db.js';

let db: { name: string; url: string };
let endpoint: DataApiEndpoint;
let fn: RunningFunction;
const functionName = `notes-data-api-${randomBytes(3).toString('hex')}`;

/** What the template sets on the Data API path, plus where the local endpoint is. */
const dataApiEnv = () => ({
  ANYPG_DATA_API_RESOURCE_ARN: endpoint.resourceArn,
  ANYPG_DATA_API_SECRET_ARN: endpoint.secretArn,
  ANYPG_DATA_API_DATABASE: db.name,
  // The AWS SDK reads a service's endpoint from AWS_ENDPOINT_URL_<SERVICE>; the keys stand in for
  // the execution role (the local endpoint does not check signatures).
  AWS_ENDPOINT_URL_RDS_DATA: endpoint.url,
  AWS_ACCESS_KEY_ID: 'anypg-local',
  AWS_SECRET_ACCESS_KEY: 'anypg-local',
});

beforeAll(async () => {
  db = await emptyDatabase('data_api');
  endpoint = await startDataApiEndpoint({ upstream: db.url });
});

afterAll(async () => {
  await fn?.close();
  await endpoint?.close();
});

describe('the Data API variant', () => {
  it('migrates through the Data API with the same command', async () => {
    const before = endpoint.stats().requests;
    const { stdout } = await runMigrate({ ...dataApiEnv(), AWS_REGION: 'us-east-1' });
    expect(stdout).toMatch(/applied 0000_notes\napplied 0001_length_checks\nmigrations: 2 applied/);
    expect(endpoint.stats().requests).toBeGreaterThan(before);
    expect(await adminQuery(`select name from anypg_migrations order by name`, [], db.name)).toEqual([
      { name: '0000_notes' },
      { name: '0001_length_checks' },
    ]);
  });

  it('serves the CRUD routes, never opening a connection of its own', async () => {
    fn = await startNotesFunction({ functionName, env: dataApiEnv() });
    const before = endpoint.stats().requests;

    const created = await fn.call('POST', '/notes', { title: 'via Data API', body: 'über ☕' });
    expect(created.status, created.text).toBe(201);
    expect(created.body).toMatchObject({ title: 'via Data API', body: 'über ☕' });
    const id = created.body.id;
    // Timestamps come back as the same instant the database stored (the Data API sends them
    // without an offset; anypg reads them as UTC).
    const [row] = await adminQuery<{ created_at: Date }>('select created_at from notes where id = $1', [id], db.name);
    expect(created.body.createdAt).toBe(row!.created_at.toISOString());

    expect((await fn.call('GET', `/notes/${id}`)).body).toEqual(created.body);
    const patched = await fn.call('PATCH', `/notes/${id}`, { title: 'renamed' });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ id, title: 'renamed', body: 'über ☕' });
    expect(Date.parse(patched.body.updatedAt)).toBeGreaterThan(Date.parse(created.body.updatedAt));
    expect((await fn.call('GET', '/notes')).body.items).toContainEqual(patched.body);
    expect((await fn.call('DELETE', `/notes/${id}`)).status).toBe(204);
    expect((await fn.call('GET', `/notes/${id}`)).status).toBe(404);

    // One Data API call per request: each route is a single statement, no transaction around it.
    expect(endpoint.stats().requests - before).toBe(6);
    expect(await backendsOf(db.name, functionName)).toEqual([]); // statements went through the endpoint
    expect(fn.lambda.coldStarts).toBe(1);
  });

  it('pages with the same cursor semantics', async () => {
    for (let i = 0; i < 7; i++) expect((await fn.call('POST', '/notes', { title: `page ${i}` })).status).toBe(201);
    const expected = (await adminQuery<{ id: number }>('select id from notes order by id desc', [], db.name)).map(
      (r) => r.id,
    );
    const seen: number[] = [];
    let cursor: string | null = null;
    for (let pages = 0; pages < 20; pages++) {
      const r = await fn.call('GET', `/notes?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...r.body.items.map((n: { id: number }) => n.id));
      cursor = r.body.nextCursor;
      if (cursor === null) break;
    }
    expect(seen).toEqual(expected);
  });

  it('validates before any Data API call', async () => {
    const before = endpoint.stats().requests;
    const r = await fn.call('POST', '/notes', { title: '' });
    expect(r.status).toBe(400);
    expect(r.body.error.issues).toEqual([{ path: 'title', message: 'title must not be empty' }]);
    expect(endpoint.stats().requests).toBe(before);
  });

  it('rides through an Aurora cluster resuming from auto-pause', async () => {
    endpoint.failNextCalls(2); // DatabaseResumingException twice, as a paused cluster answers
    const r = await fn.call('GET', '/notes?limit=1');
    expect(r.status, r.text).toBe(200);
    expect(endpoint.stats().pendingFailures).toBe(0);
  });

  it('works after a freeze longer than the endpoint keeps idle HTTP connections', async () => {
    // Node's HTTP server closes an idle kept-alive connection after 5 s; the container is frozen
    // for 6 s and cannot see that happen.
    await fn.lambda.freezeFor(6_000);
    const r = await fn.call('POST', '/notes', { title: 'after a freeze' });
    expect(r.status, r.text).toBe(201);
  });

  it('is a 503 when the Data API cannot be reached', async () => {
    await endpoint.close();
    const r = await fn.call('GET', '/notes');
    expect(r.status, r.text).toBe(503);
    expect(r.body.error.code).toBe('CONNECTION_FAILED');
    expect(r.body.error.requestId).toBe(r.headers.get('x-request-id'));
  });
});
