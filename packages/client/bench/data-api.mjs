// Benchmark (not a test): Data API call latency through anypg's data-api backend and through
// drizzle's own aws-data-api/pg driver, in one run, against the same local Data API endpoint
// (@anypg/local) and PostgreSQL. Both use the unmodified @aws-sdk/client-rds-data. Rounds are
// interleaved so that machine noise hits every contender alike; the figure that counts is the
// ratio of medians to drizzle's. Run: pnpm --filter anypg bench (starts its own servers).
//
// Contenders: anypg with its own SDK client (what `dataApi: { endpoint, region, ... }` builds),
// anypg with the same RDSDataClient drizzle uses (`dataApi.client`: anypg's layer alone), and
// drizzle aws-data-api with `new RDSDataClient(...)`.

import { startDataApiEndpoint, startPostgres } from '@anypg/local';
import { RDSDataClient } from '@aws-sdk/client-rds-data';
import { eq, sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/aws-data-api/pg';
import { integer, pgTable, serial, text, timestamp } from 'drizzle-orm/pg-core';
import pg from 'pg';
import { createDb } from '../dist/node.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 12);
const PER_ROUND = Number(process.env.BENCH_PER_ROUND ?? 60);

const server = process.env.DATABASE_URL ? undefined : await startPostgres();
const url = process.env.DATABASE_URL ?? server.url;
const endpoint = await startDataApiEndpoint({ upstream: url });

const items = pgTable('bench_da_items', {
  id: integer('id').primaryKey(),
  name: text('name'),
  createdAt: timestamp('created_at', { withTimezone: true }),
});
const events = pgTable('bench_da_events', {
  id: serial('id').primaryKey(),
  itemId: integer('item_id'),
  note: text('note'),
});
const setup = new pg.Client({ connectionString: url });
await setup.connect();
await setup.query('drop table if exists bench_da_items, bench_da_events');
await setup.query('create table bench_da_items (id int primary key, name text, created_at timestamptz)');
await setup.query('create table bench_da_events (id serial primary key, item_id int, note text)');
await setup.query("insert into bench_da_items select g, 'item ' || g, now() from generate_series(1, 100) g");
await setup.end();

const target = {
  resourceArn: endpoint.resourceArn,
  secretArn: endpoint.secretArn,
  database: endpoint.database,
};
const sdkClient = () => new RDSDataClient(endpoint.clientConfig);
const drizzleClient = sdkClient();
const viaDrizzle = drizzle(drizzleClient, target);
const anypgOwn = createDb({ env: {}, backend: 'data-api', dataApi: { ...target, ...endpoint.clientConfig } });
const anypgClient = sdkClient();
const anypgShared = createDb({ env: {}, backend: 'data-api', dataApi: { ...target, client: anypgClient } });

const workloads = {
  'select by primary key': (db, i) =>
    db
      .select()
      .from(items)
      .where(eq(items.id, (i % 100) + 1)),
  'insert one row': (db, i) => db.insert(events).values({ itemId: (i % 100) + 1, note: 'bench' }),
  'execute(sql)': (db, i) => db.execute(sql`select id, name from bench_da_items where id = ${(i % 100) + 1}`),
};
const contenders = {
  'drizzle aws-data-api': viaDrizzle,
  anypg: anypgOwn,
  'anypg (same RDSDataClient)': anypgShared,
};

const samples = {};
for (const w of Object.keys(workloads)) for (const c of Object.keys(contenders)) samples[`${w}|${c}`] = [];

for (const fn of Object.values(workloads))
  for (const db of Object.values(contenders)) for (let i = 0; i < 20; i++) await fn(db, i); // warm up

// Call by call, the contenders take turns (in a rotating order), so that a burst of load on the
// machine falls on all of them alike.
const names = Object.keys(contenders);
for (let round = 0; round < ROUNDS; round++) {
  for (const [w, fn] of Object.entries(workloads)) {
    for (let i = 0; i < PER_ROUND; i++) {
      for (let k = 0; k < names.length; k++) {
        const c = names[(k + i + round) % names.length];
        const t = performance.now();
        await fn(contenders[c], i);
        samples[`${w}|${c}`].push(performance.now() - t);
      }
    }
  }
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
console.log(
  `Data API latency, ${ROUNDS} rounds x ${PER_ROUND} calls per workload and contender, taking turns call by call (local endpoint, loopback)`,
);
console.log('workload                 contender                     p50 ms   p95 ms   p50 / drizzle');
for (const w of Object.keys(workloads)) {
  const base = pct(samples[`${w}|drizzle aws-data-api`], 50);
  for (const c of Object.keys(contenders)) {
    const xs = samples[`${w}|${c}`];
    console.log(
      `${w.padEnd(24)} ${c.padEnd(28)} ${pct(xs, 50).toFixed(3).padStart(7)} ${pct(xs, 95).toFixed(3).padStart(8)} ${(pct(xs, 50) / base).toFixed(3).padStart(15)}`,
    );
  }
}

// Library overhead alone: both drivers over an RDSDataClient stand-in that answers at once with
// a fixed response (the network and the endpoint taken out), so the difference is the code each
// runs per call (building the statement, parameters, decoding the result).
const canned = (input) => {
  const sqlText = input.sql.toLowerCase();
  if (sqlText.startsWith('insert')) return { numberOfRecordsUpdated: 1, generatedFields: [] };
  const withTime = sqlText.includes('created_at');
  const record = [
    { longValue: 7 },
    { stringValue: 'item 7' },
    ...(withTime ? [{ stringValue: '2024-05-01 10:00:00' }] : []),
  ];
  return {
    records: [record],
    numberOfRecordsUpdated: 0,
    ...(input.includeResultMetadata && {
      columnMetadata: [
        { name: 'id', label: 'id', typeName: 'int4' },
        { name: 'name', label: 'name', typeName: 'text' },
        ...(withTime ? [{ name: 'created_at', label: 'created_at', typeName: 'timestamptz' }] : []),
      ],
    }),
  };
};
class InstantClient {
  async send(command) {
    return canned(command.input);
  }
}
const stub = new InstantClient();
const overhead = {
  'drizzle aws-data-api': drizzle(stub, target),
  anypg: createDb({ env: {}, backend: 'data-api', dataApi: { ...target, client: stub } }),
};
const N = Number(process.env.BENCH_OVERHEAD_CALLS ?? 4000);
const perCall = {};
for (const w of Object.keys(workloads)) for (const c of Object.keys(overhead)) perCall[`${w}|${c}`] = [];
for (let round = 0; round < 5; round++) {
  for (const [w, fn] of Object.entries(workloads)) {
    for (const [c, db] of round % 2 ? Object.entries(overhead).reverse() : Object.entries(overhead)) {
      const t = performance.now();
      for (let i = 0; i < N; i++) await fn(db, i);
      perCall[`${w}|${c}`].push(((performance.now() - t) * 1000) / N);
    }
  }
}
console.log(`\nlibrary overhead per call (RDSDataClient stand-in answering at once), median of 5 rounds x ${N} calls`);
console.log('workload                 contender                     us per call   / drizzle');
for (const w of Object.keys(workloads)) {
  const base = pct(perCall[`${w}|drizzle aws-data-api`], 50);
  for (const c of Object.keys(overhead)) {
    const us = pct(perCall[`${w}|${c}`], 50);
    console.log(`${w.padEnd(24)} ${c.padEnd(28)} ${us.toFixed(1).padStart(12)} ${(us / base).toFixed(3).padStart(11)}`);
  }
}

await overhead.anypg.$close();
await anypgOwn.$close();
await anypgShared.$close();
drizzleClient.destroy();
anypgClient.destroy();
await endpoint.close();
await server?.stop();
