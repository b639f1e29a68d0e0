// OpenTelemetry inside workerd, the way a Worker passes it: createDb({ telemetry: openTelemetry(api) })
// from the edge build, the SDK's in-memory exporter, on Hyperdrive (pg over the binding) and on
// neon-http (HTTP requests to the local Neon endpoint, a WebSocket session for a transaction).

import { env as anyEnv } from 'cloudflare:workers';
import * as otel from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { sql } from 'drizzle-orm';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AnypgDatabase, createDb, openTelemetry } from '../../src/edge.js';
import type { TestEnv } from './app.js';
import { admin, URL_WITH_PASSWORD, unique } from './support.js';

const env = anyEnv as unknown as TestEnv;
const exporter = new InMemorySpanExporter();
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const telemetry = openTelemetry(otel, { tracerProvider });
otel.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());

const t = unique('wkotel');
beforeAll(async () => {
  await admin(`create table ${t} (id int primary key, body text); insert into ${t} values (1, 'one')`);
});
afterAll(async () => {
  await admin(`drop table if exists ${t}`);
});

const names = (spans: ReadableSpan[]) => spans.map((s) => s.name);
const childrenOf = (spans: ReadableSpan[], parent: ReadableSpan) =>
  spans.filter((s) => s.parentSpanContext?.spanId === parent.spanContext().spanId);
const only = (spans: ReadableSpan[], name: string) => {
  const found = spans.filter((s) => s.name === name);
  expect(names(found)).toEqual([name]);
  return found[0]!;
};

async function withDb(db: AnypgDatabase, fn: (db: AnypgDatabase) => Promise<void>): Promise<ReadableSpan[]> {
  exporter.reset();
  try {
    await fn(db);
  } finally {
    await db.$close();
  }
  return exporter.getFinishedSpans();
}

describe('hyperdrive', () => {
  const open = () => createDb({ env, pg, applicationName: unique('anypg_wkotel'), telemetry });

  it('a statement: its span, and the connection it opened', async () => {
    const spans = await withDb(open(), async (db) => {
      await db.execute(sql.raw(`select body from ${t} where id = 1`));
    });
    const statement = only(spans, `SELECT ${t}`);
    const host = new URL(env.HYPERDRIVE.connectionString).hostname;
    expect(statement.attributes).toMatchObject({
      'db.system.name': 'postgresql',
      'db.operation.name': 'SELECT',
      'db.collection.name': t,
      'db.query.text': `select body from ${t} where id = ?`,
      'server.address': host,
      'anypg.backend': 'hyperdrive',
      'anypg.connection.opened': true,
    });
    const acquire = only(spans, 'anypg.acquire');
    expect(acquire.parentSpanContext?.spanId).toBe(statement.spanContext().spanId);
    expect(names(childrenOf(spans, acquire))).toEqual(['anypg.connect']);
    // No connection URL with a password other than the redaction (the test server's is random).
    expect(JSON.stringify(spans.map((s) => s.attributes))).not.toMatch(URL_WITH_PASSWORD);
  });

  it('a transaction is the parent of its statements', async () => {
    const spans = await withDb(open(), async (db) => {
      await db.transaction(async (tx) => {
        await tx.execute(sql.raw(`update ${t} set body = body where id = 1`));
      });
    });
    const tx = only(spans, 'transaction');
    expect(names(childrenOf(spans, tx)).filter((n) => n !== 'anypg.acquire')).toEqual([
      'BEGIN postgres',
      `UPDATE ${t}`,
      'COMMIT postgres',
    ]);
  });

  it('$serverStats says plainly that Hyperdrive cannot tell', async () => {
    const db = open();
    const stats = await db.$serverStats();
    await db.$close();
    expect(stats).toMatchObject({ available: false, backend: 'hyperdrive' });
  });
});

describe('neon-http', () => {
  const open = () => createDb({ env: {}, url: env.NEON_URL, neon: env.NEON_CONFIG, telemetry });

  it('a statement is one HTTP request under its span', async () => {
    const spans = await withDb(open(), async (db) => {
      await db.execute(sql.raw(`select body from ${t} where id = 1`));
    });
    const statement = only(spans, `SELECT ${t}`);
    expect(statement.attributes).toMatchObject({ 'anypg.backend': 'neon-http', 'db.collection.name': t });
    const http = only(spans, 'HTTP query');
    expect(http.parentSpanContext?.spanId).toBe(statement.spanContext().spanId);
    expect(http.attributes).toMatchObject({ 'http.response.status_code': 200, 'anypg.http.call': 'query' });
  });

  it('a refused statement: the SQLSTATE on the span, the endpoint answered 400', async () => {
    const spans = await withDb(open(), async (db) => {
      await db.execute(sql.raw('select * from no_such_table')).catch(() => undefined);
    });
    const statement = only(spans, 'SELECT no_such_table');
    expect(statement.attributes).toMatchObject({ 'db.response.status_code': '42P01', 'error.type': '42P01' });
    expect(only(spans, 'HTTP query').attributes['http.response.status_code']).toBe(400);
  });

  it('a batch is one BATCH span over one HTTP request', async () => {
    const spans = await withDb(open(), async (db) => {
      await db.batch([db.execute(sql.raw(`select 1 from ${t}`)), db.execute(sql.raw(`select 2 from ${t}`))]);
    });
    const batch = only(spans, `BATCH ${t}`);
    expect(batch.kind).toBe(2); // CLIENT: one operation, one request
    expect(batch.attributes['db.operation.batch.size']).toBe(2);
    expect(names(childrenOf(spans, batch))).toEqual(['HTTP transaction']);
  });

  it('a transaction: the WebSocket session it opened, BEGIN and COMMIT, under its span', async () => {
    const spans = await withDb(open(), async (db) => {
      await db.transaction(async (tx) => {
        await tx.execute(sql.raw(`select body from ${t}`));
      });
    });
    const tx = only(spans, 'transaction');
    expect(names(childrenOf(spans, tx))).toEqual(['anypg.connect', 'BEGIN postgres', `SELECT ${t}`, 'COMMIT postgres']);
  });
});
