// The Lambda Runtime API (2018-06-01), served over HTTP on loopback: the same four routes a real
// Lambda sandbox offers its runtime, so any runtime client that speaks them (ours, or a custom
// runtime) works unchanged. This module only speaks HTTP; what an invocation means lives in
// runner.ts, which implements RuntimeApiHost.
//
// Only the runtime inside the container speaks it (plain HTTP from Node, no Origin). A web page
// could otherwise take the next event (GET /next) or post a forged result, so every request from
// a browser is refused, whatever its origin, and so is one addressed to another host name (DNS
// rebinding): see guard/browser-guard.ts.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BrowserGuard } from '../guard/browser-guard.js';

const PREFIX = '/2018-06-01/runtime';

/** Lambda's limit for a synchronous response payload: 6 MiB. */
export const MAX_RESPONSE_BYTES = 6 * 1024 * 1024;

/** An event handed to the runtime through a pending GET /next. */
export interface NextEvent {
  requestId: string;
  deadlineMs: number;
  invokedFunctionArn: string;
  traceId: string;
  clientContext?: string;
  cognitoIdentity?: string;
  /** The event, already JSON text. */
  body: string;
}

/** A runtime's long poll, waiting for an event. */
export interface PendingNext {
  deliver(event: NextEvent): void;
  /** True once the runtime's connection is gone (the process died or was killed). */
  readonly gone: boolean;
}

/** What the HTTP side tells the runtime back: 202 Accepted, or a client error with Lambda's error shape. */
export type Reply = { status: 202 } | { status: 400 | 403 | 413; errorType: string; errorMessage: string };

export interface RuntimeApiHost {
  next(pending: PendingNext): void;
  response(requestId: string, body: Buffer | undefined, size: number): Reply;
  error(requestId: string, body: Buffer, errorType: string | undefined): Reply;
  initError(body: Buffer, errorType: string | undefined): Reply | Promise<Reply>;
}

export interface RuntimeApiServer {
  /** host:port, the value of AWS_LAMBDA_RUNTIME_API. */
  readonly address: string;
  readonly url: string;
  close(): Promise<void>;
}

export async function startRuntimeApi(host: RuntimeApiHost, bindHost = '127.0.0.1'): Promise<RuntimeApiServer> {
  const guard = new BrowserGuard({ what: 'The Lambda Runtime API' }, {}, true);
  const server = createServer((req, res) => {
    const refusal = guard.check(req.headers);
    if (refusal) {
      req.resume();
      send(res, refusal.status, { errorType: 'AccessDenied', errorMessage: refusal.message });
      return;
    }
    route(host, req, res);
  });
  // The runtime keeps one connection and long-polls on it; a frozen or busy runtime may leave it
  // idle for as long as it likes, so never time it out from this side.
  server.keepAliveTimeout = 0;
  server.requestTimeout = 0;
  server.headersTimeout = 0;
  await listen(server, bindHost);
  const { port } = server.address() as AddressInfo;
  guard.bind(bindHost, port);
  const address = `${bindHost}:${port}`;
  let closed: Promise<void> | undefined;
  return {
    address,
    url: `http://${address}${PREFIX}`,
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}

function listen(server: Server, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function route(host: RuntimeApiHost, req: IncomingMessage, res: ServerResponse) {
  const path = (req.url ?? '').split('?')[0] ?? '';
  if (!path.startsWith(PREFIX)) return notFound(req, res);
  const rest = path.slice(PREFIX.length);
  const errorType = header(req, 'lambda-runtime-function-error-type');

  if (rest === '/invocation/next') {
    if (req.method !== 'GET') return methodNotAllowed(req, res);
    req.resume();
    return host.next(pendingNext(req, res));
  }
  if (rest === '/init/error') {
    if (req.method !== 'POST') return methodNotAllowed(req, res);
    return readBody(req, Number.POSITIVE_INFINITY).then(async ({ body }) =>
      reply(res, await host.initError(body!, errorType)),
    );
  }
  const m = /^\/invocation\/([^/]+)\/(response|error)$/.exec(rest);
  if (!m) return notFound(req, res);
  if (req.method !== 'POST') return methodNotAllowed(req, res);
  const requestId = decodeURIComponent(m[1]!);
  if (m[2] === 'response') {
    return readBody(req, MAX_RESPONSE_BYTES).then(({ body, size }) => reply(res, host.response(requestId, body, size)));
  }
  return readBody(req, Number.POSITIVE_INFINITY).then(({ body }) =>
    reply(res, host.error(requestId, body!, errorType)),
  );
}

function pendingNext(req: IncomingMessage, res: ServerResponse): PendingNext {
  let gone = false;
  let delivered = false;
  // 'close' on the response also means the connection went away before an answer (one listener
  // per poll: the socket is kept alive across polls, so listeners on it would pile up).
  res.on('close', () => {
    if (!delivered) gone = true;
  });
  return {
    get gone() {
      return gone || req.socket.destroyed;
    },
    deliver(event) {
      delivered = true;
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'lambda-runtime-aws-request-id': event.requestId,
        'lambda-runtime-deadline-ms': String(event.deadlineMs),
        'lambda-runtime-invoked-function-arn': event.invokedFunctionArn,
        'lambda-runtime-trace-id': event.traceId,
        'content-length': String(Buffer.byteLength(event.body)),
      };
      if (event.clientContext !== undefined) headers['lambda-runtime-client-context'] = event.clientContext;
      if (event.cognitoIdentity !== undefined) headers['lambda-runtime-cognito-identity'] = event.cognitoIdentity;
      res.writeHead(200, headers);
      res.end(event.body);
    },
  };
}

/** Reads a request body; past `limit` bytes it keeps draining (so the client can finish) but keeps nothing. */
function readBody(req: IncomingMessage, limit: number): Promise<{ body: Buffer | undefined; size: number }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
      else chunks.length = 0;
    });
    const done = () => resolve({ body: size <= limit ? Buffer.concat(chunks) : undefined, size });
    req.on('end', done);
    // A runtime killed mid-request: nobody is left to answer, but settle anyway.
    req.on('error', done);
  });
}

function reply(res: ServerResponse, r: Reply) {
  if (res.destroyed) return;
  const body = r.status === 202 ? { status: 'OK' } : { errorType: r.errorType, errorMessage: r.errorMessage };
  send(res, r.status, body);
}

function notFound(req: IncomingMessage, res: ServerResponse) {
  req.resume();
  send(res, 404, {
    errorType: 'InvalidRequest',
    errorMessage: `No Runtime API route ${req.method} ${req.url}. Routes: GET ${PREFIX}/invocation/next, POST ${PREFIX}/invocation/{id}/response|error, POST ${PREFIX}/init/error.`,
  });
}

function methodNotAllowed(req: IncomingMessage, res: ServerResponse) {
  req.resume();
  send(res, 405, { errorType: 'InvalidRequest', errorMessage: `${req.method} is not allowed on ${req.url}.` });
}

function send(res: ServerResponse, status: number, body: unknown) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) });
  res.end(text);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
