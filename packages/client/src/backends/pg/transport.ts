// The `pg` backend: node-postgres over TCP, through the freeze-aware pool.
//
// Retry rules (the reason this file exists):
//   - a connection that is found dead before the statement is written is replaced and the
//     statement sent on the new one (it never reached the server);
//   - a connection that breaks after the statement was written: a plain read outside a
//     transaction is sent once more; anything else fails with OutcomeUnknownError and is never
//     replayed, because it may have taken effect;
//   - at most one retry per statement; inside a transaction, none (the server rolled it back).
import type pg from 'pg';
import {
  AnypgError,
  abortedError,
  ConnectionLostError,
  databaseErrorFrom,
  isPostgresError,
  OutcomeUnknownError,
  QueryTimeoutError,
} from '../../errors.js';
import type { QueryEventSink } from '../../observe/events.js';
import type { CircuitBreaker } from '../../resilience/breaker.js';
import { isReplaySafe } from '../../resilience/replay.js';
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
import { type Conn, type Counters, connectionOf, FreezeAwarePool, type PoolSettings, socketUsable } from './pool.js';

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
    };
    this.#pool = new FreezeAwarePool(opts.pool, () => this.#connect(), opts.breaker, this.#counters);
  }

  #types: TypeParserSource | undefined;

  async #connect(): Promise<pg.Client> {
    const driver = await this.#opts.driver();
    this.#types ??= driver.types;
    const password = this.#opts.password;
    // The password is handed over through a function so it is not a plain field of the config.
    const client = new driver.Client({
      ...this.#opts.client,
      password: typeof password === 'function' ? password : () => password ?? '',
    });
    // Until the pool attaches its own, keep an early socket error from crashing the process.
    client.on('error', () => {});
    await client.connect();
    return client;
  }

  stats(): PoolStats {
    return { ...this.#pool.stats(), ...this.#counters, circuit: this.#opts.breaker?.state ?? 'closed' };
  }

  close(): Promise<void> {
    return this.#pool.end();
  }

  async query(stmt: Statement): Promise<QueryResult> {
    const started = performance.now();
    let retried = false;
    try {
      for (;;) {
        const conn = await this.#pool.acquire(stmt.signal);
        const sent = socketUsable(conn.client);
        try {
          if (!sent) throw new Error('connection was closed while idle');
          const result = await this.#run(conn, stmt);
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
            this.#counters.retries++;
            continue;
          }
          throw this.#lost(err, sent, stmt);
        }
      }
    } catch (err) {
      const mapped = mapError(err);
      this.#emit(stmt, started, retried, undefined, mapped);
      throw mapped;
    }
  }

  async transaction<T>(fn: (tx: Executor) => Promise<T>, config?: TransactionConfig, signal?: AbortSignal): Promise<T> {
    const conn = await this.#beginOnFreshConnection(config, signal);
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
        await this.#rollback(conn);
        throw err;
      }
      finished = true;
      await this.#commit(conn);
      return result;
    } finally {
      clearTimeout(leak);
    }
  }

  /** BEGIN is safe to send again: on a connection that turns out dead, retry once on a new one. */
  async #beginOnFreshConnection(config?: TransactionConfig, signal?: AbortSignal): Promise<Conn> {
    const begin: Statement = { text: beginStatement(config), params: [], rowMode: 'array', parse: 'raw' };
    if (signal) begin.signal = signal;
    for (let attempt = 0; ; attempt++) {
      const conn = await this.#pool.acquire(signal);
      try {
        if (!socketUsable(conn.client)) throw new Error('connection was closed while idle');
        await this.#run(conn, begin);
        return conn;
      } catch (err) {
        if (socketUsable(conn.client) && !isConnectionFailure(err, conn)) {
          this.#pool.release(conn);
          throw mapError(err);
        }
        this.#pool.release(conn, true);
        if (attempt > 0) throw this.#lost(err, false, begin);
        this.#counters.retries++;
      }
    }
  }

  async #commit(conn: Conn): Promise<void> {
    try {
      await this.#run(conn, { text: 'commit', params: [], rowMode: 'array', parse: 'raw' });
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

  async #rollback(conn: Conn): Promise<void> {
    if (!socketUsable(conn.client)) {
      this.#pool.release(conn, true);
      return;
    }
    try {
      await this.#run(conn, { text: 'rollback', params: [], rowMode: 'array', parse: 'raw' });
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

  #lost(err: unknown, sent: boolean, stmt: Statement): AnypgError {
    if (!sent || isReplaySafe(stmt.text)) {
      return new ConnectionLostError(
        'The database connection broke twice in a row before the statement could complete; it did not take effect. Check the database and network, then retry.',
        err,
      );
    }
    this.#counters.outcomeUnknown++;
    return new OutcomeUnknownError(
      'The connection broke after the statement was sent, so it may or may not have taken effect. anypg does not replay statements that can write. Check the data before running it again.',
      err,
    );
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
    const shaped = (conn.client.query(config) as unknown as Promise<pg.QueryResult>).then(shape);
    const limit = this.#opts.queryTimeoutMs;
    if (!limit && !signal) return shaped;
    return new Promise<QueryResult>((resolve, reject) => {
      let settled = false;
      // Cancel on the server, then give it a moment to answer (57014) before giving up on the connection.
      const stop = (err: AnypgError) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const cancelled = this.#cancel(conn);
        // The connection returns to the pool once the cancelled statement has ended, or is closed
        // if the server does not confirm the cancel within the grace period.
        let graceOver!: () => void;
        const grace = setTimeout(() => {
          conn.broken = true;
          graceOver();
          finish(() => reject(err));
        }, 2000);
        conn.settling = Promise.race([
          shaped.then(
            () => clearTimeout(grace),
            () => clearTimeout(grace),
          ),
          new Promise<void>((r) => (graceOver = r)),
        ]);
        // The caller's deadline: answer once the CancelRequest has been handed to the server, not
        // before (a Lambda frozen right after the answer would otherwise never send it).
        if (signal?.aborted) void cancelled.finally(() => finish(() => reject(err)));
      };
      const finish = (f: () => void) => {
        if (settled) return;
        settled = true;
        f();
      };
      const onAbort = () => stop(abortedError(signal!));
      signal?.addEventListener('abort', onAbort, { once: true });
      const timer = limit
        ? setTimeout(
            () =>
              stop(
                new QueryTimeoutError(
                  `The statement did not finish within queryTimeoutMs (${limit} ms) and the server did not confirm the cancel; the connection was closed. Whether a write took effect is unknown.`,
                ),
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

function mapError(err: unknown): AnypgError {
  if (err instanceof AnypgError) return err;
  if (isPostgresError(err)) return databaseErrorFrom(err);
  return new ConnectionLostError('The database connection failed.', err);
}
