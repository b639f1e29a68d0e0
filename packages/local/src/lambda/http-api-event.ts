// API Gateway HTTP API, Lambda proxy integration, payload format 2.0: the event a request becomes,
// and how the function's result becomes the HTTP response. Pure functions, so the mapping can be
// read (and tested) apart from the server.
//
// From the format's documentation: header names lower-cased, duplicate headers and duplicate
// query parameters joined with commas, Cookie headers moved to `cookies`, each response cookie a
// Set-Cookie header, and a result without a statusCode means 200, application/json, the result
// as the body. Where the documentation is silent, the choice made here is marked (inferred).
import { randomBytes } from 'node:crypto';
import { LOCAL_ACCOUNT_ID } from './runner.js';

export interface HttpApiEventV2 {
  version: '2.0';
  routeKey: string;
  rawPath: string;
  rawQueryString: string;
  cookies?: string[];
  headers: Record<string, string>;
  queryStringParameters?: Record<string, string>;
  requestContext: {
    accountId: string;
    apiId: string;
    domainName: string;
    domainPrefix: string;
    http: { method: string; path: string; protocol: string; sourceIp: string; userAgent: string };
    requestId: string;
    routeKey: string;
    stage: string;
    time: string;
    timeEpoch: number;
  };
  body?: string;
  isBase64Encoded: boolean;
}

export interface IncomingRequest {
  method: string;
  /** The request target as received: path and query, still percent-encoded. */
  url: string;
  httpVersion: string;
  /** Node's rawHeaders: name, value, name, value, ... in the order received. */
  rawHeaders: string[];
  sourceIp: string;
  localPort: number;
  body: Buffer;
}

export interface EventContext {
  apiId: string;
  stage: string;
  requestId: string;
  now: Date;
}

// Hop-by-hop headers end at the gateway; it buffers the body, so the function sees a length.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
]);

/** API Gateway's request ids look like `JKJaXmPLvHcESHA=`. */
export function newGatewayRequestId(): string {
  return randomBytes(10).toString('base64');
}

export function toHttpApiEvent(req: IncomingRequest, ctx: EventContext): HttpApiEventV2 {
  const q = req.url.indexOf('?');
  const rawPath = q >= 0 ? req.url.slice(0, q) : req.url;
  const rawQueryString = q >= 0 ? req.url.slice(q + 1) : '';

  const headers: Record<string, string> = {};
  const cookies: string[] = [];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!.toLowerCase();
    const value = req.rawHeaders[i + 1]!;
    if (HOP_BY_HOP.has(name)) continue;
    if (name === 'cookie') {
      for (const c of value.split(';')) if (c.trim()) cookies.push(c.trim());
      continue;
    }
    headers[name] = headers[name] === undefined ? value : `${headers[name]},${value}`;
  }
  if (req.body.length > 0) headers['content-length'] = String(req.body.length);
  else if (headers['content-length'] !== undefined) headers['content-length'] = '0';
  headers['x-forwarded-for'] = headers['x-forwarded-for']
    ? `${headers['x-forwarded-for']}, ${req.sourceIp}`
    : req.sourceIp;
  headers['x-forwarded-port'] = String(req.localPort);
  headers['x-forwarded-proto'] = 'http';
  headers['x-amzn-trace-id'] ??=
    `Root=1-${Math.floor(ctx.now.getTime() / 1000).toString(16)}-${randomBytes(12).toString('hex')}`;

  const query: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(rawQueryString)) {
    query[k] = query[k] === undefined ? v : `${query[k]},${v}`;
  }

  const domainName = headers.host ?? `127.0.0.1:${req.localPort}`;
  const hostname = domainName.replace(/:\d+$/, '');
  const domainPrefix = /^[\d.]+$|^\[/.test(hostname) ? hostname : (hostname.split('.')[0] ?? hostname);

  const event: HttpApiEventV2 = {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString,
    ...(cookies.length > 0 && { cookies }),
    headers,
    ...(Object.keys(query).length > 0 && { queryStringParameters: query }),
    requestContext: {
      accountId: LOCAL_ACCOUNT_ID,
      apiId: ctx.apiId,
      domainName,
      domainPrefix,
      http: {
        method: req.method,
        path: rawPath,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.sourceIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: ctx.requestId,
      routeKey: '$default',
      stage: ctx.stage,
      time: clfTime(ctx.now),
      timeEpoch: ctx.now.getTime(),
    },
    isBase64Encoded: false,
  };
  if (req.body.length > 0) {
    const text = isTextual(headers['content-type']) ? utf8(req.body) : undefined;
    if (text !== undefined) event.body = text;
    else {
      event.body = req.body.toString('base64');
      event.isBase64Encoded = true;
    }
  }
  return event;
}

/**
 * Bodies of these types reach the function as text; any other body (or one that is not valid
 * UTF-8) arrives base64-encoded with isBase64Encoded true, as HTTP APIs do for form posts and
 * binary uploads (the exact list of text types is inferred).
 */
export function isTextual(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const t = (contentType.split(';')[0] ?? '').trim().toLowerCase();
  return (
    t.startsWith('text/') ||
    t === 'application/json' ||
    t.endsWith('+json') ||
    t === 'application/xml' ||
    t.endsWith('+xml') ||
    t === 'application/javascript' ||
    t === 'application/graphql'
  );
}

const decoder = new TextDecoder('utf-8', { fatal: true });
function utf8(body: Buffer): string | undefined {
  try {
    return decoder.decode(body);
  } catch {
    return undefined;
  }
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/** Common Log Format time, as in requestContext.time: `12/Mar/2020:19:03:58 +0000`. */
function clfTime(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

export interface HttpResponse {
  statusCode: number;
  /** In order; a name may repeat (Set-Cookie). */
  headers: Array<[string, string]>;
  body: Buffer;
}

/**
 * The HTTP response for a function's result, or undefined when the result is a malformed
 * proxy response (API Gateway answers 500 then).
 */
export function fromLambdaResult(payload: unknown): HttpResponse | undefined {
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload) || !('statusCode' in payload)) {
    // No statusCode: 200, JSON, the result as the body (a string result is the body as is).
    const body = typeof payload === 'string' ? payload : (JSON.stringify(payload) ?? 'null');
    return { statusCode: 200, headers: [['content-type', 'application/json']], body: Buffer.from(body) };
  }
  const r = payload as {
    statusCode: unknown;
    headers?: unknown;
    cookies?: unknown;
    body?: unknown;
    isBase64Encoded?: unknown;
  };
  const statusCode = typeof r.statusCode === 'string' ? Number(r.statusCode) : r.statusCode;
  if (typeof statusCode !== 'number' || !Number.isInteger(statusCode) || statusCode < 100 || statusCode > 599) {
    return undefined;
  }
  const headers: Array<[string, string]> = [];
  if (r.headers !== undefined && r.headers !== null) {
    if (typeof r.headers !== 'object' || Array.isArray(r.headers)) return undefined;
    for (const [name, value] of Object.entries(r.headers)) {
      if (value === undefined || value === null) continue;
      if (typeof value === 'object') return undefined;
      headers.push([name.toLowerCase(), String(value)]);
    }
  }
  if (r.cookies !== undefined && r.cookies !== null) {
    if (!Array.isArray(r.cookies)) return undefined;
    for (const c of r.cookies) headers.push(['set-cookie', String(c)]);
  }
  let body: Buffer;
  if (r.body === undefined || r.body === null) body = Buffer.alloc(0);
  else if (typeof r.body === 'string')
    body = r.isBase64Encoded === true ? Buffer.from(r.body, 'base64') : Buffer.from(r.body);
  // (inferred) a non-string body is sent as its JSON text.
  else body = Buffer.from(JSON.stringify(r.body));
  return { statusCode, headers, body };
}
