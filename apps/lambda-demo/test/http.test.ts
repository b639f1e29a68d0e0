// How each kind of failure becomes an HTTP answer (http.ts), with anypg's real error classes: the
// cases the end-to-end tests cannot provoke on demand (a unique violation: the notes table has no
// unique column; pool exhaustion; timeouts).
import {
  AbortedError,
  CircuitOpenError,
  ConnectionError,
  DatabaseError,
  OutcomeUnknownError,
  PoolExhaustedError,
  QueryTimeoutError,
  StatementTimeoutError,
} from 'anypg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import * as z from 'zod';
import { HttpError, toErrorResponse } from '../src/http.js';

const REQUEST_ID = '3f1d8c1e-0000-4000-8000-000000000000';
const SECRET_DETAIL = 'Key (title)=(s3cret value) already exists.';

afterEach(() => {
  vi.restoreAllMocks();
});

function answer(err: unknown) {
  // The error goes to the function's log; keep the test output clean.
  vi.spyOn(console, 'error').mockImplementation(() => {});
  const r = toErrorResponse(err, REQUEST_ID);
  const body = JSON.parse(r.body ?? 'null');
  expect(body.error.requestId).toBe(REQUEST_ID);
  expect(r.headers['content-type']).toMatch(/^application\/json/);
  return { status: r.statusCode, headers: r.headers, code: body.error.code, body, text: r.body ?? '' };
}

describe('toErrorResponse', () => {
  it('passes a client error through as written', () => {
    const r = answer(new HttpError(405, 'METHOD_NOT_ALLOWED', 'no', { allow: 'GET' }));
    expect(r).toMatchObject({ status: 405, code: 'METHOD_NOT_ALLOWED', headers: { allow: 'GET' } });
  });

  it('lists every invalid field of a ZodError', () => {
    const result = z.object({ a: z.string(), b: z.object({ c: z.number() }) }).safeParse({ a: 1, b: { c: 'x' } });
    const r = answer(result.error);
    expect(r.status).toBe(400);
    expect(r.body.error.issues.map((i: { path: string }) => i.path)).toEqual(['a', 'b.c']);
  });

  it('a unique violation is 409, without the DETAIL (it quotes the row)', () => {
    const err = new DatabaseError('duplicate key value violates unique constraint "notes_title_key"', {
      sqlstate: '23505',
      constraint: 'notes_title_key',
      detail: SECRET_DETAIL,
    });
    const r = answer(err);
    expect(r).toMatchObject({ status: 409, code: 'CONFLICT' });
    expect(r.text).not.toContain('s3cret');
  });

  it('a check violation is 400 naming the constraint', () => {
    const r = answer(new DatabaseError('violates check', { sqlstate: '23514', constraint: 'notes_title_length' }));
    expect(r).toMatchObject({ status: 400, code: 'CONSTRAINT_VIOLATED' });
    expect(r.body.error.message).toContain('notes_title_length');
  });

  it.each([
    ['POOL_EXHAUSTED', new PoolExhaustedError('all connections busy'), '1'],
    ['CONNECTION_FAILED', new ConnectionError('could not connect to postgresql://app:***@db/app'), '1'],
    ['CIRCUIT_OPEN', new CircuitOpenError('failing fast', 2_500), '3'],
  ])('%s is a 503 with Retry-After, using anypg’s status', (code, err, retryAfter) => {
    const r = answer(err);
    expect(err.httpStatus).toBe(503);
    expect(r).toMatchObject({ status: 503, code, headers: { 'retry-after': retryAfter } });
    expect(r.text).not.toContain(err.message);
  });

  it('timeouts and a passed deadline are 504', () => {
    expect(answer(new AbortedError('Stopped waiting for the database: the deadline passed.'))).toMatchObject({
      status: 504,
      code: 'ABORTED',
    });
    expect(answer(new QueryTimeoutError('no answer in 35 s'))).toMatchObject({ status: 504, code: 'QUERY_TIMEOUT' });
    const st = new StatementTimeoutError('canceling statement due to statement timeout', { sqlstate: '57014' });
    expect(answer(st)).toMatchObject({ status: 504, code: 'STATEMENT_TIMEOUT' });
  });

  it('anything else is a 500 that says nothing about the cause', () => {
    for (const err of [
      new DatabaseError('relation "notes" does not exist', { sqlstate: '42P01' }),
      new OutcomeUnknownError('the connection broke after the statement was sent'),
      new TypeError(`cannot read properties of undefined (reading 'x') ${SECRET_DETAIL}`),
      'a thrown string',
    ]) {
      const r = answer(err);
      expect(r.body).toEqual({ error: { code: 'INTERNAL', message: 'Internal server error.', requestId: REQUEST_ID } });
    }
  });
});
