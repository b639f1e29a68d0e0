// Workers isolation: 1000 requests in one workerd isolate, 20 at a time, each with its own db.
// workerd refuses I/O on an object (a socket, a pg Client) created by another request, so any
// connection shared between requests shows up as a failed request. Afterwards the server (asked
// from Node) must have no connection of the run left, no session that ended without a goodbye,
// and the isolate no unhandled rejection. A control shows that the checks can fail: dbs that are
// never closed. (A db kept at module scope is module-scope.test.ts's subject.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ddl, dropDdl } from './schema.js';
import { admin, type Backend, call, sessionCounts, settledBackends, unique } from './support.js';

const REQUESTS = 1000;
const CONCURRENCY = 20;

const t = unique('wki');

beforeAll(async () => {
  await admin(ddl(t));
});

afterAll(async () => {
  await admin(dropDdl(t));
});

interface LoadAnswer {
  n: number;
  echoed: number[];
  opened: number;
}

/** Sends `count` load requests, CONCURRENCY at a time; returns every answer that was not right. */
async function run(backend: Backend, app: string, count: number, extra: Record<string, unknown> = {}) {
  const wrong: unknown[] = [];
  let next = 0;
  let answered = 0;
  const lane = async () => {
    while (next < count) {
      const n = next++;
      const { status, body } = await call<LoadAnswer>(backend, 'load', { t, app, n, ...extra });
      answered++;
      const expected = n % 10 === 0 ? [n, n] : n % 10 === 5 ? [n, n, n + 1] : [n];
      if (status !== 200 || JSON.stringify(body.echoed) !== JSON.stringify(expected)) wrong.push({ n, status, body });
      // hyperdrive: one connection per request, opened by that request.
      else if (backend === 'hyperdrive' && body.opened !== 1) wrong.push({ n, opened: body.opened });
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, lane));
  return { wrong, answered };
}

const rejectionCount = async () => ((await call('hyperdrive', 'rejections', {})).body.rejections as string[]).length;

describe.each(['hyperdrive', 'neon-http'] as Backend[])(`%s, ${REQUESTS} requests in one isolate`, (backend) => {
  it('answers every request right and leaves no connection open', async () => {
    const app = unique(`anypg_iso_${backend.replace('-', '_')}`);
    const rejections = await rejectionCount();
    const before = await sessionCounts();

    const { wrong, answered } = await run(backend, app, REQUESTS);
    expect(answered).toBe(REQUESTS);
    expect(wrong.slice(0, 3)).toEqual([]);
    expect(wrong.length).toBe(0);

    // Every tenth request committed a row: the server has exactly those.
    const [row] = await admin<{ n: number }>(`select count(*)::int as n from ${t}_authors where name like $1`, [
      `${app}-%`,
    ]);
    expect(row!.n).toBe(REQUESTS / 10);

    // Closing runs in ctx.waitUntil after each response: wait (bounded) for the server to agree.
    // neon-http's server sessions are the endpoint's pool (idle timeout 500 ms in these tests) and
    // the transactions' WebSocket sessions, which anypg must have closed.
    expect(await settledBackends(app, 200, 100)).toBe(0);
    const after = await sessionCounts();
    expect(after.abandoned - before.abandoned).toBe(0);
    if (backend === 'hyperdrive') expect(after.sessions - before.sessions).toBeGreaterThanOrEqual(REQUESTS);
    expect(await rejectionCount()).toBe(rejections);
  });
});

describe('controls', () => {
  it('connections that are never closed end as abandoned sessions (what the check above counts)', async () => {
    const before = await sessionCounts();
    for (let i = 0; i < 10; i++) expect((await call('hyperdrive', 'leakPg', {})).body).toEqual({ rows: [{ one: 1 }] });
    // workerd drops a finished request's sockets, so even these leave no backend behind...
    expect(await settledBackends('anypg_iso_leak_pg', 200, 100)).toBe(0);
    // ...but each ended without a Terminate message.
    const after = await sessionCounts();
    expect(after.abandoned - before.abandoned).toBe(10);
  });

  it('an anypg db that is never closed still closes its connection with a Terminate', async () => {
    const app = unique('anypg_iso_leak');
    const before = await sessionCounts();
    const { wrong } = await run('hyperdrive', app, 40, { leak: true });
    expect(wrong).toEqual([]);
    // anypg closes a request's connections once the request stops using them (in its waitUntil).
    expect(await settledBackends(app, 200, 100)).toBe(0);
    const after = await sessionCounts();
    expect(after.abandoned - before.abandoned).toBe(0);
  });
});
