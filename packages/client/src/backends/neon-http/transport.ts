// neon-http: SQL over HTTP with the Neon driver's neon() function.
//
// One statement is one HTTP request (on a kept-alive connection where the runtime pools them:
// Node's fetch does). batch() is one request too: the driver's transaction([...]), which the
// endpoint runs between BEGIN and COMMIT. An interactive transaction opens a WebSocket session for
// its duration, because a callback that reads and then writes needs one connection.
//
// The driver has no timeout and no retry: each request gets an AbortSignal (timeoutMs). A request
// that failed before it was sent is sent once more; so is a plain read whose answer was lost, as a
// one-query READ ONLY batch (Neon-Batch-Read-Only), so that the resend cannot write whatever its
// text hides (see resilience/replay.ts).

import { redactUrl } from '../../config/connection-string.js';
import type { NeonOptions } from '../../config/options.js';
import { resolvePoolOptions } from '../../config/options.js';
import type { BackendContext } from '../../core/context.js';
import {
  AnypgError,
  abortedError,
  ConfigurationError,
  ConnectionError,
  ConnectionLostError,
  DatabaseError,
  databaseErrorFrom,
  isPostgresError,
  OutcomeUnknownError,
  QueryTimeoutError,
} from '../../errors.js';
import type { Trace } from '../../observe/trace.js';
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
import { parsersFor } from '../../types/parsing.js';
import {
  checkNeonOptions,
  configuredClientClass,
  installRouter,
  loadNeon,
  type NeonModule,
  type Route,
  routeOptions,
} from '../neon/driver.js';

/** Loads the Node-only keep-alive fetch (the Node entry passes it; edge builds have none). */
export type KeepAliveLoader = () => Promise<typeof import('./keep-alive.js')>;

/**
 * What the Node entry adds (never in an edge bundle): HTTP keep-alive across invocations, and warm
 * WebSocket sessions for interactive transactions (neon-ws's pooled transport).
 */
export interface NodeExtras {
  keepAlive: KeepAliveLoader;
  sessions: (ctx: BackendContext) => Transport;
}

/** Runtimes where a socket may outlive the request that opened it. */
const WARM_SESSIONS: ReadonlySet<string> = new Set(['node', 'aws-lambda', 'bun', 'deno']);

interface NeonFullResult {
  command: string;
  rowCount: number | null;
  fields: Array<{ name: string; dataTypeID: number }>;
  rows: unknown[];
}

type NeonSql = ReturnType<NeonModule['neon']>;

/** What `db.$client` is on neon-http: the shape of the Neon driver's `neon()` function. */
export interface NeonHttpClientView {
  (strings: TemplateStringsArray, ...values: unknown[]): Promise<unknown>;
  query(text: string, params?: unknown[], options?: Record<string, unknown>): Promise<unknown>;
  transaction(queries: (sql: NeonSql) => unknown[], options?: Record<string, unknown>): Promise<unknown>;
}

export class NeonHttpTransport implements Transport {
  readonly info: BackendInfo;
  readonly capabilities: Capabilities = {
    interactiveTransactions: true,
    savepoints: true,
    batchAtomic: true,
    batchRoundTrips: () => 1,
    namedStatements: false,
    maxConnections: 1,
    withAuth: true,
  };
  readonly #url: string;
  readonly #opts: NeonOptions;
  readonly #route: Route;
  readonly #timeoutMs: number;
  readonly #ctx: BackendContext;
  readonly #counters = { requests: 0, retries: 0, outcomeUnknown: 0, sessions: 0 };
  #sql: NeonSql | undefined;
  /** Warm WebSocket sessions for interactive transactions (Node, Lambda), opened on first use. */
  #sessions: Transport | undefined;
  #neon: NeonModule | undefined;

  readonly #keepAliveLoader: KeepAliveLoader | undefined;
  #keepAlive: import('./keep-alive.js').KeepAliveFetch | undefined;
  readonly #openSessions: ((ctx: BackendContext) => Transport) | undefined;

  constructor(ctx: BackendContext, node?: NodeExtras) {
    this.#ctx = ctx;
    // Where a socket may outlive a request: Node's fetch drops a connection idle for 4 s (ours
    // keeps it longer), and transactions get warm sessions.
    const warm = node && WARM_SESSIONS.has(ctx.runtime.name) ? node : undefined;
    this.#keepAliveLoader = warm?.keepAlive;
    this.#openSessions = warm?.sessions;
    this.#url = ctx.rawUrl!;
    this.#opts = ctx.options.neon ?? {};
    const ssl = ctx.options.ssl;
    checkNeonOptions(this.#opts, typeof ssl === 'object' && !!ssl.allowUnencryptedRemote);
    this.#route = { endpoint: this.#opts.fetchEndpoint, fetch: this.#opts.fetch };
    this.#timeoutMs = this.#opts.timeoutMs ?? 30_000;
    this.info = {
      runtime: ctx.runtime.name,
      backend: 'neon-http',
      reason: ctx.resolution.reason,
      target: redactUrl(ctx.url!),
      tls: this.#opts.fetchEndpoint?.startsWith('http:') ? 'disable' : 'verify-full',
      pool: { max: 1, min: 0, idleTimeoutMs: 0, maxLifetimeMs: 0 },
    };
  }

  async #driver(): Promise<{ neon: NeonModule; sql: NeonSql }> {
    if (this.#keepAliveLoader && !this.#keepAlive && !this.#opts.fetch) {
      const { keepAliveFetch } = await this.#keepAliveLoader();
      if (!this.#keepAlive) {
        const idleMs = resolvePoolOptions(this.#ctx.options.pool, this.#ctx.runtime.name, 1).idleTimeoutMs;
        this.#keepAlive = keepAliveFetch(idleMs);
        this.#route.fetch = this.#keepAlive.fetch;
      }
    }
    this.#neon ??= await loadNeon('neon-http');
    const neon = this.#neon;
    installRouter(neon);
    // The URL was validated by anypg already: the driver's own error would print it, password and all.
    this.#sql ??= neon.neon(this.#url);
    return { neon, sql: this.#sql };
  }

  stats(): PoolStats {
    // HTTP requests hold no connection of ours; the warm WebSocket sessions do.
    const s = this.#sessions?.stats();
    return {
      total: s?.total ?? 0,
      idle: s?.idle ?? 0,
      waiting: s?.waiting ?? 0,
      opened: this.#counters.sessions + (s?.opened ?? 0),
      staleReplaced: s?.staleReplaced ?? 0,
      acquireTimeouts: s?.acquireTimeouts ?? 0,
      retries: this.#counters.retries + (s?.retries ?? 0),
      outcomeUnknown: this.#counters.outcomeUnknown + (s?.outcomeUnknown ?? 0),
      circuit: 'closed',
    };
  }

  async close(): Promise<void> {
    this.#keepAlive?.close();
    await this.#sessions?.close();
  }

  /** HTTP connections this client's keep-alive fetch opened (undefined where it uses the runtime's fetch). */
  httpConnectionsOpened(): number | undefined {
    return this.#keepAlive?.opened();
  }

  /**
   * `db.$client`: the Neon driver's query function for this database (a tagged template with
   * `query()` and `transaction(fn)`), loaded on its first call and routed to this client's
   * endpoint. It is the driver itself underneath: no anypg timeouts, retries or events.
   */
  client(): NeonHttpClientView {
    let real: Promise<NeonSql> | undefined;
    const load = () => {
      real ??= this.#driver().then(({ neon }) =>
        neon.neon(this.#url, { fetchOptions: routeOptions(this.#route, undefined) }),
      );
      return real;
    };
    const view = (async (strings: TemplateStringsArray, ...values: unknown[]) =>
      (await load())(strings, ...values)) as NeonHttpClientView;
    view.query = async (text, params, options) => (await load()).query(text, params, options as never);
    view.transaction = async (queries, options) => {
      if (typeof queries !== 'function') {
        throw new ConfigurationError(
          '$client',
          "db.$client.transaction() takes a function here ((sql) => [sql`...`, ...]): the queries must be built by the driver's own query function, which db.$client loads on first use.",
        );
      }
      return (await load()).transaction(queries as never, options as never);
    };
    return view;
  }

  async query(stmt: Statement): Promise<QueryResult> {
    const { neon, sql } = await this.#driver();
    // The driver reads an auth token for transaction() (the read-only resend) only from the query
    // function's own options: a statement under $withAuth gets a query function of its own.
    const q = stmt.authToken === undefined ? sql : neon.neon(this.#url, { authToken: stmt.authToken });
    const started = performance.now();
    // The first request may have reached the database: the resend runs read-only.
    let maybeRan = false;
    const trace = stmt.trace;
    for (let attempt = 0; ; attempt++) {
      const sent = performance.now();
      try {
        const options = {
          arrayMode: stmt.rowMode === 'array',
          fullResults: true,
          types: parsersFor(neon.types as never, stmt.parse) as never,
        };
        const fetchOptions = routeOptions(this.#route, this.#signal(stmt.signal));
        const request = async () =>
          maybeRan
            ? (
                (await q.transaction([q.query(stmt.text, stmt.params as unknown[], options)] as never, {
                  readOnly: true,
                  fetchOptions,
                })) as unknown as NeonFullResult[]
              )[0]!
            : ((await q.query(stmt.text, stmt.params as unknown[], {
                ...options,
                fetchOptions,
              })) as unknown as NeonFullResult);
        const r = await (trace ? trace.quiet(request) : request());
        trace?.http(sent, performance.now(), maybeRan ? 'transaction' : 'query', 200);
        const result = shape(r);
        this.#emit(stmt, started, attempt > 0, result);
        return result;
      } catch (err) {
        trace?.http(sent, performance.now(), maybeRan ? 'transaction' : 'query', httpStatusOf(err));
        const mapped = maybeRan ? this.#resendFailed(err, stmt) : this.#map(err, stmt, attempt);
        if (mapped === 'retry') {
          this.#counters.retries++;
          trace?.retried();
          maybeRan = !neverSent(err);
          continue;
        }
        this.#emit(stmt, started, attempt > 0, undefined, mapped);
        throw mapped;
      }
    }
  }

  /** The read-only resend failed: the first request's outcome is unknown. */
  #resendFailed(err: unknown, stmt: Statement): AnypgError {
    if (stmt.signal?.aborted) return abortedError(stmt.signal);
    const failure = isPostgresError(err) ? databaseErrorFrom(err) : err;
    this.#counters.outcomeUnknown++;
    const writes = failure instanceof DatabaseError && failure.sqlstate === READ_ONLY_VIOLATION;
    return new OutcomeUnknownError(
      writes
        ? 'The request to the Neon endpoint failed after it was sent, and the statement writes (run again read-only, it failed with SQLSTATE 25006), so the first request may have taken effect. anypg does not replay writes.'
        : 'The request to the Neon endpoint failed after it was sent; run again read-only to be safe, it failed too, so whether the first request took effect is unknown.',
      failure,
    );
  }

  /** The whole batch in one HTTP request, atomic. */
  async batch(stmts: Statement[], trace?: Trace): Promise<QueryResult[]> {
    const { neon, sql: shared } = await this.#driver();
    // The driver takes a batch's auth token only from the query function's own options.
    const authToken = stmts[0]?.authToken;
    const sql = authToken === undefined ? shared : neon.neon(this.#url, { authToken });
    const queries = stmts.map((s) =>
      sql.query(s.text, s.params as unknown[], {
        arrayMode: s.rowMode === 'array',
        fullResults: true,
        types: parsersFor(neon.types as never, s.parse) as never,
      }),
    );
    const sent = performance.now();
    try {
      const request = () =>
        sql.transaction(queries as never, {
          fetchOptions: routeOptions(this.#route, this.#signal(stmts[0]?.signal)),
        });
      const results = (await (trace ? trace.quiet(request) : request())) as unknown as NeonFullResult[];
      trace?.http(sent, performance.now(), 'transaction', 200);
      return results.map(shape);
    } catch (err) {
      trace?.http(sent, performance.now(), 'transaction', httpStatusOf(err));
      const mapped = this.#map(err, { text: 'begin', params: [], rowMode: 'array', parse: 'raw' }, 1);
      throw mapped === 'retry' ? new ConnectionLostError('The batch request failed before it was sent.', err) : mapped;
    }
  }

  /**
   * An interactive transaction needs a session: a WebSocket one. Where a socket may outlive a
   * request (Node, Lambda, Bun, Deno), sessions are kept warm between transactions in anypg's
   * freeze-aware pool (idle-bounded, judged by wall clock and socket state at checkout), and BEGIN
   * travels with the first statement: a warm transaction of k statements costs k + 1 round trips.
   * Elsewhere (Workers: I/O cannot cross requests), one session for the callback.
   */
  async transaction<T>(
    fn: (tx: Executor) => Promise<T>,
    config?: TransactionConfig,
    signal?: AbortSignal,
    trace?: Trace,
  ): Promise<T> {
    if (signal?.aborted) throw abortedError(signal);
    if (this.#openSessions) {
      this.#sessions ??= this.#openSessions(this.#ctx);
      return this.#sessions.transaction(fn, config, signal, trace);
    }
    const { neon } = await this.#driver();
    const Client = configuredClientClass(neon, this.#opts);
    const client = new Client({ connectionString: this.#url });
    client.on('error', () => {});
    const connecting = performance.now();
    try {
      await (trace ? trace.quiet(() => client.connect()) : client.connect());
      trace?.connected(connecting, performance.now());
    } catch (err) {
      throw new ConnectionError(
        `Could not open a WebSocket session to ${this.info.target}: ${(err as Error).message}`,
        err,
      );
    }
    this.#counters.sessions++;
    const run = async (stmt: Statement): Promise<QueryResult> => {
      try {
        const send = () =>
          client.query({
            text: stmt.text,
            values: stmt.params as unknown[],
            ...(stmt.rowMode === 'array' && { rowMode: 'array' as const }),
            types: parsersFor(neon.types as never, stmt.parse) as never,
          });
        const r = await (stmt.trace ? stmt.trace.quiet(send) : send());
        return shape(r as unknown as NeonFullResult);
      } catch (err) {
        if (isPostgresError(err)) throw databaseErrorFrom(err);
        throw new ConnectionLostError(
          'The WebSocket session broke inside a transaction; the server rolled it back, so it is safe to run the whole transaction again.',
          err,
        );
      }
    };
    // BEGIN, COMMIT, ROLLBACK: reported to the transaction's trace.
    const internal = async (text: string): Promise<void> => {
      const start = performance.now();
      try {
        await run({ text, params: [], rowMode: 'array', parse: 'raw', ...(trace && { trace }) });
        trace?.internal(text, start, performance.now());
      } catch (err) {
        trace?.internal(text, start, performance.now(), err);
        throw err;
      }
    };
    try {
      await internal(beginStatement(config));
      let result: T;
      try {
        result = await fn({ query: run });
      } catch (err) {
        await internal('rollback').catch(() => undefined);
        throw err;
      }
      try {
        await internal('commit');
      } catch (err) {
        if (err instanceof DatabaseError) throw err;
        this.#counters.outcomeUnknown++;
        throw new OutcomeUnknownError(
          'COMMIT was sent but the WebSocket session broke before the server confirmed it: the transaction may or may not have been committed.',
          err,
        );
      }
      return result;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  #signal(caller: AbortSignal | undefined): AbortSignal {
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    return caller ? AbortSignal.any([timeout, caller]) : timeout;
  }

  /** Maps a driver error, or says that sending again is safe. */
  #map(err: unknown, stmt: Statement, attempt: number): AnypgError | 'retry' {
    if (err instanceof AnypgError) return err;
    const e = err as { code?: unknown; message?: string; sourceError?: unknown; name?: string };
    if (isPostgresError(err)) return databaseErrorFrom(err);
    const source = e.sourceError as { name?: string } | undefined;
    if (stmt.signal?.aborted) return abortedError(stmt.signal);
    if (source?.name === 'TimeoutError' || source?.name === 'AbortError') {
      return new QueryTimeoutError(
        `No answer from the Neon endpoint within neon.timeoutMs (${this.#timeoutMs} ms). Whether a write took effect is unknown.`,
        err,
      );
    }
    const status = /HTTP status (\d+)/.exec(e.message ?? '')?.[1];
    // Refused or unresolvable: the request never left, so sending it again is safe.
    const notSent = neverSent(err);
    if (attempt === 0 && (notSent || (status !== '507' && isReplaySafe(stmt.text)))) return 'retry';
    if (status === '507') {
      return new AnypgError(
        'UNSUPPORTED',
        'The result is larger than the Neon endpoint returns over HTTP (10 MiB). Select fewer rows or columns, or page through them.',
        { cause: err },
      );
    }
    if (notSent) return new ConnectionError(`Could not reach the Neon endpoint for ${this.info.target}.`, err);
    this.#counters.outcomeUnknown++;
    return new OutcomeUnknownError(
      `The request to the Neon endpoint failed${status ? ` with HTTP ${status}` : ''} after it was sent, so the statement may or may not have taken effect. anypg does not replay writes.`,
      err,
    );
  }

  #emit(stmt: Statement, started: number, retried: boolean, result?: QueryResult, error?: AnypgError): void {
    this.#ctx.events.statement('neon-http', stmt, started, retried, result, error);
  }
}

/**
 * Network errors that happen before a request is written: nothing reached the endpoint. Looked for
 * anywhere in the cause chain (the driver wraps fetch's TypeError, which wraps the socket's error;
 * a name with several addresses gives an AggregateError of them).
 */
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_NONAME',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);

function neverSent(err: unknown, depth = 0): boolean {
  if (typeof err !== 'object' || err === null || depth > 6) return false;
  const e = err as { code?: unknown; cause?: unknown; sourceError?: unknown; errors?: unknown };
  if (typeof e.code === 'string' && NOT_SENT_CODES.has(e.code)) return true;
  if (Array.isArray(e.errors) && e.errors.length > 0 && e.errors.every((x) => neverSent(x, depth + 1))) return true;
  return neverSent(e.sourceError, depth + 1) || neverSent(e.cause, depth + 1);
}

/** The HTTP status the Neon driver put in its error message, when there was a response. */
function httpStatusOf(err: unknown): number | undefined {
  const status = /HTTP status (\d+)/.exec((err as { message?: string } | undefined)?.message ?? '')?.[1];
  if (status) return Number(status);
  // A PostgreSQL error: the endpoint answered 400 with the error's fields.
  return isPostgresError(err) ? 400 : undefined;
}

function shape(r: NeonFullResult): QueryResult {
  return {
    command: r.command,
    rowCount: r.rowCount,
    fields: r.fields.map((f) => ({ name: f.name, dataTypeID: f.dataTypeID })),
    rows: r.rows,
  };
}
