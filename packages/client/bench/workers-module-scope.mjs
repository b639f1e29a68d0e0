// Benchmark (not a test): a db created at module scope against a db created per request, in one
// Worker isolate under `wrangler dev` (wrangler's dev server, unstable_startWorker), on Hyperdrive
// (locally a plain pipe to PostgreSQL) and on neon-http (through @anypg/local's Neon endpoint).
// Each request runs a statement, a transaction and a batch (test/workers/global/load.js).
//
// Sequential: BENCH_WS_SEQUENTIAL (1000) module-scope requests, each next to a per-request one,
// alternating which goes first, so machine noise hits both alike. Concurrent: BENCH_WS_ROUNDS (5)
// bursts of BENCH_WS_CONCURRENT (100) module-scope and as many per-request requests at once,
// interleaved. Prints latency (p50, p99, max, and requests slower than the per-request p99 x 2),
// and what the server saw: sessions per request, most open at once, left open, and (per phase)
// sessions that ended without a Terminate.
// Run: pnpm --filter anypg bench (on the built package; starts its own PostgreSQL).
import { fileURLToPath } from 'node:url';
import { startNeonEndpoint, startPostgres } from '@anypg/local';
import pg from 'pg';

const SEQUENTIAL = Number(process.env.BENCH_WS_SEQUENTIAL ?? 1000);
const CONCURRENT = Number(process.env.BENCH_WS_CONCURRENT ?? 100);
const ROUNDS = Number(process.env.BENCH_WS_ROUNDS ?? 5);

process.env.WRANGLER_SEND_METRICS ??= 'false';
process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= 'false';

const server = process.env.DATABASE_URL ? undefined : await startPostgres({ settings: { max_connections: 400 } });
const url = process.env.DATABASE_URL ?? server.url;
const neon = await startNeonEndpoint({ upstream: url, limits: { idleTimeoutMs: 500 } });
const admin = new pg.Pool({ connectionString: url, max: 2, application_name: 'anypg_bench_ws_admin' });
admin.on('error', () => {});
await admin.query('drop table if exists bench_ws_items');
await admin.query('create table bench_ws_items (id serial primary key, name text not null)');

const APP = `anypg_bench_ws_${Math.random().toString(36).slice(2, 8)}`;
const appOf = (backend, scope) => `${APP}_${scope}_${backend.replace('-', '_')}`;

const { unstable_startWorker } = await import('wrangler');
const worker = await unstable_startWorker({
  name: 'anypg-bench-module-scope',
  entrypoint: fileURLToPath(new URL('../test/workers/global/load.js', import.meta.url)),
  compatibilityDate: '2026-11-01',
  compatibilityFlags: ['nodejs_compat'],
  bindings: {
    HYPERDRIVE: { type: 'hyperdrive', id: '00000000000000000000000000000000', localConnectionString: url },
    NEON_URL: { type: 'plain_text', value: url },
    NEON_CONFIG: { type: 'json', value: { ...neon.neonConfig } },
    APP: { type: 'plain_text', value: APP },
    TABLE: { type: 'plain_text', value: 'bench_ws_items' },
  },
  dev: { server: { hostname: '127.0.0.1', port: 0 }, inspector: false, watch: false, logLevel: 'none' },
});
await worker.ready;
const base = (await worker.url).toString().replace(/\/$/, '');

let nextN = 0;
async function one(backend, scope) {
  const n = nextN++;
  const started = performance.now();
  const res = await fetch(`${base}/${backend}/${scope}`, { method: 'POST', body: JSON.stringify({ n }) });
  const body = await res.json().catch(() => ({ ok: false, error: `HTTP ${res.status}` }));
  return {
    scope,
    ms: performance.now() - started,
    ok: res.ok && body.ok,
    sessions: body.sessions ?? [],
    error: body.error,
  };
}

/** Most sessions of each application_name open at once while `work` runs. */
async function sampled(work) {
  const peak = new Map();
  let done = false;
  const loop = (async () => {
    while (!done) {
      const r = await admin.query(
        'select application_name as app, count(*)::int as n from pg_stat_activity where application_name like $1 group by 1',
        [`${APP}%`],
      );
      for (const { app, n } of r.rows) peak.set(app, Math.max(peak.get(app) ?? 0, n));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  try {
    return { result: await work(), peak };
  } finally {
    done = true;
    await loop;
  }
}

async function openNow(app) {
  const r = await admin.query('select count(*)::int as n from pg_stat_activity where application_name = $1', [app]);
  return r.rows[0].n;
}

/** Waits (bounded) until nothing of `app` is open; returns how many still are. */
async function settle(app) {
  let n = await openNow(app);
  for (let i = 0; i < 300 && n > 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    n = await openNow(app);
  }
  return n;
}

async function abandoned() {
  const r = await admin.query(
    'select sessions_abandoned::int as n from pg_stat_database where datname = current_database()',
  );
  return r.rows[0].n;
}

function quantile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

const rows = [];
function summarise(backend, phase, samples, peak, left, lostGoodbyes) {
  const of = (scope) => samples.filter((s) => s.scope === scope);
  const baseMs = of('request')
    .map((s) => s.ms)
    .sort((a, b) => a - b);
  const limit = quantile(baseMs, 0.99) * 2;
  for (const scope of ['request', 'module']) {
    const mine = of(scope);
    const ms = mine.map((s) => s.ms).sort((a, b) => a - b);
    // Hyperdrive: every session the Worker used is its own; neon-http: only the transactions'.
    const own = (s) => (backend === 'hyperdrive' ? s.sessions : s.sessions.slice(1));
    const sessions = new Set(mine.flatMap(own));
    const perRequest = mine.length ? mine.reduce((k, s) => k + new Set(own(s)).size, 0) / mine.length : 0;
    rows.push({
      backend,
      phase,
      db: scope === 'module' ? 'module scope' : 'per request',
      requests: mine.length,
      errors: mine.filter((s) => !s.ok).length,
      p50: quantile(ms, 0.5).toFixed(1),
      p99: quantile(ms, 0.99).toFixed(1),
      max: ms.at(-1).toFixed(1),
      'slower than per-request p99 x 2': mine.filter((s) => s.ms > limit).length,
      'sessions per request': perRequest.toFixed(2),
      'shared by 2 requests': mine.reduce((k, s) => k + new Set(own(s)).size, 0) - sessions.size,
      'most open at once': peak.get(appOf(backend, scope)) ?? 0,
      'left open': left[scope],
      'phase: ended without Terminate': lostGoodbyes,
    });
  }
  const failed = samples.find((s) => !s.ok);
  if (failed) console.error(`${backend} ${phase}: first error: ${failed.error}`);
}

for (const backend of ['hyperdrive', 'neon-http']) {
  for (let i = 0; i < 20; i++) await Promise.all([one(backend, 'module'), one(backend, 'request')]); // warm up
  await settle(appOf(backend, 'module'));
  await settle(appOf(backend, 'request'));

  let before = await abandoned();
  const seq = await sampled(async () => {
    const samples = [];
    for (let i = 0; i < SEQUENTIAL; i++) {
      for (const scope of i % 2 ? ['module', 'request'] : ['request', 'module'])
        samples.push(await one(backend, scope));
    }
    return samples;
  });
  const seqLeft = { module: await settle(appOf(backend, 'module')), request: await settle(appOf(backend, 'request')) };
  summarise(backend, `${SEQUENTIAL} sequential`, seq.result, seq.peak, seqLeft, (await abandoned()) - before);

  before = await abandoned();
  const conc = await sampled(async () => {
    const samples = [];
    for (let round = 0; round < ROUNDS; round++) {
      // Both kinds in the same burst, interleaved, so a burst's moment of the machine is theirs alike.
      const burst = Array.from({ length: 2 * CONCURRENT }, (_, i) =>
        one(backend, (i + round) % 2 ? 'module' : 'request'),
      );
      samples.push(...(await Promise.all(burst)));
      await settle(appOf(backend, 'module'));
      await settle(appOf(backend, 'request'));
    }
    return samples;
  });
  const concLeft = { module: await settle(appOf(backend, 'module')), request: await settle(appOf(backend, 'request')) };
  summarise(
    backend,
    `${CONCURRENT} + ${CONCURRENT} concurrent x ${ROUNDS}`,
    conc.result,
    conc.peak,
    concLeft,
    (await abandoned()) - before,
  );
}

console.log('\nA db at module scope vs a db per request, one Worker isolate under wrangler dev (ms)\n');
console.table(rows);

await worker.dispose();
await admin.query('drop table if exists bench_ws_items');
await admin.end();
await neon.close();
await server?.stop();
