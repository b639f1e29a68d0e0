// pgbouncer.ini and the auth file, as text. Pure functions: server.ts writes them to disk.
import { LocalError } from '../errors.js';

export type PoolMode = 'transaction' | 'session' | 'statement';

export interface Upstream {
  host: string;
  port: number;
  user: string;
  password: string | undefined;
  database: string;
  /** libpq sslmode of the upstream URL, if it named one. */
  sslmode: string | undefined;
}

export interface BouncerConfig {
  upstream: Upstream;
  host: string;
  port: number;
  /** Folder for the Unix socket and the pid file (writable by the user PgBouncer runs as). */
  runDir: string;
  authFile: string;
  poolMode: PoolMode;
  maxClientConn: number;
  defaultPoolSize: number;
  serverIdleTimeoutMs: number;
  ignoreStartupParameters: string[];
  /** Extra [pgbouncer] settings, written last (they win). */
  settings: Record<string, string | number | boolean>;
}

/** Parses the upstream URL; the password stays in the returned object only. */
export function parseUpstream(url: string): Upstream {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    // No cause: Node's URL error carries the whole input, password included.
    throw new LocalError(
      'BAD_OPTION',
      'upstream is not a valid URL. Pass postgresql://user:password@host:port/database (percent-encode special characters).',
    );
  }
  if (u.protocol !== 'postgresql:' && u.protocol !== 'postgres:') {
    throw new LocalError('BAD_OPTION', `upstream must be a postgresql:// URL, got ${u.protocol}//.`);
  }
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) throw new LocalError('BAD_OPTION', 'upstream has no host: pass postgresql://user:password@host:port/db.');
  const user = decodeURIComponent(u.username) || 'postgres';
  const password = u.password === '' ? undefined : decodeURIComponent(u.password);
  const database = decodeURIComponent(u.pathname.replace(/^\//, '')) || user;
  return {
    host,
    port: u.port ? Number(u.port) : 5432,
    user,
    password,
    database,
    sslmode: u.searchParams.get('sslmode') ?? undefined,
  };
}

/** One line of PgBouncer's auth file: "user" "password", with " doubled inside the quotes. */
export function authFileLine(user: string, password: string | undefined): string {
  const q = (s: string) => `"${s.replaceAll('"', '""')}"`;
  return `${q(user)} ${q(password ?? '')}\n`;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_.]*$/;

function iniValue(key: string, value: string | number | boolean): string {
  const text = typeof value === 'boolean' ? (value ? '1' : '0') : String(value);
  // A newline would start a new setting: refuse rather than let one option rewrite another.
  if (/[\r\n]/.test(text) || !NAME.test(key)) {
    throw new LocalError('BAD_OPTION', `PgBouncer setting ${JSON.stringify(key)} has an invalid name or value.`);
  }
  return `${key} = ${text}`;
}

export function renderIni(c: BouncerConfig): string {
  const { upstream } = c;
  if (/\s/.test(upstream.host)) throw new LocalError('BAD_OPTION', 'upstream host must not contain spaces.');
  for (const p of c.ignoreStartupParameters) {
    if (!NAME.test(p))
      throw new LocalError('BAD_OPTION', `ignoreStartupParameters: ${JSON.stringify(p)} is not a parameter name.`);
  }
  // `*` is PgBouncer's fallback database: any database name a client asks for is the same name on
  // the upstream, and the server login uses the client's own user and the auth file's password.
  const settings: Record<string, string | number | boolean> = {
    listen_addr: c.host,
    listen_port: c.port,
    unix_socket_dir: c.runDir,
    pidfile: `${c.runDir}/pgbouncer.pid`,
    // With a cleartext password in the auth file PgBouncer can do SCRAM with clients and then log
    // in to a SCRAM upstream itself. `trust` only when the upstream URL has no password at all.
    auth_type: upstream.password === undefined ? 'trust' : 'scram-sha-256',
    auth_file: c.authFile,
    // The URL's user may open the admin console (database `pgbouncer`: SHOW POOLS, SHOW SERVERS).
    admin_users: upstream.user,
    stats_users: upstream.user,
    pool_mode: c.poolMode,
    max_client_conn: c.maxClientConn,
    default_pool_size: c.defaultPoolSize,
    server_idle_timeout: c.serverIdleTimeoutMs / 1000,
    // Log to stderr (captured by our caller), never to syslog or a file we would have to clean up.
    syslog: 0,
    ...(c.ignoreStartupParameters.length ? { ignore_startup_parameters: c.ignoreStartupParameters.join(',') } : {}),
    ...(upstream.sslmode ? { server_tls_sslmode: upstream.sslmode } : {}),
    ...c.settings,
  };
  const lines = [
    '; written by @anypg/local startPgBouncer(); rewritten at every start',
    '[databases]',
    `* = host=${upstream.host} port=${upstream.port}`,
    '',
    '[pgbouncer]',
    ...Object.entries(settings).map(([k, v]) => iniValue(k, v)),
    '',
  ];
  return lines.join('\n');
}
