// Benchmark (not a test): warm query latency and throughput through anypg, raw drizzle
// (node-postgres driver) and raw pg, on the same server, each with a pool of one connection.
// Rounds are interleaved so that machine noise hits every contender alike; figures are printed
// as ratios to raw drizzle. Run: pnpm --filter anypg bench (starts its own PostgreSQL).
import { startPostgres } from '@anypg/local';
import * as otel from '@opentelemetry/api';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import pg from 'pg';
import { createDb, openTelemetry } from '../dist/node.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const PER_ROUND = Number(process.env.BENCH_PER_ROUND ?? 400);
const CONCURRENCY = 32;

const server = process.env.DATABASE_URL ? undefined : await startPostgres();
const url = process.env.DATABASE_URL ?? server.url;

const items = pgTable('bench_items', { id: integer('id').primaryKey(), name: text('name') });
const setup = new pg.Client({ connectionString: url });
await setup.connect();
await setup.query('drop table if exists bench_items');
await setup.query('create table bench_items (id int primary key, name text)');
await setup.query("insert into bench_items select g, 'item ' || g from generate_series(1, 100) g");
await setup.end();

const rawPool = new pg.Pool({ connectionString: url, max: 1 });
const drizzlePool = new pg.Pool({ connectionString: url, max: 1 });
const raw = drizzle(drizzlePool);
// `telemetry: false`: the Node entry would otherwise use @opentelemetry/api, installed here.
const anypg = createDb({ url, env: {}, pool: { max: 1 }, statementTimeoutMs: 0, queryTimeoutMs: 0, telemetry: false });
const anypgDefaults = createDb({ url, env: {}, pool: { max: 1 }, telemetry: false });

// Tracing's cost: the API installed and no SDK registered (what the Node entry does by default
// where the API is installed), and an SDK that records every span and metric. The SDK's exporters
// discard what they get, so the figure is the instrumentation's and the SDK's, not a network's.
const discard = { export: (_items, done) => done({ code: 0 }), shutdown: async () => {}, forceFlush: async () => {} };
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(discard)] });
const meterProvider = new MeterProvider({
  readers: [
    new PeriodicExportingMetricReader({
      exporter: { ...discard, selectAggregationTemporality: () => 1 },
      exportIntervalMillis: 1000,
    }),
  ],
});
const noSdk = createDb({
  url,
  env: {},
  pool: { max: 1 },
  statementTimeoutMs: 0,
  queryTimeoutMs: 0,
  telemetry: openTelemetry(otel),
});
const withSdk = createDb({
  url,
  env: {},
  pool: { max: 1 },
  statementTimeoutMs: 0,
  queryTimeoutMs: 0,
  telemetry: openTelemetry(otel, { tracerProvider, meterProvider }),
});
const byPk = (db) => (i) =>
  db
    .select()
    .from(items)
    .where(sql`${items.id} = ${(i % 100) + 1}`);

const contenders = {
  'raw pg': (i) => rawPool.query('select id, name from bench_items where id = $1', [(i % 100) + 1]),
  'raw drizzle': (i) =>
    raw
      .select()
      .from(items)
      .where(sql`${items.id} = ${(i % 100) + 1}`),
  anypg: (i) =>
    anypg
      .select()
      .from(items)
      .where(sql`${items.id} = ${(i % 100) + 1}`),
  'anypg (default timeouts)': (i) =>
    anypgDefaults
      .select()
      .from(items)
      .where(sql`${items.id} = ${(i % 100) + 1}`),
  'anypg + otel api (no sdk)': byPk(noSdk),
  'anypg + otel sdk': byPk(withSdk),
};

// BENCH_CONTENDERS=anypg,'anypg + otel sdk' runs only those (a longer run of fewer contenders).
const only = process.env.BENCH_CONTENDERS?.split(',').map((n) => n.trim());
if (only) for (const name of Object.keys(contenders)) if (!only.includes(name)) delete contenders[name];
const latencies = Object.fromEntries(Object.keys(contenders).map((k) => [k, []]));
/** Each round's p50 per contender: the telemetry ratios are taken round by round (noise hits both alike). */
const roundP50 = Object.fromEntries(Object.keys(contenders).map((k) => [k, []]));
const throughput = Object.fromEntries(Object.keys(contenders).map((k) => [k, []]));

for (const fn of Object.values(contenders)) for (let i = 0; i < 200; i++) await fn(i); // warm up

for (let round = 0; round < ROUNDS; round++) {
  // Each round starts with another contender: whatever the one before leaves behind (GC debt, a
  // busy server after 32 callers) does not always fall on the same one.
  const entries = Object.entries(contenders);
  const order = entries.map((_, k) => entries[(k + round) % entries.length]);
  for (const [name, fn] of order) {
    const mine = [];
    for (let i = 0; i < PER_ROUND; i++) {
      const t = performance.now();
      await fn(i);
      mine.push(performance.now() - t);
    }
    latencies[name].push(...mine);
    roundP50[name].push(pct(mine, 50));
    const t = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < PER_ROUND) await fn(next++);
      }),
    );
    throughput[name].push(PER_ROUND / ((performance.now() - t) / 1000));
  }
}

function pct(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}
const baseName = latencies['raw drizzle'] ? 'raw drizzle' : Object.keys(latencies)[0];
const base = { p50: pct(latencies[baseName], 50), tput: pct(throughput[baseName], 50) };
console.log(`warm query (select by primary key), ${ROUNDS} interleaved rounds x ${PER_ROUND} queries, pool max 1`);
console.log('contender                  p50 ms   p99 ms   p50 / drizzle   throughput q/s (32 callers)   / drizzle');
for (const name of Object.keys(contenders)) {
  const p50 = pct(latencies[name], 50);
  const p99 = pct(latencies[name], 99);
  const tput = pct(throughput[name], 50);
  console.log(
    `${name.padEnd(26)} ${p50.toFixed(4).padStart(6)} ${p99.toFixed(3).padStart(8)}   ${(p50 / base.p50).toFixed(3).padStart(13)}   ${tput.toFixed(0).padStart(27)}   ${(tput / base.tput).toFixed(3).padStart(9)}`,
  );
}

if (latencies.anypg) {
  console.log('\ntracing overhead: median over rounds of (contender / anypg with telemetry off), same round:');
  for (const name of ['anypg + otel api (no sdk)', 'anypg + otel sdk']) {
    if (!latencies[name]) continue;
    const p50 = pct(
      roundP50[name].map((v, r) => v / roundP50.anypg[r]),
      50,
    );
    const tput = pct(
      throughput[name].map((v, r) => v / throughput.anypg[r]),
      50,
    );
    console.log(`  ${name.padEnd(26)} p50 x${p50.toFixed(3)}   throughput x${tput.toFixed(3)}`);
  }
}

await rawPool.end();
await noSdk.$close();
await withSdk.$close();
await tracerProvider.shutdown();
await meterProvider.shutdown();
await drizzlePool.end();
await anypg.$close();
await anypgDefaults.$close();
await server?.stop();
