// Admission checks against the one client every local listener must assume is there: a web
// browser on the developer's machine with a page from anywhere open in it.
//
// Such a page can send requests to 127.0.0.1 (a "simple" cross-origin POST needs no preflight; a
// no-cors GET or a navigation carries no Origin at all), open WebSockets to it, and, with a DNS
// name that resolves to 127.0.0.1 (DNS rebinding), even read the answers, since it is then
// same-origin with the port. The stand-ins run SQL and the user's handler with real credentials,
// so they admit a request only when
// - its `Host` names this machine: a loopback name or address, an address of this machine, or a
//   name the user allowed (a rebinding page sends its own name). Any port: a port forward or a
//   proxy in front (ssh -L, a test's TCP proxy) changes the port, never the name, and the Origin
//   check covers pages served from other loopback ports;
// - it carries no foreign `Origin`: none (curl, SDKs, drivers), a loopback origin, or one the user
//   allowed; and a browser request without Origin (`Sec-Fetch-Site: cross-site`) counts as foreign.
// CORS preflights are answered only for admitted origins (see corsHeaders), so a page elsewhere
// cannot make the browser send the custom headers the clients' requests need.
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { LocalError } from '../errors.js';

export interface BrowserGuardOptions {
  /**
   * Origins allowed besides loopback ones (`http://localhost:3000`, `http://127.0.0.1:5173`, which
   * are always allowed): exact origins such as `https://app.example.test`, or `*` for any.
   */
  allowOrigins?: string[];
  /** Host names (or `name:port`) allowed in the Host header besides loopback and this machine's addresses. */
  allowHosts?: string[];
}

/** How a listener names its options in messages: the API option and the CLI flag. */
export interface GuardNames {
  /** `The Neon endpoint`, `The local API Gateway`... */
  what: string;
  /** Set when the listener has options; the Runtime API has none (no browser may use it at all). */
  origin?: { option: string; flag: string };
  host?: { option: string; flag: string };
}

export interface Refusal {
  status: 403;
  message: string;
}

type Headers = Record<string, string | string[] | undefined>;

export class BrowserGuard {
  private port = 0;
  private readonly allowAnyOrigin: boolean;
  private readonly origins: Set<string>;
  private readonly hosts: string[];
  private local = new Set<string>();

  constructor(
    private readonly names: GuardNames,
    options: BrowserGuardOptions = {},
    /** Strict: refuse every browser request, loopback pages included (the Lambda Runtime API). */
    private readonly strict = false,
  ) {
    const origins = options.allowOrigins ?? [];
    for (const o of origins) {
      if (o !== '*' && normalOrigin(o) === undefined) {
        throw new LocalError(
          'BAD_OPTION',
          `${names.origin?.option ?? 'allowOrigins'}: ${JSON.stringify(o)} is not an origin; give scheme://host[:port] (e.g. http://localhost:3000) or *.`,
        );
      }
    }
    this.allowAnyOrigin = origins.includes('*');
    this.origins = new Set(origins.filter((o) => o !== '*').map((o) => normalOrigin(o)!));
    this.hosts = (options.allowHosts ?? []).map((h) => h.toLowerCase().replace(/\.$/, ''));
  }

  /** Call once listening: the port (for messages) and the addresses that are this machine. */
  bind(listenHost: string, port: number): void {
    this.port = port;
    const local = new Set<string>(['::1']);
    if (isIP(listenHost)) local.add(listenHost);
    if (listenHost === '0.0.0.0' || listenHost === '::') {
      for (const list of Object.values(networkInterfaces())) for (const i of list ?? []) local.add(i.address);
    }
    this.local = local;
  }

  /** Undefined when the request may go on; otherwise the 403 to answer, with nothing executed. */
  check(headers: Headers): Refusal | undefined {
    return this.checkHost(first(headers.host)) ?? this.checkOrigin(headers);
  }

  /**
   * CORS headers for an admitted request (call after check): the Origin echoed back (or `*` when
   * any origin is allowed), so a loopback page can read the answer. None without Origin.
   */
  corsHeaders(headers: Headers): Record<string, string> {
    const origin = first(headers.origin);
    if (origin === undefined || this.strict) return {};
    return { 'Access-Control-Allow-Origin': this.allowAnyOrigin ? '*' : origin, Vary: 'Origin' };
  }

  private checkHost(host: string | undefined): Refusal | undefined {
    const parsed = host === undefined ? undefined : parseHost(host);
    if (parsed) {
      if (isLoopbackName(parsed.name) || this.local.has(parsed.name)) return undefined;
      if (this.hosts.some((h) => h === parsed.name || h === `${parsed.name}:${parsed.port ?? 80}`)) return undefined;
    }
    const shown = host === undefined ? 'no Host header' : `Host ${JSON.stringify(host.slice(0, 100))}`;
    const allow = this.names.host
      ? ` To use another name for this machine, allow it: ${this.names.host.flag} NAME (option ${this.names.host.option}).`
      : '';
    return {
      status: 403,
      message: `${this.names.what} refused a request with ${shown}: it answers only requests addressed to this machine (127.0.0.1:${this.port}, localhost:${this.port}), so that a web page cannot reach it through a DNS name that points here (DNS rebinding).${allow}`,
    };
  }

  private checkOrigin(headers: Headers): Refusal | undefined {
    const origin = first(headers.origin);
    const site = first(headers['sec-fetch-site']);
    if (this.strict) {
      if (origin === undefined && (site === undefined || site === 'none')) return undefined;
      return {
        status: 403,
        message: `${this.names.what} refused a request from a web browser (${origin === undefined ? `Sec-Fetch-Site: ${site}` : `Origin ${JSON.stringify(origin.slice(0, 100))}`}): only the function's own runtime may use it.`,
      };
    }
    if (origin === undefined) {
      // A browser tells where a request comes from even when it sends no Origin (a no-cors GET,
      // a navigation): from another site, it is as foreign as a foreign Origin.
      if (site !== 'cross-site' || this.allowAnyOrigin) return undefined;
      return this.foreign('a page on another site (Sec-Fetch-Site: cross-site, no Origin)', '*');
    }
    if (this.allowAnyOrigin) return undefined;
    const normal = normalOrigin(origin);
    if (normal !== undefined && (isLoopbackOrigin(normal) || this.origins.has(normal))) return undefined;
    return this.foreign(`origin ${JSON.stringify(origin.slice(0, 100))}`, normal ?? '*');
  }

  private foreign(from: string, toAllow: string): Refusal {
    const allow = this.names.origin
      ? ` If that page is yours, allow it: ${this.names.origin.flag} ${toAllow} (option ${this.names.origin.option}: [${JSON.stringify(toAllow)}]).`
      : '';
    return {
      status: 403,
      message: `${this.names.what} refused a request from ${from}: web pages other than loopback ones (http://localhost:*, http://127.0.0.1:*) may not use this local stand-in, which runs with real credentials.${allow}`,
    };
  }
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** `name[:port]` or `[v6][:port]`, lower-cased, without a trailing dot; undefined when malformed. */
function parseHost(host: string): { name: string; port: number | undefined } | undefined {
  const m = /^(?:\[([0-9a-f:.]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/i.exec(host.trim());
  if (!m) return undefined;
  const name = (m[1] ?? m[2]!).toLowerCase().replace(/\.$/, '');
  const port = m[3] === undefined ? undefined : Number(m[3]);
  return { name, port };
}

function isLoopbackName(name: string): boolean {
  if (name === 'localhost') return true;
  if (isIP(name) === 4) return name.startsWith('127.');
  if (isIP(name) === 6) return name === '::1' || /^::ffff:127\./.test(name);
  return false;
}

/** `scheme://host[:port]` as browsers write Origin, or undefined (`null`, anything else). */
function normalOrigin(origin: string): string | undefined {
  if (!/^[a-z][a-z0-9+.-]*:\/\/[^/?#]+$/i.test(origin)) return undefined;
  try {
    const u = new URL(origin);
    return u.origin === 'null' ? undefined : u.origin;
  } catch {
    return undefined;
  }
}

function isLoopbackOrigin(origin: string): boolean {
  const u = new URL(origin);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return false;
  const name = u.hostname.replace(/^\[(.*)\]$/, '$1');
  return isLoopbackName(name) || name.endsWith('.localhost');
}

/** Answers a refused WebSocket upgrade with the 403 (a plain HTTP response), then closes. */
export function refuseUpgrade(socket: { write(s: string): unknown; destroy(): void }, refusal: Refusal): void {
  const body = `${refusal.message}\n`;
  socket.write(
    `HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
  socket.destroy();
}
