// The PostgreSQL behind the endpoint, and small connection pools to it for SQL over HTTP.
//
// One pool per (user, password, database, application_name, options): PostgreSQL authenticates
// each of them itself, so a wrong password fails exactly as it would against the server directly,
// and a session started with one connection string's startup options (`-c search_path=...`) is
// never handed to a request that came with other options. The sessions run with TimeZone=UTC and
// DateStyle=ISO (as Neon's do; the connection string's own `-c` settings come after, so they win)
// and hand every value back as PostgreSQL's text output, untouched: the driver parses it.
import { createHash } from 'node:crypto';
import pg from 'pg';
import { LocalError } from '../errors.js';
import type { ConnInfo } from './conn-info.js';
import { builtinArrayElement, type ElementOf, FIRST_NON_BUILTIN_OID } from './json.js';

export interface Upstream {
  host: string;
  port: number;
}

/** `postgresql://...@host:port/...` or `{ host, port }` to the address the endpoint routes to. */
export function parseUpstream(upstream: string | { host: string; port?: number }): Upstream {
  if (typeof upstream !== 'string') {
    if (!upstream.host)
      throw new LocalError('BAD_OPTION', 'upstream.host is required, e.g. { host: "127.0.0.1", port: 5432 }.');
    return { host: upstream.host, port: upstream.port ?? 5432 };
  }
  let url: URL;
  try {
    url = new URL(upstream);
  } catch {
    // Never echo the string: it may hold a password.
    throw new LocalError(
      'BAD_OPTION',
      'upstream is not a valid URL. Give postgresql://HOST:PORT (credentials in it are ignored) or { host, port }.',
    );
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new LocalError('BAD_OPTION', `upstream must be a postgresql:// URL, got a ${url.protocol} URL.`);
  }
  if (!url.hostname) throw new LocalError('BAD_OPTION', 'upstream URL has no host: give postgresql://HOST:PORT.');
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return { host, port: url.port ? Number(url.port) : 5432 };
}

export interface PoolLimits {
  /** Connections per (user, password, database, startup options). Default 10. */
  maxConnectionsPerPool: number;
  /** Close a pooled connection idle this long. Default 30 s. */
  idleTimeoutMs: number;
  /** Waiting for a connection (new or pooled). Default 15 s. */
  connectTimeoutMs: number;
}

// Every value stays PostgreSQL's text output: the client parses it, as it would Neon's.
const RAW_TEXT_TYPES = { getTypeParser: () => (value: string) => value };

export type PooledClient = pg.PoolClient & { processID?: number; secretKey?: number };

interface Entry {
  pool: pg.Pool;
  /** Array element types of non-built-in OIDs in this database (0: not an array). */
  elements: Map<number, number>;
}

export class UpstreamPools {
  private readonly entries = new Map<string, Entry>();
  private readonly clients = new Set<pg.Client>();

  constructor(
    readonly upstream: Upstream,
    private readonly limits: PoolLimits,
  ) {}

  private entry(info: ConnInfo): [string, Entry] {
    // The key holds a hash of the password, so no map key or log line ever shows it.
    const pw = info.password === undefined ? '-' : createHash('sha256').update(info.password).digest('hex');
    const key = JSON.stringify([info.user, pw, info.database, info.applicationName ?? '', info.options ?? '']);
    let entry = this.entries.get(key);
    if (!entry) {
      const pool = new pg.Pool({
        host: this.upstream.host,
        port: this.upstream.port,
        user: info.user,
        ...(info.password !== undefined && { password: info.password }),
        database: info.database,
        ...(info.applicationName !== undefined && { application_name: info.applicationName }),
        options: `-c TimeZone=UTC -c DateStyle=ISO${info.options ? ` ${info.options}` : ''}`,
        max: this.limits.maxConnectionsPerPool,
        idleTimeoutMillis: this.limits.idleTimeoutMs,
        connectionTimeoutMillis: this.limits.connectTimeoutMs,
        types: RAW_TEXT_TYPES,
        ssl: false,
      });
      // An idle connection that dies (server restart, pg_terminate_backend) is simply dropped.
      pool.on('error', () => {});
      pool.on('connect', (client) => this.clients.add(client));
      pool.on('remove', (client) => this.clients.delete(client));
      entry = { pool, elements: new Map() };
      this.entries.set(key, entry);
    }
    return [key, entry];
  }

  async acquire(
    info: ConnInfo,
  ): Promise<{ client: PooledClient; elementOf: (client: PooledClient, oids: number[]) => Promise<ElementOf> }> {
    const [key, entry] = this.entry(info);
    let client: PooledClient;
    try {
      client = (await entry.pool.connect()) as PooledClient;
    } catch (err) {
      // A pool that never got a connection (wrong password, no such database) is forgotten, or
      // every mistyped password would leave one behind. It holds nothing; acquires already waiting
      // on it finish there, and close() still ends any connection it makes (this.clients).
      if (entry.pool.totalCount === 0 && this.entries.get(key) === entry) this.entries.delete(key);
      throw err;
    }
    return { client, elementOf: (c, oids) => elementResolver(c, entry.elements, oids) };
  }

  /** Ends every pooled connection; one still busy after `graceMs` has its socket destroyed. */
  async close(graceMs = 2000): Promise<void> {
    const ending = Promise.all([...this.entries.values()].map((e) => e.pool.end().catch(() => {})));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([ending, timeout]);
    clearTimeout(timer);
    for (const client of this.clients) {
      (client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
    }
    this.clients.clear();
    this.entries.clear();
  }
}

/**
 * Resolves array element types for the JSON conversion mode: built-ins from a table, others
 * (enum arrays, extension types) from pg_type once per database, over the request's own session.
 */
async function elementResolver(client: PooledClient, cache: Map<number, number>, oids: number[]): Promise<ElementOf> {
  const unknown = [...new Set(oids)].filter((oid) => oid >= FIRST_NON_BUILTIN_OID && !cache.has(oid));
  if (unknown.length > 0) {
    const res = await client.query({
      text: `select oid::int4::text, case when typcategory = 'A' then typelem::int4 else 0 end::text from pg_catalog.pg_type where oid = any($1::oid[])`,
      values: [`{${unknown.join(',')}}`],
      rowMode: 'array',
    });
    for (const oid of unknown) cache.set(oid, 0);
    for (const [oid, elem] of res.rows as [string, string][]) cache.set(Number(oid), Number(elem));
  }
  return (oid) => (oid >= FIRST_NON_BUILTIN_OID ? (cache.get(oid) ?? 0) : (builtinArrayElement(oid) ?? 0));
}
