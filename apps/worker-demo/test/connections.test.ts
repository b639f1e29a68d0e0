// What the worker costs PostgreSQL, counted from the Node side (pg_stat_activity and
// pg_stat_database of the app's own database, read through the probe): many requests in one
// isolate with zero errors and no connection left open afterwards; and an overloaded database
// answered with anypg's 503, without a stack or a secret in the body.
import { afterEach, describe, expect, it } from 'vitest';
import { type Backend, call, inParallel, setConnectionLimit, stats, waitForNoBackends } from './support.js';

const REQUESTS = 300;
const CONCURRENCY = 10;

/** Requests of every kind: a create, then reads, lists and an update of what it created. */
async function mixedLoad(backend: Backend): Promise<{ status: number; backend: string | null }[]> {
  const seed = await call(backend, 'POST', '/notes', { title: `load ${backend}` });
  expect(seed.status).toBe(201);
  const id = seed.body.id as number;
  return inParallel(REQUESTS, CONCURRENCY, async (i) => {
    const r =
      i % 3 === 0
        ? await call(backend, 'GET', `/notes/${id}`)
        : i % 3 === 1
          ? await call(backend, 'GET', '/notes?limit=5')
          : await call(backend, 'PATCH', `/notes/${id}`, { body: `update ${i}` });
    return { status: r.status, backend: r.headers.get('x-anypg-backend') };
  });
}

/** Runs `work` while sampling the app database's backends; returns its result and the most seen at once. */
async function withPeak<T>(work: () => Promise<T>): Promise<{ result: T; peak: number; samples: number }> {
  let done = false;
  let peak = 0;
  let samples = 0;
  const sampler = (async () => {
    for (let i = 0; i < 100_000 && !done; i++) {
      peak = Math.max(peak, (await stats()).backends);
      samples++;
    }
  })();
  try {
    const result = await work();
    return { result, peak, samples };
  } finally {
    done = true;
    await sampler;
  }
}

describe('many requests in one isolate', () => {
  it(`hyperdrive: ${REQUESTS} requests, no errors, one connection per request, none left open`, async () => {
    const before = await waitForNoBackends();
    expect(before.backends).toBe(0);

    const { result: results, peak, samples } = await withPeak(() => mixedLoad('hyperdrive'));
    expect(results.filter((r) => r.status !== 200)).toEqual([]);
    expect(results.every((r) => r.backend === 'hyperdrive')).toBe(true);
    // One connection per request in flight, plus at most one per lane still closing after its
    // response (the close runs in waitUntil).
    expect(samples).toBeGreaterThan(0);
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(2 * CONCURRENCY);

    const after = await waitForNoBackends();
    expect(after.backends).toBe(0);
    // Locally Hyperdrive is a plain pipe: each request's one client is one PostgreSQL session
    // (in production Hyperdrive's pool at the edge absorbs them). The seed request is one more.
    expect(after.sessions - before.sessions).toBe(REQUESTS + 1);
  });

  it(`neon-http: ${REQUESTS} requests, no errors, no connection of its own`, async () => {
    const before = await waitForNoBackends();
    expect(before.backends).toBe(0);

    const { result: results, peak, samples } = await withPeak(() => mixedLoad('neon-http'));
    expect(results.filter((r) => r.status !== 200)).toEqual([]);
    expect(results.every((r) => r.backend === 'neon-http')).toBe(true);

    // Every session came from the Neon endpoint's pool (at most 10 per role and database), none
    // from the worker, and the pool lets them go once idle.
    const after = await waitForNoBackends();
    expect(samples).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(10);
    expect(after.backends).toBe(0);
    expect(after.sessions - before.sessions).toBeGreaterThan(0);
    // Sessions are reused across requests: far fewer than requests. (How many the pool opens and
    // lets go as idle depends on the machine's speed: a busy one sees more idle gaps.)
    expect(after.sessions - before.sessions).toBeLessThan(REQUESTS / 3);
  });
});

describe('an overloaded database', () => {
  afterEach(async () => {
    await setConnectionLimit(-1);
  });

  it.each<Backend>(['hyperdrive', 'neon-http'])(
    '%s: too many connections becomes a 503 with Retry-After and no details',
    async (backend) => {
      // Idle pooled sessions (the Neon endpoint's) would still serve queries: let them go first.
      expect((await waitForNoBackends()).backends).toBe(0);
      await setConnectionLimit(0);

      const r = await call(backend, 'GET', '/notes');
      expect(r.status, r.text).toBe(503);
      expect(r.headers.get('retry-after')).toBe('1');
      expect(r.headers.get('x-anypg-backend')).toBe(backend);
      expect(r.body.error.message).toBe('The database is unavailable or overloaded; try again shortly.');
      expect(typeof r.body.error.requestId).toBe('string');
      // Hyperdrive: pg's login fails (CONNECTION_FAILED); neon-http: the endpoint reports SQLSTATE
      // 53300 (DATABASE, whose httpStatus anypg sets to 503 for class 53).
      expect(r.body.error.code).toBe(backend === 'hyperdrive' ? 'CONNECTION_FAILED' : 'DATABASE');
      expect(r.body.error.requestId).toBe(r.headers.get('x-request-id'));
      expect(r.text).not.toMatch(/too many|worker_demo_|postgres(ql)?:\/\/|\bat \S+ \(|\.(ts|js):\d+/);

      await setConnectionLimit(-1);
      const again = await call(backend, 'GET', '/notes');
      expect(again.status).toBe(200);
    },
  );
});
