// fetch for neon-http on Node and Lambda, over node:http(s) agents that keep connections alive
// across warm invocations. Loaded only by the Node entry (never in an edge bundle).
//
// Why: Node's fetch (undici) closes a connection idle for 4 s unless the server says otherwise, so
// a warm Lambda invoked every 10 s pays a new TCP (and TLS) handshake each time. Here an idle
// connection is kept for `idleMs` (pool.idleTimeoutMs: 120 s on Lambda, below its ~350 s network
// idle limit; 30 s elsewhere), judged by the wall clock before each request, so a freeze cannot
// leave an old socket in use: a connection idle longer than that is closed, not used. After an
// idle of 100 ms or more the request first yields one event-loop turn, so that a FIN or RST that
// arrived during a freeze is read (the agent then drops that socket) before anything is written.
import http from 'node:http';
import https from 'node:https';

/** Idle longer than this, one event-loop turn before the request (as the pg pool does). */
const YIELD_AFTER_IDLE_MS = 100;

export interface KeepAliveFetch {
  fetch: typeof fetch;
  /** TCP connections opened so far. */
  opened(): number;
  close(): void;
}

interface AgentSockets {
  freeSockets: Record<string, Array<{ destroy(): void }> | undefined>;
}

export function keepAliveFetch(idleMs: number): KeepAliveFetch {
  let opened = 0;
  let lastUsed = 0;
  let inFlight = 0;
  const options = { keepAlive: true, maxSockets: 16, maxFreeSockets: 4, timeout: idleMs };
  class CountingHttp extends http.Agent {
    override createConnection(...args: Parameters<http.Agent['createConnection']>) {
      opened++;
      return super.createConnection(...args);
    }
  }
  class CountingHttps extends https.Agent {
    override createConnection(...args: Parameters<https.Agent['createConnection']>) {
      opened++;
      return super.createConnection(...args);
    }
  }
  const agents = { 'http:': new CountingHttp(options), 'https:': new CountingHttps(options) };

  const dropIdle = () => {
    for (const agent of Object.values(agents)) {
      for (const list of Object.values((agent as unknown as AgentSockets).freeSockets)) {
        for (const socket of list ?? []) socket.destroy();
      }
    }
  };

  const send = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : input);
    const agent = agents[url.protocol as 'http:' | 'https:'];
    if (!agent) throw new TypeError(`keep-alive fetch: unsupported protocol ${url.protocol}`);
    const idle = Date.now() - lastUsed;
    if (inFlight === 0 && lastUsed > 0) {
      // Too old to trust after a freeze: close, never use.
      if (idle > idleMs) dropIdle();
      else if (idle >= YIELD_AFTER_IDLE_MS) await new Promise((r) => setImmediate(r));
    }
    const signal = init.signal ?? undefined;
    signal?.throwIfAborted();
    inFlight++;
    try {
      return await new Promise<Response>((resolve, reject) => {
        const headers = Object.fromEntries(new Headers(init.headers).entries());
        // The href, not the URL object: under DOM and Node typings together the two URL types clash.
        const req = (url.protocol === 'https:' ? https : http).request(url.href, {
          method: init.method ?? 'GET',
          headers,
          agent,
          ...(signal && { signal }),
        });
        req.on('error', reject);
        req.on('response', (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const responseHeaders = new Headers();
            for (const [k, v] of Object.entries(res.headers)) {
              if (v !== undefined) responseHeaders.set(k, Array.isArray(v) ? v.join(', ') : v);
            }
            const status = res.statusCode ?? 0;
            resolve(
              new Response(status === 204 || status === 304 ? null : Buffer.concat(chunks), {
                status,
                statusText: res.statusMessage ?? '',
                headers: responseHeaders,
              }),
            );
          });
        });
        const body = init.body;
        if (body === undefined || body === null) req.end();
        else if (typeof body === 'string' || body instanceof Uint8Array) req.end(body);
        else reject(new TypeError('keep-alive fetch: only string and byte bodies are supported'));
      });
    } finally {
      inFlight--;
      lastUsed = Date.now();
    }
  };

  return {
    fetch: send as typeof fetch,
    opened: () => opened,
    close: () => {
      for (const agent of Object.values(agents)) agent.destroy();
    },
  };
}
