// data-api: statements as RDS Data API calls (ExecuteStatement), through @aws-sdk/client-rds-data.
//
// One statement is one HTTPS call. A transaction is BeginTransaction, ExecuteStatement calls with
// its transactionId, then CommitTransaction (or RollbackTransaction); savepoints are plain SQL
// inside it. batch() is a transaction of its statements (n + 2 calls; one call for a single
// statement), because the Data API has no call that runs several statements and returns results.
//
// Retries (anypg makes them; the SDK client anypg builds makes none, see sdk.ts):
//   - DatabaseResumingException (an auto-paused Aurora waking up): sent again with exponential
//     backoff (0.5 s doubling, at most 8 s apart) until dataApi.resumeTimeoutMs (45 s), then a
//     ConnectionError that says so;
//   - throttling and 503: nothing ran; sent again, up to 3 times, after a pause;
//   - a request that never left (refused, DNS): sent once more;
//   - no answer after the request may have arrived (reset, 500, 504, anypg's time limit): a plain
//     read outside a transaction is sent once more, inside a READ ONLY transaction so that the
//     resend cannot write whatever the text hides (OutcomeUnknownError if that fails); a write
//     fails with OutcomeUnknownError and is never replayed; inside a transaction the error says
//     the transaction is rolled back.
import {
  AnypgError,
  abortedError,
  ConnectionError,
  ConnectionLostError,
  DatabaseError,
  OutcomeUnknownError,
  QueryTimeoutError,
} from '../../errors.js';
import type { QueryEventSink } from '../../observe/events.js';
import type { Trace } from '../../observe/trace.js';
import { READ_ONLY_VIOLATION } from '../../resilience/replay.js';
import { batchInTransaction } from '../../transport/batch-in-transaction.js';
import { beginStatement } from '../../transport/begin.js';
import type {
  DrizzleKit,
  Executor,
  PoolStats,
  QueryResult,
  Statement,
  TransactionConfig,
  Transport,
} from '../../transport/contract.js';
import type { BackendInfo, Capabilities } from '../../transport/info.js';
import { rowCountOf } from './command.js';
import { classify } from './errors.js';
import { toParameters } from './params.js';
import { type ClientSettings, type DataApiClient, loadRdsData, OwnedClient, type RdsDataModule } from './sdk.js';
import { statementText } from './statement-text.js';
import {
  type Column,
  type ColumnMetadataLike,
  columnOf,
  columnOfType,
  decode,
  type FieldLike,
  fieldsOf,
} from './values.js';

export interface DataApiTransportOptions {
  resourceArn: string;
  secretArn: string;
  database: string | undefined;
  schema: string | undefined;
  /** The user's RDSDataClient; otherwise anypg builds one from `settings`. */
  client: DataApiClient | undefined;
  settings: ClientSettings;
  /** How long to keep retrying DatabaseResumingException. */
  resumeTimeoutMs: number;
  /** anypg's own limit per call (0: none). */
  callTimeoutMs: number;
  events: QueryEventSink;
  info: BackendInfo;
}

/** drizzle's per-parameter column typings, when the statement carries them. */
type TypedStatement = Statement & { typings?: readonly (string | undefined)[] };

interface ExecuteOutput {
  records?: FieldLike[][];
  columnMetadata?: ColumnMetadataLike[];
  numberOfRecordsUpdated?: number;
}

const RESUME_FIRST_DELAY_MS = 500;
const RESUME_MAX_DELAY_MS = 8_000;
const THROTTLE_ATTEMPTS = 3;
/** Background rollbacks of a busy transaction stop after waits of 0.2 s doubling up to this (about 50 s in all). */
const ROLLBACK_RETRY_MAX_DELAY_MS = 25_600;

/** A time limit in the shape the SDK's Node http handler reads: `aborted`, `reason`, `onabort`. */
class CallLimit {
  aborted = false;
  reason: unknown;
  onabort: (() => void) | null = null;

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = Object.assign(new Error('The Data API call took longer than anypg allows.'), {
      name: 'TimeoutError',
    });
    this.onabort?.();
  }
}

/** How one call may be sent again. */
interface CallPolicy {
  /** Running it twice cannot change anything (a read outside a transaction, Begin, Rollback). */
  replaySafe: boolean;
  /** Inside a transaction: an unknown outcome means the transaction is lost, not just this call. */
  inTransaction: boolean;
  /** The caller's deadline. */
  signal: AbortSignal | undefined;
  /** Maps an error position in the sent SQL back to the caller's. */
  position?: (p: number) => number;
  /** What the call is, for messages. */
  what: string;
  /**
   * For a read whose call may have reached the database: sends it again where it cannot write (see
   * resilience/replay.ts). Used instead of a plain resend.
   */
  readOnlyResend?: () => Promise<unknown>;
  /** Telemetry: each HTTP request and retry of the call is reported here. */
  trace?: Trace | undefined;
}

export class DataApiTransport implements Transport {
  readonly info: BackendInfo;
  readonly capabilities: Capabilities;
  drizzle: DrizzleKit | undefined;
  readonly #o: DataApiTransportOptions;
  readonly #counters = { retries: 0, outcomeUnknown: 0, transactions: 0, resumeWaits: 0 };
  #ready: Promise<{ sdk: RdsDataModule; client: DataApiClient; owned: OwnedClient | undefined }> | undefined;
  #owned: OwnedClient | undefined;
  #closed = false;
  #inFlight = 0;

  constructor(o: DataApiTransportOptions) {
    this.#o = o;
    this.info = o.info;
    this.capabilities = {
      interactiveTransactions: true,
      savepoints: true,
      batchAtomic: true,
      batchRoundTrips: (n) => (n <= 1 ? n : n + 2),
      namedStatements: false,
      maxConnections: o.settings.maxSockets,
      withAuth: false,
    };
  }

  /** The SDK and the client, on first use. */
  #load() {
    this.#ready ??= (async () => {
      const sdk = await loadRdsData();
      if (this.#o.client) return { sdk, client: this.#o.client, owned: undefined };
      const owned = await OwnedClient.create(sdk, this.#o.settings);
      return { sdk, client: owned.client, owned };
    })();
    this.#ready.catch(() => {
      this.#ready = undefined;
    });
    return this.#ready;
  }

  stats(): PoolStats {
    const owned = this.#owned;
    return {
      total: this.#inFlight,
      idle: 0,
      waiting: 0,
      opened: owned?.opened ?? 0,
      staleReplaced: owned?.dropped ?? 0,
      acquireTimeouts: 0,
      retries: this.#counters.retries,
      outcomeUnknown: this.#counters.outcomeUnknown,
      circuit: 'closed',
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const ready = await this.#ready?.catch(() => undefined);
    ready?.owned?.destroy();
  }

  async query(stmt: Statement): Promise<QueryResult> {
    return this.#statement(stmt, undefined);
  }

  /**
   * `db.$client`: the RDSDataClient. The one you passed as `dataApi.client`; otherwise anypg's,
   * behind a `send()` that loads the SDK on first use. Calls sent through it are the SDK's own:
   * no anypg retries, time limits or events.
   */
  client(): DataApiClient {
    if (this.#o.client) return this.#o.client;
    return {
      send: async (command, options) => (await this.#load()).client.send(command, options),
      destroy: () => void this.close(),
    };
  }

  async transaction<T>(
    fn: (tx: Executor) => Promise<T>,
    config?: TransactionConfig,
    signal?: AbortSignal,
    trace?: Trace,
  ): Promise<T> {
    // Validated before anything is sent.
    const begin = beginStatement(config);
    const setTransaction = begin === 'begin' ? undefined : `set transaction${begin.slice('begin'.length)}`;
    const base = this.#base();
    const started = await this.#call<{ transactionId?: string }>(
      'BeginTransactionCommand',
      { ...base },
      { replaySafe: true, inTransaction: false, signal, what: 'BeginTransaction', trace },
    );
    const transactionId = started.transactionId;
    if (!transactionId) throw new ConnectionError('The Data API began a transaction but returned no transactionId.');
    this.#counters.transactions++;

    let finished = false;
    // The Data API runs one call per transaction at a time: queue them, as one connection would.
    let queue: Promise<unknown> = Promise.resolve();
    const tx: Executor = {
      query: (stmt) => {
        if (finished) {
          return Promise.reject(
            new AnypgError(
              'UNSUPPORTED',
              'This transaction has already ended: a query ran after its callback returned. Await every query inside db.transaction().',
            ),
          );
        }
        const run = queue.then(() => this.#statement(stmt, transactionId, signal));
        queue = run.catch(() => undefined);
        return run;
      },
    };

    try {
      if (setTransaction) {
        await tx.query({ text: setTransaction, params: [], rowMode: 'array', parse: 'raw', ...(trace && { trace }) });
      }
      let result: T;
      try {
        result = await fn(tx);
      } catch (err) {
        finished = true;
        await queue;
        await this.#rollback(transactionId, trace);
        throw err;
      }
      finished = true;
      await queue;
      await this.#call(
        'CommitTransactionCommand',
        { resourceArn: base.resourceArn, secretArn: base.secretArn, transactionId },
        { replaySafe: false, inTransaction: false, signal, what: 'CommitTransaction', trace },
      );
      return result;
    } catch (err) {
      if (!finished) {
        // SET TRANSACTION failed: nothing ran yet.
        finished = true;
        await this.#rollback(transactionId, trace);
      }
      throw err;
    }
  }

  /** The statements in one transaction: all or nothing, in order. */
  async batch(stmts: Statement[], trace?: Trace): Promise<QueryResult[]> {
    if (stmts.length === 0) return [];
    // One statement is atomic by itself: one call.
    if (stmts.length === 1) return [await this.query(stmts[0]!)];
    const signal = stmts[0]?.signal;
    return batchInTransaction(this, stmts, signal, trace);
  }

  /**
   * Rolls back; best effort (an expired transaction is rolled back already). Never under the
   * caller's signal, which may have fired. When the caller gave up on a statement that is still
   * running, the Data API refuses calls on its transaction until it ends: the rollback is tried
   * again in the background, so the transaction does not hold its locks until it expires.
   */
  async #rollback(transactionId: string, trace?: Trace): Promise<void> {
    const base = this.#base();
    const input = { resourceArn: base.resourceArn, secretArn: base.secretArn, transactionId };
    const policy: CallPolicy = {
      replaySafe: true,
      inTransaction: false,
      signal: undefined,
      what: 'RollbackTransaction',
      trace,
    };
    const busy = (err: unknown) => /still running/i.test((err as Error)?.message ?? '');
    try {
      await this.#call('RollbackTransactionCommand', input, policy);
    } catch (err) {
      if (!busy(err)) return;
      void (async () => {
        for (let delay = 200; delay <= ROLLBACK_RETRY_MAX_DELAY_MS && !this.#closed; delay *= 2) {
          await new Promise<void>((resolve) => setTimeout(resolve, delay).unref());
          try {
            await this.#call('RollbackTransactionCommand', input, policy);
            return;
          } catch (again) {
            if (!busy(again)) return;
          }
        }
      })();
    }
  }

  #base() {
    const o = this.#o;
    return {
      resourceArn: o.resourceArn,
      secretArn: o.secretArn,
      ...(o.database !== undefined && { database: o.database }),
      ...(o.schema !== undefined && { schema: o.schema }),
    };
  }

  async #statement(stmt: Statement, transactionId: string | undefined, txSignal?: AbortSignal): Promise<QueryResult> {
    const started = performance.now();
    const retriesBefore = this.#counters.retries;
    const signal = stmt.signal && txSignal ? AbortSignal.any([stmt.signal, txSignal]) : (stmt.signal ?? txSignal);
    try {
      const typings = (stmt as TypedStatement).typings;
      const text = statementText(stmt.text, typings);
      const sql = text.sql;
      const parameters = toParameters(stmt.params, typings, sql.cast);
      const known = stmt.rowMode === 'array' ? stmt.resultTypes?.map((t) => columnOfType(t)) : undefined;
      const metadata = known === undefined && text.returnsRows;
      // int8 as a string keeps every digit (a JSON number loses them beyond 2^53); numeric is a
      // string by default. Asked for only where an int8 may be in the result.
      const longAsString = metadata || (known?.some((c) => c.kind === 'int8' || c.element?.kind === 'int8') ?? false);
      const input = (id: string | undefined) => ({
        ...this.#base(),
        sql: sql.text,
        ...(parameters.length > 0 && { parameters }),
        ...(id !== undefined && { transactionId: id }),
        ...(metadata && { includeResultMetadata: true }),
        ...(longAsString && { resultSetOptions: LONG_AS_STRING }),
      });
      const position = (p: number) => sql.originalPosition(p);
      const resendable = transactionId === undefined && text.replaySafe;
      const out = await this.#call<ExecuteOutput>('ExecuteStatementCommand', input(transactionId), {
        replaySafe: false,
        inTransaction: transactionId !== undefined,
        signal,
        position,
        what: 'the statement',
        trace: stmt.trace,
        ...(resendable && {
          readOnlyResend: () => this.#readOnlyResend((id) => input(id), position, signal, stmt.trace),
        }),
      });
      const result = shape(out, stmt, known, text.command);
      this.#emit(stmt, started, this.#counters.retries > retriesBefore, result);
      return result;
    } catch (err) {
      const mapped =
        err instanceof AnypgError
          ? err
          : new AnypgError('UNSUPPORTED', (err as Error)?.message ?? String(err), { cause: err });
      this.#emit(stmt, started, this.#counters.retries > retriesBefore, undefined, mapped);
      throw mapped;
    }
  }

  /** One Data API call, with anypg's retry rules. */
  async #call<T>(command: string, input: Record<string, unknown>, policy: CallPolicy): Promise<T> {
    if (this.#closed) throw new AnypgError('CLIENT_CLOSED', 'This client was closed with $close(); create a new one.');
    const { signal } = policy;
    if (signal?.aborted) throw abortedError(signal);
    const { sdk, client, owned } = await this.#load();
    this.#owned = owned;
    const Command = (sdk as unknown as Record<string, new (input: unknown) => unknown>)[command]!;
    const resumeDeadline = Date.now() + this.#o.resumeTimeoutMs;
    let resumeDelay = RESUME_FIRST_DELAY_MS;
    let resumed = 0;
    let throttled = 0;
    let resent = false;
    for (;;) {
      // anypg's time limit: a plain timer, cleared when the call ends, that aborts the request.
      // With anypg's own client and no caller's signal, the signal is an `onabort` object, which
      // the SDK's Node http handler takes as well: a real AbortSignal costs an EventTarget
      // listener on every call (about 2% of a local call's latency, measured by bench/data-api.mjs).
      const limiter =
        this.#o.callTimeoutMs > 0 ? (owned && !signal ? new CallLimit() : new AbortController()) : undefined;
      const timer = limiter ? setTimeout(() => limiter.abort(), this.#o.callTimeoutMs) : undefined;
      const limit = limiter instanceof AbortController ? limiter.signal : limiter;
      const abortSignal = (limit && signal ? AbortSignal.any([limit as AbortSignal, signal]) : (limit ?? signal)) as
        | AbortSignal
        | undefined;
      owned?.beforeCall();
      this.#inFlight++;
      const trace = policy.trace;
      const call = command.replace(/Command$/, '');
      const sent = performance.now();
      try {
        const send = () => client.send(new Command(input), abortSignal ? { abortSignal } : {});
        const out = (await (trace ? trace.quiet(send) : send())) as T;
        trace?.http(sent, performance.now(), call, 200);
        return out;
      } catch (err) {
        trace?.http(sent, performance.now(), call, httpStatusOf(err));
        if (signal?.aborted) throw abortedError(signal);
        const failure = classify(err, policy.position);
        if (failure.kind === 'final') throw failure.error;
        const timedOut = limit?.aborted === true;
        if (failure.kind === 'resuming') {
          const wait = Math.min(resumeDelay, RESUME_MAX_DELAY_MS);
          if (Date.now() + wait > resumeDeadline) {
            throw new ConnectionError(
              `The Aurora cluster is resuming from auto-pause and did not answer within dataApi.resumeTimeoutMs (${this.#o.resumeTimeoutMs} ms, ${resumed + 1} attempts). Try again shortly, or raise resumeTimeoutMs.`,
              err,
            );
          }
          resumed++;
          this.#counters.resumeWaits++;
          this.#counters.retries++;
          trace?.retried();
          await sleep(wait, signal);
          resumeDelay *= 2;
          continue;
        }
        if (failure.kind === 'throttled') {
          if (++throttled >= THROTTLE_ATTEMPTS) {
            throw new ConnectionError(
              `The Data API kept refusing calls as throttled or unavailable (${THROTTLE_ATTEMPTS} attempts). Try again later.`,
              err,
            );
          }
          this.#counters.retries++;
          trace?.retried();
          await sleep(200 * 2 ** throttled, signal);
          continue;
        }
        if (failure.kind === 'not-sent') {
          if (resent) throw new ConnectionError(`Could not reach the Data API endpoint (${this.info.target}).`, err);
          resent = true;
          this.#counters.retries++;
          trace?.retried();
          continue;
        }
        // The call may have reached the database.
        if (policy.readOnlyResend && !resent) {
          this.#counters.retries++;
          trace?.retried();
          return (await policy.readOnlyResend()) as T;
        }
        if (policy.replaySafe && !resent) {
          resent = true;
          this.#counters.retries++;
          trace?.retried();
          continue;
        }
        const why = timedOut ? `no answer came within anypg's limit of ${this.#o.callTimeoutMs} ms` : failure.what;
        if (policy.inTransaction) {
          throw new ConnectionLostError(
            `A statement inside a transaction failed because ${why}. anypg rolls the transaction back, so nothing of it is kept: it is safe to run the whole transaction again.`,
            err,
          );
        }
        if (policy.replaySafe) {
          if (timedOut)
            throw new QueryTimeoutError(
              `${policy.what} got no answer within ${this.#o.callTimeoutMs} ms (twice).`,
              err,
            );
          throw new ConnectionLostError(`${policy.what} failed twice: ${why}.`, err);
        }
        this.#counters.outcomeUnknown++;
        if (timedOut) {
          throw new QueryTimeoutError(
            `${capitalize(policy.what)} got no answer within ${this.#o.callTimeoutMs} ms; whether it took effect is unknown, and anypg does not replay writes.`,
            err,
          );
        }
        throw new OutcomeUnknownError(
          `${capitalize(policy.what)} may have reached the database, but ${why}: it may or may not have taken effect. anypg does not replay writes; check the data before running it again.`,
          err,
        );
      } finally {
        clearTimeout(timer);
        this.#inFlight--;
        owned?.afterCall();
      }
    }
  }

  /**
   * A read whose first call may have run, sent again inside a READ ONLY transaction: Begin, SET
   * TRANSACTION READ ONLY, the statement, Commit. If any of it fails, whether the first call took
   * effect is unknown (a statement that writes fails there with SQLSTATE 25006).
   */
  async #readOnlyResend(
    input: (transactionId: string) => Record<string, unknown>,
    position: (p: number) => number,
    signal: AbortSignal | undefined,
    trace: Trace | undefined,
  ): Promise<ExecuteOutput> {
    const base = this.#base();
    const ids = { resourceArn: base.resourceArn, secretArn: base.secretArn };
    let transactionId: string | undefined;
    try {
      const begun = await this.#call<{ transactionId?: string }>('BeginTransactionCommand', base, {
        replaySafe: true,
        inTransaction: false,
        signal,
        what: 'BeginTransaction',
        trace,
      });
      transactionId = begun.transactionId;
      if (!transactionId) throw new ConnectionError('The Data API began a transaction but returned no transactionId.');
      const inTx = { replaySafe: false, inTransaction: true, signal, what: 'the statement', trace };
      await this.#call('ExecuteStatementCommand', { ...base, sql: 'set transaction read only', transactionId }, inTx);
      const out = await this.#call<ExecuteOutput>('ExecuteStatementCommand', input(transactionId), {
        ...inTx,
        position,
      });
      const done = transactionId;
      transactionId = undefined;
      // A read-only transaction has nothing to commit: its result stands even if this call fails.
      await this.#call(
        'CommitTransactionCommand',
        { ...ids, transactionId: done },
        { replaySafe: true, inTransaction: false, signal: undefined, what: 'CommitTransaction', trace },
      ).catch(() => undefined);
      return out;
    } catch (err) {
      if (transactionId !== undefined) await this.#rollback(transactionId);
      this.#counters.outcomeUnknown++;
      const writes = err instanceof DatabaseError && err.sqlstate === READ_ONLY_VIOLATION;
      throw new OutcomeUnknownError(
        writes
          ? 'The statement may have reached the database, but no answer came; it writes (run again read-only, it failed with SQLSTATE 25006), so the first call may have taken effect. anypg does not replay writes; check the data before running it again.'
          : `The statement may have reached the database, but no answer came; run again read-only to be safe, it failed too (${(err as AnypgError).code ?? 'error'}), so whether the first call took effect is unknown. Check the data before running it again.`,
        err,
      );
    }
  }

  #emit(stmt: Statement, started: number, retried: boolean, result?: QueryResult, error?: AnypgError): void {
    this.#o.events.statement('data-api', stmt, started, retried, result, error);
  }
}

const LONG_AS_STRING = { longReturnType: 'STRING' } as const;

function shape(out: ExecuteOutput, stmt: Statement, known: Column[] | undefined, command: string): QueryResult {
  const records = out.records;
  const hasResultSet = records !== undefined || out.columnMetadata !== undefined;
  const columns = out.columnMetadata ? out.columnMetadata.map((m) => columnOf(m)) : (known ?? []);
  const rows = (records ?? []).map((record) => {
    if (stmt.rowMode === 'array') return record.map((f, i) => decode(f, columns[i] ?? columnOf(undefined), stmt.parse));
    const row: Record<string, unknown> = {};
    record.forEach((f, i) => {
      const column = columns[i] ?? columnOf(undefined);
      row[column.name] = decode(f, column, stmt.parse);
    });
    return row;
  });
  return {
    command,
    rowCount: rowCountOf(command, hasResultSet ? rows.length : undefined, out.numberOfRecordsUpdated),
    fields: fieldsOf(columns),
    rows,
  };
}

/** The HTTP status of a failed call, when the SDK got a response. */
function httpStatusOf(err: unknown): number | undefined {
  const status = (err as { $metadata?: { httpStatusCode?: unknown } } | undefined)?.$metadata?.httpStatusCode;
  return typeof status === 'number' ? status : undefined;
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** Waits `ms`, or less if `signal` fires (then rejects). */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortedError(signal));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortedError(signal!));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
