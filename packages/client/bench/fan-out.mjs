// Benchmark (not a test): a fan-out of Lambda containers against one PostgreSQL with
// max_connections 100. 200 anypg clients (pool max 1 each, as on Lambda) start together and each
// runs a few invocations, directly and through PgBouncer in transaction mode. Prints the server
// connections used (peak, sampled), the connections the clients opened, errors by type, and the
// invocation latency (p50, p99, slowest). Directly, the overflow meets 53300 too-many-clients: it
// gets the connect backoff within connectTimeoutMs, then a clear ConnectionError, never a hang.
//   BENCH_CLIENTS (200), BENCH_INVOCATIONS (5 per client), BENCH_CONNECT_TIMEOUT_MS (3000),
//   BENCH_POOL_SIZE (PgBouncer's server connections, 20).
import { startPgBouncer, startPostgres } from '@anypg/local';
import { sql } from 'drizzle-orm';
import pg from 'pg';
import { createDb } from '../dist/node.js';

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 200);
const INVOCATIONS = Number(process.env.BENCH_INVOCATIONS ?? 5);
const CONNECT_TIMEOUT_MS = Number(process.env.BENCH_CONNECT_TIMEOUT_MS ?? 3000);
const POOL_SIZE = Number(process.env.BENCH_POOL_SIZE ?? 20);

const server = await startPostgres({ settings: { max_connections: 100 } });
const admin = new pg.Client({ connectionString: server.url });
await admin.connect();
// A role without superuser: the reserved slots are not its (as for an application).
await admin.query("create role fanout login password 'fanout-pw'");
await admin.query('grant all on schema public to fanout');
const appUrl = new URL(server.url);
appUrl.username = 'fanout';
appUrl.password = 'fanout-pw';
const bouncer = await startPgBouncer({
  upstream: appUrl.toString(),
  maxClientConn: CLIENTS + 50,
  defaultPoolSize: POOL_SIZE,
});

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : Number.NaN;
};

async function fanOut(label, url) {
  let peak = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const r = await admin.query("select count(*)::int as n from pg_stat_activity where usename = 'fanout'");
      peak = Math.max(peak, r.rows[0].n);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  const latencies = [];
  const failures = [];
  const errors = {};
  const dbs = Array.from({ length: CLIENTS }, (_, i) =>
    createDb({
      url,
      env: { AWS_LAMBDA_FUNCTION_NAME: `fanout-${i}` },
      applicationName: 'fanout',
      pool: { connectTimeoutMs: CONNECT_TIMEOUT_MS },
      circuitBreaker: false,
      telemetry: false,
    }),
  );
  const started = performance.now();
  await Promise.all(
    dbs.map(async (db, i) => {
      for (let n = 0; n < INVOCATIONS; n++) {
        const t = performance.now();
        try {
          // One invocation: a read and a short transaction.
          await db.execute(sql`select ${i}::int as container, ${n}::int as invocation`);
          await db.transaction(async (tx) => {
            await tx.execute(sql`select pg_sleep(0.002)`);
          });
          latencies.push(performance.now() - t);
        } catch (err) {
          failures.push(performance.now() - t);
          const key = `${err.code}${err.sqlstate ? ` ${err.sqlstate}` : ''}`;
          errors[key] = (errors[key] ?? 0) + 1;
        }
      }
    }),
  );
  const wall = performance.now() - started;
  const opened = dbs.reduce((sum, db) => sum + db.$stats().opened, 0);
  await Promise.all(dbs.map((db) => db.$close()));
  sampling = false;
  await sampler;
  return {
    label,
    invocations: CLIENTS * INVOCATIONS,
    ok: latencies.length,
    peak,
    opened,
    errors,
    p50: pct(latencies, 50),
    p99: pct(latencies, 99),
    slowestFailure: failures.length ? Math.max(...failures) : 0,
    wall,
  };
}

const rows = [await fanOut('direct (max_connections 100)', appUrl.toString())];
rows.push(
  await fanOut(
    `PgBouncer transaction mode (${POOL_SIZE} server connections)`,
    bouncer.urlFor(undefined, { pgbouncer: 'true' }),
  ),
);

console.log(
  `fan-out: ${CLIENTS} anypg clients (pool max 1 each, Lambda defaults), ${INVOCATIONS} invocations each (a read and a one-statement transaction), connectTimeoutMs ${CONNECT_TIMEOUT_MS}`,
);
console.log(
  '| path | invocations ok | server connections (peak) | opened by clients | errors by type | p50 ms | p99 ms | slowest failure ms | wall s |',
);
console.log('|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  const errs = Object.entries(r.errors)
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ');
  console.log(
    `| ${r.label} | ${r.ok}/${r.invocations} | ${r.peak} | ${r.opened} | ${errs || 'none'} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.slowestFailure.toFixed(0)} | ${(r.wall / 1000).toFixed(1)} |`,
  );
}

await admin.end();
await bouncer.close();
await server.stop();
