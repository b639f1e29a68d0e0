// Benchmark (not a test): warm query latency and throughput through anypg, raw drizzle
// (node-postgres driver) and raw pg, on the same server, each with a pool of one connection.
// Rounds are interleaved so that machine noise hits every contender alike; figures are printed
// as ratios to raw drizzle. Run: pnpm --filter anypg bench (starts its own PostgreSQL).
import { startPostgres } from '@anypg/local';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import pg from 'pg';
import { createDb } from '../dist/node.js';

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
const anypg = createDb({ url, env: {}, pool: { max: 1 }, statementTimeoutMs: 0, queryTimeoutMs: 0 });
const anypgDefaults = createDb({ url, env: {}, pool: { max: 1 } });

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
};

const latencies = Object.fromEntries(Object.keys(contenders).map((k) => [k, []]));
const throughput = Object.fromEntries(Object.keys(contenders).map((k) => [k, []]));

for (const fn of Object.values(contenders)) for (let i = 0; i < 200; i++) await fn(i); // warm up

for (let round = 0; round < ROUNDS; round++) {
  for (const [name, fn] of Object.entries(contenders)) {
    for (let i = 0; i < PER_ROUND; i++) {
      const t = performance.now();
      await fn(i);
      latencies[name].push(performance.now() - t);
    }
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

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const base = { p50: pct(latencies['raw drizzle'], 50), tput: pct(throughput['raw drizzle'], 50) };
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

await rawPool.end();
await drizzlePool.end();
await anypg.$close();
await anypgDefaults.$close();
await server?.stop();
