// Errors in the shape `@aws-sdk/client-rds-data` recognises: the type in the `x-amzn-errortype`
// header, `{"message": ...}` in the body, and the HTTP status of the SDK's model for that type.
// The SDK retries 5xx and throttling, so every SQL error is a 4xx: a write is never replayed.

/** Error types the Data API (or its front door) answers with. */
export type DataApiErrorType =
  | 'AccessDeniedException'
  | 'BadRequestException'
  | 'DatabaseErrorException'
  | 'DatabaseNotFoundException'
  | 'DatabaseResumingException'
  | 'DatabaseUnavailableException'
  | 'ForbiddenException'
  | 'HttpEndpointNotEnabledException'
  | 'InternalServerErrorException'
  | 'InvalidResourceStateException'
  | 'InvalidSecretException'
  | 'NotFoundException'
  | 'SecretsErrorException'
  | 'ServiceUnavailableError'
  | 'StatementTimeoutException'
  | 'TransactionNotFoundException'
  | 'UnsupportedResultException'
  // Not modelled by the SDK (it raises a plain RDSDataServiceException with this name), but this is
  // what AWS documents for multi-statement SQL and for the `schema` parameter.
  | 'ValidationException'
  | 'SerializationException'
  | 'UnknownOperationException';

// HTTP statuses from the SDK's error schemas (dist-es/schemas/schemas_0.js).
const STATUS: Record<DataApiErrorType, number> = {
  AccessDeniedException: 403,
  BadRequestException: 400,
  DatabaseErrorException: 400,
  DatabaseNotFoundException: 404,
  DatabaseResumingException: 400,
  DatabaseUnavailableException: 504,
  ForbiddenException: 403,
  HttpEndpointNotEnabledException: 400,
  InternalServerErrorException: 500,
  InvalidResourceStateException: 400,
  InvalidSecretException: 400,
  NotFoundException: 404,
  SecretsErrorException: 400,
  ServiceUnavailableError: 503,
  StatementTimeoutException: 400,
  TransactionNotFoundException: 404,
  UnsupportedResultException: 400,
  ValidationException: 400,
  SerializationException: 400,
  UnknownOperationException: 404,
};

export const ERROR_TYPES = Object.keys(STATUS) as DataApiErrorType[];

export function isDataApiErrorType(value: unknown): value is DataApiErrorType {
  return typeof value === 'string' && Object.hasOwn(STATUS, value);
}

/** A failure to answer with: the SDK turns it into the exception class of the same name. */
export class DataApiError extends Error {
  override name = 'DataApiError';
  constructor(
    readonly type: DataApiErrorType,
    message: string,
    /** Extra body members, e.g. `dbConnectionId` of a StatementTimeoutException. */
    readonly members: Record<string, unknown> = {},
  ) {
    super(message);
  }
  get status(): number {
    return STATUS[this.type];
  }
  body(): string {
    return JSON.stringify({ message: this.message, ...this.members });
  }
}

export const badRequest = (message: string) => new DataApiError('BadRequestException', message);

/** How a PostgreSQL error becomes a DatabaseErrorException message. */
export interface ErrorMessageOptions {
  /**
   * `semicolon` (default): `ERROR: <message>; Detail: ..; Hint: ..; Position: 15; SQLState: 42P01`, the
   * form seen in recent captures of the service. `newline`: the JDBC driver's own layout,
   * `ERROR: <message>\n  Detail: ..\n  Position: 15; SQLState: 42P01`, seen in older captures.
   */
  layout?: 'semicolon' | 'newline';
  /** Append `; SQLState: XXXXX` (AWS does; it is the only place a client can find the code). Default true. */
  sqlState?: boolean;
  /** Include the server's DETAIL (it may quote row values). Default true. */
  detail?: boolean;
}

/** The fields node-postgres puts on a server error. */
export interface PgErrorFields {
  message: string;
  severity?: string | undefined;
  code?: string | undefined;
  detail?: string | undefined;
  hint?: string | undefined;
  position?: string | undefined;
  where?: string | undefined;
  internalQuery?: string | undefined;
  internalPosition?: string | undefined;
}

export function isPgError(err: unknown): err is PgErrorFields & Error {
  return (
    err instanceof Error &&
    typeof (err as { code?: unknown }).code === 'string' &&
    /^[0-9A-Z]{5}$/.test((err as unknown as { code: string }).code) &&
    typeof (err as { severity?: unknown }).severity === 'string'
  );
}

/**
 * Renders a server error as the Data API does: the JDBC driver's text (severity, message, then the
 * Detail/Hint/Position/Where lines) with `; SQLState: XXXXX` at the end. `position` maps the reported
 * position from the translated SQL (`$n`) back to the caller's SQL (`:name`).
 */
export function formatDatabaseError(
  err: PgErrorFields,
  options: ErrorMessageOptions = {},
  position: (p: number) => number = (p) => p,
): string {
  const sep = options.layout === 'newline' ? '\n  ' : '; ';
  const parts = [`${err.severity ?? 'ERROR'}: ${err.message}`];
  if (err.detail && options.detail !== false) parts.push(`Detail: ${err.detail}`);
  if (err.hint) parts.push(`Hint: ${err.hint}`);
  if (err.position && /^\d+$/.test(err.position)) parts.push(`Position: ${position(Number(err.position))}`);
  if (err.where) parts.push(`Where: ${err.where}`);
  if (err.internalQuery) parts.push(`Internal Query: ${err.internalQuery}`);
  if (err.internalPosition) parts.push(`Internal Position: ${err.internalPosition}`);
  let text = parts.join(sep);
  if (options.sqlState !== false && err.code) text += `; SQLState: ${err.code}`;
  return text;
}

/** Reads the SQLSTATE back out of a DatabaseErrorException message (what a client has to do). */
export function sqlStateOf(message: string): string | undefined {
  return /; SQLState: ([0-9A-Z]{5})\s*$/.exec(message)?.[1];
}
