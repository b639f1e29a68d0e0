// Parsing a PostgreSQL connection URL without ever echoing it.
//
// The URL holds the password, so no error built here contains the input, and no `cause` does
// either (Node's URL errors carry the whole input string in `input`).
import { ConfigurationError } from '../errors.js';

export interface ConnectionParts {
  host: string;
  port: number;
  user: string;
  password: string | undefined;
  database: string;
  /** Query parameters (sslmode, application_name, options, ...), decoded. */
  params: Record<string, string>;
}

const ENCODE_HINT =
  'Percent-encode special characters in the user name and password (@ : / ? # % and spaces), for example with encodeURIComponent(password).';

export function parseConnectionString(value: string, option = 'url'): ConnectionParts {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new ConfigurationError(
      option,
      `${option} is empty. Pass a connection URL like postgresql://user:password@host:5432/database, or set DATABASE_URL.`,
    );
  }
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(value)?.[1]?.toLowerCase();
  if (scheme !== 'postgres' && scheme !== 'postgresql') {
    throw new ConfigurationError(
      option,
      `${option} must start with postgresql:// or postgres:// (got ${scheme ? `${scheme}://` : 'no scheme'}). Key=value connection strings are not supported: use the URL form.`,
    );
  }
  // An '@' after the end of the authority means the user info itself holds a '/', '?' or '#':
  // postgresql://admin:2024/Summer@db.example.com/app would parse as host `admin`, port 2024 and
  // database `Summer@db.example.com/app`, putting the password in messages and DNS lookups.
  const rest = value.slice(value.indexOf('://') + 3);
  const authorityEnd = rest.search(/[/?#]/);
  if (authorityEnd >= 0 && rest.indexOf('@', authorityEnd) >= 0) {
    const cut = rest[authorityEnd]!;
    throw new ConfigurationError(
      option,
      `${option} is ambiguous: an '@' comes after a '${cut}', so the user name or password seems to contain a '${cut}' (written ${encodeURIComponent(cut)} when percent-encoded), and the host cannot be told apart from it. If an '@' belongs to the database name or a parameter, write it as %40. ${ENCODE_HINT}`,
    );
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    // Deliberately no cause: Node's TypeError carries the full input, password included.
    const userinfo = rest.slice(0, Math.max(0, rest.lastIndexOf('@')));
    const specific = [...'#/?']
      .filter((ch) => userinfo.includes(ch))
      .map((ch) => `'${ch}' as ${encodeURIComponent(ch)}`);
    const hint = specific.length ? ` If the password contains them, write ${specific.join(', ')}.` : '';
    throw new ConfigurationError(option, `${option} is not a valid connection URL.${hint} ${ENCODE_HINT}`);
  }
  if (url.hash) {
    throw new ConfigurationError(
      option,
      `${option} contains a '#', which ends a URL: the rest was cut off. If it is part of the password, write it as %23. ${ENCODE_HINT}`,
    );
  }
  let user: string;
  let password: string | undefined;
  let database: string;
  const params: Record<string, string> = {};
  try {
    user = decodeURIComponent(url.username);
    password = url.password === '' ? undefined : decodeURIComponent(url.password);
    database = decodeURIComponent(url.pathname.replace(/^\//, ''));
    for (const [k, v] of url.searchParams) params[k] = v;
  } catch {
    throw new ConfigurationError(option, `${option} has a '%' that is not followed by two hex digits. ${ENCODE_HINT}`);
  }
  // libpq allows the host (for a Unix socket folder) as a query parameter.
  let host = params.host ?? url.hostname;
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (!host) {
    throw new ConfigurationError(option, `${option} has no host. Write postgresql://user:password@host:5432/database.`);
  }
  if (host.includes(',')) {
    throw new ConfigurationError(
      option,
      `${option} names several hosts; anypg connects to one host. Use a single host.`,
    );
  }
  const port = url.port ? Number(url.port) : params.port ? Number(params.port) : 5432;
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new ConfigurationError(option, `${option} has an invalid port (must be 1-65535).`);
  }
  return { host, port, user: user || 'postgres', password, database: database || user || 'postgres', params };
}

/** True for hosts on this machine: loopback addresses, `localhost`, and Unix socket folders. */
export function isLocalHost(host: string): boolean {
  const h = host.toLowerCase();
  return (
    h === 'localhost' ||
    h.endsWith('.localhost') ||
    h.startsWith('/') ||
    /^127\.\d+\.\d+\.\d+$/.test(h) ||
    h === '::1' ||
    h === '0:0:0:0:0:0:0:1'
  );
}

/** The URL with its password replaced, for messages and logs. */
export function redactUrl(parts: ConnectionParts): string {
  const auth = parts.password === undefined ? parts.user : `${parts.user}:***`;
  const host = parts.host.includes(':') ? `[${parts.host}]` : parts.host;
  return `postgresql://${auth}@${host}:${parts.port}/${parts.database}`;
}
