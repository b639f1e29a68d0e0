// What a new WebSocket connection through the local Neon endpoint costs: the unmodified driver's
// `Client`, connect + `select 1` + end, with its default pipelined login (`pipelineConnect:
// 'password'`) and without it, against PostgreSQL servers whose roles log in with SCRAM, md5 and
// cleartext `password` auth. Medians and p95 of N connections each, interleaved round by round so
// that a busy machine slows every column alike (compare ratios within one run).
// Run after `pnpm build`:  node bench/neon-connect.mjs      (N=40 by default)
// ANYPG_LOCAL_DIST=<folder> measures another build of the package (to compare before and after).
import { Client } from '@neondatabase/serverless';
import pg from 'pg';

const dist = process.env.ANYPG_LOCAL_DIST
  ? new URL(`file://${process.env.ANYPG_LOCAL_DIST}/`)
  : new URL('../dist/', import.meta.url);
const { startNeonEndpoint, startPostgres } = await import(new URL('index.js', dist).href);

const N = Number(process.env.N ?? 40);
const ATTEMPT_TIMEOUT_MS = 10_000;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const p95 = (xs) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.95))];

const users = { 'scram-sha-256': 'bench_scram', md5: 'bench_md5', password: 'bench_cleartext' };
// One pg_hba line per role, so each role logs in with its method.
const hba = Object.entries(users).map(([method, user]) => `host all ${user} 127.0.0.1/32 ${method}`);
const pgWithHba = await startPostgres({ hba });
const setup = new pg.Client({ connectionString: pgWithHba.url });
await setup.connect();
for (const [method, user] of Object.entries(users)) {
  // md5 only works for a password stored as an md5 hash; the others are stored as SCRAM verifiers.
  await setup.query(`set password_encryption = '${method === 'md5' ? 'md5' : 'scram-sha-256'}'`);
  await setup.query(`create role ${user} login password 'bench-pw'`);
}
await setup.end();
const endpoint = await startNeonEndpoint({ upstream: pgWithHba.url });

function urlFor(user) {
  const u = new URL(pgWithHba.urlFor('postgres'));
  u.username = user;
  u.password = 'bench-pw';
  return u.toString();
}

/** One connection: connect, one query, end. Resolves to ms, or throws the driver's error. */
async function once(url, pipelineConnect) {
  const client = new Client(url);
  client.neonConfig.wsProxy = endpoint.wsProxy;
  client.neonConfig.useSecureWebSocket = false;
  client.neonConfig.pipelineConnect = pipelineConnect;
  const failed = new Promise((_, reject) => {
    client.on('error', reject);
  });
  const t = performance.now();
  let timer;
  try {
    await Promise.race([
      (async () => {
        await client.connect();
        await client.query('select 1');
      })(),
      failed,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${ATTEMPT_TIMEOUT_MS} ms`)), ATTEMPT_TIMEOUT_MS);
      }),
    ]);
    return performance.now() - t;
  } finally {
    clearTimeout(timer);
    await client.end().catch(() => {});
  }
}

const columns = [];
for (const [method, user] of Object.entries(users)) {
  for (const pipelineConnect of ['password', false]) {
    columns.push({ method, pipelineConnect, url: urlFor(user), samples: [], error: undefined });
  }
}
for (const c of columns) {
  // Warm-up (JIT, the driver's first WebSocket) and a check that this combination works at all.
  try {
    await once(c.url, c.pipelineConnect);
  } catch (err) {
    c.error = err instanceof Error ? err.message : String(err);
  }
}
for (let i = 0; i < N; i++) {
  for (const c of columns) if (!c.error) c.samples.push(await once(c.url, c.pipelineConnect));
}

console.log(`Neon driver Client through the local endpoint: connect + select 1 + end, ${N} each, ${process.version}`);
console.log('upstream auth   pipelineConnect  median ms  p95 ms');
for (const c of columns) {
  const label = `${c.method.padEnd(15)} ${String(c.pipelineConnect).padEnd(16)}`;
  if (c.error) console.log(`${label} fails: ${c.error.slice(0, 90)}`);
  else console.log(`${label} ${median(c.samples).toFixed(2).padStart(9)}  ${p95(c.samples).toFixed(2).padStart(6)}`);
}

await endpoint.close();
await pgWithHba.stop();
