// A client's transport with OpenTelemetry spans and metrics around every statement, transaction
// and batch (the database semantic conventions' names), whatever the backend.
//
// Spans:
//   - a statement: a CLIENT span named "SELECT notes" (operation and table), with db.system.name,
//     db.operation.name, db.collection.name, db.namespace, db.query.text (sanitised: no literal, and
//     parameter values are never in it), server.address, server.port, and on failure
//     db.response.status_code (the SQLSTATE) and error.type; plus anypg.backend, anypg.retry_count,
//     anypg.outcome_unknown, anypg.stale_connections_replaced, anypg.acquire_wait_ms;
//   - under it, from what the transport reports (observe/trace.ts): "anypg.acquire" when getting a
//     connection was not instant (a new connection, a stale one replaced, or a wait for a busy pool),
//     "anypg.connect" inside it for a new connection, "HTTP <call>" per request on HTTP backends;
//   - a transaction: an INTERNAL span, parent of its statements (BEGIN and COMMIT included), and the
//     active context inside the callback, so the caller's own spans nest under it too;
//   - a batch: "BATCH" with db.operation.batch.size; its statements under it where they are separate
//     round trips.
// A span's status message is the error's code (DATABASE 23505, OUTCOME_UNKNOWN), never its text:
// PostgreSQL's messages can quote a value ("invalid input syntax for type integer: ...").
//
// Other instrumentation of the same work (instrumentation-pg, which ADOT turns on by default; HTTP
// client instrumentations) is suppressed while the transport runs (Trace.quiet), with the
// suppress-tracing context key of @opentelemetry/core, so a statement is traced once. The key is
// created with the API's createContextKey, which is Symbol.for(description) so that every copy of
// the API and of core agrees on it.
import type { PoolStats, QueryResult, Statement, Transport } from '../../transport/contract.js';
import type { BackendInfo } from '../../transport/info.js';
import type { AcquireDetail, Trace } from '../trace.js';
import {
  type Attributes,
  type OtelApi,
  type OtelContext,
  type OtelMeter,
  type OtelSpan,
  type OtelTracer,
  SPAN_KIND_CLIENT,
  SPAN_KIND_INTERNAL,
  STATUS_ERROR,
} from './api.js';
import { type Instruments, instrumentsOf, observePool } from './metrics.js';
import { type StatementShape, shapeOf } from './sql.js';

export interface InstrumentOptions {
  queryText: boolean;
  poolName: string | undefined;
  /** The tracer is the API's global one (no tracerProvider option). */
  globalTracer: boolean;
}

const SUPPRESS_TRACING = 'OpenTelemetry SDK Context Key SUPPRESS_TRACING';
const INVALID_TRACE_ID = '00000000000000000000000000000000';

/** What every span and operation metric of one client shares. */
class ClientTelemetry {
  readonly suppressKey: symbol;
  readonly base: Attributes;
  readonly poolAttributes: Attributes;
  readonly instruments: Instruments;
  readonly #statementAttributes = new WeakMap<StatementShape, Attributes>();
  readonly #metricAttributes = new WeakMap<StatementShape, Attributes>();

  constructor(
    readonly api: OtelApi,
    readonly tracer: OtelTracer,
    meter: OtelMeter,
    info: BackendInfo,
    readonly options: InstrumentOptions,
  ) {
    this.#noopProvider =
      options.globalTracer && api.ProxyTracerProvider ? new api.ProxyTracerProvider().getDelegate() : undefined;
    this.suppressKey = api.createContextKey(SUPPRESS_TRACING);
    const where = whereOf(info);
    this.base = defined({
      'db.system.name': 'postgresql',
      'db.namespace': where.namespace,
      'server.address': where.address,
      'server.port': where.port,
      'anypg.backend': info.backend,
    });
    this.poolAttributes = {
      'db.client.connection.pool.name':
        options.poolName ??
        `${where.address ?? info.backend}${where.port ? `:${where.port}` : ''}/${where.namespace ?? ''}`,
      'anypg.backend': info.backend,
    };
    this.instruments = instrumentsOf(meter);
    // The API's no-op meter (no SDK registered when the client was made) hands out one shared
    // no-op instrument: then there is nothing to record, ever, for this client.
    this.metrics = this.instruments.operationDuration !== this.instruments.waitTime;
  }

  readonly metrics: boolean;
  /** The API's no-op tracer provider, when anypg uses the global one (no tracerProvider option). */
  readonly #noopProvider: unknown;

  /**
   * No SDK is registered (the global provider still delegates to the no-op one) and there is no
   * meter: nothing can record a statement. Checked before anything else, per statement, since an
   * SDK may be registered after createDb().
   */
  nothingRecords(): boolean {
    if (this.metrics || this.#noopProvider === undefined) return false;
    const provider = this.api.trace.getTracerProvider?.() as { getDelegate?(): unknown } | undefined;
    return provider?.getDelegate?.() === this.#noopProvider;
  }

  /**
   * Nothing records this operation: no SDK behind the tracer (a span with an invalid context, as
   * the API's no-op tracer makes) and no meter. The statement then runs as if telemetry were off,
   * which is what keeps an installed API without an SDK nearly free.
   */
  idle(op: Operation): boolean {
    return !op.recording && !this.metrics && op.span.spanContext().traceId === INVALID_TRACE_ID;
  }

  /** Span attributes known before the statement runs (samplers see them). */
  statementAttributes(shape: StatementShape): Attributes {
    let a = this.#statementAttributes.get(shape);
    if (!a) {
      a = defined({
        ...this.base,
        'db.operation.name': shape.operation,
        'db.collection.name': shape.collection,
        ...(this.options.queryText && shape.sanitized && { 'db.query.text': shape.sanitized }),
      });
      this.#statementAttributes.set(shape, a);
    }
    return a;
  }

  /** db.client.operation.duration's attributes for a statement that succeeded. */
  metricAttributes(shape: StatementShape): Attributes {
    let a = this.#metricAttributes.get(shape);
    if (!a) {
      a = defined({ ...this.base, 'db.operation.name': shape.operation, 'db.collection.name': shape.collection });
      this.#metricAttributes.set(shape, a);
    }
    return a;
  }

  recordOperation(shape: StatementShape, started: number, ended: number, error: unknown): void {
    const ok = this.metricAttributes(shape);
    const attributes = error === undefined ? ok : { ...ok, ...errorAttributes(error) };
    this.instruments.operationDuration.record((ended - started) / 1000, attributes);
  }
}

/** One span (statement, transaction, batch) and what the transport reports for it. */
class Operation implements Trace {
  readonly span: OtelSpan;
  readonly recording: boolean;
  #context: OtelContext | undefined;
  #quiet: OtelContext | undefined;
  retries = 0;
  waitMs = 0;
  staleReplaced = 0;
  opened = false;

  constructor(
    readonly client: ClientTelemetry,
    name: string,
    kind: number,
    attributes: Attributes,
    readonly parent: OtelContext,
    readonly started: number,
  ) {
    this.span = client.tracer.startSpan(name, { kind, attributes, startTime: at(started) }, parent);
    this.recording = this.span.isRecording();
  }

  /** The parent context with this span in it: for child spans and the transaction's callback. */
  get context(): OtelContext {
    this.#context ??= this.client.api.trace.setSpan(this.parent, this.span);
    return this.#context;
  }

  acquired(start: number, end: number, { staleReplaced, connect, queued }: AcquireDetail): void {
    const { instruments, poolAttributes } = this.client;
    instruments.waitTime.record((end - start) / 1000, poolAttributes);
    if (connect) instruments.createTime.record((connect.end - connect.start) / 1000, poolAttributes);
    this.waitMs += end - start;
    this.staleReplaced += staleReplaced;
    if (connect) this.opened = true;
    // An instant checkout of an idle connection gets no span of its own (the attribute says it).
    if (!this.recording || (!connect && staleReplaced === 0 && !queued)) return;
    const acquire = this.child('anypg.acquire', start, {
      ...(staleReplaced > 0 && { 'anypg.stale_connections_replaced': staleReplaced }),
      ...(connect && { 'anypg.connection.opened': true }),
      ...(queued && { 'anypg.acquire.queued': true }),
    });
    if (connect) {
      const ctx = this.client.api.trace.setSpan(this.context, acquire);
      this.client.tracer
        .startSpan('anypg.connect', { kind: SPAN_KIND_INTERNAL, startTime: at(connect.start) }, ctx)
        .end(at(connect.end));
    }
    acquire.end(at(end));
  }

  connected(start: number, end: number): void {
    this.client.instruments.createTime.record((end - start) / 1000, this.client.poolAttributes);
    this.opened = true;
    if (this.recording) this.child('anypg.connect', start).end(at(end));
  }

  http(start: number, end: number, call: string, status?: number): void {
    if (!this.recording) return;
    this.child(`HTTP ${call}`, start, {
      'http.request.method': 'POST',
      'anypg.http.call': call,
      ...(status !== undefined && { 'http.response.status_code': status }),
    }).end(at(end));
  }

  retried(): void {
    this.retries++;
  }

  internal(text: string, start: number, end: number, error?: unknown): void {
    const shape = shapeOf(text);
    this.client.recordOperation(shape, start, end, error);
    if (!this.recording) return;
    const span = this.client.tracer.startSpan(
      spanName(shape, this.client.base),
      { kind: SPAN_KIND_CLIENT, attributes: this.client.statementAttributes(shape), startTime: at(start) },
      this.context,
    );
    if (error !== undefined) failSpan(span, error);
    span.end(at(end));
  }

  quiet<T>(fn: () => T): T {
    this.#quiet ??= this.parent.setValue(this.client.suppressKey, true);
    return this.client.api.context.with(this.#quiet, fn);
  }

  /** Ends the span: what the transport reported, and the outcome. */
  finish(ended: number, error: unknown, extra?: Attributes): void {
    if (this.recording) {
      this.span.setAttributes({
        ...extra,
        ...(this.retries > 0 && { 'anypg.retry_count': this.retries }),
        ...(this.staleReplaced > 0 && { 'anypg.stale_connections_replaced': this.staleReplaced }),
        ...(this.waitMs > 0 && { 'anypg.acquire_wait_ms': round(this.waitMs) }),
        ...(this.opened && { 'anypg.connection.opened': true }),
      });
      if (error !== undefined) failSpan(this.span, error);
    }
    this.span.end(at(ended));
  }

  child(name: string, start: number, attributes?: Attributes): OtelSpan {
    return this.client.tracer.startSpan(
      name,
      { kind: SPAN_KIND_INTERNAL, attributes, startTime: at(start) },
      this.context,
    );
  }
}

export function instrument(
  inner: Transport,
  api: OtelApi,
  tracer: OtelTracer,
  meter: OtelMeter,
  options: InstrumentOptions,
): Transport {
  const client = new ClientTelemetry(api, tracer, meter, inner.info, options);
  let stopObserving: (() => void) | undefined = observePool(
    meter,
    client.instruments,
    inner,
    client.poolAttributes,
    inner.info.backend !== 'neon-http',
  );

  const statement = (
    stmt: Statement,
    parent: OtelContext,
    run: (s: Statement) => Promise<QueryResult>,
  ): Promise<QueryResult> => {
    if (client.nothingRecords()) return run(stmt);
    const started = performance.now();
    const shape = shapeOf(stmt.text);
    const op = new Operation(
      client,
      spanName(shape, client.base),
      SPAN_KIND_CLIENT,
      client.statementAttributes(shape),
      parent,
      started,
    );
    if (client.idle(op)) return run(stmt);
    return traced(op, shape, stmt, run);
  };

  const traced = async (
    op: Operation,
    shape: StatementShape,
    stmt: Statement,
    run: (s: Statement) => Promise<QueryResult>,
  ): Promise<QueryResult> => {
    let result: QueryResult | undefined;
    let error: unknown;
    try {
      result = await run({ ...stmt, trace: op });
      return result;
    } catch (err) {
      error = err;
      throw err;
    } finally {
      const ended = performance.now();
      client.recordOperation(shape, op.started, ended, error);
      op.finish(
        ended,
        error,
        op.recording && result && result.command === 'SELECT' && result.rowCount !== null
          ? { 'db.response.returned_rows': result.rowCount }
          : undefined,
      );
    }
  };
  const innerQuery = (s: Statement) => inner.query(s);

  const view: Transport = {
    info: inner.info,
    capabilities: inner.capabilities,
    query: (stmt) => statement(stmt, api.context.active(), innerQuery),

    async transaction(fn, config, signal) {
      const started = performance.now();
      const op = new Operation(client, 'transaction', SPAN_KIND_INTERNAL, client.base, api.context.active(), started);
      try {
        const result = await inner.transaction(
          (tx) =>
            api.context.with(op.context, () =>
              fn({
                query: (stmt) => statement(stmt, op.context, (s) => tx.query(s)),
                // A batch inside the transaction stays one round trip; it is reported on the transaction.
                ...(tx.batch && { batch: (stmts: Statement[]) => tx.batch!(stmts.map((s) => ({ ...s, trace: op }))) }),
              }),
            ),
          config,
          signal,
          op,
        );
        op.finish(performance.now(), undefined, { 'anypg.transaction.outcome': 'commit' });
        return result;
      } catch (err) {
        op.finish(performance.now(), err, { 'anypg.transaction.outcome': outcomeOf(err) });
        throw err;
      }
    },

    async batch(stmts) {
      const started = performance.now();
      const texts = stmts.map((s) => shapeOf(s.text));
      const oneRequest = typeof inner.batch === 'function';
      const collections = new Set(texts.map((t) => t.collection));
      const collection = collections.size === 1 ? [...collections][0] : undefined;
      const shape: StatementShape = {
        operation: 'BATCH',
        collection,
        sanitized: texts.map((t) => t.sanitized).join('; '),
      };
      const attributes: Attributes = defined({
        ...client.base,
        'db.operation.name': 'BATCH',
        'db.collection.name': collection,
        'db.operation.batch.size': stmts.length > 1 ? stmts.length : undefined,
        ...(options.queryText && { 'db.query.text': shape.sanitized.slice(0, 4096) }),
      });
      const op = new Operation(
        client,
        collection ? `BATCH ${collection}` : 'BATCH',
        oneRequest ? SPAN_KIND_CLIENT : SPAN_KIND_INTERNAL,
        attributes,
        api.context.active(),
        started,
      );
      let error: unknown;
      try {
        // The backend's own batch (one request on neon-http): what it sends is reported on the batch.
        if (oneRequest)
          return await inner.batch!(
            stmts.map((s) => ({ ...s, trace: op })),
            op,
          );
        // No one-request primitive: a transaction of the statements, each a span of its own.
        return await inner.transaction(
          async (tx) => {
            const results: QueryResult[] = [];
            for (const s of stmts) results.push(await statement(s, op.context, (x) => tx.query(x)));
            return results;
          },
          undefined,
          stmts[0]?.signal,
          op,
        );
      } catch (err) {
        error = err;
        throw err;
      } finally {
        const ended = performance.now();
        // A batch that is one request is one operation; otherwise its statements were recorded.
        if (oneRequest) client.recordOperation(shape, started, ended, error);
        op.finish(ended, error);
      }
    },

    stats: (): PoolStats => inner.stats(),
    close: async () => {
      stopObserving?.();
      stopObserving = undefined;
      await inner.close();
    },
  };
  // db.$client is the backend's own driver-level client, untraced (see the README).
  if (inner.client) view.client = () => inner.client!();
  return view;
}

/** The span name the conventions ask for: operation and table, else operation and database. */
function spanName(shape: StatementShape, base: Attributes): string {
  if (!shape.operation) return 'postgresql';
  const target = shape.collection ?? (base['db.namespace'] as string | undefined);
  return target ? `${shape.operation} ${target}` : shape.operation;
}

function errorAttributes(err: unknown): Attributes {
  const e = err as { sqlstate?: unknown; code?: unknown; name?: unknown; severity?: unknown } | undefined;
  // anypg's DatabaseError has `sqlstate`; a driver's error (a COMMIT refused) has it in `code`.
  const sqlstate =
    typeof e?.sqlstate === 'string'
      ? e.sqlstate
      : typeof e?.severity === 'string' && typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)
        ? e.code
        : undefined;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const name = typeof e?.name === 'string' ? e.name : undefined;
  return defined({
    'error.type': sqlstate ?? code ?? name ?? '_OTHER',
    'db.response.status_code': sqlstate,
  });
}

function failSpan(span: OtelSpan, err: unknown): void {
  const a = errorAttributes(err);
  const code = (err as { code?: unknown } | undefined)?.code;
  span.setAttributes({ ...a, ...(code === 'OUTCOME_UNKNOWN' && { 'anypg.outcome_unknown': true }) });
  // The code, never the message: PostgreSQL's messages can quote a parameter's value.
  const anypgCode = typeof code === 'string' && code !== a['db.response.status_code'] ? code : undefined;
  const message = [anypgCode, a['db.response.status_code']].filter(Boolean).join(' ') || String(a['error.type']);
  span.setStatus({ code: STATUS_ERROR, message });
}

function outcomeOf(err: unknown): string {
  return (err as { code?: unknown } | undefined)?.code === 'OUTCOME_UNKNOWN' ? 'unknown' : 'rollback';
}

/** server.address, server.port and db.namespace from what the backend says it connects to. */
export function whereOf(info: BackendInfo): { address?: string; port?: number; namespace?: string } {
  const target = info.target;
  if (/^postgres(ql)?:\/\//.test(target)) {
    try {
      const u = new URL(target);
      const port = u.port ? Number(u.port) : 5432;
      return {
        address: u.hostname.replace(/^\[|\]$/g, ''),
        port,
        namespace: decodeURIComponent(u.pathname.slice(1)) || undefined,
      };
    } catch {
      return {};
    }
  }
  // data-api: "<cluster ARN>[/database][ via <endpoint>]".
  const m = /^(arn:[^:]*:rds:([^:]*):[^\s/]*)(?:\/(\S+))?(?: via (\S+))?$/.exec(target);
  if (!m) return {};
  const [, , region, database, endpoint] = m;
  let address = region ? `rds-data.${region}.amazonaws.com` : undefined;
  let port = 443;
  if (endpoint) {
    try {
      const u = new URL(endpoint);
      address = u.hostname;
      port = u.port ? Number(u.port) : u.protocol === 'http:' ? 80 : 443;
    } catch {
      // keep the region's endpoint
    }
  }
  return { address, port, namespace: database };
}

function defined(a: Attributes): Attributes {
  for (const k of Object.keys(a)) if (a[k] === undefined) delete a[k];
  return a;
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;

/**
 * A performance.now() value as epoch milliseconds. The SDK would convert a performance.now() value
 * itself, but with a Date.now()-based offset taken per span (1 ms granularity), so a child could
 * start before its parent; epoch milliseconds are taken as they are.
 */
const at = (t: number) => performance.timeOrigin + t;
