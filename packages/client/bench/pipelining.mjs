// Benchmark (not a test): pipelining. Warm query latency and throughput on a pool of one connection, through
// anypg (this build, and the baseline: main's code built in a scratch folder, see baseline.mjs),
// raw drizzle (node-postgres driver), raw pg and postgres.js, on the same server. Rounds are
// interleaved so that machine noise hits every contender alike; figures are ratios within this run.
// Run: pnpm --filter anypg bench (starts its own PostgreSQL).
//   BENCH_ROUNDS, BENCH_PER_ROUND (sequential queries per round), BENCH_TPUT_PER_ROUND (queries per
//   throughput sample), BENCH_CONCURRENCY (comma-separated caller counts, default 8,64).
import { startPostgres } from '@anypg/local';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import pg from 'pg';
import postgres from 'postgres';
import { createDb } from '../dist/node.js';
import { baselineEntry } from './baseline.mjs';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const PER_ROUND = Number(process.env.BENCH_PER_ROUND ?? 400);
const TPUT_PER_ROUND = Number(process.env.BENCH_TPUT_PER_ROUND ?? 1000);
const LEVELS = (process.env.BENCH_CONCURRENCY ?? '8,64').split(',').map(Number);

const baseline = baselineEntry();
const baselineCreateDb = baseline ? (await import(baseline.url)).createDb : undefined;

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
const pgjs = postgres(url, { max: 1 });
// Telemetry off on both builds: the transports are compared (the warm-query bench measures tracing).
const anypg = createDb({ url, env: {}, pool: { max: 1 }, telemetry: false });
const before = baselineCreateDb?.({ url, env: {}, pool: { max: 1 }, telemetry: false });

// Two workloads through drizzle: the query built on every call (drizzle's own cost is part of it),
// and a prepared drizzle query (built once, executed with a placeholder).
const byId = (db) => (i) =>
  db
    .select()
    .from(items)
    .where(sql`${items.id} = ${(i % 100) + 1}`);
const prepared = (db) => {
  const q = db
    .select()
    .from(items)
    .where(sql`${items.id} = ${sql.placeholder('id')}`)
    .prepare('bench_by_id');
  return (i) => q.execute({ id: (i % 100) + 1 });
};
const BEFORE = before ? `anypg ${baseline.label}` : undefined;
const contenders = {
  'raw pg': (i) => rawPool.query('select id, name from bench_items where id = $1', [(i % 100) + 1]),
  'postgres.js': (i) => pgjs`select id, name from bench_items where id = ${(i % 100) + 1}`,
  'raw drizzle': byId(raw),
  ...(before && { [BEFORE]: byId(before) }),
  anypg: byId(anypg),
  'raw drizzle, prepared': prepared(raw),
  ...(before && { [`${BEFORE}, prepared`]: prepared(before) }),
  'anypg, prepared': prepared(anypg),
};

const latencies = Object.fromEntries(Object.keys(contenders).map((k) => [k, []]));
const throughput = Object.fromEntries(
  Object.keys(contenders).map((k) => [k, Object.fromEntries(LEVELS.map((c) => [c, []]))]),
);

for (const fn of Object.values(contenders)) for (let i = 0; i < 300; i++) await fn(i); // warm up

async function drive(fn, callers, n) {
  const t = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (next < n) await fn(next++);
    }),
  );
  return n / ((performance.now() - t) / 1000);
}

for (let round = 0; round < ROUNDS; round++) {
  for (const [name, fn] of Object.entries(contenders)) {
    for (let i = 0; i < PER_ROUND; i++) {
      const t = performance.now();
      await fn(i);
      latencies[name].push(performance.now() - t);
    }
    for (const c of LEVELS) throughput[name][c].push(await drive(fn, c, TPUT_PER_ROUND));
  }
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const p50 = (name) => pct(latencies[name], 50);
const tput = (name, c) => pct(throughput[name][c], 50);
const pad = (s, n) => String(s).padStart(n);

console.log(
  `warm query (select by primary key), pool max 1, ${ROUNDS} interleaved rounds: ${PER_ROUND} sequential queries and ${TPUT_PER_ROUND} queries per caller count`,
);
console.log('latency, one caller at a time');
console.log(`${'contender'.padEnd(30)} ${pad('p50 ms', 8)} ${pad('p99 ms', 8)} ${pad('p50/drizzle', 12)}`);
for (const name of Object.keys(contenders)) {
  console.log(
    `${name.padEnd(30)} ${pad(p50(name).toFixed(4), 8)} ${pad(pct(latencies[name], 99).toFixed(3), 8)} ${pad((p50(name) / p50('raw drizzle')).toFixed(3), 12)}`,
  );
}
for (const c of LEVELS) {
  console.log(`throughput, ${c} concurrent callers (median q/s; anypg's throughput over each, same workload)`);
  for (const name of Object.keys(contenders)) {
    const ours = name.endsWith(', prepared') ? 'anypg, prepared' : 'anypg';
    const ratio = name === ours ? '' : `   ${ours} / this = ${(tput(ours, c) / tput(name, c)).toFixed(2)}`;
    console.log(`${name.padEnd(30)} ${pad(tput(name, c).toFixed(0), 8)}${ratio}`);
  }
}
if (BEFORE) {
  const P = `${BEFORE}, prepared`;
  console.log(`anypg against ${BEFORE} (same run):`);
  console.log(
    `  single warm query p50: ${(p50('anypg') / p50(BEFORE)).toFixed(3)}x (prepared: ${(p50('anypg, prepared') / p50(P)).toFixed(3)}x)`,
  );
  for (const c of LEVELS) {
    console.log(
      `  throughput, ${c} callers: ${(tput('anypg', c) / tput(BEFORE, c)).toFixed(2)}x (prepared: ${(tput('anypg, prepared', c) / tput(P, c)).toFixed(2)}x)`,
    );
  }
}

await rawPool.end();
await drizzlePool.end();
await pgjs.end();
await anypg.$close();
await before?.$close();
await server?.stop();
