#!/usr/bin/env node
// The main job: the whole local stack, both demo apps on every backend they support, every route
// driven, and a table of what it cost. `--dev` keeps everything running instead, with the URLs
// printed, until Ctrl-C.
//
//   node scripts/run.mjs demo      (or: pnpm demo, after pnpm install)
//   node scripts/run.mjs dev       (or: pnpm dev)
//
// Each app and backend reaches PostgreSQL through its own counting TCP proxy, so "db connections"
// is what that path really opened: the Lambda's one pooled connection, the Data API endpoint's
// sessions, Hyperdrive's per-request connections (the local binding is a plain pipe: no pooling),
// the Neon endpoint's upstream pool.
//
// Each app logs in as a role of its own that owns its database and is not a superuser, as an
// application's role should be: what reaches the database through a stand-in can do no more than
// the app itself. The superuser URL is only used here, to create them.
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { startLambdaDemo } from '@anypg/lambda-demo/scripts/local.mjs';
import { startDataApiEndpoint, startNeonEndpoint, startPostgres, startTcpProxy } from '@anypg/local';
import { applyMigrations, startWorkerDemo } from '@anypg/worker-demo/scripts/local.mjs';
import pg from 'pg';

const dev = process.argv.includes('--dev');
const ROUNDS = Number(process.env.DEMO_ROUNDS ?? 20);
const started = Date.now();
const step = (msg) => process.stderr.write(`[demo +${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}\n`);
const closers = [];
const closeAll = async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
};

async function main() {
  step(process.env.DATABASE_URL ? 'using DATABASE_URL' : 'starting PostgreSQL (embedded, ephemeral)');
  const server = process.env.DATABASE_URL ? undefined : await startPostgres({ settings: { max_connections: 100 } });
  if (server) closers.push(() => server.stop());
  const baseUrl = process.env.DATABASE_URL ?? server.url;

  // One database and role per app (each applies its own migrations), one proxy per path.
  const lambdaDbUrl = await freshDatabase(baseUrl, 'notes_lambda');
  const workerDbUrl = await freshDatabase(baseUrl, 'notes_worker');
  const proxied = async (url) => {
    const u = new URL(url);
    const proxy = await startTcpProxy({ host: u.hostname, port: Number(u.port || 5432) });
    closers.push(() => proxy.close());
    u.hostname = '127.0.0.1';
    u.port = String(proxy.port);
    return { url: u.toString(), proxy };
  };
  const lambdaPg = await proxied(lambdaDbUrl);
  const lambdaDataApi = await proxied(lambdaDbUrl);
  const hyperdrive = await proxied(workerDbUrl);
  const neonUpstream = await proxied(workerDbUrl);

  step('starting the local Neon and Data API endpoints');
  const neon = await startNeonEndpoint({ upstream: neonUpstream.url });
  closers.push(() => neon.close());
  const dataApi = await startDataApiEndpoint({ upstream: lambdaDataApi.url });
  closers.push(() => dataApi.close());

  step('starting the Lambda demo (pg) with migrations, in a freezing container, traced');
  const spans = { pg: [], 'data-api': [] };
  const onLog = (into) => (line) => {
    if (line.startsWith('OTEL_SPAN ')) into.push(JSON.parse(line.slice('OTEL_SPAN '.length)));
    else if (process.env.DEMO_VERBOSE) step(`  lambda: ${line}`);
  };
  const lambda = await startLambdaDemo({
    databaseUrl: lambdaPg.url,
    functionName: 'notes-demo-pg',
    onLog: onLog(spans.pg),
    env: tracingEnv(),
  });
  closers.push(() => lambda.close());
  step('starting the Lambda demo (Data API)');
  const lambdaViaDataApi = await startLambdaDemo({
    databaseUrl: lambdaDataApi.url,
    functionName: 'notes-demo-data-api',
    migrate: false,
    onLog: onLog(spans['data-api']),
    env: tracingEnv(),
    dataApi: {
      endpoint: dataApi.url,
      resourceArn: dataApi.resourceArn,
      secretArn: dataApi.secretArn,
      database: dataApi.database,
    },
  });
  closers.push(() => lambdaViaDataApi.close());
  step('starting the Worker demo in workerd (Hyperdrive and neon-http), with migrations');
  await applyMigrations(workerDbUrl);
  const worker = await startWorkerDemo({ databaseUrl: hyperdrive.url, neon: neon.neonConfig, tracing: true });
  closers.push(() => worker.close());

  const targets = [
    { app: 'lambda-demo', backend: 'pg', base: lambda.url, query: '', proxy: lambdaPg.proxy },
    { app: 'lambda-demo', backend: 'data-api', base: lambdaViaDataApi.url, query: '', proxy: lambdaDataApi.proxy },
    {
      app: 'worker-demo',
      backend: 'hyperdrive',
      base: worker.url,
      query: '?backend=hyperdrive',
      proxy: hyperdrive.proxy,
    },
    {
      app: 'worker-demo',
      backend: 'neon-http',
      base: worker.url,
      query: '?backend=neon-http',
      proxy: neonUpstream.proxy,
    },
  ];

  if (dev) {
    console.log('\nEverything is running. Try:');
    for (const t of targets) console.log(`  curl -s '${t.base}/notes${t.query}'    # ${t.app} on ${t.backend}`);
    console.log(
      [
        '',
        `  lambda-demo's database (role notes_lambda_app): ${lambdaDbUrl}`,
        `  worker-demo's database (role notes_worker_app): ${workerDbUrl}`,
        `  superuser (creates the apps' roles):            ${baseUrl}`,
        `  Neon endpoint: ${neon.fetchEndpoint}`,
        `  Data API endpoint: ${dataApi.url}`,
        '',
        'Ctrl-C stops every process.',
      ].join('\n'),
    );
    await new Promise((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    return true;
  }

  const rows = [];
  const driven = [];
  for (const t of targets) {
    step(`driving every route of ${t.app} on ${t.backend} (${ROUNDS} rounds)`);
    const before = t.proxy.connections();
    const r = await drive(t.base, t.query);
    driven.push({ t, r });
    rows.push({
      app: t.app,
      backend: t.backend,
      requests: r.requests,
      'median ms': median(r.latencies).toFixed(2),
      'p95 ms': percentile(r.latencies, 95).toFixed(2),
      'db connections': t.proxy.connections() - before,
      errors: r.errors.length,
    });
    for (const e of r.errors.slice(0, 3)) step(`  unexpected: ${e}`);
  }
  console.log();
  printTable(rows);

  // Where the milliseconds of one request go, from the spans anypg recorded: the Lambda rows run
  // with an OpenTelemetry layer stand-in that writes spans to the function's log (by the time every
  // target has been driven, each chosen request's span lines have long been read); the worker runs
  // its traced entry, which returns each request's spans with the answer.
  const breakdown = [];
  for (const { t, r } of driven) {
    const list = t.app === 'lambda-demo' ? spans[t.backend] : undefined;
    const cold = r.calls[0];
    const warm = r.calls.find((c, i) => i > r.calls.length / 2 && c.label === 'GET /notes');
    for (const [call, when] of [
      [cold, 'first'],
      [warm, 'warm'],
    ]) {
      if (!call) continue;
      const b = breakdownOf(call.spans ?? inWindow(list ?? [], call));
      breakdown.push({
        app: t.app,
        backend: t.backend,
        request: `${call.label} (${when})`,
        'total ms': call.ms.toFixed(2),
        statements: b.statements,
        connect: ms(b.connect),
        acquire: ms(b.acquire),
        query: ms(b.query),
        HTTP: ms(b.http),
        'in a transaction': ms(b.transaction),
        'outside anypg': ms(call.ms - b.total),
      });
    }
  }
  console.log("\nOne request, span by span (self time of anypg's spans, ms):");
  printTable(breakdown);
  return rows.every((row) => row.errors === 0);
}

/** Every route once per round: create, list, get, update, a validation error, delete, a 404. */
async function drive(base, query) {
  const latencies = [];
  const errors = [];
  const calls = [];
  let requests = 0;
  const call = async (method, path, body, expect) => {
    const startedAt = performance.timeOrigin + performance.now();
    const t = performance.now();
    const res = await fetch(`${base}${path}${query}`, {
      method,
      headers: body ? { 'content-type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    latencies.push(performance.now() - t);
    const trace = res.headers.get('x-anypg-trace');
    calls.push({
      ...(trace && { spans: JSON.parse(trace) }),
      label: `${method} ${path.replace(/\/\d+$/, '/{id}')}`,
      startedAt,
      endedAt: performance.timeOrigin + performance.now(),
      ms: performance.now() - t,
    });
    requests++;
    if (res.status !== expect)
      errors.push(`${method} ${path}: ${res.status} (expected ${expect}) ${text.slice(0, 200)}`);
    return text ? JSON.parse(text) : undefined;
  };
  for (let i = 0; i < ROUNDS; i++) {
    const note = await call('POST', '/notes', { title: `note ${i}`, body: 'from the demo' }, 201);
    await call('GET', '/notes', undefined, 200);
    if (note?.id === undefined) continue;
    await call('GET', `/notes/${note.id}`, undefined, 200);
    await call('PATCH', `/notes/${note.id}`, { body: 'edited' }, 200);
    await call('POST', '/notes', { title: '' }, 400);
    await call('DELETE', `/notes/${note.id}`, undefined, 204);
    await call('GET', `/notes/${note.id}`, undefined, 404);
  }
  return { requests, latencies, errors, calls };
}

/** The environment that preloads the OpenTelemetry layer stand-in (as Lambda layers are: NODE_OPTIONS, NODE_PATH). */
function tracingEnv() {
  const client = createRequire(new URL('../packages/client/package.json', import.meta.url));
  const api = client.resolve('@opentelemetry/api');
  const layer = fileURLToPath(new URL('../packages/client/examples/otel-stdout-layer.mjs', import.meta.url));
  return { NODE_OPTIONS: `--import ${layer}`, NODE_PATH: api.slice(0, api.lastIndexOf('/@opentelemetry/api/')) };
}

/** The spans that started while the request was in flight (requests are sequential). */
function inWindow(spans, call) {
  return spans.filter((s) => s.startMs >= call.startedAt && s.startMs <= call.endedAt);
}

/**
 * The self time of each anypg span of one request,
 * by kind: a new connection, the wait for one, the statement itself, HTTP requests, and the time
 * a transaction or batch spent between its statements (the app's code).
 */
function breakdownOf(spans) {
  const mine = spans.filter((s) => s.scope === 'anypg');
  const childTime = new Map();
  for (const s of mine) {
    if (s.parentSpanId) childTime.set(s.parentSpanId, (childTime.get(s.parentSpanId) ?? 0) + s.durationMs);
  }
  const b = { connect: 0, acquire: 0, query: 0, http: 0, transaction: 0, total: 0, statements: 0 };
  const ids = new Set(mine.map((s) => s.spanId));
  for (const s of mine) {
    const self = Math.max(0, s.durationMs - (childTime.get(s.spanId) ?? 0));
    if (!s.parentSpanId || !ids.has(s.parentSpanId)) b.total += s.durationMs;
    if (s.name === 'anypg.connect') b.connect += self;
    else if (s.name === 'anypg.acquire') b.acquire += self;
    else if (s.name.startsWith('HTTP ')) b.http += self;
    else if (s.name === 'transaction' || s.name.startsWith('BATCH')) b.transaction += self;
    else {
      b.query += self;
      b.statements++;
    }
  }
  return b;
}

const ms = (v) => (v > 0.005 ? v.toFixed(2) : '-');

/** A plain aligned table: a header, a rule, one line per row; numbers right-aligned. */
function printTable(rows) {
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cell = (r, c) => (r[c] === undefined ? '' : String(r[c]));
  const numeric = (c) => rows.every((r) => r[c] === undefined || /^-?[\d.]+$|^-$/.test(cell(r, c)));
  const width = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r, c).length)));
  const line = (values) =>
    values
      .map((v, i) => (numeric(columns[i]) ? v.padStart(width[i]) : v.padEnd(width[i])))
      .join('  ')
      .trimEnd();
  console.log(line(columns));
  console.log(width.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(columns.map((c) => cell(r, c))));
}

/**
 * A new database `name`, owned by a new role `<name>_app` (a random password, no superuser, no
 * CREATEDB or CREATEROLE): the URL the app uses. `url` must be able to create roles and databases.
 */
async function freshDatabase(url, name) {
  const role = `${name}_app`;
  const password = randomBytes(18).toString('base64url');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`drop database if exists ${name} with (force)`);
    await client.query(`drop role if exists ${role}`);
    await client.query(
      `create role ${role} login nosuperuser nocreatedb nocreaterole password ${client.escapeLiteral(password)}`,
    );
    await client.query(`create database ${name} owner ${role}`);
  } finally {
    await client.end();
  }
  const u = new URL(url);
  u.username = role;
  u.password = password;
  u.pathname = `/${name}`;
  return u.toString();
}

const median = (xs) => percentile(xs, 50);
function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : Number.NaN;
}

let ok = false;
try {
  ok = await main();
} catch (err) {
  console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
} finally {
  step('stopping everything');
  await closeAll();
}
process.exit(ok ? 0 : 1);
