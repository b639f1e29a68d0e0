// One error model for every backend.
//
// Every error anypg throws is an AnypgError with a stable `code`, the original error as `cause`,
// a message that says what happened and what to do, and `retryable` telling whether running the
// same operation again is safe. Messages never contain parameter values, passwords or tokens.

export type AnypgErrorCode =
  | 'CONFIGURATION'
  | 'CONNECTION_FAILED'
  | 'CONNECTION_LOST'
  | 'POOL_EXHAUSTED'
  | 'STATEMENT_TIMEOUT'
  | 'QUERY_TIMEOUT'
  | 'OUTCOME_UNKNOWN'
  | 'CIRCUIT_OPEN'
  | 'CLIENT_CLOSED'
  | 'ABORTED'
  | 'UNSUPPORTED'
  | 'INVALID_STATEMENT'
  | 'DATABASE';

export class AnypgError extends Error {
  override name = 'AnypgError';
  /** Whether running the same operation again is safe and may succeed. */
  readonly retryable: boolean;
  /** A suggested HTTP status for an API that surfaces this error (503 for overload, 504 for timeouts). */
  readonly httpStatus: number;
  constructor(
    readonly code: AnypgErrorCode,
    message: string,
    options: { cause?: unknown; retryable?: boolean; httpStatus?: number } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.retryable = options.retryable ?? false;
    this.httpStatus = options.httpStatus ?? 500;
  }
}

/** A bad option or connection string. Names the option; never echoes a password. */
export class ConfigurationError extends AnypgError {
  override name = 'ConfigurationError';
  constructor(
    readonly option: string,
    message: string,
  ) {
    super('CONFIGURATION', message);
  }
}

/** No connection could be opened (refused, DNS, TLS, authentication, connect timeout). */
export class ConnectionError extends AnypgError {
  override name = 'ConnectionError';
  /**
   * The SQLSTATE when the server itself refused the connection: 53300 too many clients, 28P01 wrong
   * password, 3D000 no such database, 57P03 starting up. Absent for network failures.
   */
  declare readonly sqlstate?: string;
  constructor(message: string, cause?: unknown, retryable = true, sqlstate?: string) {
    super('CONNECTION_FAILED', message, { cause, retryable, httpStatus: 503 });
    if (sqlstate !== undefined) (this as { sqlstate?: string }).sqlstate = sqlstate;
  }
}

/**
 * The connection broke while it was in use and the statement certainly did not take effect: it was
 * not sent, or it was inside a transaction that the server rolled back when the connection died.
 */
export class ConnectionLostError extends AnypgError {
  override name = 'ConnectionLostError';
  constructor(message: string, cause?: unknown) {
    super('CONNECTION_LOST', message, { cause, retryable: true, httpStatus: 503 });
  }
}

/** Every connection of the pool stayed busy for the whole acquire timeout. */
export class PoolExhaustedError extends AnypgError {
  override name = 'PoolExhaustedError';
  constructor(message: string) {
    super('POOL_EXHAUSTED', message, { retryable: true, httpStatus: 503 });
  }
}

/**
 * anypg's own query timeout (or the caller's deadline) ran out before the result came. The statement
 * was cancelled on the server; whether a write took effect before the cancel is unknown.
 */
export class QueryTimeoutError extends AnypgError {
  override name = 'QueryTimeoutError';
  constructor(message: string, cause?: unknown) {
    super('QUERY_TIMEOUT', message, { cause, retryable: false, httpStatus: 504 });
  }
}

/**
 * The statement may have reached the server before the connection broke, so it may or may not have
 * taken effect (a write, or a COMMIT). anypg never replays it: check the database before retrying.
 */
export class OutcomeUnknownError extends AnypgError {
  override name = 'OutcomeUnknownError';
  constructor(message: string, cause?: unknown) {
    super('OUTCOME_UNKNOWN', message, { cause, retryable: false, httpStatus: 500 });
  }
}

/**
 * The caller's deadline or AbortSignal ended the wait (for a connection, or for a statement, which
 * is then cancelled on the server). Whether a write took effect before the cancel is unknown.
 */
export class AbortedError extends AnypgError {
  override name = 'AbortedError';
  constructor(message: string, cause?: unknown) {
    super('ABORTED', message, { cause, retryable: false, httpStatus: 504 });
  }
}

export function abortedError(signal: AbortSignal): AbortedError {
  const why =
    (signal.reason as { name?: string } | undefined)?.name === 'TimeoutError'
      ? 'the deadline passed'
      : 'the signal was aborted';
  return new AbortedError(`Stopped waiting for the database: ${why}.`, signal.reason);
}

/** Too many connection failures in a row: anypg fails fast until the cool-down ends, then probes. */
export class CircuitOpenError extends AnypgError {
  override name = 'CircuitOpenError';
  constructor(
    message: string,
    readonly retryAfterMs: number,
    cause?: unknown,
  ) {
    super('CIRCUIT_OPEN', message, { cause, retryable: true, httpStatus: 503 });
  }
}

/** The fields PostgreSQL sends with an error (ErrorResponse). Absent ones are undefined. */
export interface PostgresErrorFields {
  /** SQLSTATE, e.g. 23505 for unique_violation. */
  sqlstate: string;
  severity?: string;
  detail?: string;
  hint?: string;
  position?: string;
  internalPosition?: string;
  internalQuery?: string;
  where?: string;
  schema?: string;
  table?: string;
  column?: string;
  dataType?: string;
  constraint?: string;
  file?: string;
  line?: string;
  routine?: string;
}

/** PostgreSQL refused the statement. Carries the SQLSTATE and every field the server sent. */
export class DatabaseError extends AnypgError implements PostgresErrorFields {
  override name = 'DatabaseError';
  readonly sqlstate: string;
  declare readonly severity?: string;
  declare readonly detail?: string;
  declare readonly hint?: string;
  declare readonly position?: string;
  declare readonly internalPosition?: string;
  declare readonly internalQuery?: string;
  declare readonly where?: string;
  declare readonly schema?: string;
  declare readonly table?: string;
  declare readonly column?: string;
  declare readonly dataType?: string;
  declare readonly constraint?: string;
  declare readonly file?: string;
  declare readonly line?: string;
  declare readonly routine?: string;
  constructor(
    message: string,
    fields: PostgresErrorFields,
    cause?: unknown,
    code: 'DATABASE' | 'STATEMENT_TIMEOUT' = 'DATABASE',
  ) {
    super(code, message, {
      cause,
      retryable: RETRYABLE_SQLSTATES.has(fields.sqlstate),
      httpStatus: code === 'STATEMENT_TIMEOUT' ? 504 : (HTTP_BY_CLASS[fields.sqlstate.slice(0, 2)] ?? 500),
    });
    this.sqlstate = fields.sqlstate;
    for (const [k, v] of Object.entries(fields)) {
      if (v !== undefined && k !== 'sqlstate') (this as Record<string, unknown>)[k] = v;
    }
  }
}

/** The server cancelled the statement (SQLSTATE 57014: statement_timeout). The connection stays usable. */
export class StatementTimeoutError extends DatabaseError {
  override name = 'StatementTimeoutError';
  constructor(message: string, fields: PostgresErrorFields, cause?: unknown) {
    super(message, fields, cause, 'STATEMENT_TIMEOUT');
  }
}

/** Suggested HTTP statuses by SQLSTATE class: bad input is the caller's (4xx), the rest is ours. */
const HTTP_BY_CLASS: Record<string, number> = {
  '22': 400, // data_exception
  '23': 409, // integrity_constraint_violation
  '40': 409, // transaction_rollback (serialization, deadlock): retry
  '42': 500, // syntax or access rule: a bug in the statement, not the request
  '53': 503, // insufficient_resources
  '57': 503, // operator_intervention
};

/**
 * SQLSTATEs after which running the same transaction again can succeed: serialization failure,
 * deadlock, and the server shutting down or refusing connections for a moment.
 */
const RETRYABLE_SQLSTATES = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '55P03', // lock_not_available
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '53300', // too_many_connections
  '08000',
  '08003',
  '08006',
  '08001',
  '08004',
]);

/** True when running the same operation again is safe and may succeed. */
export function isRetryable(err: unknown): boolean {
  if (err instanceof AnypgError) return err.retryable;
  return false;
}

/** The SQLSTATE of an error, if it is (or wraps) a database error. */
export function sqlstateOf(err: unknown): string | undefined {
  if (err instanceof DatabaseError || err instanceof ConnectionError) return err.sqlstate;
  return undefined;
}

const FIELD_NAMES = [
  'severity',
  'detail',
  'hint',
  'position',
  'internalPosition',
  'internalQuery',
  'where',
  'schema',
  'table',
  'column',
  'dataType',
  'constraint',
  'file',
  'line',
  'routine',
] as const;

/**
 * True for an error PostgreSQL sent (pg's DatabaseError, Neon's NeonDbError): a five-character
 * SQLSTATE `code`. Node's system errors (code 'EPIPE', 'ECONNRESET'...) carry `errno`/`syscall`.
 */
export function isPostgresError(err: unknown): err is { message: string; code: string } & Record<string, unknown> {
  if (typeof err !== 'object' || err === null || 'errno' in err || 'syscall' in err) return false;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code);
}

/** Builds our DatabaseError from any object shaped like pg's DatabaseError (pg, Neon's NeonDbError). */
export function databaseErrorFrom(err: { message: string; code?: string } & Record<string, unknown>): DatabaseError {
  const fields: PostgresErrorFields = { sqlstate: err.code ?? 'XX000' };
  for (const name of FIELD_NAMES) {
    const v = err[name];
    if (v !== undefined && v !== null) (fields as unknown as Record<string, unknown>)[name] = String(v);
  }
  if (fields.sqlstate === '57014') return new StatementTimeoutError(err.message, fields, err);
  return new DatabaseError(err.message, fields, err);
}
