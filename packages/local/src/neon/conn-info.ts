// What a SQL-over-HTTP request asks for: the user, password and database from its
// `Neon-Connection-String` header. The host and port in it are ignored on purpose: the driver
// drops the port in some modes (`poolQueryViaFetch`) and names a Neon host in others, so a local
// endpoint always routes to its configured upstream and lets PostgreSQL authenticate the user.
// Its startup options (`options`, `application_name`) reach the session, as on Neon.
import { withoutNeonRouting } from './startup-options.js';

/** A request error with the HTTP status Neon gives it; its message never contains a secret. */
export class HttpProblem extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface ConnInfo {
  user: string;
  /** Undefined when the connection string has none (only accepted with a bearer token). */
  password: string | undefined;
  database: string;
  applicationName: string | undefined;
  /** The `options` startup parameter (`-c search_path=app ...`), Neon's routing words dropped. */
  options: string | undefined;
}

/**
 * Parses the `Neon-Connection-String` header. Errors are 400s with Neon's wording; none of them
 * quotes the header, because it holds the password.
 */
export function parseConnInfo(header: string | undefined, hasBearer: boolean): ConnInfo {
  if (header === undefined || header === '') {
    throw new HttpProblem(400, 'invalid header: neon-connection-string');
  }
  let url: URL;
  try {
    url = new URL(header);
  } catch {
    throw new HttpProblem(400, 'invalid connection string: not a valid URL');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new HttpProblem(400, 'incorrect scheme');
  }
  const database = decode(url.pathname.replace(/^\//, ''), 'database name');
  if (!database) throw new HttpProblem(400, 'missing database name');
  const user = decode(url.username, 'username');
  if (!user) throw new HttpProblem(400, 'missing username');
  const password = url.password === '' ? undefined : decode(url.password, 'password');
  if (password === undefined && !hasBearer) {
    throw new HttpProblem(400, 'missing authentication credentials: required password');
  }
  const applicationName = url.searchParams.get('application_name') ?? undefined;
  const options = withoutNeonRouting(url.searchParams.get('options') ?? undefined);
  return { user, password, database, applicationName, options };
}

function decode(value: string, what: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw new HttpProblem(400, `invalid connection string: the ${what} is not valid percent-encoding`);
  }
}
