// The PostgreSQL behind the endpoint: which role and database a call runs as (from its secretArn
// and `database`), one pool per role and database for calls outside a transaction, and dedicated
// connections for transactions. Passwords live only in the pg configs built here; nothing here
// logs, and no error message carries a connection string.
import pg from 'pg';
import { DataApiError, type ErrorMessageOptions, formatDatabaseError, isPgError } from './errors.js';
import type { TypeInfo } from './types.js';

/** What a Secrets Manager secret for a database holds (the keys RDS uses). */
export interface DataApiSecret {
  username: string;
  password: string;
  /** Database for calls that name none. Default: the upstream URL's database. */
  dbname?: string;
}

// Every session renders values the same way whatever the server's defaults: the Data API returns
// timestamptz in UTC, and ISO dates are what its clients parse.
const SESSION_OPTIONS = [
  '-c TimeZone=UTC',
  '-c DateStyle=ISO,MDY',
  '-c IntervalStyle=postgres',
  '-c bytea_output=hex',
  '-c extra_float_digits=1',
].join(' ');

export interface UpstreamTarget {
  /** Role, password and database to use. */
  user: string;
  password: string;
  database: string;
  /** Pool key: one pool per role and database. */
  key: string;
}

export class Upstream {
  private readonly base: pg.ClientConfig;
  readonly defaultSecret: DataApiSecret & { dbname: string };
  private readonly pools = new Map<string, pg.Pool>();
  private readonly typeCaches = new Map<string, Map<number, TypeInfo>>();
  private closed = false;

  constructor(
    url: string,
    private readonly secrets: ReadonlyMap<string, DataApiSecret>,
    private readonly poolSize: number,
    private readonly errorOptions: ErrorMessageOptions,
  ) {
    const parsed = parseUpstreamUrl(url);
    this.base = parsed.base;
    this.defaultSecret = { username: parsed.user, password: parsed.password, dbname: parsed.database };
  }

  /** The role and database a call runs as: its secret (or the default one) and its `database`. */
  target(secretArn: string, database: string | undefined): UpstreamTarget {
    const secret = this.secrets.get(secretArn) ?? this.defaultSecret;
    const db = database || secret.dbname || this.defaultSecret.dbname;
    return { user: secret.username, password: secret.password, database: db, key: `${secret.username}\u0000${db}` };
  }

  config(t: UpstreamTarget): pg.ClientConfig {
    return { ...this.base, user: t.user, password: t.password, database: t.database };
  }

  /** Type information cached per database (OIDs are per database). */
  types(t: UpstreamTarget): Map<number, TypeInfo> {
    let cache = this.typeCaches.get(t.database);
    if (!cache) {
      cache = new Map();
      this.typeCaches.set(t.database, cache);
    }
    return cache;
  }

  /** A pooled connection for a call outside a transaction. */
  async pooled(t: UpstreamTarget): Promise<pg.PoolClient> {
    if (this.closed) throw new DataApiError('ServiceUnavailableError', 'The endpoint is shutting down.');
    let pool = this.pools.get(t.key);
    if (!pool) {
      pool = new pg.Pool({ ...this.config(t), max: this.poolSize, idleTimeoutMillis: 30_000 });
      // An idle connection the server drops must not crash the process; the pool replaces it.
      pool.on('error', () => {});
      this.pools.set(t.key, pool);
    }
    try {
      return await pool.connect();
    } catch (err) {
      throw this.connectError(err, t);
    }
  }

  /** A dedicated connection (a transaction's session). */
  async dedicated(t: UpstreamTarget): Promise<pg.Client> {
    if (this.closed) throw new DataApiError('ServiceUnavailableError', 'The endpoint is shutting down.');
    const client = new pg.Client(this.config(t));
    client.on('error', () => {});
    try {
      await client.connect();
      return client;
    } catch (err) {
      await client.end().catch(() => {});
      throw this.connectError(err, t);
    }
  }

  /** Asks the server to cancel what backend `pid` is running (a statement past its timeout). */
  async cancel(t: UpstreamTarget, pid: number): Promise<void> {
    const client = new pg.Client(this.config(t));
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query('select pg_cancel_backend($1)', [pid]);
    } catch {
      // Best effort: the statement may have finished meanwhile.
    } finally {
      await client.end().catch(() => {});
    }
  }

  private connectError(err: unknown, t: UpstreamTarget): DataApiError {
    if (isPgError(err)) {
      if (err.code === '3D000')
        return new DataApiError('DatabaseNotFoundException', `Database ${t.database} not found.`);
      return new DataApiError('DatabaseErrorException', formatDatabaseError(err, this.errorOptions));
    }
    const code = (err as { code?: string }).code;
    return new DataApiError(
      'DatabaseUnavailableException',
      `The upstream PostgreSQL is not reachable${code ? ` (${code})` : ''}. Check that it is running and that the endpoint's upstream URL points at it.`,
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.end().catch(() => {})));
  }
}

interface ParsedUpstream {
  base: pg.ClientConfig;
  user: string;
  password: string;
  database: string;
}

/** `postgresql://user:password@host:port/db?sslmode=..&host=/socket/dir` to pg settings. */
export function parseUpstreamUrl(url: string): ParsedUpstream {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    // Never echo the URL: it holds a password.
    throw new TypeError('upstream must be a postgres:// or postgresql:// URL (it could not be parsed).');
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw new TypeError(`upstream must be a postgres:// or postgresql:// URL, not ${u.protocol}//.`);
  }
  const sslmode = u.searchParams.get('sslmode');
  const base: pg.ClientConfig = {
    host: u.searchParams.get('host') ?? (decodeURIComponent(u.hostname) || 'localhost'),
    port: u.port ? Number(u.port) : 5432,
    application_name: 'anypg-local-data-api',
    options: SESSION_OPTIONS,
    connectionTimeoutMillis: 10_000,
    ...(sslmode && sslmode !== 'disable' && sslmode !== 'allow' && sslmode !== 'prefer'
      ? { ssl: { rejectUnauthorized: sslmode === 'verify-full' || sslmode === 'verify-ca' } }
      : {}),
  };
  return {
    base,
    user: decodeURIComponent(u.username) || 'postgres',
    password: decodeURIComponent(u.password),
    database: decodeURIComponent(u.pathname.slice(1)) || decodeURIComponent(u.username) || 'postgres',
  };
}
