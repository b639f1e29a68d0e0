// Writing statements to one connection and waiting for their answers, each bounded by the query
// timeout and the caller's signal; and when a wait is given up, ending the statement on the server
// without touching anyone else's.
//
// A CancelRequest cancels whatever the backend is running when it arrives, not a statement of our
// choosing. With one statement on a connection that is the right one. With several pipelined on it
// (other callers' statements written behind the one that timed out, or ahead of it), a cancel sent
// for one can land on another: the one we wanted may finish just before the cancel arrives, and the
// server then runs the next. So a cancel is sent only when nobody waits for any statement on the
// connection: every one of them was given up (timed out, deadline passed), or belongs to the same
// transaction as the one being cancelled (which is failing anyway). Until then the statement runs
// on, the callers behind it wait within their own time limits, no new statement joins the
// connection (it drains), and when the last of them gives up the cancel goes out. A connection whose
// abandoned statements have not ended CANCEL_GRACE_MS after the cancel is closed; again only when
// nobody waits on it. Where no cancel can be sent (no cancel function, no backend key), closing the
// connection is the cancel, under the same rule.
//
// The server-side statement_timeout needs none of this: it ends exactly the statement that ran too
// long, pipelined or not.
import type pg from 'pg';
import { AnypgError, abortedError, QueryTimeoutError } from '../../errors.js';
import type { Trace } from '../../observe/trace.js';
import { holdsSeveralStatements } from '../../resilience/replay.js';
import type { QueryResult, Statement } from '../../transport/contract.js';
import { parsersFor, type TypeParserSource } from '../../types/parsing.js';
import type { GroupPart, GroupSupport } from './group.js';
import { type Conn, connectionOf, type Flight, type FreezeAwarePool } from './pool.js';

/** Texts worth preparing: one query or data change (not DDL, SET, transaction control...). */
const CACHEABLE = /^\s*(?:\(\s*)*(?:select|insert|update|delete|with|values|table|merge)\b/i;

/** How long a cancelled statement may take to end before its connection is closed instead. */
const CANCEL_GRACE_MS = 2000;
/** The most an answer to an aborted caller waits for the CancelRequest to be handed over. */
const CANCEL_HANDOFF_MS = 100;

export interface WireOptions {
  pool: FreezeAwarePool;
  queryTimeoutMs: number | undefined;
  /** Sends a CancelRequest; without it, closing the connection ends the statement. */
  cancel?: ((host: string, port: number, processID: number, secretKey: number) => Promise<void>) | undefined;
  namedStatements: boolean;
  /**
   * Statements prepared per connection under anypg's own names (0: none). The server parses and
   * plans a cached statement once per connection instead of on every call.
   */
  statementCache?: number | undefined;
  /** Called with each statement's text before it is written (pooler hazard warnings). */
  check?: ((text: string) => void) | undefined;
}

/** What the wire keeps per connection, beside the pool's bookkeeping. */
interface CancelState {
  /** The flight a cancel was sent for (one per flight). */
  target: Flight | undefined;
  grace: ReturnType<typeof setTimeout> | undefined;
}

export class Wire {
  readonly #opts: WireOptions;
  readonly #state = new WeakMap<Conn, CancelState>();
  types: TypeParserSource | undefined;
  group: GroupSupport | undefined;

  constructor(opts: WireOptions) {
    this.#opts = opts;
  }

  /** One statement. `owner` ties the statements of one transaction together; default: its own. */
  run(conn: Conn, stmt: Statement, owner?: object): Promise<QueryResult> {
    if (stmt.signal?.aborted) return Promise.reject(abortedError(stmt.signal));
    const config: pg.QueryConfig & { rowMode?: 'array' } = {
      text: stmt.text,
      values: stmt.params as unknown[],
    };
    if (stmt.name && this.#opts.namedStatements) config.name = stmt.name;
    else if (this.#opts.statementCache) {
      const name = this.#cachedName(conn, stmt.text);
      if (name) config.name = name;
    }
    this.#opts.check?.(stmt.text);
    if (stmt.rowMode === 'array') config.rowMode = 'array';
    if (stmt.parse === 'builder') (config as { types?: unknown }).types = parsersFor(this.types!, 'builder');
    return this.#send(conn, stmt.signal, owner, () =>
      (submit(conn, config, stmt.trace) as Promise<pg.QueryResult | pg.QueryResult[]>).then(shape),
    );
  }

  /**
   * Several statements as one unit (one Sync): the first failure stops the rest. Parameters must be
   * mapped already (mapParams). The results are the unit's, one per statement.
   */
  runUnit(conn: Conn, stmts: Statement[], owner: object | undefined, signal: AbortSignal | undefined) {
    if (signal?.aborted) return Promise.reject(abortedError(signal));
    const group = this.group!;
    const parts: GroupPart[] = stmts.map((s) => {
      this.#opts.check?.(s.text);
      const part: GroupPart = { text: s.text, values: s.params, rowMode: s.rowMode };
      if (s.parse === 'builder') part.types = parsersFor(this.types!, 'builder');
      return part;
    });
    return this.#send(
      conn,
      signal,
      owner,
      () =>
        new Promise<QueryResult[]>((resolve, reject) => {
          const query = group.create(parts, (err, results) =>
            err ? reject(err) : resolve(results!.map((r) => shape(r))),
          );
          submit(conn, query, stmts.find((st) => st.trace)?.trace);
        }),
    );
  }

  /**
   * The name a statement text is prepared under on this connection, or undefined to send it
   * unnamed. Only plain queries and data changes are cached (one statement, no utility commands);
   * a full cache takes no more (the connection's lifetime bounds it: maxLifetimeMs replaces it).
   */
  #cachedName(conn: Conn, text: string): string | undefined {
    const known = conn.prepared.get(text);
    if (known) return known;
    if (conn.prepared.size >= this.#opts.statementCache! || !CACHEABLE.test(text) || holdsSeveralStatements(text)) {
      return undefined;
    }
    const name = `anypg_s${++conn.preparedSeq}`;
    conn.prepared.set(text, name);
    return name;
  }

  /**
   * The server refused a cached statement because its plan no longer fits (SQLSTATE 0A000 "cached
   * plan must not change result type", after DDL changed a table it reads): forget it on this
   * connection, so the next call parses it again. The refused call did not run.
   */
  forgetCached(conn: Conn, text: string): boolean {
    const name = conn.prepared.get(text);
    if (!name) return false;
    conn.prepared.delete(text);
    // pg's own record of what it parsed: without it, pg would bind to the stale statement.
    const connection = (conn.client as unknown as { connection?: { parsedStatements?: Record<string, unknown> } })
      .connection;
    if (connection?.parsedStatements) delete connection.parsedStatements[name];
    // Drop the server's copy too (names are never reused, so this only frees memory).
    void this.#send(conn, undefined, undefined, () => conn.client.query(`deallocate "${name}"`)).catch(() => undefined);
    return true;
  }

  /** Maps parameters as pg will, before anything is written: a value pg cannot send fails here. */
  mapParams(stmt: Statement): Statement {
    const prepare = this.group?.prepareValue;
    if (!prepare || stmt.params.length === 0) return stmt;
    let params: unknown[];
    try {
      params = stmt.params.map((v) => prepare(v));
    } catch (err) {
      throw new AnypgError(
        'INVALID_STATEMENT',
        `The statement could not be sent: ${(err as Error).message}. Check the types of its parameters.`,
        { cause: err },
      );
    }
    return { ...stmt, params };
  }

  /** Statements written in this turn of the event loop leave in one write (one flight). */
  coalesce(conn: Conn): void {
    const stream = connectionOf(conn.client) as CorkableStream | undefined;
    if (!stream || conn.corked) return;
    holdWrites(stream);
    conn.corked = true;
    stream.cork?.();
    const flush = () => {
      conn.corked = false;
      stream.uncork?.();
    };
    if (typeof process !== 'undefined' && typeof process.nextTick === 'function') process.nextTick(flush);
    else queueMicrotask(flush);
  }

  /**
   * Registers the statement as in flight, waits for its answer within the query timeout and the
   * caller's signal, and when the wait is given up answers at once and leaves the statement to the
   * cancel rules above.
   */
  #send<T>(
    conn: Conn,
    signal: AbortSignal | undefined,
    owner: object | undefined,
    submit: () => Promise<T>,
  ): Promise<T> {
    const flight: Flight = { abandoned: false, owner: owner ?? {} };
    conn.flights.push(flight);
    let answer: Promise<T>;
    try {
      answer = submit();
    } catch (err) {
      this.#landed(conn, flight);
      return Promise.reject(err);
    }
    const landed = () => this.#landed(conn, flight);
    answer.then(landed, landed);
    const limit = this.#opts.queryTimeoutMs;
    if (!limit && !signal) return answer;
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const finish = (f: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        f();
      };
      const giveUp = (err: AnypgError, waitForHandoff: boolean) => {
        if (settled) return;
        flight.abandoned = true;
        // Nothing more joins this connection until everything on it has ended.
        conn.draining = true;
        const cancelled = this.#maybeCancel(conn);
        if (!waitForHandoff || !cancelled) {
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
      const onAbort = () => giveUp(abortedError(signal!), true);
      signal?.addEventListener('abort', onAbort, { once: true });
      const timer = limit
        ? setTimeout(
            () =>
              giveUp(
                new QueryTimeoutError(
                  `The statement did not finish within queryTimeoutMs (${limit} ms): anypg stopped waiting and asked the server to cancel it. Whether a write took effect is unknown.`,
                ),
                false,
              ),
            limit,
          )
        : undefined;
      answer.then(
        (r) => finish(() => resolve(r)),
        // Cancelled because the caller's deadline passed: say that, not "statement timeout".
        (e) => finish(() => reject(signal?.aborted ? abortedError(signal) : e)),
      );
    });
  }

  /** A statement was answered (or failed): the connection's wire state moved on. */
  #landed(conn: Conn, flight: Flight): void {
    const i = conn.flights.indexOf(flight);
    if (i >= 0) conn.flights.splice(i, 1);
    this.#maybeCancel(conn);
    this.#afterWireChange(conn);
  }

  #afterWireChange(conn: Conn): void {
    if (conn.flights.length === 0) {
      const state = this.#state.get(conn);
      if (state) {
        clearTimeout(state.grace);
        state.grace = undefined;
        state.target = undefined;
      }
    }
    this.#opts.pool.settle(conn);
  }

  /**
   * Sends a cancel for the statement the server is running, if that cannot hit a statement someone
   * still waits for. Returns the cancel's handoff when one was sent now.
   */
  #maybeCancel(conn: Conn): Promise<void> | undefined {
    if (conn.cancelling || conn.destroyed || conn.flights.length === 0) return undefined;
    const head = conn.flights[0]!;
    if (!head.abandoned) return undefined;
    // Someone else still waits for a statement on this connection: the cancel could land on it.
    if (conn.flights.some((f) => !f.abandoned && f.owner !== head.owner)) return undefined;
    let state = this.#state.get(conn);
    if (!state) {
      state = { target: undefined, grace: undefined };
      this.#state.set(conn, state);
    }
    if (state.target === head) return undefined; // one cancel per statement
    state.target = head;
    if (!state.grace) {
      // Past the grace period, close the connection (still only if nobody waits on it).
      state.grace = setTimeout(() => {
        state.grace = undefined;
        if (conn.flights.length === 0) return;
        if (conn.flights.some((f) => !f.abandoned && f.owner !== head.owner)) return;
        this.#close(conn);
      }, CANCEL_GRACE_MS);
      state.grace.unref?.();
    }
    const c = conn.client as unknown as {
      processID: number | null;
      secretKey: number | null;
      host: string;
      port: number;
    };
    const cancel = this.#opts.cancel;
    if (!cancel || c.processID === null || c.secretKey === null) {
      // No way to cancel here (an edge runtime): close the connection; the server ends the statement.
      this.#close(conn);
      return Promise.resolve();
    }
    const handoff = cancel(c.host, c.port, c.processID, c.secretKey).catch(() => undefined);
    conn.cancelling = handoff;
    void handoff.then(() => {
      conn.cancelling = undefined;
      this.#maybeCancel(conn);
      this.#afterWireChange(conn);
    });
    return handoff;
  }

  #close(conn: Conn): void {
    conn.broken = true;
    connectionOf(conn.client)?.destroy();
    this.#opts.pool.settle(conn);
  }
}

interface CorkableStream {
  cork?: () => void;
  uncork?: () => void;
  write(data: unknown, ...rest: unknown[]): boolean;
  /** Set once holdWrites() took over its cork. */
  anypgHeld?: true;
}

/**
 * Makes cork() hold writes and the last uncork() send them as one buffer. Node's own cork sends
 * the held chunks with writev, one piece per protocol message (measured: about a fifth of the
 * client's CPU with 64 pipelined callers); one concatenated write is cheaper. pg's socket in
 * workerd (pg-cloudflare) has no cork at all: every message would be its own write, and statements
 * pipelined in one turn would leave in many pieces, the server answering the first before the last
 * arrived. pg's own Query.submit corks around its messages when it can, nested inside ours.
 */
function holdWrites(stream: CorkableStream): void {
  if (stream.anypgHeld) return;
  stream.anypgHeld = true;
  const write = stream.write.bind(stream);
  let depth = 0;
  let held: Uint8Array[] = [];
  const release = () => {
    if (held.length === 0) return;
    const all = held.length === 1 ? held[0]! : Buffer.concat(held);
    held = [];
    write(all);
  };
  stream.cork = () => {
    depth++;
  };
  stream.uncork = () => {
    if (depth === 0) return;
    depth--;
    if (depth === 0) release();
  };
  stream.write = (data: unknown, ...rest: unknown[]) => {
    // Only plain buffer writes without a callback are held (pg's protocol messages are those);
    // anything else goes out behind what is held, in order.
    if (depth > 0 && rest.length === 0 && data instanceof Uint8Array) {
      held.push(data);
      return true;
    }
    release();
    return write(data, ...rest);
  };
}

/** Hands a query to pg; with telemetry on, so that no other instrumentation records it too. */
function submit(conn: Conn, query: unknown, trace: Trace | undefined): unknown {
  if (!trace) return conn.client.query(query as never);
  return trace.quiet(() => uninstrumentedQuery(conn.client).call(conn.client, query));
}

/**
 * Client#query without instrumentation-pg's wrapper, when anypg's own telemetry is on: anypg
 * records the span and db.client.operation.duration itself, and the wrapper would record a second
 * duration (its metric ignores the suppressed context) and, with enhancedDatabaseReporting, the
 * parameter values. OpenTelemetry's instrumentations wrap with shimmer, which keeps the original
 * function as `__original`.
 */
function uninstrumentedQuery(client: pg.Client): (query: unknown) => unknown {
  const query = client.query as unknown as ((query: unknown) => unknown) & {
    __wrapped?: boolean;
    __original?: unknown;
  };
  return query.__wrapped === true && typeof query.__original === 'function'
    ? (query.__original as (query: unknown) => unknown)
    : query;
}

/**
 * Several statements in one text without parameters (the simple protocol) give one result each:
 * anypg returns the last, as psql shows it. (Neon and the Data API refuse such texts.)
 */
export function shape(result: pg.QueryResult | pg.QueryResult[]): QueryResult {
  const r = Array.isArray(result) ? result[result.length - 1]! : result;
  return {
    command: r.command,
    rowCount: r.rowCount,
    fields: r.fields.map((f) => ({ name: f.name, dataTypeID: f.dataTypeID })),
    rows: r.rows,
  };
}
