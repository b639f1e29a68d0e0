// OpenTelemetry traces and metrics on the pg backend, against a real PostgreSQL, with the SDK's
// in-memory exporters: the semantic conventions' names, a transaction as the parent of its
// statements, what a new, replaced or retried connection looks like, and no parameter value or
// password anywhere in what is exported.
import * as otel from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { isTracingSuppressed, suppressTracing } from '@opentelemetry/core';
import { AggregationTemporality } from '@opentelemetry/sdk-metrics';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { eq, sql } from 'drizzle-orm';
import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AnypgDatabase,
  createDb,
  DatabaseError,
  type OtelApi,
  OutcomeUnknownError,
  openTelemetry,
} from '../src/node.js';
import { admin, databaseUrl, uniqueName } from './support/db.js';
import { childrenOf, otelHarness, spanText } from './support/otel.js';
import { startProxy, type TestProxy } from './support/proxy.js';

// `import * as otel from '@opentelemetry/api'` is what openTelemetry() takes (checked by the compiler).
const _apiFits: OtelApi = otel;

const contextManager = new AsyncLocalStorageContextManager().enable();
otel.context.setGlobalContextManager(contextManager);

const SPAN_KIND = { INTERNAL: 0, CLIENT: 2 };

const role = uniqueName('otel');
const password = `pw-${uniqueName('secret')}`;
let url: string;
let proxyUrl: string;
let proxy: TestProxy;
const notes = pgTable('notes', { id: integer('id').primaryKey(), body: text('body') });

beforeAll(async () => {
  await admin(async (c) => {
    await c.query(`create role ${role} login password '${password}'`);
    await c.query(`create database ${role} owner ${role}`);
  });
  const u = new URL(databaseUrl());
  u.username = role;
  u.password = password;
  u.pathname = `/${role}`;
  url = u.toString();
  proxy = await startProxy(Number(u.port));
  u.port = String(proxy.port);
  u.hostname = '127.0.0.1';
  proxyUrl = u.toString();
  const setup = createDb({ url, env: {}, telemetry: false });
  await setup.execute(sql`create table notes (id int primary key, body text)`);
  await setup.execute(sql`insert into notes select g, 'note ' || g from generate_series(1, 5) g`);
  await setup.$close();
});

afterAll(async () => {
  await proxy?.close();
  await admin(async (c) => {
    await c.query(`drop database if exists ${role} with (force)`);
    await c.query(`drop role if exists ${role}`);
  });
  contextManager.disable();
});

const byName = (spans: ReadableSpan[], name: string) => spans.filter((s) => s.name === name);
const one = (spans: ReadableSpan[], name: string): ReadableSpan => {
  const found = byName(spans, name);
  expect(found.map((s) => s.name)).toEqual([name]);
  return found[0]!;
};

describe('statement spans', () => {
  const h = otelHarness();
  let db: AnypgDatabase<{ notes: typeof notes }>;
  beforeAll(() => {
    db = createDb({ url, env: {}, schema: { notes }, telemetry: h.telemetry });
  });
  afterAll(async () => {
    await db.$close();
    await h.shutdown();
  });

  it('a query builder statement is a CLIENT span with the semantic conventions attributes', async () => {
    h.reset();
    const rows = await db.select().from(notes).where(eq(notes.id, 3));
    expect(rows).toEqual([{ id: 3, body: 'note 3' }]);
    const span = one(h.spans(), 'SELECT notes');
    expect(span.kind).toBe(SPAN_KIND.CLIENT);
    expect(span.instrumentationScope.name).toBe('anypg');
    const u = new URL(url);
    expect(span.attributes).toMatchObject({
      'db.system.name': 'postgresql',
      'db.operation.name': 'SELECT',
      'db.collection.name': 'notes',
      'db.namespace': role,
      'server.address': u.hostname,
      'server.port': Number(u.port),
      'anypg.backend': 'pg',
      'db.response.returned_rows': 1,
    });
    expect(span.attributes['db.query.text']).toBe('select "id", "body" from "notes" where "notes"."id" = $1');
    expect(span.status.code).toBe(0); // UNSET: no error
  });

  it('the first statement shows the connection it opened; a warm one only its (short) wait', async () => {
    const h2 = otelHarness();
    const cold = createDb({ url, env: {}, telemetry: h2.telemetry });
    try {
      await cold.execute(sql`select 1`);
      const first = one(h2.spans(), `SELECT ${role}`);
      const acquire = one(h2.spans(), 'anypg.acquire');
      const connect = one(h2.spans(), 'anypg.connect');
      expect(acquire.parentSpanContext?.spanId).toBe(first.spanContext().spanId);
      expect(connect.parentSpanContext?.spanId).toBe(acquire.spanContext().spanId);
      expect(first.attributes['anypg.connection.opened']).toBe(true);
      expect(first.attributes['anypg.acquire_wait_ms']).toBeGreaterThan(0);
      // The connect span lies within the acquire span, which lies within the statement's.
      const ms = (t: [number, number]) => t[0] * 1e3 + t[1] / 1e6;
      expect(ms(connect.startTime)).toBeGreaterThanOrEqual(ms(acquire.startTime));
      expect(ms(connect.endTime)).toBeLessThanOrEqual(ms(acquire.endTime));
      expect(ms(acquire.startTime)).toBeGreaterThanOrEqual(ms(first.startTime));

      h2.reset();
      await cold.execute(sql`select 1`);
      const warm = one(h2.spans(), `SELECT ${role}`);
      expect(warm.attributes['anypg.connection.opened']).toBeUndefined();
      expect(childrenOf(h2.spans(), warm)).toEqual([]);
    } finally {
      await cold.$close();
      await h2.shutdown();
    }
  });

  it('a refused statement carries its SQLSTATE, and neither the parameter nor the message', async () => {
    h.reset();
    const secretValue = `value-${uniqueName('param')}`;
    const err = await db.execute(sql`select ${secretValue}::int as n`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatabaseError);
    // PostgreSQL's message quotes the value: it must not reach the span.
    expect((err as Error).message).toContain(secretValue);
    const span = one(h.spans(), `SELECT ${role}`);
    expect(span.attributes).toMatchObject({ 'db.response.status_code': '22P02', 'error.type': '22P02' });
    expect(span.status).toEqual({ code: 2, message: 'DATABASE 22P02' });
    expect(span.attributes['db.query.text']).toBe('select $1::int as n');
    expect(spanText(h.spans())).not.toContain(secretValue);
  });

  it('literals in hand-written SQL are replaced in db.query.text; queryText off leaves it out', async () => {
    h.reset();
    await db.execute(sql.raw(`select 'token-abc' as t, 42 as n, $$dollar body$$ as d`));
    const span = one(h.spans(), `SELECT ${role}`);
    expect(span.attributes['db.query.text']).toBe('select ? as t, ? as n, ? as d');
    expect(spanText(h.spans())).not.toMatch(/token-abc|dollar body/);

    const off = otelHarness({ queryText: 'off' });
    const quiet = createDb({ url, env: {}, telemetry: off.telemetry });
    await quiet.execute(sql`select 1`);
    await quiet.$close();
    expect(off.spans().filter((s) => 'db.query.text' in s.attributes)).toEqual([]);
    expect(off.spans().length).toBeGreaterThan(0);
    await off.shutdown();
  });

  it('the password is nowhere in spans or metrics', async () => {
    const all = spanText(h.spans());
    expect(all).not.toContain(password);
    const metrics = JSON.stringify(await h.points('db.client.operation.duration'));
    expect(metrics).not.toContain(password);
    expect(metrics).toContain('postgresql'); // the control: the metric is there
  });
});

describe('transactions and batches', () => {
  const h = otelHarness();
  let db: AnypgDatabase<{ notes: typeof notes }>;
  beforeAll(async () => {
    db = createDb({ url, env: {}, schema: { notes }, telemetry: h.telemetry });
    await db.execute(sql`select 1`); // the connection is open: no acquire span below
  });
  afterAll(async () => {
    await db.$close();
    await h.shutdown();
  });

  it('a transaction is the parent of its statements, BEGIN and COMMIT included, and of the callback context', async () => {
    const outer = h.tracerProvider.getTracer('test');
    h.reset();
    await outer.startActiveSpan('request', async (request) => {
      await db.transaction(async (tx) => {
        await tx.update(notes).set({ body: 'edited' }).where(eq(notes.id, 1));
        await tx.select().from(notes).where(eq(notes.id, 1));
        outer.startSpan('inside the callback').end();
      });
      request.end();
    });
    const spans = h.spans();
    const tx = one(spans, 'transaction');
    const request = one(spans, 'request');
    expect(tx.parentSpanContext?.spanId).toBe(request.spanContext().spanId);
    expect(tx.kind).toBe(SPAN_KIND.INTERNAL);
    expect(tx.attributes).toMatchObject({ 'anypg.transaction.outcome': 'commit', 'db.system.name': 'postgresql' });
    expect(childrenOf(spans, tx).map((s) => s.name)).toEqual([
      `BEGIN ${role}`,
      'UPDATE notes',
      'SELECT notes',
      'inside the callback',
      `COMMIT ${role}`,
    ]);
    expect(new Set(spans.map((s) => s.spanContext().traceId)).size).toBe(1);
  });

  it('a transaction that throws: ROLLBACK under it, and its status says why', async () => {
    h.reset();
    const err = await db
      .transaction(async (tx) => {
        await tx.select().from(notes);
        throw new TypeError('the app failed');
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TypeError);
    const tx = one(h.spans(), 'transaction');
    expect(tx.attributes).toMatchObject({ 'anypg.transaction.outcome': 'rollback', 'error.type': 'TypeError' });
    expect(tx.status.code).toBe(2);
    expect(childrenOf(h.spans(), tx).map((s) => s.name)).toEqual([`BEGIN ${role}`, 'SELECT notes', `ROLLBACK ${role}`]);
  });

  it('savepoints of a nested transaction are statements of the outer one', async () => {
    h.reset();
    await db.transaction(async (tx) => {
      await tx.transaction(async (inner) => {
        await inner.select().from(notes).where(eq(notes.id, 2));
      });
    });
    const tx = one(h.spans(), 'transaction');
    expect(childrenOf(h.spans(), tx).map((s) => s.name)).toEqual([
      `BEGIN ${role}`,
      `SAVEPOINT ${role}`,
      'SELECT notes',
      `RELEASE ${role}`,
      `COMMIT ${role}`,
    ]);
  });

  it('a batch is one BATCH span with its size; on pg it is one round trip (no statement spans under it)', async () => {
    h.reset();
    const [a, b] = await db.batch([
      db.select().from(notes).where(eq(notes.id, 4)),
      db.update(notes).set({ body: 'batched' }).where(eq(notes.id, 5)).returning(),
    ]);
    expect(a).toEqual([{ id: 4, body: 'note 4' }]);
    expect(b).toEqual([{ id: 5, body: 'batched' }]);
    const batch = one(h.spans(), 'BATCH notes');
    expect(batch.attributes).toMatchObject({
      'db.operation.name': 'BATCH',
      'db.operation.batch.size': 2,
      'db.collection.name': 'notes',
    });
    // BEGIN, the statements and COMMIT went as one unit: what the transport did is the batch's.
    expect(childrenOf(h.spans(), batch).map((s) => s.name)).not.toContain('SELECT notes');
    expect(batch.kind).toBe(2); // SpanKind.CLIENT: one request to the database
  });
});

describe('what the connection did', () => {
  it('an idle connection too old to use is replaced, and the statement says so', async () => {
    const h = otelHarness();
    const db = createDb({ url, env: {}, pool: { idleTimeoutMs: 50 }, telemetry: h.telemetry });
    try {
      await db.execute(sql`select 1`);
      // Block the event loop past the idle timeout: the idle timer cannot fire (as in a freeze).
      const until = Date.now() + 120;
      while (Date.now() < until) {
        /* busy wait */
      }
      h.reset();
      await db.execute(sql`select 2`);
      const span = one(h.spans(), `SELECT ${role}`);
      expect(span.attributes).toMatchObject({ 'anypg.stale_connections_replaced': 1, 'anypg.connection.opened': true });
      const acquire = one(h.spans(), 'anypg.acquire');
      expect(acquire.attributes['anypg.stale_connections_replaced']).toBe(1);
      expect(childrenOf(h.spans(), acquire).map((s) => s.name)).toEqual(['anypg.connect']);
      expect(db.$stats().staleReplaced).toBe(1);
    } finally {
      await db.$close();
      await h.shutdown();
    }
  });

  it('a caller that queued for a busy pool shows its wait', async () => {
    const h = otelHarness();
    // Without pipelining (a pooler's setting): the second statement waits for the connection.
    const db = createDb({ url, env: {}, pool: { max: 1 }, pipeline: false, telemetry: h.telemetry });
    try {
      await db.execute(sql`select 1`);
      h.reset();
      await Promise.all([db.execute(sql`select pg_sleep(0.05)`), db.execute(sql`select 2`)]);
      const acquire = one(h.spans(), 'anypg.acquire');
      expect(acquire.attributes).toEqual({ 'anypg.acquire.queued': true });
      const waited = h.spans().find((s) => s.spanContext().spanId === acquire.parentSpanContext?.spanId)!;
      expect(waited.attributes['db.query.text']).toBe('select ?');
      // It waited for the other statement's 50 ms sleep (a lower bound: no timer can shorten it).
      expect(waited.attributes['anypg.acquire_wait_ms']).toBeGreaterThan(25);
    } finally {
      await db.$close();
      await h.shutdown();
    }
  });

  it('a read sent again after its connection broke shows the retry; a write shows outcome unknown', async () => {
    const h = otelHarness();
    const db = createDb({ url: proxyUrl, env: {}, telemetry: h.telemetry });
    try {
      await db.execute(sql`select 1`);
      h.reset();
      proxy.killAfterNextClientChunk();
      expect((await db.execute<{ n: number }>(sql`select 7 as n`)).rows).toEqual([{ n: 7 }]);
      const read = one(h.spans(), `SELECT ${role}`);
      expect(read.attributes).toMatchObject({ 'anypg.retry_count': 1, 'anypg.connection.opened': true });
      expect(read.status.code).toBe(0);

      h.reset();
      proxy.killAfterNextClientChunk();
      const err = await db.execute(sql`update notes set body = body where id = 1`).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OutcomeUnknownError);
      const write = one(h.spans(), 'UPDATE notes');
      expect(write.attributes).toMatchObject({ 'anypg.outcome_unknown': true, 'error.type': 'OUTCOME_UNKNOWN' });
      expect(write.attributes['anypg.retry_count']).toBeUndefined();
      expect(write.status).toEqual({ code: 2, message: 'OUTCOME_UNKNOWN' });
    } finally {
      await db.$close();
      await h.shutdown();
    }
  });

  it('inside the driver call other tracing is suppressed, with the key @opentelemetry/core uses', async () => {
    // The key anypg makes with createContextKey is the one core's suppressTracing sets.
    expect(isTracingSuppressed(suppressTracing(otel.ROOT_CONTEXT))).toBe(true);
    const seen: boolean[] = [];
    const h = otelHarness();
    const db = createDb({ url, env: {}, telemetry: h.telemetry });
    // A pg Client whose query reports whether tracing was suppressed when it was called.
    await db.execute(sql`select 1`);
    const pg = (await import('pg')).default;
    const original = pg.Client.prototype.query;
    pg.Client.prototype.query = function (this: unknown, ...args: unknown[]) {
      seen.push(isTracingSuppressed(otel.context.active()));
      return (original as (...a: unknown[]) => unknown).apply(this, args);
    } as typeof original;
    try {
      await db.execute(sql`select 2`);
    } finally {
      pg.Client.prototype.query = original;
      await db.$close();
      await h.shutdown();
    }
    expect(seen).toEqual([true]);
  });
});

describe('metrics', () => {
  it('pool and operation metrics under the semantic conventions names, plus anypg counters', async () => {
    const h = otelHarness();
    const db = createDb({ url, env: {}, pool: { max: 1, acquireTimeoutMs: 200 }, telemetry: h.telemetry });
    try {
      for (let i = 0; i < 3; i++) await db.execute(sql`select ${i}::int`);
      // A caller waits while a transaction holds the only connection, and gives up.
      let release!: () => void;
      const holding = new Promise<void>((r) => (release = r));
      let entered!: () => void;
      const inside = new Promise<void>((r) => (entered = r));
      const tx = db.transaction(async (t) => {
        await t.execute(sql`select 1`);
        entered();
        await holding;
      });
      await inside;
      const waiting = db.execute(sql`select 'waits'`).catch((e: unknown) => e);
      const pool = 'db.client.connection.pool.name';
      const poolName = `${new URL(url).hostname}:${new URL(url).port}/${role}`;
      const pending = await h.points('db.client.connection.pending_requests');
      expect(pending).toEqual([{ attributes: { [pool]: poolName, 'anypg.backend': 'pg' }, value: 1 }]);
      const counts = await h.points('db.client.connection.count');
      expect(counts.map((p) => [p.attributes['db.client.connection.state'], p.value])).toEqual([
        ['idle', 0],
        ['used', 1],
      ]);
      expect((await waiting) as Error).toMatchObject({ code: 'POOL_EXHAUSTED' });
      release();
      await tx;

      expect(await h.points('db.client.connection.max')).toMatchObject([{ value: 1 }]);
      expect(await h.points('db.client.connection.timeouts')).toMatchObject([{ value: 1 }]);
      expect(await h.points('anypg.client.connections.opened')).toMatchObject([{ value: 1 }]);
      const circuit = await h.points('anypg.client.circuit.state');
      expect(Object.fromEntries(circuit.map((p) => [p.attributes['anypg.circuit.state'], p.value]))).toEqual({
        closed: 1,
        open: 0,
        'half-open': 0,
      });
      const waits = await h.points('db.client.connection.wait_time');
      expect(waits).toHaveLength(1);
      // Three statements and the transaction's BEGIN; the caller that timed out got no connection.
      expect((waits[0]!.value as { count: number }).count).toBe(4);
      const creates = await h.points('db.client.connection.create_time');
      expect((creates[0]!.value as { count: number }).count).toBe(1);

      const durations = await h.points('db.client.operation.duration');
      const byOp = Object.fromEntries(
        durations.map((p) => [
          `${p.attributes['db.operation.name']}${p.attributes['error.type'] ? ` ${p.attributes['error.type']}` : ''}`,
          (p.value as { count: number }).count,
        ]),
      );
      expect(byOp).toEqual({ SELECT: 4, BEGIN: 1, COMMIT: 1, 'SELECT POOL_EXHAUSTED': 1 });
      expect(durations[0]!.attributes).toMatchObject({ 'db.system.name': 'postgresql', 'db.namespace': role });
    } finally {
      await db.$close();
      await h.shutdown();
    }
  });

  it('$close stops observing the pool', async () => {
    // Delta temporality: a series that is no longer observed has no point in the next collection.
    const h = otelHarness({}, AggregationTemporality.DELTA);
    const db = createDb({ url, env: {}, telemetry: h.telemetry });
    await db.execute(sql`select 1`);
    expect(await h.points('anypg.client.connections.opened')).toMatchObject([{ value: 1 }]);
    expect(await h.points('anypg.client.connections.opened')).toMatchObject([{ value: 0 }]);
    await db.$close();
    expect(await h.points('anypg.client.connections.opened')).toEqual([]);
    await h.shutdown();
  });
});

describe('an SDK registered after createDb', () => {
  it('gets the spans from then on (the API without an SDK records nothing, and costs a check)', async () => {
    const db = createDb({ url, env: {}, telemetry: openTelemetry(otel) });
    const h = otelHarness();
    try {
      await db.execute(sql`select 1`);
      expect(h.spans()).toEqual([]);
      expect(otel.trace.setGlobalTracerProvider(h.tracerProvider)).toBe(true);
      await db.execute(sql`select 2`);
      expect(h.spans().map((s) => s.name)).toEqual([`SELECT ${role}`]);
    } finally {
      otel.trace.disable();
      await db.$close();
      await h.shutdown();
    }
  });
});

describe('configuration', () => {
  it('telemetry: false, or anything that is not openTelemetry(api), is refused clearly or turns it off', () => {
    expect(() => createDb({ url, env: {}, telemetry: { api: otel } as never })).toThrow(/openTelemetry\(api\)/);
    expect(() => createDb({ url, env: {}, telemetry: false })).not.toThrow();
  });
});
