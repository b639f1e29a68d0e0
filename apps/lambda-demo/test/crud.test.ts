// The notes API end to end: HTTP -> local API Gateway -> the bundled handler in the local Lambda
// runtime (a container process frozen between invocations) -> anypg -> PostgreSQL.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningFunction, startNotesFunction } from './support/api.js';
import { adminQuery, freshDatabase } from './support/db.js';

let fn: RunningFunction;
let database: string;

beforeAll(async () => {
  const db = await freshDatabase('crud');
  database = db.name;
  fn = await startNotesFunction({
    functionName: `notes-crud-${randomBytes(3).toString('hex')}`,
    env: { DATABASE_URL: db.url },
  });
});

afterAll(async () => {
  await fn?.close();
});

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

describe('CRUD routes', () => {
  it('create, read, update, delete a note', async () => {
    const created = await fn.call('POST', '/notes', { title: '  Groceries  ', body: 'milk, eggs' });
    expect(created.status).toBe(201);
    const note = created.body;
    expect(note).toEqual({
      id: expect.any(Number),
      title: 'Groceries', // trimmed
      body: 'milk, eggs',
      createdAt: expect.stringMatching(ISO),
      updatedAt: expect.stringMatching(ISO),
    });
    expect(created.headers.get('location')).toBe(`/notes/${note.id}`);
    expect(created.headers.get('content-type')).toMatch(/^application\/json/);
    // The row is really in the database.
    expect(await adminQuery('select title, body from notes where id = $1', [note.id], database)).toEqual([
      { title: 'Groceries', body: 'milk, eggs' },
    ]);

    const read = await fn.call('GET', `/notes/${note.id}`);
    expect(read.status).toBe(200);
    expect(read.body).toEqual(note);

    const patched = await fn.call('PATCH', `/notes/${note.id}`, { body: 'milk, eggs, bread' });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ id: note.id, title: 'Groceries', body: 'milk, eggs, bread' });
    expect(patched.body.createdAt).toBe(note.createdAt);
    expect(Date.parse(patched.body.updatedAt)).toBeGreaterThan(Date.parse(note.updatedAt));

    const renamed = await fn.call('PATCH', `/notes/${note.id}/`, { title: 'Shopping' }); // trailing slash
    expect(renamed.body).toMatchObject({ title: 'Shopping', body: 'milk, eggs, bread' });

    const listed = await fn.call('GET', '/notes?limit=100');
    expect(listed.body.items).toContainEqual(renamed.body);

    const deleted = await fn.call('DELETE', `/notes/${note.id}`);
    expect(deleted.status).toBe(204);
    expect(deleted.text).toBe('');
    for (const [method, body] of [
      ['GET', undefined],
      ['PATCH', { title: 'x' }],
      ['DELETE', undefined],
    ] as const) {
      const gone = await fn.call(method, `/notes/${note.id}`, body);
      expect(gone.status, method).toBe(404);
      expect(gone.body.error).toMatchObject({ code: 'NOT_FOUND' });
    }
  });

  it('creates a note with an empty body when only a title is given', async () => {
    const r = await fn.call('POST', '/notes', { title: 'just a title' });
    expect(r.status).toBe(201);
    expect(r.body.body).toBe('');
  });

  it('keeps unicode intact', async () => {
    const title = 'Café ☕ 東京 — 🚀';
    const r = await fn.call('POST', '/notes', { title, body: 'ünïcödé\n"quoted"\\' });
    expect((await fn.call('GET', `/notes/${r.body.id}`)).body).toMatchObject({ title, body: 'ünïcödé\n"quoted"\\' });
  });
});

describe('GET /notes pagination', () => {
  it('pages newest first with a cursor: every note exactly once, even while notes are added', async () => {
    for (let i = 0; i < 12; i++)
      expect((await fn.call('POST', '/notes', { title: `page note ${i}` })).status).toBe(201);
    const expected = (await adminQuery<{ id: number }>('select id from notes order by id desc', [], database)).map(
      (r) => r.id,
    );
    expect(expected.length).toBeGreaterThanOrEqual(12);

    const seen: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const r = await fn.call('GET', `/notes?limit=5${cursor ? `&cursor=${cursor}` : ''}`);
      expect(r.status).toBe(200);
      expect(r.body.items.length).toBeLessThanOrEqual(5);
      seen.push(...r.body.items.map((n: { id: number }) => n.id));
      cursor = r.body.nextCursor;
      if (pages === 0) {
        // A note added after the first page is newer than the cursor: it must not shift later pages.
        expect((await fn.call('POST', '/notes', { title: 'added while paging' })).status).toBe(201);
      }
      pages++;
    } while (cursor !== null && pages < 50);
    expect(seen).toEqual(expected);
    expect(pages).toBe(Math.ceil(expected.length / 5));
  });

  it('defaults to 20 per page and says when there is no next page', async () => {
    const total = Number((await adminQuery<{ n: string }>('select count(*) as n from notes', [], database))[0]!.n);
    const r = await fn.call('GET', '/notes');
    expect(r.body.items).toHaveLength(Math.min(20, total));
    expect(r.body.nextCursor === null).toBe(total <= 20);
    const all = await fn.call('GET', '/notes?limit=100');
    expect(all.body.items).toHaveLength(total);
    expect(all.body.nextCursor).toBeNull();
  });
});

describe('validation: 4xx with the field and the reason', () => {
  /** Calls and checks the common error shape: status, code, and the request id of the header. */
  async function expectError(
    reply: Promise<Awaited<ReturnType<RunningFunction['call']>>>,
    status: number,
    code: string,
  ): Promise<{ message: string; issues?: { path: string; message: string }[] }> {
    const r = await reply;
    expect(r.status, r.text).toBe(status);
    expect(r.body.error.code).toBe(code);
    expect(r.body.error.requestId).toBe(r.headers.get('x-request-id'));
    expect(r.body.error.requestId).toMatch(/^[0-9a-f-]{36}$/);
    return r.body.error;
  }

  it.each([
    [{}, 'title', 'title is required'],
    [{ title: '' }, 'title', 'title must not be empty'],
    [{ title: '   ' }, 'title', 'title must not be empty'],
    [{ title: 'x'.repeat(201) }, 'title', 'title must be at most 200 characters'],
    [{ title: 42 }, 'title', 'title must be a string'],
    [{ title: null }, 'title', 'title must be a string'],
    [{ title: 'ok', body: 5 }, 'body', 'body must be a string'],
    [{ title: 'ok', body: 'x'.repeat(10_001) }, 'body', 'body must be at most 10000 characters'],
    [{ title: 'ok', titel: 'typo' }, '', 'unknown field "titel"'],
    [[{ title: 'ok' }], '', 'the body must be a JSON object'],
    ['"just a string"', '', 'the body must be a JSON object'],
  ])('POST /notes %j -> 400 on %j', async (input, path, message) => {
    const error = await expectError(fn.call('POST', '/notes', input), 400, 'VALIDATION_FAILED');
    expect(error.issues).toEqual([{ path, message }]);
    expect(error.message).toBe(path ? `${path}: ${message}` : message);
  });

  it('PATCH needs at least one field, and checks the ones given', async () => {
    const { body: note } = await fn.call('POST', '/notes', { title: 'to patch' });
    const empty = await expectError(fn.call('PATCH', `/notes/${note.id}`, {}), 400, 'VALIDATION_FAILED');
    expect(empty.issues).toEqual([{ path: '', message: 'give at least one of title, body' }]);
    const bad = await expectError(fn.call('PATCH', `/notes/${note.id}`, { title: '' }), 400, 'VALIDATION_FAILED');
    expect(bad.issues).toEqual([{ path: 'title', message: 'title must not be empty' }]);
    expect((await fn.call('GET', `/notes/${note.id}`)).body.title).toBe('to patch');
  });

  it.each([
    ['/notes/abc', 'id', 'id must be a positive integer'],
    ['/notes/-1', 'id', 'id must be a positive integer'],
    ['/notes/1.5', 'id', 'id must be a positive integer'],
    ['/notes/0', 'id', 'id must be between 1 and 2147483647'],
    ['/notes/2147483648', 'id', 'id must be between 1 and 2147483647'],
    ['/notes?limit=0', 'limit', 'limit must be an integer from 1 to 100'],
    ['/notes?limit=101', 'limit', 'limit must be an integer from 1 to 100'],
    ['/notes?limit=ten', 'limit', 'limit must be an integer from 1 to 100'],
    ['/notes?cursor=abc', 'cursor', 'cursor must be a positive integer'],
  ])('GET %s -> 400 on %s', async (url, path, message) => {
    const error = await expectError(fn.call('GET', url), 400, 'VALIDATION_FAILED');
    expect(error.issues).toEqual([{ path, message }]);
  });

  it('refuses a body that is not JSON', async () => {
    await expectError(fn.call('POST', '/notes', '{"title": '), 400, 'BAD_REQUEST');
    await expectError(fn.call('POST', '/notes', ''), 400, 'BAD_REQUEST');
    await expectError(
      fn.call('POST', '/notes', 'title=x', { 'content-type': 'application/x-www-form-urlencoded' }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
    await expectError(fn.call('POST', '/notes', { title: 'x'.repeat(70_000) }), 413, 'PAYLOAD_TOO_LARGE');
  });

  it('answers 404 for an unknown route and 405 with Allow for a wrong method', async () => {
    await expectError(fn.call('GET', '/nope'), 404, 'ROUTE_NOT_FOUND');
    const r = await fn.call('PUT', '/notes/1', { title: 'x' });
    expect(r.status).toBe(405);
    expect(r.headers.get('allow')).toBe('GET, PATCH, DELETE');
    expect(r.body.error.code).toBe('METHOD_NOT_ALLOWED');
    expect((await fn.call('DELETE', '/notes')).headers.get('allow')).toBe('GET, POST');
  });
});
