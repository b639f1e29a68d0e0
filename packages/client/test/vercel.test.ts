// Vercel Functions (Fluid compute): a module-level db in an instance that serves concurrent
// requests and is suspended between them. Real PostgreSQL; what cannot exist here is Vercel's
// runtime, so its one contract anypg uses is stood in for: the request context it publishes at
// globalThis[Symbol.for('@vercel/request-context')] (what @vercel/functions' waitUntil reads),
// whose waitUntil here records the promises it is given.

import { until } from '@anypg/testkit';
import { sql } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { createDb } from '../src/node.js';
import { detectRuntime } from '../src/runtime/detect.js';
import { backendsNamed, databaseUrl } from './support/db.js';

const CONTEXT = Symbol.for('@vercel/request-context');
const VERCEL_ENV = { VERCEL: '1', VERCEL_REGION: 'iad1', AWS_LAMBDA_FUNCTION_NAME: 'vercel-fn' };

/** An invocation's request context: records what it was asked to wait for. */
function invocation() {
  const waited: Promise<unknown>[] = [];
  (globalThis as Record<PropertyKey, unknown>)[CONTEXT] = {
    get: () => ({ waitUntil: (p: Promise<unknown>) => waited.push(p) }),
  };
  return waited;
}

afterEach(() => {
  delete (globalThis as Record<PropertyKey, unknown>)[CONTEXT];
});

const unique = (prefix: string) => `${prefix}_${Math.random().toString(36).slice(2, 8)}`;

/** Settles with 'settled', or 'pending' if `p` has not settled after the event loop has turned. */
async function state(p: Promise<unknown>): Promise<'settled' | 'pending'> {
  return Promise.race([
    p.then(() => 'settled' as const),
    new Promise<'pending'>((r) => setImmediate(() => r('pending'))),
  ]);
}

describe('Vercel Functions', () => {
  it('is its own runtime, though Vercel keeps the Lambda variables: a pool for concurrency, a short idle time', () => {
    expect(detectRuntime(VERCEL_ENV)).toMatchObject({ name: 'vercel', evidence: expect.stringMatching(/VERCEL is 1/) });
    const db = createDb({ url: databaseUrl(), env: VERCEL_ENV });
    expect(db.$backend).toMatchObject({ runtime: 'vercel', backend: 'pg', pool: { idleTimeoutMs: 5_000 } });
    // Lambda's one connection would queue every concurrent request of an instance behind one another.
    expect(db.$backend.pool.max).toBeGreaterThan(1);
  });

  it('serves concurrent requests on several connections', async () => {
    const app = unique('anypg_vercel_conc');
    const db = createDb({ url: databaseUrl(), env: VERCEL_ENV, applicationName: app, pool: { max: 4 } });
    invocation();
    try {
      await Promise.all(Array.from({ length: 4 }, () => db.execute(sql`select pg_sleep(0.2)`)));
      expect(db.$stats().opened).toBe(4);
    } finally {
      await db.$close();
    }
  });

  it('keeps the invocation alive until the idle timer has closed its connection', async () => {
    const app = unique('anypg_vercel_idle');
    const db = createDb({ url: databaseUrl(), env: VERCEL_ENV, applicationName: app, pool: { idleTimeoutMs: 300 } });
    try {
      const waited = invocation();
      await db.execute(sql`select 1`);
      expect(waited).toHaveLength(1);
      expect(await state(waited[0]!)).toBe('pending'); // the connection is idle and open
      expect(await backendsNamed(app)).toHaveLength(1);
      await waited[0];
      // Settled once the idle timer had closed it: nothing of this client is open any more.
      expect(db.$stats()).toMatchObject({ total: 0, idle: 0 });
      await until('the session closed on the server', async () => (await backendsNamed(app)).length === 0);
    } finally {
      await db.$close();
    }
  });

  it('lets an invocation go as soon as another one reuses the connection', async () => {
    const app = unique('anypg_vercel_reuse');
    const db = createDb({ url: databaseUrl(), env: VERCEL_ENV, applicationName: app, pool: { idleTimeoutMs: 60_000 } });
    try {
      const first = invocation();
      await db.execute(sql`select 1`);
      const second = invocation();
      await db.execute(sql`select 2`);
      await first[0]; // reused by the second invocation: the first need not wait for the idle timer
      expect(second).toHaveLength(1);
      expect(await state(second[0]!)).toBe('pending');
      expect(db.$stats().opened).toBe(1);
    } finally {
      await db.$close();
    }
  });

  it('asks nothing outside an invocation (a build step, say)', async () => {
    const db = createDb({ url: databaseUrl(), env: VERCEL_ENV, pool: { idleTimeoutMs: 50 } });
    try {
      expect((await db.execute<{ n: number }>(sql`select 1 as n`)).rows).toEqual([{ n: 1 }]);
    } finally {
      await db.$close();
    }
  });
});
