// The `pg` backend: node-postgres over TCP, through the freeze-aware pool.
//
// Retry rules (the reason this file exists):
//   - a connection that is found dead before the statement is written is replaced and the
//     statement sent on the new one (it never reached the server);
//   - a connection that breaks after the statement was written: a statement whose text is a plain
//     read outside a transaction is sent once more, inside BEGIN READ ONLY ... COMMIT, so that the
//     resend cannot write even if the text hides a write (a function that inserts). If that resend
//     does not complete, the first send may have taken effect: OutcomeUnknownError. Anything else
//     fails with OutcomeUnknownError at once and is never replayed;
//   - at most one retry per statement; inside a transaction, none (the server rolled it back).
import type pg from 'pg';
import {
  AnypgError,
  abortedError,
  ConnectionLostError,
  DatabaseError,
  databaseErrorFrom,
  isPostgresError,
  OutcomeUnknownError,
  QueryTimeoutError,
} from '../../errors.js';
import type { QueryEventSink } from '../../observe/events.js';
import type { Interval, Trace } from '../../observe/trace.js';
import type { CircuitBreaker } from '../../resilience/breaker.js';
import { isReplaySafe, READ_ONLY_VIOLATION } from '../../resilience/replay.js';
import { beginStatement } from '../../transport/begin.js';
import type {
  Executor,
  PoolStats,
  QueryResult,
  Statement,
  TransactionConfig,
  Transport,
} from '../../transport/contract.js';
import type { BackendInfo, Capabilities } from '../../transport/info.js';
import { parsersFor, type TypeParserSource } from '../../types/parsing.js';
import {
  type Conn,
  type Counters,
  connectionOf,
  FreezeAwarePool,
  type PoolSettings,
  socketUsable,
  TOO_MANY_CONNECTIONS,
} from './pool.js';
import { type PgPoolView, poolView } from './pool-view.js';

/** How long a cancelled statement may take to end before its connection is closed instead. */
const CANCEL_GRACE_MS = 2000;
/** The most an answer to an aborted caller waits for the CancelRequest to be handed over. */
const CANCEL_HANDOFF_MS = 100;

/** A pg-compatible driver: node-postgres, or the Neon driver's WebSocket Client (a pg.Client subclass). */
export interface PgDriver {
  Client: new (config: pg.ClientConfig) => pg.Client;
  types: TypeParserSource;
}

export interface PgTransportOptions {
  pool: PoolSettings;
  /** Loads the driver on first use (a dynamic import, so importing anypg loads no driver). */
  driver: () => Promise<PgDriver>;
  /** Options for each client, password excluded. */
  client: pg.ClientConfig;
  /** A string, or a function called for each new connection (IAM tokens). */
  password: string | undefined | (() => Promise<string>);
  /** Sends a CancelRequest for a running statement; without it, a timed-out connection is closed instead. */
  cancel?: (host: string, port: number, processID: number, secretKey: number) => Promise<void>;
  /** Prepared statement names are dropped (poolers in transaction mode cannot keep them). */
  namedStatements?: boolean;
  /** Called before each statement; a message is reported once per distinct statement as a warning. */
  guard?: (sql: string) => { code: string; message: string } | undefined;
  /** Client-side limit for one statement; the statement is cancelled on the server when it passes. */
  queryTimeoutMs: number | undefined;
  /** Warn when a transaction holds its connection longer than this. */
  leakWarningMs: number | undefined;
  breaker: CircuitBreaker | undefined;
  events: QueryEventSink;
  info: BackendInfo;
  /** The name query events carry. Default 'pg'. */
  backendName?: string;
}

/**
 * Connection-level failure (socket closed or reset, connection timeout): no answer from the server.
 * Told apart from a server's error (it has a SQLSTATE and severity) and from a client-side error
 * such as a parameter pg cannot serialise (the connection is still fine then).
 */
function isConnectionFailure(err: unknown, conn: Conn): boolean {
  if (err instanceof AnypgError || isPostgresError(err)) return false;
  return conn.broken || !socketUsable(conn.client);
}

export class PgTransport implements Transport {
  readonly info: BackendInfo;
  readonly capabilities: Capabilities;
  readonly #pool: FreezeAwarePool;
  readonly #opts: PgTransportOptions;
  readonly #counters: Counters = { opened: 0, staleReplaced: 0, acquireTimeouts: 0, retries: 0, outcomeUnknown: 0 };

  constructor(opts: PgTransportOptions) {
    this.#opts = opts;
    this.info = opts.info;
    this.capabilities = {
      interactiveTransactions: true,
      savepoints: true,
      batchAtomic: true,
      batchRoundTrips: (n) => n + 2,
      namedStatements: opts.namedStatements !== false,
      maxConnections: opts.pool.max,
      withAuth: false,
    };
    this.#pool = new FreezeAwarePool(opts.pool, () => this.#connect(), opts.breaker, this.#counters);
  }

  #types: TypeParserSource | undefined;
  /** When each connection was opened, until a statement's trace reports it (telemetry). */
  readonly #connectTimes = new WeakMap<pg.Client, Interval>();
  /** counters.staleReplaced as last reported to a trace. */
  #staleReported = 0;

  /**
   * Opens a connection. A server that refuses it for want of a slot (53300 too many clients, as a
   * fan-out of Lambda containers meets first) or because it is starting up (57P03) is asked again
   * with jittered backoff until connectTimeoutMs is spent: nothing was sent, so trying is safe.
   */
  async #connect(): Promise<pg.Client> {
    const driver = await this.#opts.driver();
    this.#types ??= driver.types;
    const password = this.#opts.password;
    const budgetMs = this.#opts.client.connectionTimeoutMillis || 5_000;
    const deadline = Date.now() + budgetMs;
    // The server's refusal, once seen, is the reason to report: a later attempt that runs out of
    // time only happened because of it.
    let refusal: unknown;
    for (let attempt = 0; ; attempt++) {
      // The password is handed over through a function so it is not a plain field of the config.
      const client = new driver.Client({
        ...this.#opts.client,
        connectionTimeoutMillis: Math.max(1, deadline - Date.now()),
        password: typeof password === 'function' ? password : () => password ?? '',
      });
      // Until the pool attaches its own, keep an early socket error from crashing the process.
      client.on('error', () => {});
      try {
        const start = performance.now();
        await client.connect();
        this.#connectTimes.set(client, { start, end: performance.now() });
        return client;
      } catch (err) {
        if (refusal !== undefined && !isPostgresError(err)) throw refusal;
        const wait = connectBackoffMs(attempt);
        // Another attempt only while it has time to log in; else the refusal is the answer.
        if (!serverBusy(err) || Date.now() + wait + MIN_CONNECT_ATTEMPT_MS >= deadline) throw err;
        refusal = err;
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  stats(): PoolStats {
    return { ...this.#pool.stats(), ...this.#counters, circuit: this.#opts.breaker?.state ?? 'closed' };
  }

  close(): Promise<void> {
    return this.#pool.end();
  }

  /** `db.$client`: a pg.Pool-shaped view of this pool (pool-view.ts). */
  client(): PgPoolView {
    return poolView(this.#pool, () => this.close());
  }

  async query(stmt: Statement): Promise<QueryResult> {
    const started = performance.now();
    let retried = false;
    // An earlier attempt wrote the statement to a connection that then broke: it may have run.
    let maybeRan = false;
    try {
      for (;;) {
        const conn = await this.#acquire(stmt.signal, stmt.trace);
        const sent = socketUsable(conn.client);
        try {
          if (!sent) throw new Error('connection was closed while idle');
          const result = maybeRan ? await this.#runReadOnly(conn, stmt) : await this.#run(conn, stmt);
          this.#pool.release(conn);
          this.#emit(stmt, started, retried, result);
          return result;
        } catch (err) {
          if (sent && !isConnectionFailure(err, conn)) {
            // The server answered, or anypg stopped waiting (a timeout or the caller's signal, with
            // the statement cancelled): the connection is in a known state. After a client-side
            // error (pg refused a parameter) pg may have sent half a message: close it.
            const clientSide = !(isPostgresError(err) || err instanceof AnypgError);
            this.#pool.release(conn, clientSide);
            if (maybeRan) throw this.#resendFailed(mapError(err));
            if (clientSide) {
              throw new AnypgError(
                'INVALID_STATEMENT',
                `The statement could not be sent: ${(err as Error).message}. Check the types of its parameters.`,
                { cause: err },
              );
            }
            throw err;
          }
          this.#pool.release(conn, true);
          if (!retried && (!sent || isReplaySafe(stmt.text))) {
            retried = true;
            maybeRan = sent;
            this.#counters.retries++;
            stmt.trace?.retried();
            continue;
          }
          throw this.#lost(err, sent || maybeRan);
        }
      }
    } catch (err) {
      const mapped = mapError(err);
      this.#emit(stmt, started, retried, undefined, mapped);
      throw mapped;
    }
  }

  /**
   * The resend of a read whose first send may have run: inside a READ ONLY transaction, so it cannot
   * write. A statement that completes there is a read, and its result stands even if the COMMIT of
   * that empty transaction is lost.
   */
  async #runReadOnly(conn: Conn, stmt: Statement): Promise<QueryResult> {
    const control = (text: string): Statement => ({
      text,
      params: [],
      rowMode: 'array',
      parse: 'raw',
      ...(stmt.signal && { signal: stmt.signal }),
    });
    await this.#run(conn, control('begin read only'));
    let result: QueryResult;
    try {
      result = await this.#run(conn, stmt);
    } catch (err) {
      // The server refused it: end the read-only transaction. Anything else (a timeout, a broken
      // connection) leaves the connection in that transaction: close it rather than wait.
      if (isPostgresError(err)) await this.#run(conn, control('rollback')).catch(() => undefined);
      else conn.broken = true;
      throw err;
    }
    await this.#run(conn, control('commit')).catch(() => {
      conn.broken = true;
    });
    return result;
  }

  /** The read-only resend did not complete: whether the first send took effect cannot be known. */
  #resendFailed(err: AnypgError): OutcomeUnknownError {
    this.#counters.outcomeUnknown++;
    const writes = err instanceof DatabaseError && err.sqlstate === READ_ONLY_VIOLATION;
    return new OutcomeUnknownError(
      writes
        ? 'The connection broke after the statement was sent, and the statement writes (run again read-only, it failed with SQLSTATE 25006), so the first send may have taken effect. anypg does not replay writes. Check the data before running it again.'
        : `The connection broke after the statement was sent; run again read-only to be safe, it failed too (${err.code}), so whether the first send took effect is unknown. Check the data before running it again.`,
      err,
    );
  }

  async transaction<T>(
    fn: (tx: Executor) => Promise<T>,
    config?: TransactionConfig,
    signal?: AbortSignal,
    trace?: Trace,
  ): Promise<T> {
    const conn = await this.#beginOnFreshConnection(config, signal, trace);
    const leak = this.#leakTimer();
    let finished = false;
    const tx: Executor = {
      query: async (stmt) => {
        if (finished) {
          throw new AnypgError(
            'UNSUPPORTED',
            'This transaction has already ended: a query ran after its callback returned. Await every query inside db.transaction().',
          );
        }
        const started = performance.now();
        try {
          const r = await this.#run(conn, stmt);
          this.#emit(stmt, started, false, r);
          return r;
        } catch (err) {
          const mapped = isConnectionFailure(err, conn)
            ? new ConnectionLostError(
                'The connection broke inside a transaction. The server rolls back an unfinished transaction when its connection ends, so nothing of it was kept: it is safe to run the whole transaction again.',
                err,
              )
            : mapError(err);
          this.#emit(stmt, started, false, undefined, mapped);
          throw mapped;
        }
      },
    };
    try {
      let result: T;
      try {
        result = await fn(tx);
      } catch (err) {
        finished = true;
        await this.#rollback(conn, trace);
        throw err;
      }
      finished = true;
      await this.#commit(conn, trace);
      return result;
    } finally {
      clearTimeout(leak);
    }
  }

  /** BEGIN is safe to send again: on a connection that turns out dead, retry once on a new one. */
  async #beginOnFreshConnection(config?: TransactionConfig, signal?: AbortSignal, trace?: Trace): Promise<Conn> {
    const begin: Statement = { text: beginStatement(config), params: [], rowMode: 'array', parse: 'raw' };
    if (signal) begin.signal = signal;
    for (let attempt = 0; ; attempt++) {
      const conn = await this.#acquire(signal, trace);
      try {
        if (!socketUsable(conn.client)) throw new Error('connection was closed while idle');
        await this.#runInternal(conn, begin, trace);
        return conn;
      } catch (err) {
        if (socketUsable(conn.client) && !isConnectionFailure(err, conn)) {
          this.#pool.release(conn);
          throw mapError(err);
        }
        this.#pool.release(conn, true);
        if (attempt > 0) throw this.#lost(err, false);
        this.#counters.retries++;
        trace?.retried();
      }
    }
  }

  async #commit(conn: Conn, trace: Trace | undefined): Promise<void> {
    try {
      await this.#runInternal(conn, { text: 'commit', params: [], rowMode: 'array', parse: 'raw' }, trace);
      this.#pool.release(conn);
    } catch (err) {
      if (!isConnectionFailure(err, conn)) {
        // The server refused the COMMIT (serialization failure, deferred constraint): it rolled back.
        this.#pool.release(conn);
        throw mapError(err);
      }
      this.#pool.release(conn, true);
      this.#counters.outcomeUnknown++;
      throw new OutcomeUnknownError(
        'COMMIT was sent but the connection broke before the server confirmed it: the transaction may or may not have been committed. anypg does not replay it. Check the data before running it again.',
        err,
      );
    }
  }

  async #rollback(conn: Conn, trace: Trace | undefined): Promise<void> {
    if (!socketUsable(conn.client)) {
      this.#pool.release(conn, true);
      return;
    }
    try {
      await this.#runInternal(conn, { text: 'rollback', params: [], rowMode: 'array', parse: 'raw' }, trace);
      this.#pool.release(conn);
    } catch {
      this.#pool.release(conn, true);
    }
  }

  #leakTimer(): ReturnType<typeof setTimeout> | undefined {
    const ms = this.#opts.leakWarningMs;
    if (!ms) return undefined;
    const since = Date.now();
    const t = setTimeout(() => {
      this.#opts.events.warn({
        code: 'CONNECTION_HELD',
        message: `A transaction has held its connection for ${Date.now() - since} ms (pool.leakWarningMs is ${ms}). Is a transaction waiting on something slow, or was a query left un-awaited?`,
      });
    }, ms);
    t.unref?.();
    return t;
  }

  /** A connection broke and the statement will not be sent again. */
  #lost(err: unknown, mayHaveRun: boolean): AnypgError {
    if (!mayHaveRun) {
      return new ConnectionLostError(
        'The database connection broke twice in a row before the statement could be sent; it did not take effect. Check the database and network, then retry.',
        err,
      );
    }
    this.#counters.outcomeUnknown++;
    return new OutcomeUnknownError(
      'The connection broke after the statement was sent, so it may or may not have taken effect. anypg does not replay statements that can write. Check the data before running it again.',
      err,
    );
  }

  /** pool.acquire; with telemetry, also what the statement's trace shows (the wait, a new or replaced connection). */
  #acquire(signal: AbortSignal | undefined, trace: Trace | undefined): Promise<Conn> {
    if (!trace) return this.#pool.acquire(signal);
    return this.#acquireTraced(signal, trace);
  }

  async #acquireTraced(signal: AbortSignal | undefined, trace: Trace): Promise<Conn> {
    const start = performance.now();
    const before = this.#pool.stats();
    const conn = await trace.quiet(() => this.#pool.acquire(signal));
    // Opened for this call (not earlier, by an untraced one).
    let connect = this.#connectTimes.get(conn.client);
    if (connect) this.#connectTimes.delete(conn.client);
    if (connect && connect.start < start) connect = undefined;
    // Connections found dead since the last report, at checkout or while idle (an 'end' from the
    // server read just before this call, after a thaw): this caller is the one that had to replace
    // them. Exact with one caller at a time (Lambda), approximate with several.
    const staleReplaced = this.#counters.staleReplaced - this.#staleReported;
    this.#staleReported = this.#counters.staleReplaced;
    trace.acquired(start, performance.now(), {
      staleReplaced,
      connect,
      queued: before.idle === 0 && before.total >= this.#opts.pool.max,
    });
    return conn;
  }

  /** A statement anypg sends by itself (BEGIN, COMMIT, ROLLBACK), reported to the trace. */
  async #runInternal(conn: Conn, stmt: Statement, trace: Trace | undefined): Promise<QueryResult> {
    if (!trace) return this.#run(conn, stmt);
    const start = performance.now();
    try {
      const r = await this.#run(conn, { ...stmt, trace });
      trace.internal(stmt.text, start, performance.now());
      return r;
    } catch (err) {
      trace.internal(stmt.text, start, performance.now(), err);
      throw err;
    }
  }

  /** One statement on one connection, bounded by the query timeout and the caller's signal. */
  #run(conn: Conn, stmt: Statement): Promise<QueryResult> {
    const config: pg.QueryConfig & { rowMode?: 'array' } = {
      text: stmt.text,
      values: stmt.params as unknown[],
    };
    if (stmt.name && this.#opts.namedStatements !== false) config.name = stmt.name;
    if (this.#opts.guard) this.#checkGuard(stmt.text);
    if (stmt.rowMode === 'array') config.rowMode = 'array';
    if (stmt.parse === 'builder') (config as { types?: unknown }).types = parsersFor(this.#types!, 'builder');
    const signal = stmt.signal;
    if (signal?.aborted) return Promise.reject(abortedError(signal));
    const trace = stmt.trace;
    const sent = trace
      ? trace.quiet(() => uninstrumentedQuery(conn.client).call(conn.client, config) as unknown)
      : conn.client.query(config);
    const shaped = (sent as unknown as Promise<pg.QueryResult>).then(shape);
    const limit = this.#opts.queryTimeoutMs;
    if (!limit && !signal) return shaped;
    return new Promise<QueryResult>((resolve, reject) => {
      let settled = false;
      // Past the deadline: answer, and cancel the statement on the server in the background.
      const stop = (err: AnypgError, waitForHandoff: boolean) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const cancelled = this.#cancel(conn);
        // The connection returns to the pool once the cancelled statement has ended, or is closed
        // if the server does not end it within the grace period. Nobody waits for that.
        let graceOver!: () => void;
        const grace = setTimeout(() => {
          conn.broken = true;
          graceOver();
        }, CANCEL_GRACE_MS);
        grace.unref?.();
        const ended = () => clearTimeout(grace);
        conn.settling = Promise.race([shaped.then(ended, ended), new Promise<void>((r) => (graceOver = r))]);
        if (!waitForHandoff) {
          finish(() => reject(err));
          return;
        }
        // The caller's deadline (a Lambda's remaining time, say): answer once the CancelRequest is
        // handed to the server, so a container frozen right after the answer still sends it, but
        // never more than CANCEL_HANDOFF_MS later (a blackholed server takes the connect timeout).
        const bound = setTimeout(() => finish(() => reject(err)), CANCEL_HANDOFF_MS);
        void cancelled.finally(() => {
          clearTimeout(bound);
          finish(() => reject(err));
        });
      };
      const finish = (f: () => void) => {
        if (settled) return;
        settled = true;
        f();
      };
      const onAbort = () => stop(abortedError(signal!), true);
      signal?.addEventListener('abort', onAbort, { once: true });
      const timer = limit
        ? setTimeout(
            () =>
              stop(
                new QueryTimeoutError(
                  `The statement did not finish within queryTimeoutMs (${limit} ms): anypg stopped waiting and asked the server to cancel it. Whether a write took effect is unknown.`,
                ),
                false,
              ),
            limit,
          )
        : undefined;
      shaped.then(
        (r) => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          finish(() => resolve(r));
        },
        (e) => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          // Cancelled because the caller's deadline passed: say that, not "statement timeout".
          finish(() => reject(signal?.aborted ? abortedError(signal) : e));
        },
      );
    });
  }

  async #cancel(conn: Conn): Promise<void> {
    const c = conn.client as unknown as {
      processID: number | null;
      secretKey: number | null;
      host: string;
      port: number;
    };
    if (!this.#opts.cancel || c.processID === null || c.secretKey === null) {
      // No way to cancel here (an edge runtime): close the connection; the server ends the statement.
      conn.broken = true;
      connectionOf(conn.client)?.destroy();
      return;
    }
    await this.#opts.cancel(c.host, c.port, c.processID, c.secretKey);
  }

  readonly #warned = new Set<string>();

  #checkGuard(text: string): void {
    if (this.#warned.has(text) || this.#warned.size > 1000) return;
    const hazard = this.#opts.guard!(text);
    if (!hazard) return;
    this.#warned.add(text);
    this.#opts.events.warn({ code: 'POOLER_UNSAFE_STATEMENT', message: hazard.message });
  }

  #emit(stmt: Statement, started: number, retried: boolean, result?: QueryResult, error?: AnypgError): void {
    this.#opts.events.statement(this.#opts.backendName ?? 'pg', stmt, started, retried, result, error);
  }
}

/**
 * Client#query without instrumentation-pg's wrapper, when anypg's own telemetry is on: anypg
 * records the span and db.client.operation.duration itself, and the wrapper would record a second
 * duration (its metric ignores the suppressed context) and, with enhancedDatabaseReporting, the
 * parameter values. OpenTelemetry's instrumentations wrap with shimmer, which keeps the original
 * function as `__original`.
 */
function uninstrumentedQuery(client: pg.Client): (config: pg.QueryConfig) => unknown {
  const query = client.query as unknown as ((config: pg.QueryConfig) => unknown) & {
    __wrapped?: boolean;
    __original?: unknown;
  };
  return query.__wrapped === true && typeof query.__original === 'function'
    ? (query.__original as (config: pg.QueryConfig) => unknown)
    : query;
}

/**
 * Several statements in one text without parameters (the simple protocol) give one result each:
 * anypg returns the last, as psql shows it. (Neon and the Data API refuse such texts.)
 */
function shape(result: pg.QueryResult | pg.QueryResult[]): QueryResult {
  const r = Array.isArray(result) ? result[result.length - 1]! : result;
  return {
    command: r.command,
    rowCount: r.rowCount,
    fields: r.fields.map((f) => ({ name: f.name, dataTypeID: f.dataTypeID })),
    rows: r.rows,
  };
}

/** The least time left in connectTimeoutMs worth another connect attempt (a login takes a few ms). */
const MIN_CONNECT_ATTEMPT_MS = 150;

/** The server refused the connection for a moment: no slot free, or still starting up. */
function serverBusy(err: unknown): boolean {
  return isPostgresError(err) && (err.code === TOO_MANY_CONNECTIONS || err.code === '57P03');
}

/** Full jitter over an exponential ceiling (25 ms doubling to 1 s): a fan-out does not retry in step. */
function connectBackoffMs(attempt: number): number {
  return Math.round(Math.random() * Math.min(1_000, 25 * 2 ** attempt));
}

function mapError(err: unknown): AnypgError {
  if (err instanceof AnypgError) return err;
  if (isPostgresError(err)) return databaseErrorFrom(err);
  return new ConnectionLostError('The database connection failed.', err);
}
