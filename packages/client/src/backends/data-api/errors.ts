// Data API failures to anypg's error model.
//
// PostgreSQL's errors arrive as DatabaseErrorException (older clusters: BadRequestException) whose
// only field is a message laid out by the JDBC driver behind the service:
//   ERROR: duplicate key value violates unique constraint "u_pkey"; Detail: Key (id)=(1) already exists.; SQLState: 23505
//   ERROR: relation "nope" does not exist\n  Position: 15; SQLState: 42P01
// The SQLSTATE, DETAIL, HINT, POSITION and WHERE are read back out of it; table, column and
// constraint names out of the primary message where PostgreSQL's wording names them. The message of
// our DatabaseError is the primary message alone, as with pg (DETAIL can quote row values).
//
// Everything else is sorted by what it says about the statement: never ran (safe to send again),
// may have run (never replayed when it writes), or refused for good.
import {
  AnypgError,
  ConfigurationError,
  ConnectionError,
  DatabaseError,
  type PostgresErrorFields,
  StatementTimeoutError,
} from '../../errors.js';

/** How a failed call may be retried. */
export type Failure =
  /** Aurora is waking up: nothing ran; wait and send again (up to resumeTimeoutMs). */
  | { kind: 'resuming'; cause: unknown }
  /** Throttled or the service was unavailable: nothing ran; send again after a pause. */
  | { kind: 'throttled'; cause: unknown }
  /** The request never left (refused, DNS, no connection within the connect timeout). */
  | { kind: 'not-sent'; cause: unknown }
  /** The request may have reached the database and no answer came (reset, 500, 504). */
  | { kind: 'unknown'; cause: unknown; what: string }
  /** An answer that settles it. */
  | { kind: 'final'; error: AnypgError };

interface AwsError {
  name?: string;
  message?: string;
  code?: string;
  $fault?: string;
  $metadata?: { httpStatusCode?: number };
}

const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);
const SENT_CODES = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE']);

export function classify(err: unknown, map: (p: number) => number = (p) => p): Failure {
  const e = (err ?? {}) as AwsError;
  const name = e.name ?? '';
  const message = typeof e.message === 'string' ? e.message : '';
  const status = e.$metadata?.httpStatusCode;
  switch (name) {
    case 'DatabaseResumingException':
      return { kind: 'resuming', cause: err };
    case 'DatabaseErrorException':
      return { kind: 'final', error: databaseError(message, err, map) };
    case 'BadRequestException':
      if (/SQLState: [0-9A-Z]{5}\s*$/.test(message) || /^(ERROR|FATAL):/.test(message)) {
        return { kind: 'final', error: databaseError(message, err, map) };
      }
      return { kind: 'final', error: refused(message, err) };
    case 'StatementTimeoutException':
      return {
        kind: 'final',
        error: new StatementTimeoutError(
          'The Data API stopped the statement at its time limit (45 s per call) and cancelled it. Make the statement faster, or split the work.',
          { sqlstate: '57014' },
          err,
        ),
      };
    case 'ThrottlingException':
    case 'TooManyRequestsException':
    case 'ServiceUnavailableError':
    case 'ServiceUnavailableException':
      return { kind: 'throttled', cause: err };
    case 'InternalServerErrorException':
    case 'DatabaseUnavailableException':
      return { kind: 'unknown', cause: err, what: `the Data API answered ${name}` };
    case 'TransactionNotFoundException':
    case 'NotFoundException':
      return {
        kind: 'final',
        error: new AnypgError(
          'CONNECTION_LOST',
          'The Data API no longer knows this transaction: it rolled it back (unused for 3 minutes, or older than 24 hours). Nothing of it was kept; run the whole transaction again.',
          { cause: err, retryable: true, httpStatus: 503 },
        ),
      };
    case 'AccessDeniedException':
    case 'ForbiddenException':
    case 'UnrecognizedClientException':
    case 'InvalidSignatureException':
    case 'ExpiredTokenException':
      return {
        kind: 'final',
        error: new ConnectionError(
          `The Data API refused the caller (${name}): check the AWS credentials and that the IAM policy allows rds-data:ExecuteStatement, BeginTransaction, CommitTransaction, RollbackTransaction on the cluster and secretsmanager:GetSecretValue on the secret.`,
          err,
          false,
        ),
      };
    case 'InvalidSecretException':
    case 'SecretsErrorException':
      return {
        kind: 'final',
        error: new ConnectionError(
          `The Data API could not use the secret (${name}): check dataApi.secretArn, that the secret holds the database user's username and password, and that the role may read it.`,
          err,
          false,
        ),
      };
    case 'HttpEndpointNotEnabledException':
      return {
        kind: 'final',
        error: new ConfigurationError(
          'dataApi.resourceArn',
          'The Data API (HTTP endpoint) is not enabled on this cluster: enable it (aws rds enable-http-endpoint, or EnableHttpEndpoint in the template).',
        ),
      };
    case 'DatabaseNotFoundException':
      return {
        kind: 'final',
        error: new ConfigurationError(
          'dataApi.database',
          'The Data API found no database of that name on the cluster: check dataApi.database.',
        ),
      };
    case 'InvalidResourceStateException':
      return {
        kind: 'final',
        error: new ConnectionError(`The cluster cannot take calls in its current state (${name}): ${message}`, err),
      };
    case 'UnsupportedResultException':
      return {
        kind: 'final',
        error: new AnypgError(
          'UNSUPPORTED',
          /size limit|too large|exceed/i.test(message)
            ? `The result is larger than the Data API returns in one call (1 MiB, 64 KB per row): ${message} Select fewer rows or columns, or page through them.`
            : `The Data API cannot return this result: ${message} Cast such columns to text in the query (col::text).`,
          { cause: err },
        ),
      };
    case 'ValidationException':
      if (/multi-?statement/i.test(message)) {
        return {
          kind: 'final',
          error: new AnypgError(
            'UNSUPPORTED',
            'The Data API runs one statement per call: split the SQL into statements, and run them in db.transaction() or db.batch() to keep them atomic.',
            { cause: err },
          ),
        };
      }
      return { kind: 'final', error: refused(message, err, name) };
    case 'AbortError':
      // Told apart by the caller (its deadline, or anypg's own time limit).
      return { kind: 'unknown', cause: err, what: 'the call was aborted' };
    case 'CredentialsProviderError':
      return {
        kind: 'final',
        error: new ConnectionError(
          'No AWS credentials were found for the Data API: pass dataApi.credentials, or run where the SDK finds them (Lambda role, AWS_PROFILE, AWS_ACCESS_KEY_ID).',
          err,
          false,
        ),
      };
  }
  if (NOT_SENT_CODES.has(e.code ?? '')) return { kind: 'not-sent', cause: err };
  // The SDK's connect timeout: no connection was made, so nothing was sent.
  if (name === 'TimeoutError' && /without establishing a connection/i.test(message))
    return { kind: 'not-sent', cause: err };
  if (SENT_CODES.has(e.code ?? '') || name === 'TimeoutError' || /socket hang up/i.test(message)) {
    return { kind: 'unknown', cause: err, what: `the connection failed (${e.code ?? name})` };
  }
  if (status !== undefined && status >= 500) {
    return { kind: 'unknown', cause: err, what: `the Data API answered HTTP ${status}${name ? ` (${name})` : ''}` };
  }
  if (status === 429) return { kind: 'throttled', cause: err };
  if (e.$fault === 'client' || (status !== undefined && status >= 400)) {
    return { kind: 'final', error: refused(message, err, name) };
  }
  return { kind: 'unknown', cause: err, what: `the call failed (${name || 'unknown error'})` };
}

/** A request the Data API refused for good: a setting when the message names one, else UNSUPPORTED. */
function refused(message: string, cause: unknown, name = ''): AnypgError {
  const text = message.slice(0, 300);
  const option = /secret/i.test(message)
    ? 'dataApi.secretArn'
    : /\barn\b|cluster/i.test(message)
      ? 'dataApi.resourceArn'
      : /\bdatabase\b.*\b(not exist|not found)/i.test(message)
        ? 'dataApi.database'
        : undefined;
  if (option) {
    return Object.assign(new ConfigurationError(option, `The Data API refused ${option}: ${text}`), { cause });
  }
  return new AnypgError('UNSUPPORTED', `The Data API refused the request${name ? ` (${name})` : ''}: ${text}`, {
    cause,
  });
}

const LABELS = ['Detail', 'Hint', 'Position', 'Where', 'Internal Query', 'Internal Position'] as const;
const SECTION = new RegExp(`(?:;\\s+|\\n\\s*)(${LABELS.join('|')}): `, 'g');

/** What a DatabaseErrorException message holds. */
export interface ParsedDatabaseMessage {
  message: string;
  fields: PostgresErrorFields;
}

/**
 * Parses the message the Data API builds from a PostgreSQL error. `map` turns a position in the
 * SQL that was sent into one in the caller's SQL.
 */
export function parseDatabaseMessage(text: string, map: (p: number) => number = (p) => p): ParsedDatabaseMessage {
  let rest = text.trim();
  let sqlstate: string | undefined;
  const state = /;?\s*SQLState: ([0-9A-Z]{5})\s*$/.exec(rest);
  if (state) {
    sqlstate = state[1];
    rest = rest.slice(0, state.index);
  }
  let severity: string | undefined;
  const sev = /^(ERROR|FATAL|PANIC):\s+/.exec(rest);
  if (sev) {
    severity = sev[1];
    rest = rest.slice(sev[0].length);
  }
  const sections: Partial<Record<(typeof LABELS)[number], string>> = {};
  const marks = [...rest.matchAll(SECTION)];
  const primary = marks.length > 0 ? rest.slice(0, marks[0]!.index) : rest;
  marks.forEach((m, i) => {
    const start = m.index! + m[0].length;
    const end = i + 1 < marks.length ? marks[i + 1]!.index! : rest.length;
    sections[m[1] as (typeof LABELS)[number]] = rest.slice(start, end).trim();
  });
  const message = primary.trim();
  const fields: PostgresErrorFields = { sqlstate: sqlstate ?? inferSqlstate(message) };
  if (severity) fields.severity = severity;
  if (sections.Detail) fields.detail = sections.Detail;
  if (sections.Hint) fields.hint = sections.Hint;
  if (sections.Position && /^\d+$/.test(sections.Position)) fields.position = String(map(Number(sections.Position)));
  if (sections.Where) fields.where = sections.Where;
  if (sections['Internal Query']) fields.internalQuery = sections['Internal Query'];
  if (sections['Internal Position']) fields.internalPosition = sections['Internal Position'];
  Object.assign(fields, namesIn(message, fields.sqlstate));
  return { message, fields };
}

function databaseError(text: string, cause: unknown, map: (p: number) => number): DatabaseError {
  const { message, fields } = parseDatabaseMessage(text, map);
  if (fields.sqlstate === '57014') return new StatementTimeoutError(message, fields, cause);
  return new DatabaseError(message, fields, cause);
}

/** Table, column and constraint names, where PostgreSQL's message for that SQLSTATE names them. */
function namesIn(message: string, sqlstate: string): Partial<PostgresErrorFields> {
  const q = (re: RegExp) => re.exec(message)?.[1];
  switch (sqlstate) {
    case '23505': // unique_violation
    case '23P01': // exclusion_violation
      return defined({ constraint: q(/constraint "((?:[^"]|"")+)"/) });
    case '23503': // foreign_key_violation: 'insert or update on table "t" violates foreign key constraint "c"'
      return defined({ table: q(/on table "((?:[^"]|"")+)"/), constraint: q(/constraint "((?:[^"]|"")+)"/) });
    case '23502': // not_null_violation: 'null value in column "c" of relation "t" violates not-null constraint'
      return defined({ column: q(/in column "((?:[^"]|"")+)"/), table: q(/of relation "((?:[^"]|"")+)"/) });
    case '23514': // check_violation: 'new row for relation "t" violates check constraint "c"'
      return defined({ table: q(/for relation "((?:[^"]|"")+)"/), constraint: q(/constraint "((?:[^"]|"")+)"/) });
    default:
      return {};
  }
}

function defined<T extends Record<string, string | undefined>>(o: T): Partial<Record<keyof T, string>> {
  const out: Partial<Record<keyof T, string>> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k as keyof T] = v;
  return out;
}

// Without a `SQLState:` suffix (layouts seen in older captures), the code is inferred from
// PostgreSQL's wording for the errors applications branch on.
const BY_WORDING: [RegExp, string][] = [
  [/^duplicate key value violates unique constraint/, '23505'],
  [/violates foreign key constraint/, '23503'],
  [/violates not-null constraint/, '23502'],
  [/violates check constraint/, '23514'],
  [/violates exclusion constraint/, '23P01'],
  [/^syntax error at or near/, '42601'],
  [/^division by zero/, '22012'],
  [/^relation ".*" does not exist/, '42P01'],
  [/^column ".*" does not exist/, '42703'],
  [/^could not serialize access/, '40001'],
  [/^deadlock detected/, '40P01'],
  [/^canceling statement due to statement timeout/, '57014'],
  [/^current transaction is aborted/, '25P02'],
  [/^password authentication failed/, '28P01'],
  [/^database ".*" does not exist/, '3D000'],
];

function inferSqlstate(message: string): string {
  for (const [re, code] of BY_WORDING) if (re.test(message)) return code;
  return 'XX000';
}
