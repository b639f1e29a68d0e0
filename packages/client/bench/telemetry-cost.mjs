// Benchmark (not a test): what tracing costs the client per warm query, as this process's CPU time
// (user + system, process.cpuUsage) per query, which a busy machine disturbs far less than wall
// time. anypg with telemetry off, with @opentelemetry/api and no SDK (the Node entry's default where
// the API is installed), and with the SDK recording every span and metric (exporters that discard).
// Rounds are interleaved and rotated; figures are medians of per-round ratios.
// Run: node bench/telemetry-cost.mjs (starts its own PostgreSQL; after pnpm build).
import { startPostgres } from '@anypg/local';
import * as otel from '@opentelemetry/api';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { sql } from 'drizzle-orm';
import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import { createDb, openTelemetry } from '../dist/node.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 20);
const PER_ROUND = Number(process.env.BENCH_PER_ROUND ?? 1000);

const server = process.env.DATABASE_URL ? undefined : await startPostgres();
const url = process.env.DATABASE_URL ?? server.url;
const items = pgTable('bench_items', { id: integer('id').primaryKey(), name: text('name') });

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
const base = { url, env: {}, pool: { max: 1 }, statementTimeoutMs: 0, queryTimeoutMs: 0 };
const dbs = {
  off: createDb({ ...base, telemetry: false }),
  'otel api (no sdk)': createDb({ ...base, telemetry: openTelemetry(otel) }),
  'otel sdk': createDb({ ...base, telemetry: openTelemetry(otel, { tracerProvider, meterProvider }) }),
};
await dbs.off.execute(sql`drop table if exists bench_items`);
await dbs.off.execute(sql`create table bench_items (id int primary key, name text)`);
await dbs.off.execute(sql`insert into bench_items select g, 'item ' || g from generate_series(1, 100) g`);

const run = (db, i) =>
  db
    .select()
    .from(items)
    .where(sql`${items.id} = ${(i % 100) + 1}`);
for (const db of Object.values(dbs)) for (let i = 0; i < 500; i++) await run(db, i); // warm up

const names = Object.keys(dbs);
const cpu = Object.fromEntries(names.map((n) => [n, []]));
for (let round = 0; round < ROUNDS; round++) {
  for (let k = 0; k < names.length; k++) {
    const name = names[(k + round) % names.length];
    const before = process.cpuUsage();
    for (let i = 0; i < PER_ROUND; i++) await run(dbs[name], i);
    const used = process.cpuUsage(before);
    cpu[name].push((used.user + used.system) / PER_ROUND);
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`client CPU per warm query (select by primary key), ${ROUNDS} rotated rounds x ${PER_ROUND} queries`);
for (const name of names) {
  const ratio = median(cpu[name].map((v, r) => v / cpu.off[r]));
  console.log(
    `  telemetry ${name.padEnd(18)} ${median(cpu[name]).toFixed(1).padStart(6)} us   x${ratio.toFixed(3)} of off`,
  );
}
for (const db of Object.values(dbs)) await db.$close();
await tracerProvider.shutdown();
await meterProvider.shutdown();
await server?.stop();
