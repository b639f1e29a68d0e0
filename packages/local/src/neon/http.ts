// SQL over HTTP, as the Neon driver's `neon()` speaks it: POST /sql with the query (or a batch of
// queries run in one transaction) as JSON, the connection string and options in `Neon-*` headers.
// The wire details are in the repository's notes (protocols.md, section 1).
import type { IncomingMessage, ServerResponse } from 'node:http';
import pg from 'pg';
import { type ConnInfo, HttpProblem, parseConnInfo } from './conn-info.js';
import { type ExecContext, type QueryData, ResponseBudget, runStatement } from './execute.js';
import { paramToPgText } from './json.js';
import type { PooledClient, UpstreamPools } from './upstream.js';

export interface HttpLimits {
  /** Largest request body accepted (413 above it). Neon: 10 MiB. */
  maxRequestBytes: number;
  /** Largest response produced (507 above it, the query is cancelled). Neon: 10 MiB. */
  maxResponseBytes: number;
}

const ISOLATION_LEVELS: Record<string, string> = {
  ReadUncommitted: 'READ UNCOMMITTED',
  ReadCommitted: 'READ COMMITTED',
  RepeatableRead: 'REPEATABLE READ',
  Serializable: 'SERIALIZABLE',
};

// Neon's preflight answer, plus Neon-Batch-Deferrable (which a browser batch may send too). The
// Access-Control-Allow-Origin header comes from the server's origin check: only admitted origins
// get it (Neon answers `*`; its passwords are not a local server's).
const PREFLIGHT_HEADERS = {
  Allow: 'OPTIONS, POST',
  'Access-Control-Allow-Headers':
    'Authorization, Neon-Connection-String, Neon-Raw-Text-Output, Neon-Array-Mode, Neon-Pool-Opt-In, Neon-Batch-Read-Only, Neon-Batch-Isolation-Level, Neon-Batch-Deferrable',
  'Access-Control-Max-Age': '86400',
};

// Every field the driver copies onto NeonDbError, in Neon's order after `message`.
const ERROR_FIELDS = [
  'code',
  'detail',
  'hint',
  'position',
  'internalPosition',
  'internalQuery',
  'severity',
  'where',
  'table',
  'column',
  'schema',
  'dataType',
  'constraint',
  'file',
  'line',
  'routine',
] as const;

interface Options {
  raw: boolean;
  arrayMode: boolean;
  isolation: string | undefined;
  readOnly: boolean;
  deferrable: boolean;
}

export class SqlOverHttp {
  private readonly inFlight = new Map<Promise<void>, AbortController>();

  constructor(
    private readonly pools: UpstreamPools,
    private readonly limits: HttpLimits,
  ) {}

  /** Serves one HTTP request (any path: only POST/OPTIONS /sql are SQL). */
  handle(req: IncomingMessage, res: ServerResponse): void {
    const controller = new AbortController();
    // The client went away before the answer was complete: stop its query.
    res.on('close', () => {
      if (!res.writableFinished) controller.abort();
    });
    const done = this.serve(req, res, controller.signal)
      .catch((err: unknown) => {
        if (!res.headersSent && !res.destroyed) sendError(res, err);
      })
      .finally(() => this.inFlight.delete(done));
    this.inFlight.set(done, controller);
  }

  /** Aborts every request in flight (their queries are cancelled) and waits for them to finish. */
  async closeAll(graceMs = 3000): Promise<void> {
    for (const controller of this.inFlight.values()) controller.abort();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(this.inFlight.keys()),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs);
      }),
    ]);
    clearTimeout(timer);
  }

  private async serve(req: IncomingMessage, res: ServerResponse, signal: AbortSignal): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/sql' && req.method === 'OPTIONS') {
      res.writeHead(200, PREFLIGHT_HEADERS).end();
      return;
    }
    if (path !== '/sql' || req.method !== 'POST') {
      req.resume();
      sendJson(res, 400, JSON.stringify('query is not supported'));
      return;
    }

    const options = parseOptions(req);
    const auth = req.headers.authorization;
    const hasBearer = typeof auth === 'string' && /^Bearer\s+\S/i.test(auth);
    const info = parseConnInfo(header(req, 'neon-connection-string'), hasBearer);
    const body = await readBody(req, this.limits.maxRequestBytes, signal);
    const payload = parsePayload(body);
    if (signal.aborted) return;

    const { client, elementOf } = await this.acquire(info);
    if (signal.aborted) {
      client.release();
      return;
    }
    const ctx: ExecContext = {
      client,
      upstream: this.pools.upstream,
      rawOutput: options.raw,
      defaultArrayMode: options.arrayMode,
      budget: new ResponseBudget(this.limits.maxResponseBytes),
      signal,
      elementOf: (oids) => elementOf(client, oids),
      cancelled: false,
    };
    let json: string;
    const extra: Record<string, string> = {};
    try {
      if (Array.isArray(payload)) {
        json = await runBatch(ctx, payload, options);
        if (options.readOnly) extra['Neon-Batch-Read-Only'] = 'true';
        if (options.deferrable) extra['Neon-Batch-Deferrable'] = 'true';
        if (options.isolation) extra['Neon-Batch-Isolation-Level'] = header(req, 'neon-batch-isolation-level')!;
      } else {
        json = await runStatement(ctx, payload);
      }
    } catch (err) {
      release(client, ctx, err);
      throw err;
    }
    release(client, ctx);
    if (signal.aborted) return;
    sendJson(res, 200, json, extra);
  }

  private async acquire(info: ConnInfo) {
    try {
      return await this.pools.acquire(info);
    } catch (err) {
      // A PostgreSQL refusal (bad password, no such database or role) keeps its fields and is a
      // 400, as Neon answers; anything else is the endpoint failing to reach its upstream.
      if (err instanceof pg.DatabaseError) throw err;
      if (info.password === undefined) {
        // Only a bearer token came: Neon would check the JWT, a local endpoint cannot.
        throw new HttpProblem(
          400,
          `PostgreSQL asked role "${info.user}" for a password and the connection string has none. This local endpoint does not verify JWTs (Authorization: Bearer); put the role's password in the connection string, or give the role trust auth in pg_hba.conf.`,
        );
      }
      const { host, port } = this.pools.upstream;
      const reason = err instanceof Error ? err.message : String(err);
      throw new HttpProblem(
        500,
        `could not connect to the upstream PostgreSQL at ${host}:${port} (${reason}). Check that it is running and that the endpoint's upstream option points to it.`,
      );
    }
  }
}

async function runBatch(ctx: ExecContext, queries: QueryData[], options: Options): Promise<string> {
  let begin = 'BEGIN';
  if (options.isolation) begin += ` ISOLATION LEVEL ${options.isolation}`;
  if (options.readOnly) begin += ' READ ONLY';
  if (options.deferrable) begin += ' DEFERRABLE';
  await ctx.client.query(begin);
  const results: string[] = [];
  try {
    for (const q of queries) results.push(await runStatement(ctx, q));
  } catch (err) {
    if (!ctx.cancelled) await ctx.client.query('ROLLBACK').catch(() => {});
    throw err;
  }
  await ctx.client.query('COMMIT');
  return `{"results":[${results.join(',')}]}`;
}

/**
 * Returns the session to its pool, or closes it when it cannot be trusted: a cancel was sent
 * (it could still hit the next query), the connection failed, or a transaction was left open.
 */
function release(client: PooledClient, ctx: ExecContext, err?: unknown) {
  const broken = err !== undefined && !(err instanceof pg.DatabaseError) && !(err instanceof HttpProblem);
  const status = (client as unknown as { getTransactionStatus(): string | null }).getTransactionStatus();
  client.release(ctx.cancelled || broken || status !== 'I');
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function parseOptions(req: IncomingMessage): Options {
  // As Neon: only the exact value `true` switches an option on.
  const isTrue = (name: string) => header(req, name) === 'true';
  const level = header(req, 'neon-batch-isolation-level');
  let isolation: string | undefined;
  if (level !== undefined) {
    isolation = ISOLATION_LEVELS[level];
    if (!isolation) throw new HttpProblem(400, 'invalid isolation level');
  }
  return {
    raw: isTrue('neon-raw-text-output'),
    arrayMode: isTrue('neon-array-mode'),
    isolation,
    readOnly: isTrue('neon-batch-read-only'),
    deferrable: isTrue('neon-batch-deferrable'),
  };
}

/** Reads the body up to `max` bytes; a larger one is drained (so the 413 reaches the client) and refused. */
function readBody(req: IncomingMessage, max: number, signal: AbortSignal): Promise<Buffer> {
  const tooLarge = () => new HttpProblem(413, `request is too large (max is ${max} bytes)`);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = Number(header(req, 'content-length') ?? 0) > max;
    // Draining stops somewhere: past this the connection is simply closed.
    const drainCap = max + 64 * 1024 * 1024;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) over = true;
      if (over) {
        chunks.length = 0;
        if (size > drainCap) {
          req.destroy();
          reject(tooLarge());
        }
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => (over ? reject(tooLarge()) : resolve(Buffer.concat(chunks))));
    req.on('error', (err) => reject(err));
    signal.addEventListener('abort', () => reject(new HttpProblem(400, 'the client closed the request')), {
      once: true,
    });
  });
}

/** `{query, params?, arrayMode?}` or `{queries: [...]}` (a batch: an array here). */
function parsePayload(body: Buffer): QueryData | QueryData[] {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new HttpProblem(400, `could not parse the HTTP request body: ${(err as Error).message}`);
  }
  const bad = (why: string) => new HttpProblem(400, `could not parse the HTTP request body: ${why}`);
  const one = (v: unknown, where: string): QueryData => {
    if (typeof v !== 'object' || v === null || typeof (v as { query?: unknown }).query !== 'string') {
      throw bad(`${where} needs a "query" string`);
    }
    const { query, params, arrayMode } = v as { query: string; params?: unknown; arrayMode?: unknown };
    if (params !== undefined && params !== null && !Array.isArray(params))
      throw bad(`${where}.params must be an array`);
    if (arrayMode !== undefined && arrayMode !== null && typeof arrayMode !== 'boolean') {
      throw bad(`${where}.arrayMode must be a boolean`);
    }
    return {
      query,
      params: ((params as unknown[] | null | undefined) ?? []).map(paramToPgText),
      arrayMode: typeof arrayMode === 'boolean' ? arrayMode : undefined,
    };
  };
  if (typeof value === 'object' && value !== null && typeof (value as { query?: unknown }).query === 'string') {
    return one(value, 'the body');
  }
  if (typeof value === 'object' && value !== null && Array.isArray((value as { queries?: unknown }).queries)) {
    return (value as { queries: unknown[] }).queries.map((q, i) => one(q, `queries[${i}]`));
  }
  throw bad('expected {"query": "...", "params": [...]} or {"queries": [...]}');
}

function sendJson(res: ServerResponse, status: number, json: string, extra: Record<string, string> = {}) {
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(json),
    ...extra,
  });
  res.end(json);
}

/** The JSON body of an error that is not PostgreSQL's, in Neon's shape (`code` and `severity` empty). */
export function neonErrorBody(message: string): string {
  const body: Record<string, unknown> = { message };
  for (const f of ERROR_FIELDS) body[f] = f === 'code' || f === 'severity' ? '' : null;
  return JSON.stringify(body);
}

/**
 * Neon's error shape: `message` and every PostgreSQL field (null when absent; position and line as
 * strings). Errors that are not PostgreSQL's carry `code: ""` and `severity: ""`, as Neon's do.
 */
function sendError(res: ServerResponse, err: unknown) {
  const body: Record<string, unknown> = {};
  let status = 500;
  if (err instanceof pg.DatabaseError) {
    status = 400;
    body.message = err.message;
    const fields = err as unknown as Record<string, unknown>;
    for (const f of ERROR_FIELDS) body[f] = fields[f] ?? null;
  } else {
    if (err instanceof HttpProblem) {
      status = err.status;
      body.message = err.message;
    } else {
      body.message = `the endpoint failed: ${err instanceof Error ? err.message : String(err)}`;
    }
    for (const f of ERROR_FIELDS) body[f] = f === 'code' || f === 'severity' ? '' : null;
  }
  if (status === 413) res.setHeader('Connection', 'close');
  sendJson(res, status, JSON.stringify(body));
}
