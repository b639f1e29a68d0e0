// The Data API operations: ExecuteStatement, BatchExecuteStatement, BeginTransaction,
// CommitTransaction, RollbackTransaction. Each takes the parsed request body and returns the JSON
// response body, or throws a DataApiError.
import type pg from 'pg';
import { badRequest, DataApiError, type ErrorMessageOptions, formatDatabaseError, isPgError } from './errors.js';
import { columnMetadata } from './metadata.js';
import { type TranslatedSql, translatePlaceholders } from './placeholders.js';
import type { Session, Sessions } from './sessions.js';
import { resolveTypes, type TypeInfo } from './types.js';
import type { Upstream, UpstreamTarget } from './upstream.js';
import { type BoundParameter, bindParameter, type RenderOptions, toField, toJsonText } from './values.js';

export interface DataApiLimits {
  /** Largest request body. AWS: 4 MiB. */
  maxRequestBytes: number;
  /** Largest ExecuteStatement response (records). AWS: 1 MiB. */
  maxResponseBytes: number;
  /** Largest row (sum of its values' sizes). AWS: 64 KB. 0 turns the check off. */
  maxRowBytes: number;
  /** Largest `formattedRecords` string. AWS: 10 MB. */
  maxJsonBytes: number;
}

export const DEFAULT_LIMITS: DataApiLimits = {
  maxRequestBytes: 4 * 1024 * 1024,
  maxResponseBytes: 1024 * 1024,
  maxRowBytes: 64 * 1024,
  maxJsonBytes: 10 * 1024 * 1024,
};

export interface OperationContext {
  upstream: Upstream;
  sessions: Sessions;
  strict: boolean;
  statementTimeoutMs: number;
  limits: DataApiLimits;
  errorMessages: ErrorMessageOptions;
}

type Body = Record<string, unknown>;

/** A connection for one call: a pooled one, or the transaction's session. */
interface Lease {
  client: pg.ClientBase;
  target: UpstreamTarget;
  types: Map<number, TypeInfo>;
  session?: Session;
  pid: number;
  release(broken: boolean): void;
}

function requireString(body: Body, key: string): string {
  const v = body[key];
  if (typeof v !== 'string' || v === '') throw badRequest(`Missing required parameter: ${key}.`);
  return v;
}

function optionalString(body: Body, key: string): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw badRequest(`Parameter ${key} must be a string.`);
  return v;
}

/** AWS (Serverless v2 and provisioned) refuses the deprecated `schema` parameter. */
function checkSchema(ctx: OperationContext, body: Body) {
  if (ctx.strict && body.schema !== undefined && body.schema !== null) {
    throw new DataApiError('ValidationException', "The schema parameter isn't supported");
  }
}

async function lease(ctx: OperationContext, body: Body): Promise<Lease> {
  const transactionId = body.transactionId;
  if (transactionId !== undefined && transactionId !== null && transactionId !== '') {
    const { session, release } = ctx.sessions.acquire(transactionId);
    return {
      client: session.client,
      target: session.target,
      types: session.types,
      session,
      pid: session.pid,
      release: () => release(),
    };
  }
  const target = ctx.upstream.target(requireString(body, 'secretArn'), optionalString(body, 'database'));
  const client = await ctx.upstream.pooled(target);
  return {
    client,
    target,
    types: ctx.upstream.types(target),
    pid: (client as unknown as { processID: number }).processID,
    // A connection left inside a transaction (a statement ran BEGIN) must not serve the next call.
    release: (broken) =>
      client.release(
        broken || (client as unknown as { getTransactionStatus(): string }).getTransactionStatus() !== 'I',
      ),
  };
}

/**
 * Runs `work` on a leased connection under the statement timeout. On timeout the caller gets a
 * StatementTimeoutException at once; the statement is cancelled unless `continueAfterTimeout`, and
 * the connection is released only when it has really finished.
 */
async function withLease<T>(ctx: OperationContext, body: Body, work: (l: Lease) => Promise<T>): Promise<T> {
  const l = await lease(ctx, body);
  const running = work(l);
  running.then(
    () => l.release(false),
    (err) => l.release(!(err instanceof DataApiError) && !isPgError(err)),
  );
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      if (body.continueAfterTimeout !== true) void ctx.upstream.cancel(l.target, l.pid);
      reject(
        new DataApiError(
          'StatementTimeoutException',
          `The statement did not finish within ${ctx.statementTimeoutMs} ms${body.continueAfterTimeout === true ? ' (it keeps running: continueAfterTimeout)' : ' and was cancelled'}.`,
          { dbConnectionId: l.pid },
        ),
      );
    }, ctx.statementTimeoutMs);
  });
  try {
    return await Promise.race([running, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs one statement with explicitly typed parameters, getting every value back as PostgreSQL's text. */
async function typedQuery(
  l: Lease,
  sql: TranslatedSql,
  params: BoundParameter[],
  ctx: OperationContext,
): Promise<pg.QueryArrayResult> {
  // node-postgres sends `types` as the Parse message's parameter types and also asks it for result
  // parsers: an array of OIDs with a getTypeParser that returns the text unchanged does both.
  const types = Object.assign(
    params.map((p) => p.type),
    { getTypeParser: () => (text: string) => text },
  );
  try {
    return await l.client.query({
      text: sql.text,
      values: params.map((p) => p.value),
      types,
      rowMode: 'array',
      queryMode: 'extended',
    } as unknown as pg.QueryArrayConfig);
  } catch (err) {
    throw databaseError(err, ctx, l, sql);
  }
}

function databaseError(err: unknown, ctx: OperationContext, l: Lease, sql?: TranslatedSql): unknown {
  if (!isPgError(err)) return err;
  const position = sql ? (p: number) => sql.originalPosition(p) : undefined;
  const message = formatDatabaseError(err, ctx.errorMessages, position);
  // The first error is what aborted the transaction: COMMIT reports it as the cause.
  if (l.session) l.session.failure ??= formatDatabaseError(err, { ...ctx.errorMessages, sqlState: false }, position);
  return new DataApiError('DatabaseErrorException', message);
}

function bindAll(parameters: unknown, strict: boolean): Map<string, BoundParameter> {
  const out = new Map<string, BoundParameter>();
  if (parameters === undefined || parameters === null) return out;
  if (!Array.isArray(parameters)) throw badRequest('parameters must be a list of SqlParameter.');
  for (const p of parameters) {
    const { name, bound } = bindParameter(p, strict);
    if (!out.has(name)) out.set(name, bound);
  }
  return out;
}

function translate(sql: string, bound: Map<string, BoundParameter>): TranslatedSql {
  const translated = translatePlaceholders(sql, new Set(bound.keys()));
  if (translated.multipleStatements) {
    throw new DataApiError('ValidationException', "Multistatements aren't supported.");
  }
  return translated;
}

function renderOptions(ctx: OperationContext, body: Body): RenderOptions {
  const options = (body.resultSetOptions ?? {}) as Record<string, unknown>;
  const decimal = options.decimalReturnType ?? 'STRING';
  const long = options.longReturnType ?? 'LONG';
  if (decimal !== 'STRING' && decimal !== 'DOUBLE_OR_LONG') {
    throw badRequest('resultSetOptions.decimalReturnType must be STRING or DOUBLE_OR_LONG.');
  }
  if (long !== 'LONG' && long !== 'STRING') throw badRequest('resultSetOptions.longReturnType must be LONG or STRING.');
  return { decimalReturnType: decimal, longReturnType: long, strict: ctx.strict };
}

const utf8 = (s: string) => Buffer.byteLength(s, 'utf8');

function rowBytes(row: (string | null)[]): number {
  let n = 0;
  for (const v of row) if (v !== null) n += utf8(v);
  return n;
}

export async function executeStatement(ctx: OperationContext, body: Body): Promise<string> {
  requireString(body, 'resourceArn');
  requireString(body, 'secretArn');
  const sql = requireString(body, 'sql');
  checkSchema(ctx, body);
  const bound = bindAll(body.parameters, ctx.strict);
  const translated = translate(sql, bound);
  const params = translated.names.map((n) => bound.get(n)!);
  const render = renderOptions(ctx, body);
  const format = body.formatRecordsAs ?? 'NONE';
  if (format !== 'NONE' && format !== 'JSON') throw badRequest('formatRecordsAs must be NONE or JSON.');

  return withLease(ctx, body, async (l) => {
    const result = await typedQuery(l, translated, params, ctx);
    const fields = result.fields ?? [];
    const response: Record<string, unknown> = {};
    if (fields.length === 0) {
      response.numberOfRecordsUpdated = result.rowCount ?? 0;
      response.generatedFields = [];
      return JSON.stringify(response);
    }

    const types = await resolveTypes(
      l.client,
      fields.map((f) => f.dataTypeID),
      l.types,
    );
    const columnTypes = fields.map((f) => types.get(f.dataTypeID)!);
    // AWS refuses such a result by its column types, rows or no rows.
    const refused = ctx.strict ? columnTypes.find((t) => t.kind === 'unsupported') : undefined;
    if (refused) {
      throw new DataApiError(
        'UnsupportedResultException',
        `The result contains the unsupported data type ${refused.displayName}.`,
      );
    }
    const rows = result.rows as (string | null)[][];
    if (ctx.limits.maxRowBytes > 0) {
      for (const row of rows) {
        if (rowBytes(row) > ctx.limits.maxRowBytes) {
          throw new DataApiError(
            'UnsupportedResultException',
            `The result contains a row larger than the size limit of ${ctx.limits.maxRowBytes} bytes.`,
          );
        }
      }
    }

    if (format === 'JSON') {
      const keys = fields.map((f) => JSON.stringify(f.name));
      if (new Set(keys).size !== keys.length) {
        throw badRequest(
          'The result set has more than one column with the same name, which JSON output cannot hold. Give the columns unique aliases.',
        );
      }
      const formatted = `[${rows
        .map((row) => `{${row.map((v, i) => `${keys[i]}:${toJsonText(v, columnTypes[i]!, render)}`).join(',')}}`)
        .join(',')}]`;
      if (utf8(formatted) > ctx.limits.maxJsonBytes) {
        throw badRequest(`The JSON result exceeds the size limit of ${ctx.limits.maxJsonBytes} bytes.`);
      }
      response.numberOfRecordsUpdated = 0;
      response.generatedFields = [];
      response.formattedRecords = formatted;
      return JSON.stringify(response);
    }

    response.records = rows.map((row) => row.map((v, i) => toField(v, columnTypes[i]!, render)));
    if (body.includeResultMetadata === true) {
      response.columnMetadata = await columnMetadata(l.client, fields, types);
    }
    // A statement that returns rows updates none, as the JDBC driver reports it.
    response.numberOfRecordsUpdated = 0;
    response.generatedFields = [];
    const text = JSON.stringify(response);
    if (utf8(text) > ctx.limits.maxResponseBytes) {
      throw new DataApiError(
        'UnsupportedResultException',
        `The result exceeds the size limit of ${ctx.limits.maxResponseBytes} bytes. Add a LIMIT, select fewer columns, or page through the rows.`,
      );
    }
    return text;
  });
}

export async function batchExecuteStatement(ctx: OperationContext, body: Body): Promise<string> {
  requireString(body, 'resourceArn');
  requireString(body, 'secretArn');
  const sql = requireString(body, 'sql');
  checkSchema(ctx, body);
  const sets = body.parameterSets ?? [];
  if (!Array.isArray(sets)) throw badRequest('parameterSets must be a list of parameter lists.');
  const statements = sets.map((set) => {
    const bound = bindAll(set, ctx.strict);
    const translated = translate(sql, bound);
    return { translated, params: translated.names.map((n) => bound.get(n)!) };
  });
  if (statements.length === 0) translate(sql, new Map()); // still refuse multi-statement SQL

  return withLease(ctx, body, async (l) => {
    // Outside a transaction the batch is one implicit transaction: all of it or nothing.
    const own = !l.session;
    if (own) await l.client.query('BEGIN');
    try {
      for (const s of statements) await typedQuery(l, s.translated, s.params, ctx);
      if (own) await l.client.query('COMMIT');
    } catch (err) {
      if (own) await l.client.query('ROLLBACK').catch(() => {});
      throw err;
    }
    return JSON.stringify({ updateResults: statements.map(() => ({ generatedFields: [] })) });
  });
}

export async function beginTransaction(ctx: OperationContext, body: Body): Promise<string> {
  requireString(body, 'resourceArn');
  const target = ctx.upstream.target(requireString(body, 'secretArn'), optionalString(body, 'database'));
  checkSchema(ctx, body);
  const client = await ctx.upstream.dedicated(target);
  try {
    const session = await ctx.sessions.begin(client, target, ctx.upstream.types(target));
    return JSON.stringify({ transactionId: session.id });
  } catch (err) {
    await client.end().catch(() => {});
    if (isPgError(err)) throw new DataApiError('DatabaseErrorException', formatDatabaseError(err, ctx.errorMessages));
    throw err;
  }
}

export async function commitTransaction(ctx: OperationContext, body: Body): Promise<string> {
  return finishTransaction(ctx, body, 'COMMIT');
}

export async function rollbackTransaction(ctx: OperationContext, body: Body): Promise<string> {
  return finishTransaction(ctx, body, 'ROLLBACK');
}

async function finishTransaction(ctx: OperationContext, body: Body, statement: 'COMMIT' | 'ROLLBACK') {
  requireString(body, 'resourceArn');
  requireString(body, 'secretArn');
  const transactionId = requireString(body, 'transactionId');
  const { session } = ctx.sessions.acquire(transactionId);
  let tag: string;
  try {
    tag = await ctx.sessions.finish(session, statement);
  } catch (err) {
    if (isPgError(err)) throw new DataApiError('DatabaseErrorException', formatDatabaseError(err, ctx.errorMessages));
    throw err;
  }
  if (statement === 'COMMIT' && tag === 'ROLLBACK') {
    // PostgreSQL answers COMMIT of a failed transaction with ROLLBACK; the JDBC driver makes that an error.
    const cause = session.failure ? ` Transaction failure cause is <<${session.failure}>>` : '';
    throw new DataApiError(
      'DatabaseErrorException',
      `The database returned ROLLBACK, so the transaction cannot be committed.${cause}${ctx.errorMessages.sqlState === false ? '' : '; SQLState: 25P02'}`,
    );
  }
  return JSON.stringify({
    transactionStatus: statement === 'COMMIT' ? 'Transaction Committed' : 'Rollback Complete',
  });
}
