// The one seam between the transports and telemetry (traces, metrics).
//
// A transport never talks to OpenTelemetry. When telemetry is on, the Transport it serves is wrapped
// (telemetry.instrument) and every statement it receives carries a `trace` (Statement.trace); a
// transaction or batch gets one as its last argument. The transport reports on it what only it can
// see: the wait for a connection, a new connection, an HTTP request, a retry, the statements it
// sends itself (BEGIN, COMMIT). Everything else (span names, attributes, the parent of a span,
// durations) is worked out by the wrapper. With telemetry off, `trace` is undefined and each report
// is one optional-chaining check.
//
// Times are `performance.now()` values. Nothing reported here may carry a parameter value or a
// credential: only SQL text with placeholders, counts and times.
import type { Transport } from '../transport/contract.js';

export interface Trace {
  /** Got a pooled connection: asked at `start`, had it at `end`. */
  acquired(start: number, end: number, detail: AcquireDetail): void;
  /** Opened a session outside a pool (neon-http's WebSocket session for a transaction). */
  connected(start: number, end: number): void;
  /** One HTTP request to the endpoint (neon-http, data-api); `call` names it (ExecuteStatement, query). */
  http(start: number, end: number, call: string, status?: number): void;
  /** The statement (or call) is being sent again: after a broken connection, a throttled or resuming endpoint. */
  retried(): void;
  /** A statement the transport sends by itself (BEGIN, COMMIT, ROLLBACK), from `start` to `end`. */
  internal(text: string, start: number, end: number, error?: unknown): void;
  /**
   * Runs a driver call so that other instrumentation of the same call (instrumentation-pg, HTTP
   * client instrumentations) records nothing: the statement is traced once, by anypg.
   */
  quiet<T>(fn: () => T): T;
}

export interface AcquireDetail {
  /** Idle connections found dead or too old meanwhile, and closed. */
  staleReplaced: number;
  /** When a new connection was opened for this caller (TCP, TLS, authentication), if one was. */
  connect?: Interval | undefined;
  /** Every connection was in use: the caller queued for one. */
  queued: boolean;
}

export interface Interval {
  start: number;
  end: number;
}

/** What createDb's `telemetry` option takes: `openTelemetry(api)` builds one. */
export interface Telemetry {
  /** Wraps a client's transport; called once per createDb. */
  instrument(transport: Transport): Transport;
}
