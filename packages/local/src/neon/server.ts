// A local Neon-compatible endpoint in front of any PostgreSQL: SQL over HTTP on POST /sql and
// the WebSocket tunnel on the same port, so the unmodified Neon driver (and drizzle's neon-http
// and neon-serverless) run against a local server.
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import { BrowserGuard, type BrowserGuardOptions, refuseUpgrade } from '../guard/browser-guard.js';
import { portInUse } from '../ports.js';
import { type HttpLimits, neonErrorBody, SqlOverHttp } from './http.js';
import { type NeonConfigSettings, neonConfigSnippet } from './snippet.js';
import { type PoolLimits, parseUpstream, type Upstream, UpstreamPools } from './upstream.js';
import { WsRelay } from './ws-relay.js';

export { type NeonConfigSettings, neonConfigSnippet } from './snippet.js';

export interface NeonEndpointLimits extends HttpLimits, PoolLimits {}

export interface StartNeonEndpointOptions extends BrowserGuardOptions {
  /** The PostgreSQL to route to: `postgresql://host:port/...` (credentials ignored) or `{ host, port }`. */
  upstream: string | { host: string; port?: number };
  /** Default: a free port picked by the OS. */
  port?: number;
  /** Address to listen on. Default 127.0.0.1. */
  host?: string;
  /** Size limits (Neon's: 10 MiB each way) and the upstream pools. */
  limits?: Partial<NeonEndpointLimits>;
  /**
   * What `neonConfig` (and the printed snippet) says about pipelined login. Default `'password'`,
   * the driver's own default: the endpoint asks every WebSocket client for a cleartext password and
   * logs in to the upstream itself (SCRAM, md5 or password), as Neon's proxy does, so it works with
   * any upstream. `false` makes the driver wait for the endpoint's password request (one round trip more).
   */
  pipelineConnect?: 'password' | false;
  /**
   * How long an idle HTTP connection stays open. Default 60 s: cloud endpoints keep idle
   * connections far longer than Node's 5 s *(inferred)*. No Keep-Alive timeout hint is sent, so
   * each client applies its own idle limit (Node's fetch: 4 s), as against the real endpoint.
   */
  keepAliveTimeoutMs?: number;
}

export interface NeonEndpoint {
  readonly host: string;
  readonly port: number;
  /** `http://127.0.0.1:PORT` */
  readonly httpUrl: string;
  /** `http://127.0.0.1:PORT/sql`: `neonConfig.fetchEndpoint`. */
  readonly fetchEndpoint: string;
  /** `127.0.0.1:PORT/v2`: `neonConfig.wsProxy` (the driver appends `?address=host:port`). */
  readonly wsProxy: string;
  readonly upstream: Upstream;
  /** The settings to apply: `Object.assign(neonConfig, endpoint.neonConfig)`. */
  readonly neonConfig: NeonConfigSettings;
  /** The same settings as lines to paste into code. */
  snippet(): string;
  /** Stops listening, cancels running queries, closes every socket. Safe to call twice. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export const DEFAULT_NEON_LIMITS: NeonEndpointLimits = {
  maxRequestBytes: 10 * 1024 * 1024,
  maxResponseBytes: 10 * 1024 * 1024,
  maxConnectionsPerPool: 10,
  idleTimeoutMs: 30_000,
  connectTimeoutMs: 15_000,
};

export async function startNeonEndpoint(options: StartNeonEndpointOptions): Promise<NeonEndpoint> {
  const upstream = parseUpstream(options.upstream);
  const listenHost = options.host ?? '127.0.0.1';
  const limits = { ...DEFAULT_NEON_LIMITS, ...options.limits };
  const pools = new UpstreamPools(upstream, limits);
  const sql = new SqlOverHttp(pools, limits);
  const relay = new WsRelay(upstream, limits.connectTimeoutMs);
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  // Neon answers every origin (its passwords are real); a local endpoint with a local server's
  // credentials refuses pages from elsewhere and rebinding host names (guard/browser-guard.ts).
  const guard = new BrowserGuard(
    {
      what: 'The local Neon endpoint',
      origin: { option: 'allowOrigins', flag: '--allow-origin' },
      host: { option: 'allowHosts', flag: '--allow-host' },
    },
    options,
  );

  const server = createServer((req, res) => {
    const refusal = guard.check(req.headers);
    if (refusal) {
      req.resume();
      const body = neonErrorBody(refusal.message);
      res.writeHead(refusal.status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    for (const [k, v] of Object.entries(guard.corsHeaders(req.headers))) res.setHeader(k, v);
    // Set by hand, Node sends no `Keep-Alive: timeout=` hint with it.
    res.setHeader('Connection', 'keep-alive');
    sql.handle(req, res);
  });
  server.keepAliveTimeout = options.keepAliveTimeoutMs ?? 60_000;
  // Neon upgrades any path; the driver uses wsProxy's path (`/v2` here).
  server.on('upgrade', (req, socket: Socket, head) => {
    socket.on('error', () => {});
    const refusal = guard.check(req.headers);
    if (refusal) return refuseUpgrade(socket, refusal);
    wss.handleUpgrade(req, socket, head, (ws) => relay.accept(ws));
  });
  server.on('clientError', (_err, socket: Socket) => socket.destroy());

  const port = await listen(server, options.port ?? 0, listenHost);
  guard.bind(listenHost, port);
  // A wildcard listen address is reached through loopback.
  const reachable = listenHost === '0.0.0.0' ? '127.0.0.1' : listenHost === '::' ? '::1' : listenHost;
  const hostPart = reachable.includes(':') ? `[${reachable}]` : reachable;
  const httpUrl = `http://${hostPart}:${port}`;
  const neonConfig: NeonConfigSettings = {
    fetchEndpoint: `${httpUrl}/sql`,
    wsProxy: `${hostPart}:${port}/v2`,
    useSecureWebSocket: false,
    pipelineConnect: options.pipelineConnect ?? 'password',
  };

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([sql.closeAll(), relay.closeAll()]);
      wss.close();
      server.closeAllConnections();
      await pools.close();
      await stopped;
    })();
    return closing;
  };

  return {
    host: reachable,
    port,
    httpUrl,
    fetchEndpoint: neonConfig.fetchEndpoint,
    wsProxy: neonConfig.wsProxy,
    upstream,
    neonConfig,
    snippet: () => neonConfigSnippet(neonConfig),
    close,
    [Symbol.asyncDispose]: close,
  };
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'EADDRINUSE' ? portInUse(port, host, 'Neon endpoint') : err);
    });
    server.listen(port, host, () => {
      const addr = server.address();
      resolve(typeof addr === 'object' && addr ? addr.port : port);
    });
  });
}
