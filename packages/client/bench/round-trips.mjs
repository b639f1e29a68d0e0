// Benchmark (not a test): round trips per path, this build against the baseline (main's code, see
// baseline.mjs), counted by a TCP proxy in front of the server (a round trip: the client sends, the
// server answers). The tests assert this build's counts; this prints both side by side.
import { connect, createServer } from 'node:net';
import { startNeonEndpoint, startPostgres } from '@anypg/local';
import { sql } from 'drizzle-orm';
import pg from 'pg';
import { createDb } from '../dist/node.js';
import { baselineEntry } from './baseline.mjs';

const baseline = baselineEntry();
const builds = { anypg: createDb, ...(baseline && { [baseline.label]: (await import(baseline.url)).createDb }) };

/** A TCP proxy counting round trips (a change of direction from client->server to server->client). */
async function counter(port) {
  let trips = 0;
  let connections = 0;
  const server = createServer((client) => {
    connections++;
    const up = connect(port, '127.0.0.1');
    let last;
    client.on('data', (d) => {
      last = 'up';
      up.write(d);
    });
    up.on('data', (d) => {
      if (last === 'up') trips++;
      last = 'down';
      client.write(d);
    });
    const end = () => {
      client.destroy();
      up.destroy();
    };
    for (const s of [client, up]) {
      s.on('close', end);
      s.on('error', end);
    }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: server.address().port,
    take() {
      const t = trips;
      trips = 0;
      return t;
    },
    connections: () => connections,
    close: () => server.close(),
  };
}

const pgServer = await startPostgres();
const setup = new pg.Client({ connectionString: pgServer.url });
await setup.connect();
await setup.query('create table rt (id serial primary key, v int)');
await setup.end();
const neon = await startNeonEndpoint({ upstream: pgServer.url });
const proxy = await counter(Number(new URL(pgServer.url).port));
const wsProxy = await counter(neon.port);
const viaProxy = new URL(pgServer.url);
viaProxy.port = String(proxy.port);

const table = {};
for (const [name, make] of Object.entries(builds)) {
  const db = make({ url: viaProxy.toString(), env: {}, pool: { max: 1 }, telemetry: false });
  await db.execute(sql`select 1`);
  proxy.take();
  const row = {};
  await db.execute(sql`select ${1}::int`);
  row['warm statement'] = proxy.take();
  await db.batch(Array.from({ length: 5 }, (_, i) => db.execute(sql`insert into rt (v) values (${i})`)));
  row['db.batch() of 5'] = proxy.take();
  await db.transaction(async (tx) => {
    for (let i = 0; i < 3; i++) await tx.execute(sql`insert into rt (v) values (${i}) returning id`);
  });
  row['transaction of 3'] = proxy.take();
  await Promise.all(Array.from({ length: 100 }, (_, i) => db.execute(sql`select ${i}::int`)));
  row['100 concurrent, max 1'] = proxy.take();
  await db.$close();

  const http = make({
    url: pgServer.url,
    env: {},
    backend: 'neon-http',
    neon: { ...neon.neonConfig, wsProxy: `127.0.0.1:${wsProxy.port}/v2` },
    telemetry: false,
  });
  const tx3 = () =>
    http.transaction(async (tx) => {
      for (let i = 0; i < 3; i++) await tx.execute(sql`insert into rt (v) values (${i}) returning id`);
    });
  const before = wsProxy.connections();
  await tx3();
  row['neon-http transaction of 3, cold'] = wsProxy.take();
  await tx3();
  row['neon-http transaction of 3, warm'] = wsProxy.take();
  row['neon-http WebSocket connections for both'] = wsProxy.connections() - before;
  await http.$close();
  table[name] = row;
}

const names = Object.keys(table);
console.log(`round trips per path (counted by a TCP proxy; local server and endpoint)`);
console.log(`| path | ${names.join(' | ')} |`);
console.log(`|---|${names.map(() => '---').join('|')}|`);
for (const path of Object.keys(table.anypg)) {
  console.log(`| ${path} | ${names.map((n) => table[n][path]).join(' | ')} |`);
}

proxy.close();
wsProxy.close();
await neon.close();
await pgServer.stop();
