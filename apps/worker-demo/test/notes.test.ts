// The notes API end to end inside workerd, on both database paths: every route, pagination, and
// the validation errors. Runs against a real PostgreSQL (Hyperdrive: pg over the binding; neon-http:
// the unmodified Neon driver through @anypg/local's endpoint).
import { describe, expect, inject, it } from 'vitest';
import { type Backend, call } from './support.js';

const BACKENDS: Backend[] = ['hyperdrive', 'neon-http'];
/** A stack frame, a source position or a connection string. */
const STACK_OR_SECRET = /\bat \S+ \(|\.(ts|js|mjs):\d+|postgres(ql)?:\/\//;

describe.each(BACKENDS)('notes API over %s', (backend) => {
  it('creates, reads, updates, lists and deletes a note', async () => {
    const created = await call(backend, 'POST', '/notes', { title: '  Groceries  ', body: 'milk, eggs' });
    expect(created.status).toBe(201);
    expect(created.headers.get('x-anypg-backend')).toBe(backend);
    const note = created.body;
    expect(note).toMatchObject({ title: 'Groceries', body: 'milk, eggs' });
    expect(Number.isInteger(note.id)).toBe(true);
    expect(created.headers.get('location')).toBe(`/notes/${note.id}`);
    expect(new Date(note.createdAt).toISOString()).toBe(note.createdAt);
    expect(note.updatedAt).toBe(note.createdAt);

    const read = await call(backend, 'GET', `/notes/${note.id}`);
    expect(read.status).toBe(200);
    expect(read.headers.get('x-anypg-backend')).toBe(backend);
    expect(read.body).toEqual(note);

    const patched = await call(backend, 'PATCH', `/notes/${note.id}`, { title: 'Shopping' });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({
      id: note.id,
      title: 'Shopping',
      body: 'milk, eggs',
      createdAt: note.createdAt,
    });
    expect(Date.parse(patched.body.updatedAt)).toBeGreaterThan(Date.parse(note.updatedAt));

    const bodyOnly = await call(backend, 'PATCH', `/notes/${note.id}`, { body: '' });
    expect(bodyOnly.status).toBe(200);
    expect(bodyOnly.body).toMatchObject({ title: 'Shopping', body: '' });

    const list = await call(backend, 'GET', '/notes?limit=100');
    expect(list.status).toBe(200);
    expect(list.body.items.find((n: { id: number }) => n.id === note.id)).toEqual(bodyOnly.body);

    const deleted = await call(backend, 'DELETE', `/notes/${note.id}`);
    expect(deleted.status).toBe(204);
    expect(deleted.text).toBe('');
    expect(deleted.headers.get('x-anypg-backend')).toBe(backend);

    for (const [method, body] of [
      ['GET', undefined],
      ['PATCH', { title: 'x' }],
      ['DELETE', undefined],
    ] as const) {
      const gone = await call(backend, method, `/notes/${note.id}`, body);
      expect(gone.status, method).toBe(404);
      expect(gone.body.error).toMatchObject({ code: 'NOT_FOUND', message: 'No note with this id.' });
    }
  });

  it('defaults the body to an empty string', async () => {
    const created = await call(backend, 'POST', '/notes', { title: 'title only' });
    expect(created.status).toBe(201);
    expect(created.body.body).toBe('');
  });

  it('pages through every note newest first with limit and cursor', async () => {
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await call(backend, 'POST', '/notes', { title: `page ${i}` });
      expect(r.status).toBe(201);
      ids.push(r.body.id);
    }
    const seen: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: Awaited<ReturnType<typeof call>> = await call(
        backend,
        'GET',
        `/notes?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      if (page.body.nextCursor !== null) {
        expect(page.body.items).toHaveLength(2);
        expect(page.body.nextCursor).toBe(String(page.body.items[1].id));
      }
      seen.push(...page.body.items.map((n: { id: number }) => n.id));
      cursor = page.body.nextCursor;
      pages++;
    } while (cursor !== null && pages < 1000);
    expect(cursor).toBeNull();
    // Newest first, no duplicates, and the five just created in order.
    expect(seen).toEqual([...seen].sort((a, b) => b - a));
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.filter((id) => ids.includes(id))).toEqual([...ids].reverse());
    // The default page size is 20.
    const first = await call(backend, 'GET', '/notes');
    expect(first.body.items).toHaveLength(Math.min(20, seen.length));
  });

  it('answers /health with the path anypg chose and why', async () => {
    const r = await call(backend, 'GET', '/health');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ ok: true, backend, runtime: 'workerd' });
    expect(r.body.reason).toContain(`backend: '${backend}'`);
  });
});

describe('the notes table', () => {
  it("is the same table apps/lambda-demo's migrations create", () => {
    const { workerDemo, lambdaDemo } = inject('workerDemo').notesTable;
    expect(workerDemo).toContain(
      'constraint notes_title_length CHECK (((char_length(title) >= 1) AND (char_length(title) <= 200)))',
    );
    // Without lambda-demo's migrations there is nothing to compare with (the app stands alone).
    if (lambdaDemo) expect(workerDemo).toEqual(lambdaDemo);
  });
});

describe('choosing the path', () => {
  it('uses the Hyperdrive binding when the request does not ask', async () => {
    const r = await call(undefined, 'GET', '/health');
    expect(r.status).toBe(200);
    expect(r.body.backend).toBe('hyperdrive');
    expect(r.body.reason).toContain('HYPERDRIVE');
  });

  it('refuses an unknown backend with a 400', async () => {
    const r = await call(undefined, 'GET', '/notes?backend=mysql');
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('VALIDATION_FAILED');
    expect(r.body.error.message).toContain('backend must be hyperdrive or neon-http');
  });
});

describe('validation', () => {
  const cases: [string, string, string, unknown, Record<string, string>?][] = [
    ['missing title', 'POST', '/notes', { body: 'b' }],
    ['empty title', 'POST', '/notes', { title: '   ' }],
    ['title too long', 'POST', '/notes', { title: 'x'.repeat(201) }],
    ['title not a string', 'POST', '/notes', { title: 42 }],
    ['body not a string', 'POST', '/notes', { title: 't', body: ['a'] }],
    ['body too long', 'POST', '/notes', { title: 't', body: 'x'.repeat(10_001) }],
    ['unknown field', 'POST', '/notes', { title: 't', owner: 'me' }],
    ['array instead of object', 'POST', '/notes', [{ title: 't' }]],
    ['empty patch', 'PATCH', '/notes/1', {}],
    ['patch with unknown field', 'PATCH', '/notes/1', { done: true }],
    ['id not a number', 'GET', '/notes/abc', undefined],
    ['id zero', 'GET', '/notes/0', undefined],
    ['id past int4', 'DELETE', '/notes/2147483648', undefined],
    ['id negative', 'PATCH', '/notes/-1', { title: 't' }],
    ['limit zero', 'GET', '/notes?limit=0', undefined],
    ['limit too big', 'GET', '/notes?limit=101', undefined],
    ['limit not a number', 'GET', '/notes?limit=ten', undefined],
    ['cursor not a number', 'GET', '/notes?cursor=abc', undefined],
  ];

  it.each(cases)('%s: 400 with the field and the reason', async (_name, method, path, body) => {
    for (const backend of BACKENDS) {
      const r = await call(backend, method, path, body);
      expect(r.status, `${backend}: ${r.text}`).toBe(400);
      expect(r.headers.get('content-type')).toContain('application/json');
      expect(r.body.error.code).toBe('VALIDATION_FAILED');
      expect(r.body.error.message.length).toBeGreaterThan(0);
      expect(r.body.error.issues.length).toBeGreaterThan(0);
      expect(typeof r.body.error.requestId).toBe('string');
      expect(r.body.error.requestId).toBe(r.headers.get('x-request-id'));
      expect(r.text).not.toMatch(STACK_OR_SECRET);
    }
  });

  it('names the field that failed', async () => {
    const r = await call('hyperdrive', 'POST', '/notes', { title: 'x'.repeat(201), body: 5 });
    expect(r.status).toBe(400);
    expect(r.body.error.issues).toEqual([
      { path: 'title', message: 'title must be at most 200 characters' },
      { path: 'body', message: 'body must be a string' },
    ]);
    expect(r.body.error.message).toBe('title: title must be at most 200 characters; body: body must be a string');

    const missing = await call('hyperdrive', 'POST', '/notes', { titel: 'typo' });
    expect(missing.body.error.issues).toEqual([
      { path: 'title', message: 'title is required' },
      { path: '', message: 'unknown field "titel"' },
    ]);

    const notObject = await call('hyperdrive', 'PATCH', '/notes/1', '"just a string"');
    expect(notObject.body.error.issues).toEqual([{ path: '', message: 'the body must be a JSON object' }]);

    const empty = await call('neon-http', 'PATCH', '/notes/1', {});
    expect(empty.body.error.issues).toEqual([{ path: '', message: 'give at least one of title, body' }]);

    const id = await call('neon-http', 'GET', '/notes/2147483648');
    expect(id.body.error.issues).toEqual([{ path: '', message: 'id must be between 1 and 2147483647' }]);

    const limit = await call('neon-http', 'GET', '/notes?limit=0&cursor=x');
    expect(limit.body.error.issues).toEqual([
      { path: 'limit', message: 'limit must be an integer from 1 to 100' },
      { path: 'cursor', message: 'cursor must be a positive integer' },
    ]);
  });

  it('refuses a body that is not JSON or empty (400), not labelled JSON (415), or too large (413)', async () => {
    const bad = await call('hyperdrive', 'POST', '/notes', '{"title": ');
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: 'BAD_REQUEST', message: 'The body is not valid JSON.' });

    const empty = await call('hyperdrive', 'POST', '/notes', '  ');
    expect(empty.status).toBe(400);
    expect(empty.body.error).toMatchObject({ code: 'BAD_REQUEST', message: 'The body is empty: send a JSON object.' });

    const vendor = await call(
      'neon-http',
      'POST',
      '/notes',
      { title: 'vendor type' },
      {
        'content-type': 'application/vnd.api+json; charset=utf-8',
      },
    );
    expect(vendor.status).toBe(201);

    const unlabelled = await call('hyperdrive', 'POST', '/notes', '{"title":"t"}', { 'content-type': 'text/plain' });
    expect(unlabelled.status).toBe(415);
    expect(unlabelled.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');

    const large = await call('hyperdrive', 'POST', '/notes', { title: 't', body: 'x'.repeat(70_000) });
    expect(large.status).toBe(413);
    expect(large.body.error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('answers unknown routes with 404 and wrong methods with 405 and Allow', async () => {
    const missing = await call(undefined, 'GET', '/nope');
    expect(missing.status).toBe(404);
    expect(missing.body.error).toMatchObject({ code: 'ROUTE_NOT_FOUND', message: 'No route for GET /nope.' });
    expect(missing.headers.get('x-anypg-backend')).toBeNull();

    const put = await call(undefined, 'PUT', '/notes/1', { title: 't' });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('GET, PATCH, DELETE');
    expect(put.body.error).toMatchObject({
      code: 'METHOD_NOT_ALLOWED',
      message: 'PUT is not allowed here; use GET, PATCH, DELETE.',
    });

    const del = await call(undefined, 'DELETE', '/notes');
    expect(del.status).toBe(405);
    expect(del.headers.get('allow')).toBe('GET, POST');
  });
});
