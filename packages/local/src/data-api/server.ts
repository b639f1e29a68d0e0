// A local RDS Data API endpoint in front of any PostgreSQL, for the unmodified
// `@aws-sdk/client-rds-data` (and drizzle-orm's aws-data-api/pg driver on top of it).
//
// REST-JSON as the SDK speaks it: POST /Execute, /BatchExecute, /BeginTransaction,
// /CommitTransaction, /RollbackTransaction (/ExecuteSql is refused as on current clusters), errors
// as `x-amzn-errortype` + `{"message"}`. SigV4 signatures are accepted unchecked, but a call must
// carry one and a JSON content type, and come from no foreign web page (admission.ts).
// A control route, POST /_anypg/fail-next-calls, makes the next N calls fail (auto-pause tests).
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LocalError } from '../errors.js';
import { BrowserGuard, type BrowserGuardOptions } from '../guard/browser-guard.js';
import { assertPortFree, portInUse } from '../ports.js';
import { SDK_PREFLIGHT_HEADERS, sdkShapeProblem } from './admission.js';
import {
  badRequest,
  DataApiError,
  type DataApiErrorType,
  type ErrorMessageOptions,
  isDataApiErrorType,
} from './errors.js';
import { parseWithNumbers, plain } from './json.js';
import {
  batchExecuteStatement,
  beginTransaction,
  commitTransaction,
  type DataApiLimits,
  DEFAULT_LIMITS,
  executeStatement,
  type OperationContext,
  rollbackTransaction,
} from './operations.js';
import { Sessions } from './sessions.js';
import {
  type DataApiClientSettings,
  dataApiClientSnippet,
  dataApiEnv,
  dataApiEnvSnippet,
  dataApiLambdaCommand,
  LOCAL_CREDENTIALS,
} from './setup.js';
import { type DataApiSecret, Upstream } from './upstream.js';

export { type DataApiErrorType, type ErrorMessageOptions, sqlStateOf } from './errors.js';
export type { DataApiLimits } from './operations.js';
export {
  type DataApiClientSettings,
  dataApiClientSnippet,
  dataApiEnv,
  dataApiEnvSnippet,
  dataApiLambdaCommand,
} from './setup.js';
export type { DataApiSecret } from './upstream.js';

export interface DataApiEndpointOptions extends BrowserGuardOptions {
  /** The PostgreSQL to run statements on: `postgresql://user:password@host:port/database`. */
  upstream: string;
  /** Default: a free port picked by the OS. A port in use throws LocalError PORT_IN_USE. */
  port?: number;
  /** Address to listen on. Default 127.0.0.1. */
  host?: string;
  /** Region printed in the client settings. Default `us-east-1`. */
  region?: string;
  /** The cluster ARN to print. Any resourceArn is accepted. */
  resourceArn?: string;
  /** The secret ARN to print; it (and any ARN not in `credentials`) maps to the upstream URL's role. */
  secretArn?: string;
  /** More secrets: secretArn to `{ username, password, dbname? }`, as in a Secrets Manager RDS secret. */
  credentials?: Record<string, DataApiSecret>;
  /** A transaction no call used for this long is rolled back. AWS: 3 minutes (the default). */
  transactionTimeoutMs?: number;
  /** A transaction is rolled back at this age whatever happens. AWS: 24 hours (the default). */
  transactionMaxLifetimeMs?: number;
  /** A call running longer fails with StatementTimeoutException. AWS: 45 s (the default). */
  statementTimeoutMs?: number;
  /**
   * Strict (default): behave as AWS does: an unhinted stringValue is typed text, array parameters,
   * the `schema` parameter and unsupported result types are refused. `false`: unhinted strings are
   * bound as unknown (PostgreSQL infers the type), arrays are accepted, anything is returned as text.
   */
  strict?: boolean;
  /** Size limits; each defaults to AWS's. */
  limits?: Partial<DataApiLimits>;
  /** How DatabaseErrorException messages are laid out (see ErrorMessageOptions). */
  errorMessages?: ErrorMessageOptions;
  /** Error type for an unknown or expired transaction id. Default TransactionNotFoundException. */
  transactionNotFound?: 'TransactionNotFoundException' | 'NotFoundException';
  /** Pooled connections per role and database for calls outside transactions. Default 10. */
  poolSize?: number;
  /** One line per request (operation, status, duration): never parameters, SQL or secrets. */
  onLog?: (line: string) => void;
  /**
   * How long an idle HTTP connection stays open. Default 60 s *(inferred)*; no Keep-Alive timeout
   * hint is sent, so each client applies its own idle limit.
   */
  keepAliveTimeoutMs?: number;
}

export interface FailNextCallsOptions {
  /** Default DatabaseResumingException (Aurora waking from auto-pause). */
  errorType?: DataApiErrorType;
  message?: string;
}

export interface DataApiEndpoint {
  readonly host: string;
  readonly port: number;
  /** `http://host:port`: pass it as the client's `endpoint`. */
  readonly url: string;
  /** Same as `url`. */
  readonly endpoint: string;
  readonly region: string;
  /** Settings for `new RDSDataClient(clientConfig)`. */
  readonly clientConfig: {
    endpoint: string;
    region: string;
    credentials: { accessKeyId: string; secretAccessKey: string };
  };
  readonly resourceArn: string;
  readonly secretArn: string;
  /** The database calls use when they name none. */
  readonly database: string;
  /** Makes the next `count` Data API calls fail (default: DatabaseResumingException, as a paused cluster). */
  failNextCalls(count: number, options?: FailNextCallsOptions): void;
  /** Counters, for tests and curiosity. */
  stats(): { requests: number; openTransactions: number; expiredTransactions: number; pendingFailures: number };
  /** The three lines that set up a client, ready to paste. */
  snippet(): string;
  /**
   * What code using anypg needs to reach this endpoint with `createDb()` alone, as `NAME=value`
   * lines: ANYPG_DATA_API_RESOURCE_ARN/_SECRET_ARN/_DATABASE, AWS_ENDPOINT_URL_RDS_DATA, AWS_REGION
   * and placeholder AWS credentials.
   */
  envSnippet(): string;
  /** The same as an object (for `startLambda({ env })`, leave AWS_REGION out and pass `region`). */
  env(): Record<string, string>;
  /** The `anypg-local lambda` command line that runs `handler` with that environment. */
  lambdaCommand(handler?: string): string;
  /** Stops listening, rolls back every open transaction and closes every upstream connection. Safe to call twice. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const OPERATIONS: Record<string, (ctx: OperationContext, body: Record<string, unknown>) => Promise<string>> = {
  '/Execute': executeStatement,
  '/BatchExecute': batchExecuteStatement,
  '/BeginTransaction': beginTransaction,
  '/CommitTransaction': commitTransaction,
  '/RollbackTransaction': rollbackTransaction,
};

const CONTROL_FAIL = '/_anypg/fail-next-calls';

export async function startDataApiEndpoint(options: DataApiEndpointOptions): Promise<DataApiEndpoint> {
  if (!options || typeof options.upstream !== 'string') {
    throw new LocalError('BAD_OPTION', 'startDataApiEndpoint needs { upstream: "postgresql://user:pw@host:port/db" }.');
  }
  // Host and Origin checks (a local server's credentials, a browser on the same machine).
  const guard = new BrowserGuard(
    {
      what: 'The local Data API endpoint',
      origin: { option: 'allowOrigins', flag: '--allow-origin' },
      host: { option: 'allowHosts', flag: '--allow-host' },
    },
    options,
  );

  const host = options.host ?? '127.0.0.1';
  const region = options.region ?? 'us-east-1';
  const resourceArn = options.resourceArn ?? `arn:aws:rds:${region}:000000000000:cluster:anypg-local`;
  const secretArn = options.secretArn ?? `arn:aws:secretsmanager:${region}:000000000000:secret:anypg-local-AbCdEf`;
  const limits: DataApiLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const errorMessages: ErrorMessageOptions = {
    layout: 'semicolon',
    sqlState: true,
    detail: true,
    ...options.errorMessages,
  };
  const positive = (v: number | undefined, name: string, fallback: number) => {
    if (v === undefined) return fallback;
    if (!(Number.isFinite(v) && v > 0))
      throw new LocalError('BAD_OPTION', `${name} must be a positive number of milliseconds.`);
    return v;
  };

  let upstream: Upstream;
  try {
    upstream = new Upstream(
      options.upstream,
      new Map(Object.entries(options.credentials ?? {})),
      options.poolSize ?? 10,
      errorMessages,
    );
  } catch (err) {
    throw new LocalError('BAD_OPTION', (err as Error).message);
  }
  const sessions = new Sessions({
    idleMs: positive(options.transactionTimeoutMs, 'transactionTimeoutMs', 3 * 60_000),
    maxLifetimeMs: positive(options.transactionMaxLifetimeMs, 'transactionMaxLifetimeMs', 24 * 3600_000),
    notFound: options.transactionNotFound ?? 'TransactionNotFoundException',
  });
  const ctx: OperationContext = {
    upstream,
    sessions,
    strict: options.strict ?? true,
    statementTimeoutMs: positive(options.statementTimeoutMs, 'statementTimeoutMs', 45_000),
    limits,
    errorMessages,
  };

  let requests = 0;
  // Pending injected failures, in order: `remaining` calls fail with `options`.
  const failures: Array<{ remaining: number; options: FailNextCallsOptions }> = [];
  const pendingFailures = () => failures.reduce((n, f) => n + f.remaining, 0);
  const nextFailure = (): FailNextCallsOptions | undefined => {
    const head = failures[0];
    if (!head) return undefined;
    if (--head.remaining === 0) failures.shift();
    return head.options;
  };
  const failNextCalls = (count: number, o: FailNextCallsOptions = {}) => {
    if (!(Number.isInteger(count) && count >= 0))
      throw new TypeError('failNextCalls(count): count must be an integer >= 0.');
    if (o.errorType !== undefined && !isDataApiErrorType(o.errorType)) {
      throw new TypeError(`failNextCalls: unknown errorType ${JSON.stringify(o.errorType)}.`);
    }
    if (count > 0) failures.push({ remaining: count, options: { ...o } });
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const started = Date.now();
    const requestId = randomUUID();
    const path = (req.url ?? '/').split('?')[0]!;
    const refusal = guard.check(req.headers);
    const send = (status: number, body: string, errorType?: string) => {
      const headers: Record<string, string | number> = {
        ...(refusal ? {} : guard.corsHeaders(req.headers)),
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        'x-amzn-requestid': requestId,
      };
      if (errorType) headers['x-amzn-errortype'] = errorType;
      res.writeHead(status, headers);
      res.end(body);
      options.onLog?.(`${req.method} ${path} ${status}${errorType ? ` ${errorType}` : ''} ${Date.now() - started}ms`);
    };
    const fail = (err: unknown) => {
      if (err instanceof DataApiError) return send(err.status, err.body(), err.type);
      // Anything else is the endpoint's own fault: a 500 (the SDK may retry it) with the cause's message
      // (node-postgres messages name no password).
      const e = new DataApiError(
        'InternalServerErrorException',
        `The local Data API endpoint failed: ${String((err as Error)?.message ?? err)}`,
      );
      return send(e.status, e.body(), e.type);
    };

    try {
      if (refusal) {
        req.resume();
        throw new DataApiError('AccessDeniedException', refusal.message);
      }
      if (req.method === 'OPTIONS') {
        // A CORS preflight from an admitted origin (a browser running the SDK on a loopback page).
        req.resume();
        res.writeHead(204, { ...guard.corsHeaders(req.headers), ...SDK_PREFLIGHT_HEADERS });
        res.end();
        return;
      }
      const known = path === CONTROL_FAIL || path === '/ExecuteSql' || OPERATIONS[path] !== undefined;
      const misshapen =
        req.method === 'POST' && known ? sdkShapeProblem(req.headers, path !== CONTROL_FAIL) : undefined;
      if (misshapen) {
        req.resume();
        throw misshapen;
      }
      const raw = await readBody(req, limits.maxRequestBytes);
      if (path === CONTROL_FAIL && req.method === 'POST') {
        const body = plain(raw ? safeParse(raw) : {}) as Record<string, unknown>;
        const count = body.count ?? 1;
        try {
          failNextCalls(count as number, {
            ...(body.errorType !== undefined && { errorType: body.errorType as DataApiErrorType }),
            ...(typeof body.message === 'string' && { message: body.message }),
          });
        } catch (err) {
          throw badRequest((err as Error).message);
        }
        return send(200, JSON.stringify({ pendingFailures: pendingFailures() }));
      }
      const operation = OPERATIONS[path];
      if (req.method !== 'POST' || (!operation && path !== '/ExecuteSql')) {
        throw new DataApiError('UnknownOperationException', `No Data API operation at ${req.method} ${path}.`);
      }
      requests++;
      if (raw === null) {
        throw badRequest(`The request exceeds the size limit of ${limits.maxRequestBytes} bytes.`);
      }
      const failure = nextFailure();
      if (failure) {
        const type = failure.errorType ?? 'DatabaseResumingException';
        throw new DataApiError(
          type,
          failure.message ??
            (type === 'DatabaseResumingException'
              ? 'The Aurora DB instance anypg-local-instance-1 is resuming after being auto-paused. Please wait a few seconds and try again.'
              : `Failure injected by failNextCalls (${type}).`),
        );
      }
      if (!operation) {
        throw badRequest(
          'ExecuteSql is not supported (AWS: not on Aurora Serverless v2 or provisioned clusters). Use ExecuteStatement.',
        );
      }
      const body = safeParse(raw);
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        throw new DataApiError('SerializationException', 'The request body must be a JSON object.');
      }
      send(200, await operation(ctx, body as Record<string, unknown>));
    } catch (err) {
      fail(err);
    }
  };

  if (options.port !== undefined) await assertPortFree(options.port, host, 'RDS Data API endpoint');
  const server: Server = createServer((req, res) => {
    // Set by hand, Node sends no `Keep-Alive: timeout=` hint with it (like the AWS endpoint, inferred).
    res.setHeader('Connection', 'keep-alive');
    void handle(req, res);
  });
  // Idle connections stay open a minute, longer than Node's default 5 s *(inferred from AWS)*.
  server.keepAliveTimeout = options.keepAliveTimeoutMs ?? 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') reject(portInUse(options.port ?? 0, host, 'RDS Data API endpoint'));
      else reject(err);
    });
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  guard.bind(host, port);
  // A wildcard listen address is reached through loopback.
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  const url = `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`;
  const setup: DataApiClientSettings = {
    endpoint: url,
    region,
    resourceArn,
    secretArn,
    database: upstream.defaultSecret.dbname,
  };

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await stopped;
      await sessions.closeAll();
      await upstream.close();
    })();
    return closing;
  };
  return {
    host: reachable,
    port,
    url,
    endpoint: url,
    region,
    // A fresh object each time: the SDK writes into the credentials object it is given.
    get clientConfig() {
      return { endpoint: url, region, credentials: { ...LOCAL_CREDENTIALS } };
    },
    resourceArn,
    secretArn,
    database: upstream.defaultSecret.dbname,
    failNextCalls,
    stats: () => ({
      requests,
      openTransactions: sessions.size,
      expiredTransactions: sessions.expired,
      pendingFailures: pendingFailures(),
    }),
    snippet: () => dataApiClientSnippet(setup),
    envSnippet: () => dataApiEnvSnippet(setup),
    env: () => dataApiEnv(setup),
    lambdaCommand: (handler) => dataApiLambdaCommand(setup, handler),
    close,
    [Symbol.asyncDispose]: close,
  };
}

function safeParse(raw: string): unknown {
  try {
    return parseWithNumbers(raw);
  } catch {
    throw new DataApiError('SerializationException', 'The request body is not valid JSON.');
  }
}

/** The body as text, or null when it is larger than `limit` bytes (read to the end either way). */
function readBody(req: IncomingMessage, limit: number): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    req.on('end', () => resolve(size > limit ? null : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
