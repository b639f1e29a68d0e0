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
//
// Round trips (the floor of each path):
//   - statements outside a transaction from concurrent callers are pipelined on one connection
//     where that is safe (a direct connection; not through a transaction-mode pooler, which can hand
//     the server connection to another client while part of a pipeline is still on it): written
//     behind each other in one flight, each with its own Sync, so each succeeds or fails alone.
//     When the connection breaks, each applies the rules above for itself: the reads among them
//     get the read-only resend, every other one is OutcomeUnknownError;
//   - a transaction's BEGIN travels with its first statement as one unit (group.ts): a transaction
//     of k statements costs k + 1 round trips with its COMMIT, and none at all if it runs nothing;
//   - db.batch() is one unit: BEGIN, the statements, COMMIT, in one round trip, atomic.
// Timeouts and cancels on a pipelined connection follow wire.ts: a cancel never hits a statement
// someone else still waits for.
import type pg from 'pg';
import {
  AnypgError,
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
import { holdsSeveralStatements, isReplaySafe, READ_ONLY_VIOLATION } from '../../resilience/replay.js';
import { batchInTransaction } from '../../transport/batch-in-transaction.js';
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
import type { TypeParserSource } from '../../types/parsing.js';
import { type GroupFailure, groupSupportFor } from './group.js';
import {
  type Conn,
  type Counters,
  FreezeAwarePool,
  type PoolSettings,
  socketUsable,
  TOO_MANY_CONNECTIONS,
} from './pool.js';
import { type PgPoolView, poolView } from './pool-view.js';
import { Wire } from './wire.js';

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
  /**
   * How many statement texts each connection keeps prepared under anypg's own names (the server
   * then parses and plans each once per connection). 0 or absent: none. Only where named
   * statements survive: a direct connection.
   */
  statementCache?: number;
  /**
   * Pipeline statements of concurrent callers on one connection (where the driver can: pg >= 8.21's
   * pipeline mode). Off through transaction-mode poolers. Default false.
   */
  pipeline?: boolean;
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

const control = (text: string, signal?: AbortSignal): Statement => ({
  text,
  params: [],
  rowMode: 'array',
  parse: 'raw',
  ...(signal && { signal }),
});

export class PgTransport implements Transport {
  readonly info: BackendInfo;
  readonly capabilities: Capabilities;
  readonly #pool: FreezeAwarePool;
  readonly #wire: Wire;
  readonly #opts: PgTransportOptions;
  readonly #counters: Counters = { opened: 0, staleReplaced: 0, acquireTimeouts: 0, retries: 0, outcomeUnknown: 0 };
  /** Loaded with the driver: statements can be pipelined on a shared connection. */
  #pipelining = false;
  #loaded: Promise<PgDriver> | undefined;
  #driver: PgDriver | undefined;
  /** When each connection was opened, until a statement's trace reports it (telemetry). */
  readonly #connectTimes = new WeakMap<pg.Client, Interval>();
  /** counters.staleReplaced as last reported to a trace. */
  #staleReported = 0;

  constructor(opts: PgTransportOptions) {
    this.#opts = opts;
    this.info = opts.info;
    this.capabilities = {
      interactiveTransactions: true,
      savepoints: true,
      batchAtomic: true,
      // One unit: BEGIN, the statements and COMMIT in one flight (n + 2 only for a statement
      // holding several statements, which needs the simple protocol).
      batchRoundTrips: () => 1,
      namedStatements: opts.namedStatements !== false,
      maxConnections: opts.pool.max,
      withAuth: false,
    };
    this.#pool = new FreezeAwarePool(opts.pool, () => this.#connect(), opts.breaker, this.#counters);
    this.#wire = new Wire({
      pool: this.#pool,
      queryTimeoutMs: opts.queryTimeoutMs,
      cancel: opts.cancel,
      namedStatements: opts.namedStatements !== false,
      statementCache: opts.namedStatements === false ? 0 : opts.statementCache,
      check: opts.guard ? (text) => this.#checkGuard(text) : undefined,
    });
  }

  /** The driver, loaded once; with it, what the wire can do (units, pipelining). */
  #load(): Promise<PgDriver> {
    this.#loaded ??= this.#opts.driver().then(
      (driver) => {
        this.#driver = driver;
        this.#wire.types = driver.types;
        this.#wire.group = groupSupportFor(driver.Client);
        // pg's pipeline mode: a client option it keeps as a property (older pg ignores it).
        if (this.#opts.pipeline && this.#wire.group) {
          const probe = new driver.Client({ pipeline: true } as pg.ClientConfig) as unknown as { pipeline?: boolean };
          this.#pipelining = probe.pipeline === true;
        }
        return driver;
      },
      (err: unknown) => {
        this.#loaded = undefined;
        throw err;
      },
    );
    return this.#loaded;
  }

  /**
   * Opens a connection. A server that refuses it for want of a slot (53300 too many clients, as a
   * fan-out of Lambda containers meets first) or because it is starting up (57P03) is asked again
   * with jittered backoff until connectTimeoutMs is spent: nothing was sent, so trying is safe.
   */
  async #connect(): Promise<pg.Client> {
    const driver = await this.#load();
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
        ...(this.#wire.group && { pipeline: true }),
        connectionTimeoutMillis: Math.max(1, deadline - Date.now()),
        password: typeof password === 'function' ? password : () => password ?? '',
      } as pg.ClientConfig);
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
      if (!this.#driver) await this.#load();
      // A parameter pg cannot send fails here, before any connection is involved.
      const mapped = this.#wire.mapParams(stmt);
      for (;;) {
        const shared = this.#pipelining && !maybeRan;
        const conn = await this.#acquire(stmt.signal, stmt.trace, shared);
        const sent = socketUsable(conn.client);
        try {
          if (!sent) throw new Error('connection was closed while idle');
          if (shared) this.#wire.coalesce(conn);
          const result = maybeRan ? (await this.#runReadOnly(conn, [mapped]))[0]! : await this.#wire.run(conn, mapped);
          this.#pool.release(conn);
          this.#emit(stmt, started, retried, result);
          return result;
        } catch (err) {
          if (sent && !retried && !maybeRan && isStalePlan(err) && this.#wire.forgetCached(conn, stmt.text)) {
            // The cached statement's plan no longer fits after DDL: refused before it ran.
            this.#pool.release(conn);
            retried = true;
            continue;
          }
          if (sent && !isConnectionFailure(err, conn)) {
            // The server answered, or anypg stopped waiting (a timeout or the caller's signal; the
            // statement is left to the cancel rules): the connection is in a known state. After a
            // client-side error (pg refused something the mapping let through) pg may have sent
            // half a message: close it.
            const clientSide = !(isPostgresError(err) || err instanceof AnypgError);
            this.#pool.release(conn, clientSide && !shared);
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
   * The resend of reads whose first send may have run: one unit inside a READ ONLY transaction, so
   * it cannot write. A statement that completes there is a read, and its result stands.
   */
  async #runReadOnly(conn: Conn, stmts: Statement[]): Promise<QueryResult[]> {
    const signal = stmts[0]?.signal;
    const owner = {};
    if (this.#wire.group && !stmts.some(needsSimpleProtocol)) {
      try {
        const results = await this.#wire.runUnit(
          conn,
          [control('begin read only'), ...stmts, control('commit')],
          owner,
          signal,
        );
        return results.slice(1, -1);
      } catch (err) {
        // Refused inside the transaction: end it. A timeout or a broken connection leaves the
        // connection in that transaction: close it rather than wait.
        const failedAt = (err as GroupFailure).partIndex;
        if (isPostgresError(err) && failedAt !== undefined && failedAt > 0 && failedAt <= stmts.length) {
          await this.#wire.run(conn, control('rollback'), owner).catch(() => {
            conn.broken = true;
          });
        } else if (!isPostgresError(err)) conn.broken = true;
        throw err;
      }
    }
    await this.#wire.run(conn, control('begin read only', signal), owner);
    const results: QueryResult[] = [];
    try {
      for (const s of stmts) results.push(await this.#wire.run(conn, s, owner));
    } catch (err) {
      if (isPostgresError(err)) await this.#wire.run(conn, control('rollback'), owner).catch(() => undefined);
      else conn.broken = true;
      throw err;
    }
    await this.#wire.run(conn, control('commit'), owner).catch(() => {
      conn.broken = true;
    });
    return results;
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

  /**
   * db.batch(): BEGIN, the statements and COMMIT as one unit, in one round trip. Atomic: the server
   * skips everything after a failed statement, COMMIT included.
   */
  async batch(stmts: Statement[], trace?: Trace): Promise<QueryResult[]> {
    if (stmts.length === 0) return [];
    if (!this.#driver) await this.#load();
    if (!this.#wire.group || stmts.some(needsSimpleProtocol)) return this.#batchInTransaction(stmts, trace);
    const started = performance.now();
    const signal = stmts.find((s) => s.signal)?.signal;
    let mapped: Statement[];
    try {
      mapped = stmts.map((s) => this.#wire.mapParams(s));
    } catch (err) {
      this.#emitAll(stmts, started, false, undefined, err as AnypgError);
      throw err;
    }
    let maybeRan = false;
    let retried = false;
    try {
      for (;;) {
        const conn = await this.#acquire(signal, trace, false);
        const sent = socketUsable(conn.client);
        try {
          if (!sent) throw new Error('connection was closed while idle');
          const results = maybeRan
            ? await this.#runReadOnly(conn, mapped)
            : (
                await this.#wire.runUnit(conn, [control('begin'), ...mapped, control('commit')], undefined, signal)
              ).slice(1, -1);
          this.#pool.release(conn);
          this.#emitAll(stmts, started, retried, results);
          return results;
        } catch (err) {
          if (sent && !isConnectionFailure(err, conn)) {
            if (maybeRan) {
              this.#pool.release(conn);
              throw this.#resendFailed(mapError(err));
            }
            await this.#endFailedUnit(conn, err, mapped.length);
            throw err;
          }
          this.#pool.release(conn, true);
          if (!retried && (!sent || mapped.every((s) => isReplaySafe(s.text)))) {
            retried = true;
            maybeRan = sent;
            this.#counters.retries++;
            trace?.retried();
            continue;
          }
          throw this.#lost(err, sent || maybeRan);
        }
      }
    } catch (err) {
      const e = mapError(err);
      this.#emitAll(stmts, started, retried, undefined, e);
      throw e;
    }
  }

  /**
   * A batch unit failed with the connection still up. Refused by the server inside the transaction
   * (a statement after BEGIN): it is aborted, roll it back. Refused at BEGIN or at COMMIT: nothing is
   * open. Given up (a timeout, a deadline): the unit may still be running mid-transaction, so the
   * connection is closed once it is let go (the server rolls back whatever it had not committed).
   */
  async #endFailedUnit(conn: Conn, err: unknown, n: number): Promise<void> {
    if (!isPostgresError(err)) {
      this.#pool.release(conn, true);
      return;
    }
    const at = (err as unknown as GroupFailure).partIndex ?? 1;
    if (at > 0 && at <= n) {
      try {
        await this.#wire.run(conn, control('rollback'));
      } catch {
        this.#pool.release(conn, true);
        return;
      }
    }
    this.#pool.release(conn);
  }

  /** The batch as statements in a transaction, where one unit cannot carry them. */
  #batchInTransaction(stmts: Statement[], trace: Trace | undefined): Promise<QueryResult[]> {
    return batchInTransaction(this, stmts, stmts.find((s) => s.signal)?.signal, trace);
  }

  async transaction<T>(
    fn: (tx: Executor) => Promise<T>,
    config?: TransactionConfig,
    signal?: AbortSignal,
    trace?: Trace,
  ): Promise<T> {
    const begin = beginStatement(config);
    if (!this.#driver) await this.#load();
    let conn = await this.#acquire(signal, trace, false);
    /** Whether `conn` is still held by this transaction (a replaced one is let go). */
    let held = true;
    const owner = {};
    const leak = this.#leakTimer();
    let begun = false;
    let finished = false;
    /** Why the transaction cannot go on (a statement given up, the connection lost). */
    let broken: AnypgError | undefined;
    /** Statements of this transaction written to the connection so far. */
    let written = 0;

    const lostInside = (err: unknown) =>
      new ConnectionLostError(
        'The connection broke inside a transaction. The server rolls back an unfinished transaction when its connection ends, so nothing of it was kept: it is safe to run the whole transaction again.',
        err,
      );

    /**
     * Runs statements of the transaction; the first ones carry BEGIN. A connection that broke under
     * the first unit is replaced once: nothing of the transaction can have been kept (no COMMIT was
     * sent), as long as nothing else of it had been written.
     */
    const send = async (stmts: Statement[]): Promise<QueryResult[]> => {
      if (finished) {
        throw new AnypgError(
          'UNSUPPORTED',
          'This transaction has already ended: a query ran after its callback returned. Await every query inside db.transaction().',
        );
      }
      if (broken) throw broken;
      const first = !begun;
      begun = true;
      const mapped = stmts.map((s) => this.#wire.mapParams(s));
      for (let attempt = 0; ; attempt++) {
        written++;
        const usable = socketUsable(conn.client);
        try {
          if (!usable) throw new Error('connection was closed while idle');
          return await this.#runInTransaction(conn, owner, mapped, first ? begin : undefined, signal, trace);
        } catch (err) {
          if (usable && !isConnectionFailure(err, conn)) {
            // A stale cached plan: parsed again next time (this transaction is aborted already).
            if (isStalePlan(err)) for (const s of stmts) this.#wire.forgetCached(conn, s.text);
            // A statement given up (timeout, deadline) may still be running: the transaction
            // cannot go on, it is rolled back when the callback ends.
            if (err instanceof QueryTimeoutError || (err instanceof AnypgError && err.code === 'ABORTED')) broken = err;
            throw err;
          }
          // Nothing else of the transaction was written (before or behind this unit): start over.
          if (first && attempt === 0 && written === 1 && !finished) {
            this.#pool.release(conn, true);
            held = false;
            this.#counters.retries++;
            trace?.retried();
            conn = await this.#acquire(signal, trace, false);
            held = true;
            written = 0;
            continue;
          }
          broken = lostInside(err);
          throw broken;
        }
      }
    };

    const tx: Executor = {
      query: async (stmt) => {
        const started = performance.now();
        try {
          const [r] = await send([stmt]);
          this.#emit(stmt, started, false, r);
          return r!;
        } catch (err) {
          const mapped = mapError(err);
          this.#emit(stmt, started, false, undefined, mapped);
          throw mapped;
        }
      },
      batch: async (stmts) => {
        const started = performance.now();
        try {
          const results = await send(stmts);
          this.#emitAll(stmts, started, false, results);
          return results;
        } catch (err) {
          const mapped = mapError(err);
          this.#emitAll(stmts, started, false, undefined, mapped);
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
        if (held) await this.#rollback(conn, begun, owner, trace);
        throw err;
      }
      finished = true;
      if (!held) throw broken ?? lostInside(undefined);
      if (broken) {
        // The callback swallowed the error of a statement that cannot have been kept.
        await this.#rollback(conn, begun, owner, trace);
        throw broken;
      }
      await this.#commit(conn, begun, owner, trace);
      return result;
    } finally {
      clearTimeout(leak);
    }
  }

  /**
   * Statements of a transaction on its connection. With `begin`, they are its first: BEGIN goes in
   * the same unit (one round trip), unless a statement needs the simple protocol.
   */
  async #runInTransaction(
    conn: Conn,
    owner: object,
    stmts: Statement[],
    begin: string | undefined,
    signal: AbortSignal | undefined,
    trace: Trace | undefined,
  ): Promise<QueryResult[]> {
    const withSignal = (s: Statement): Statement => (signal && !s.signal ? { ...s, signal } : s);
    const group = this.#wire.group && !stmts.some(needsSimpleProtocol);
    if (group && (begin || stmts.length > 1)) {
      const unit = begin ? [control(begin), ...stmts] : stmts;
      const sig = stmts.find((s) => s.signal)?.signal ?? signal;
      if (!begin || !trace) {
        const results = await this.#wire.runUnit(conn, unit.map(withSignal), owner, sig);
        return begin ? results.slice(1) : results;
      }
      // BEGIN travels in the unit: the trace gets it as the statement anypg sent by itself.
      const start = performance.now();
      try {
        const results = await this.#wire.runUnit(conn, unit.map(withSignal), owner, sig);
        trace.internal(begin, start, performance.now());
        return results.slice(1);
      } catch (err) {
        trace.internal(begin, start, performance.now(), (err as GroupFailure).partIndex === 0 ? err : undefined);
        throw err;
      }
    }
    if (begin) await this.#runInternal(conn, withSignal(control(begin)), owner, trace);
    const results: QueryResult[] = [];
    for (const s of stmts) results.push(await this.#wire.run(conn, withSignal(s), owner));
    return results;
  }

  async #commit(conn: Conn, begun: boolean, owner: object | undefined, trace: Trace | undefined): Promise<void> {
    if (!begun) {
      // Nothing was sent: nothing to commit.
      this.#pool.release(conn);
      return;
    }
    if (!socketUsable(conn.client)) {
      // The COMMIT never left: the server rolled the transaction back when the connection ended.
      this.#pool.release(conn, true);
      throw new ConnectionLostError(
        'The connection broke before COMMIT could be sent: the server rolled the transaction back, nothing of it was kept. It is safe to run the whole transaction again.',
      );
    }
    let result: QueryResult;
    try {
      result = await this.#runInternal(conn, control('commit'), owner, trace);
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
    this.#pool.release(conn);
    if (result.command === 'ROLLBACK') {
      // COMMIT of a transaction that had failed: PostgreSQL answers ROLLBACK, not an error.
      throw new DatabaseError(
        'The transaction was rolled back, not committed: a statement in it had failed (its error was caught inside the transaction callback). Nothing of it was kept.',
        { sqlstate: '25P02' },
      );
    }
  }

  async #rollback(conn: Conn, begun: boolean, owner: object | undefined, trace: Trace | undefined): Promise<void> {
    if (!begun) {
      this.#pool.release(conn);
      return;
    }
    if (!socketUsable(conn.client)) {
      this.#pool.release(conn, true);
      return;
    }
    try {
      await this.#runInternal(conn, control('rollback'), owner, trace);
      this.#pool.release(conn);
    } catch {
      this.#pool.release(conn, true);
    }
  }

  /**
   * pool.acquire (or acquireShared for a pipelined statement); with telemetry, also what the
   * statement's trace shows (the wait, a new or replaced connection).
   */
  #acquire(signal: AbortSignal | undefined, trace: Trace | undefined, shared: boolean): Promise<Conn> {
    if (!trace) return shared ? this.#pool.acquireShared(signal) : this.#pool.acquire(signal);
    return this.#acquireTraced(signal, trace, shared);
  }

  async #acquireTraced(signal: AbortSignal | undefined, trace: Trace, shared: boolean): Promise<Conn> {
    const start = performance.now();
    const before = this.#pool.stats();
    // A pipelined statement that joins a busy connection does not queue for it.
    const joins = shared && before.idle === 0 && this.#pool.hasJoinable();
    const conn = await trace.quiet(() => (shared ? this.#pool.acquireShared(signal) : this.#pool.acquire(signal)));
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
      queued: !joins && before.idle === 0 && before.total >= this.#opts.pool.max,
    });
    return conn;
  }

  /** A statement anypg sends by itself (BEGIN, COMMIT, ROLLBACK), reported to the trace. */
  async #runInternal(
    conn: Conn,
    stmt: Statement,
    owner: object | undefined,
    trace: Trace | undefined,
  ): Promise<QueryResult> {
    if (!trace) return this.#wire.run(conn, stmt, owner);
    const start = performance.now();
    try {
      const r = await this.#wire.run(conn, { ...stmt, trace }, owner);
      trace.internal(stmt.text, start, performance.now());
      return r;
    } catch (err) {
      trace.internal(stmt.text, start, performance.now(), err);
      throw err;
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

  #emitAll(stmts: Statement[], started: number, retried: boolean, results?: QueryResult[], error?: AnypgError): void {
    stmts.forEach((s, i) => {
      this.#emit(s, started, retried, results?.[i], error);
    });
  }
}

/** SQLSTATE 0A000 "cached plan must not change result type": a prepared statement outlived a DDL change. */
function isStalePlan(err: unknown): boolean {
  return isPostgresError(err) && err.code === '0A000' && /cached plan/i.test(err.message);
}

/** A text without parameters that may hold several statements runs only through the simple protocol. */
function needsSimpleProtocol(stmt: Statement): boolean {
  return stmt.params.length === 0 && holdsSeveralStatements(stmt.text);
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
