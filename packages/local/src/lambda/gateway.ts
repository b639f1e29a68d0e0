// A small API Gateway (HTTP API, $default route, payload format 2.0) in front of a local Lambda:
// each HTTP request becomes an event (http-api-event.ts), is invoked, and the result becomes the
// HTTP response. A function error, timeout or malformed result is a 500 with API Gateway's body,
// {"message":"Internal Server Error"}, and the request id in the apigw-requestid header: never a
// stack trace or an error message, which may hold secrets. A request from a foreign web page, or
// addressed to another host name (DNS rebinding), is refused with a 403 before any invocation
// (guard/browser-guard.ts); CORS is the function's business, as on an HTTP API without a CORS
// configuration (a preflight of an admitted origin reaches the function).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BrowserGuard, type BrowserGuardOptions } from '../guard/browser-guard.js';
import { portInUse } from '../ports.js';
import { fromLambdaResult, type HttpResponse, newGatewayRequestId, toHttpApiEvent } from './http-api-event.js';
import type { InvokeResult } from './runner.js';

/** HTTP APIs accept request payloads up to 10 MB. */
const MAX_REQUEST_BYTES = 10 * 1024 * 1024;

export interface StartGatewayOptions extends BrowserGuardOptions {
  /** The function: a LocalLambda from startLambda(), or anything with the same invoke(). */
  lambda: { invoke(event: unknown): Promise<InvokeResult> };
  /** Default: a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** requestContext.stage. Default `$default` (paths are passed through without a stage prefix). */
  stage?: string;
  /** requestContext.apiId. Default `local`. */
  apiId?: string;
  /** One line per request (method, path, status, request ids, time), and each failure's cause. */
  onLog?: (line: string) => void;
}

export interface LocalGateway {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function startGateway(options: StartGatewayOptions): Promise<LocalGateway> {
  const host = options.host ?? '127.0.0.1';
  const stage = options.stage ?? '$default';
  const apiId = options.apiId ?? 'local';
  const log = options.onLog ?? (() => {});
  const guard = new BrowserGuard(
    {
      what: 'The local API Gateway',
      origin: { option: 'allowOrigins', flag: '--allow-origin' },
      host: { option: 'allowHosts', flag: '--allow-host' },
    },
    options,
  );

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log(`gateway: ${err instanceof Error ? err.message : String(err)}`);
      if (!res.headersSent) internalError(res, '');
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const requestId = newGatewayRequestId();
    const started = performance.now();
    const refusal = guard.check(req.headers);
    if (refusal) {
      req.resume();
      log(
        `${req.method} ${(req.url ?? '/').split('?')[0]} -> 403 (refused: not this machine's page or host) apigw-requestid=${requestId}`,
      );
      sendJson(res, refusal.status, { message: refusal.message }, requestId);
      return;
    }
    const body = await readBody(req);
    if (body === undefined) {
      sendJson(res, 413, { message: 'Request Entity Too Large' }, requestId);
      return;
    }
    const local = req.socket.address() as AddressInfo;
    const event = toHttpApiEvent(
      {
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        httpVersion: req.httpVersion,
        rawHeaders: req.rawHeaders,
        sourceIp: (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, ''),
        localPort: local.port,
        body,
      },
      { apiId, stage, requestId, now: new Date() },
    );
    const result = await options.lambda.invoke(event);
    const ms = (performance.now() - started).toFixed(1);
    const where = `${event.requestContext.http.method} ${event.rawPath}`;
    if (result.error) {
      log(
        `${where} -> 500 (${result.error.errorType}) apigw-requestid=${requestId} lambda=${result.requestId} ${ms} ms`,
      );
      internalError(res, requestId);
      return;
    }
    const response = fromLambdaResult(result.payload);
    if (!response || !send(res, response, requestId)) {
      log(
        `${where} -> 500 (malformed Lambda proxy response) apigw-requestid=${requestId} lambda=${result.requestId} ${ms} ms`,
      );
      if (!res.headersSent) internalError(res, requestId);
      return;
    }
    log(`${where} -> ${response.statusCode} apigw-requestid=${requestId} lambda=${result.requestId} ${ms} ms`);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'EADDRINUSE' ? portInUse(options.port ?? 0, host, 'The local API Gateway') : err);
    });
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  guard.bind(host, port);
  const urlHost = host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
    return closing;
  };
  return { url: `http://${urlHost}:${port}`, host, port, close, [Symbol.asyncDispose]: close };
}

function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_REQUEST_BYTES) chunks.push(chunk);
      else chunks.length = 0;
    });
    req.on('end', () => resolve(size <= MAX_REQUEST_BYTES ? Buffer.concat(chunks) : undefined));
    req.on('error', reject);
  });
}

/** False when the function's headers cannot be sent (Node rejects invalid names or values). */
function send(res: ServerResponse, r: HttpResponse, requestId: string): boolean {
  try {
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of r.headers) {
      const prev = headers[name];
      if (name === 'set-cookie') headers[name] = [...((prev as string[] | undefined) ?? []), value];
      else headers[name] = value;
    }
    headers['apigw-requestid'] = requestId;
    headers['content-length'] = String(r.body.length);
    res.writeHead(r.statusCode, headers);
  } catch {
    return false;
  }
  res.end(r.body);
  return true;
}

function internalError(res: ServerResponse, requestId: string) {
  sendJson(res, 500, { message: 'Internal Server Error' }, requestId);
}

function sendJson(res: ServerResponse, status: number, body: unknown, requestId: string) {
  const text = JSON.stringify(body);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(text)),
  };
  if (requestId) headers['apigw-requestid'] = requestId;
  res.writeHead(status, headers);
  res.end(text);
}
