// A db created at module scope (issue 14), in one workerd isolate serving many requests: the test
// Worker's module-scope dbs (app.ts, from `env` of `cloudflare:workers`) against per-request dbs,
// the README's other pattern, as the baseline, interleaved in the same run so both see the same
// machine. Every request runs a statement, a transaction and a batch.
//
// What is asserted is what decides a request's cost and correctness, counted rather than timed: no
// error; every statement of a request on one server session, and no session serving two requests
// (each answer names its sessions, pid and start time); one connection per request on Hyperdrive,
// as the baseline; no retry; every connection closed, with a Terminate (no session abandoned), once
// its request is done. Latency is printed (p50, p99, max, and how many requests exceed the
// baseline's p99 x 2); of the sequential run, interleaved request by request, the module-scope
// requests above that bound may not outnumber the baseline's beyond chance. The concurrent bursts
// (one kind each) are printed, not compared: each has its own moment of a shared, busy machine.
// bench/workers-module-scope.mjs measures the same under `wrangler dev` and prints the figures.
//
// The controls show what the checks catch: a pg Pool kept at module scope (what users write first)
// answers its first request and then hangs until its query timeout; a module-scope pg Client whose
// socket reports refused writes (anypg's second line of defence) fails at once instead.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODULE_APP } from './module-names.js';
import { ddl, dropDdl } from './schema.js';
import { admin, type Backend, backendsNamed, call, sessionCounts, settledBackends, unique } from './support.js';

const SEQUENTIAL = 1000;
const CONCURRENT = 100;
/** Bursts of CONCURRENT requests per kind of db, alternating which kind goes first. */
const ROUNDS = 3;
/**
 * A load test's budget. About 2 minutes each on a quiet 2-core machine; a neon-http request (its
 * transaction logs in over a WebSocket with SCRAM) took 0.4 s at a load average of 25 here, which
 * makes the sequential run 10 minutes: the budget is three times that.
 */
const LOAD_TIMEOUT_MS = 30 * 60_000;

const t = unique('wkm');

beforeAll(async () => {
  await admin(ddl(t));
});

afterAll(async () => {
  await admin(dropDdl(t));
});

interface LoadAnswer {
  n: number;
  echoed: number[];
  sessions: string[];
  opened: number;
}

type Scope = 'request' | 'module';

interface Sample {
  scope: Scope;
  n: number;
  ms: number;
  status: number;
  body: LoadAnswer;
}

let nextN = 0;

async function one(backend: Backend, scope: Scope, app: string): Promise<Sample> {
  const n = nextN++;
  const started = performance.now();
  const { status, body } = await call<LoadAnswer>(backend, 'load', { t, app, n, every: 1, scope });
  return { scope, n, ms: performance.now() - started, status, body };
}

/** Every answer that is not right: status, echo (statement, transaction, batch), sessions. */
function wrongAnswers(backend: Backend, samples: Sample[]): unknown[] {
  return samples.filter(({ n, status, body }) => {
    if (status !== 200 || JSON.stringify(body.echoed) !== JSON.stringify([n, n, n, n + 1])) return true;
    // Hyperdrive: the statement and the transaction ran on the request's one connection.
    return backend === 'hyperdrive' && (body.sessions.length !== 2 || body.sessions[0] !== body.sessions[1]);
  });
}

/**
 * Server sessions that served more than one request. On Hyperdrive every session the Worker used is
 * the Worker's own; on neon-http only the transactions' (WebSocket sessions): plain statements go
 * over HTTP to the Neon endpoint, whose own pool legitimately serves many requests.
 */
function sharedSessions(backend: Backend, samples: Sample[]): string[] {
  const owner = new Map<string, number>();
  const shared = new Set<string>();
  for (const { n, body } of samples) {
    const mine = backend === 'hyperdrive' ? body.sessions : body.sessions.slice(1);
    for (const s of new Set(mine)) {
      if (owner.has(s) && owner.get(s) !== n) shared.add(s);
      owner.set(s, n);
    }
  }
  return [...shared];
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

function figures(samples: Sample[]) {
  const ms = samples.map((s) => s.ms).sort((a, b) => a - b);
  return { n: ms.length, p50: quantile(ms, 0.5), p99: quantile(ms, 0.99), max: ms.at(-1)! };
}

/**
 * Prints both kinds' figures and returns how many requests of each kind took longer than the
 * baseline's p99 x 2. (A request that waited on a dead socket would not be slow but fail, after the
 * query timeout: the error count catches it.)
 */
function report(label: string, samples: Sample[]) {
  const base = figures(samples.filter((s) => s.scope === 'request'));
  const mod = figures(samples.filter((s) => s.scope === 'module'));
  const limit = base.p99 * 2;
  const slow = (scope: Scope) => samples.filter((s) => s.scope === scope && s.ms > limit).length;
  const f = (x: number) => x.toFixed(1);
  const counts = { request: slow('request'), module: slow('module') };
  console.log(
    `${label}: per-request (${base.n}) p50 ${f(base.p50)} p99 ${f(base.p99)} max ${f(base.max)} ms; ` +
      `module scope (${mod.n}) p50 ${f(mod.p50)} p99 ${f(mod.p99)} max ${f(mod.max)} ms; ` +
      `above per-request p99 x 2 (${f(limit)} ms): per-request ${counts.request}, module scope ${counts.module}`,
  );
  return counts;
}

const rejectionCount = async () => ((await call('hyperdrive', 'rejections', {})).body.rejections as string[]).length;

describe.each(['hyperdrive', 'neon-http'] as Backend[])('%s: a module-scope db in one isolate', (backend) => {
  const moduleApp = MODULE_APP[backend];
  const baseApp = unique(`anypg_wkm_base_${backend.replace('-', '_')}`);
  const appOf = (scope: Scope) => (scope === 'module' ? moduleApp : baseApp);

  it("closes a request's connection with a Terminate once the request is done", async () => {
    const before = await sessionCounts();
    const { status, body } = await call<LoadAnswer>(backend, 'load', {
      t,
      app: moduleApp,
      n: nextN++,
      scope: 'module',
    });
    expect(status, JSON.stringify(body)).toBe(200);
    // Nobody closes a module-scope db: anypg does, after the request, in the request's waitUntil.
    expect(await settledBackends(moduleApp)).toBe(0);
    expect((await sessionCounts()).abandoned - before.abandoned).toBe(0);
  });

  if (backend === 'hyperdrive') {
    it("keeps a request's connection across its statements, and replaces it after a longer wait on other I/O", async () => {
      const before = await sessionCounts();
      // A timer of 0 ms fires before the 10 ms idle timer: the same connection throughout.
      const quick = await call<{ sessions: string[] }>(backend, 'pause', {
        t,
        app: moduleApp,
        scope: 'module',
        waitMs: 0,
      });
      expect(quick.status, JSON.stringify(quick.body)).toBe(200);
      expect(new Set(quick.body.sessions).size).toBe(1);
      // 100 ms on other I/O: the first connection was closed meanwhile, the rest share a new one.
      const slow = await call<{ sessions: string[] }>(backend, 'pause', {
        t,
        app: moduleApp,
        scope: 'module',
        waitMs: 100,
      });
      expect(slow.status, JSON.stringify(slow.body)).toBe(200);
      const [first, ...rest] = slow.body.sessions;
      expect(new Set(rest).size).toBe(1);
      expect(rest[0]).not.toBe(first);
      expect(await settledBackends(moduleApp)).toBe(0);
      expect((await sessionCounts()).abandoned - before.abandoned).toBe(0);
    });
  }

  it(
    `${SEQUENTIAL} sequential requests, each with a statement, a transaction and a batch`,
    async () => {
      const rejections = await rejectionCount();
      const before = await sessionCounts();
      const statsBefore = (await call(backend, 'moduleStats', { backend })).body;
      const samples: Sample[] = [];
      const t0 = performance.now();
      for (let i = 0; i < SEQUENTIAL; i++) {
        // A baseline request next to every other module-scope one, before it or after it in turn.
        const order: Scope[] = i % 2 ? ['module'] : i % 4 ? ['module', 'request'] : ['request', 'module'];
        for (const scope of order) samples.push(await one(backend, scope, appOf(scope)));
      }
      expect(wrongAnswers(backend, samples).slice(0, 3)).toEqual([]);
      expect(sharedSessions(backend, samples)).toEqual([]);
      const slow = report(`${backend}, ${SEQUENTIAL} sequential`, samples);
      // Interleaved one by one, both kinds see the same machine: the module-scope db may not have
      // more slow requests than the baseline has, beyond what chance gives two equal distributions
      // (a systematic cost, such as a reconnect or a wait per request, would push hundreds over).
      expect(slow.module).toBeLessThanOrEqual(slow.request * 2 + Math.max(3, SEQUENTIAL / 100));
      console.log(`${backend}: sequential phase took ${((performance.now() - t0) / 1000).toFixed(1)} s`);

      const stats = (await call(backend, 'moduleStats', { backend })).body;
      // Hyperdrive: a retry would mean a connection found dead (another request's, say). neon-http
      // retries a read whose HTTP request to the endpoint failed, which says nothing of scope.
      if (backend === 'hyperdrive') expect(stats.retries - statsBefore.retries).toBe(0);
      else
        console.log(
          `${backend}: module-scope reads sent again after a failed HTTP request: ${stats.retries - statsBefore.retries}`,
        );
      expect(stats.acquireTimeouts - statsBefore.acquireTimeouts).toBe(0);
      if (backend === 'hyperdrive') {
        // One connection per request, as the per-request baseline (which the answers say opened one each).
        expect(stats.opened - statsBefore.opened).toBe(SEQUENTIAL);
        expect(samples.filter((s) => s.scope === 'request' && s.body.opened !== 1)).toEqual([]);
      }
      expect(await settledBackends(moduleApp)).toBe(0);
      expect(await settledBackends(baseApp)).toBe(0);
      expect((await sessionCounts()).abandoned - before.abandoned).toBe(0);
      expect(await rejectionCount()).toBe(rejections);
    },
    LOAD_TIMEOUT_MS,
  );

  it(
    `${CONCURRENT} concurrent requests, ${ROUNDS} bursts per kind of db`,
    async () => {
      const rejections = await rejectionCount();
      const before = await sessionCounts();
      const statsBefore = (await call(backend, 'moduleStats', { backend })).body;
      const samples: Sample[] = [];
      let peak = 0;
      for (let round = 0; round < 2 * ROUNDS; round++) {
        // One kind per burst, alternating which goes first in each pair of bursts. (A burst of both
        // kinds at once, 200 requests, is the bench's: here, on neon-http, it outgrows the local
        // Neon endpoint, whose upstream pool of 10 per role makes the 200 queue past its 15 s
        // acquire limit when the two cores are busy.)
        const scope: Scope = (round + Math.floor(round / 2)) % 2 ? 'module' : 'request';
        const burst = await Promise.all(Array.from({ length: CONCURRENT }, () => one(backend, scope, appOf(scope))));
        samples.push(...burst);
        if (scope === 'module') peak = Math.max(peak, await backendsNamed(moduleApp));
        // The next burst starts on a server without this one's connections.
        expect(await settledBackends(appOf(scope))).toBe(0);
      }
      expect(wrongAnswers(backend, samples).slice(0, 3)).toEqual([]);
      expect(sharedSessions(backend, samples)).toEqual([]);
      // Printed, not compared: each burst has its own moment of a shared, busy machine.
      report(`${backend}, ${CONCURRENT} concurrent x ${ROUNDS} per kind`, samples);
      console.log(`${backend}: module-scope sessions still open right after a burst: ${peak}`);

      const stats = (await call(backend, 'moduleStats', { backend })).body;
      // Hyperdrive: a retry would mean a connection found dead (another request's, say). neon-http
      // retries a read whose HTTP request to the endpoint failed, which says nothing of scope.
      if (backend === 'hyperdrive') expect(stats.retries - statsBefore.retries).toBe(0);
      else
        console.log(
          `${backend}: module-scope reads sent again after a failed HTTP request: ${stats.retries - statsBefore.retries}`,
        );
      expect(stats.acquireTimeouts - statsBefore.acquireTimeouts).toBe(0);
      if (backend === 'hyperdrive') expect(stats.opened - statsBefore.opened).toBe(CONCURRENT * ROUNDS);
      expect((await sessionCounts()).abandoned - before.abandoned).toBe(0);
      expect(await rejectionCount()).toBe(rejections);
    },
    LOAD_TIMEOUT_MS,
  );
});

describe('controls', () => {
  it('a pg Pool kept at module scope answers once, then waits until its query timeout', async () => {
    const timeoutMs = 300;
    const first = await call('hyperdrive', 'sharedPg', { timeoutMs });
    expect(first.body.rows).toEqual([{ one: 1 }]);
    // Its connection belongs to the first request, which has ended: the answer never comes.
    const second = await call('hyperdrive', 'sharedPg', { timeoutMs });
    expect(second.body.error).toMatch(/Query read timeout/);
    expect(second.body.ms).toBeGreaterThanOrEqual(timeoutMs - 1);
    // The module-scope anypg db, asked right after, answers.
    const ok = await call<LoadAnswer>('hyperdrive', 'load', {
      t,
      app: MODULE_APP.hyperdrive,
      n: nextN++,
      scope: 'module',
    });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
  });

  it('a write refused across requests fails the statement at once with a ConfigurationError', async () => {
    const first = await call('hyperdrive', 'foreignPg', {});
    expect(first.body.rows).toEqual([{ one: 1 }]);
    const second = await call('hyperdrive', 'foreignPg', {});
    // Not pg's "Query read timeout" (10 s here): anypg's error, as soon as workerd refused the write.
    expect(second.body.error).toMatchObject({
      class: 'ConfigurationError',
      code: 'CONFIGURATION',
      message: expect.stringMatching(/opened by another Workers request.*not sent.*inside fetch\(\)/),
    });
  });
});
