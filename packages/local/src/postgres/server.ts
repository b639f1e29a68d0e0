// A real PostgreSQL server for local development and tests.
//
// Ephemeral (a temp folder, removed at stop) or persistent (a folder you name, initialised once),
// on a free port unless one is given, as root or not (as root the server runs as the `postgres`
// OS user, which is created if missing). It never outlives its caller: see guardian.ts.
import { type ChildProcess, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { LocalError } from '../errors.js';
import { helperEnv, spawnHelper } from '../helper-process.js';
import { assertPortFree, freePort, portInUse } from '../ports.js';
import { findBinaries } from './binaries.js';
import { GUARDIAN_SOURCE } from './guardian.js';
import { randomPassword, scramVerifier } from './password.js';

export type AuthMethod = 'scram-sha-256' | 'md5' | 'password' | 'trust';

export interface StartPostgresOptions {
  /** A folder to keep the cluster in (initialised on first use, kept at stop). Default: a temp folder removed at stop. */
  dataDir?: string;
  /** Default: a free port picked by the OS. */
  port?: number;
  /** Address to listen on. Default 127.0.0.1. */
  host?: string;
  /** Superuser name. Default `postgres`. */
  user?: string;
  /**
   * Superuser password. Default: a random one, new at each start of an ephemeral server; a
   * persistent cluster (`dataDir`) keeps the one it got first (in `<dataDir>/superuser-password`,
   * mode 0600). Read it from `url` or `password()`. A given password is set at every start.
   */
  password?: string;
  /** Authentication method for TCP connections (pg_hba). Default `scram-sha-256`. */
  authMethod?: AuthMethod;
  /** Extra pg_hba.conf lines, placed before the default ones (first match wins). */
  hba?: string[];
  /** Server settings, passed as `-c name=value`: e.g. `{ idle_session_timeout: '2s', max_connections: 20 }`. */
  settings?: Record<string, string | number | boolean>;
  /** Folder with `initdb` and `postgres`. Default: `ANYPG_PG_BIN`, else the embedded PostgreSQL 18. */
  binDir?: string;
  /** Server log lines (stderr). Default: kept in memory and shown in errors only. */
  onLog?: (line: string) => void;
  /** How long to wait for the server to accept connections. Default 30 s. */
  startTimeoutMs?: number;
}

export interface LocalPostgres {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly database: string;
  readonly dataDir: string;
  readonly persistent: boolean;
  /** `postgresql://user:password@host:port/database` (password included: it is a local server). */
  readonly url: string;
  /** The URL for another database of this server, with optional query parameters. */
  urlFor(database?: string, params?: Record<string, string>): string;
  /** The superuser password (a method, so logging the server object never prints it). */
  password(): string;
  /** Creates a database (quoted as an identifier) and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Fast shutdown; removes an ephemeral data folder. Safe to call twice. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const TEST_FRIENDLY_DEFAULTS: Record<string, string> = {
  // Durability is pointless for throwaway local data and costs seconds per test run.
  fsync: 'off',
  synchronous_commit: 'off',
  full_page_writes: 'off',
  // Neon and the Data API run sessions in UTC with ISO dates; so do we, so values compare equal.
  TimeZone: 'UTC',
  DateStyle: 'ISO, MDY',
  log_destination: 'stderr',
  logging_collector: 'off',
  lc_messages: 'C',
};

export async function startPostgres(options: StartPostgresOptions = {}): Promise<LocalPostgres> {
  const bins = findBinaries(options.binDir);
  const host = options.host ?? '127.0.0.1';
  const user = options.user ?? 'postgres';
  const authMethod = options.authMethod ?? 'scram-sha-256';
  const persistent = options.dataDir !== undefined;
  validateName(user, 'user');

  let port: number;
  if (options.port !== undefined) {
    await assertPortFree(options.port, host, 'PostgreSQL');
    port = options.port;
  } else {
    port = await freePort(host);
  }

  const owner = serverOwner();
  // Layout: <base>/data (the cluster) and <base>/run (the Unix socket, initdb's password file), so
  // nothing lands in a shared /tmp or /var/run folder we may not write to.
  const base = persistent ? resolve(options.dataDir!) : mkdtempSync(join(tmpdir(), 'anypg-pg-'));
  const dataDir = join(base, 'data');
  const runDir = join(base, 'run');
  try {
    mkdirSync(runDir, { recursive: true });
    if (owner) {
      // mkdtemp makes a 0700 root folder: the postgres user must be able to enter and own it.
      chownSync(base, owner.uid, owner.gid);
      chownSync(runDir, owner.uid, owner.gid);
    }
    chmodSync(runDir, 0o700);

    const fresh = !existsSync(join(dataDir, 'PG_VERSION'));
    const password = options.password ?? (persistent ? storedPassword(base, fresh) : randomPassword());
    const logs: string[] = [];
    const onLog = (line: string) => {
      logs.push(line);
      if (logs.length > 200) logs.shift();
      options.onLog?.(line);
    };

    if (fresh) initdb(bins.initdb, dataDir, runDir, user, password, owner, onLog);
    writeHba(dataDir, authMethod, options.hba ?? [], owner);

    const settings: Record<string, string> = { ...TEST_FRIENDLY_DEFAULTS };
    for (const [k, v] of Object.entries(options.settings ?? {})) settings[k] = String(v);
    const args = ['-D', dataDir, '-p', String(port), '-h', host, '-k', runDir];
    for (const [k, v] of Object.entries(settings)) args.push('-c', `${k}=${v}`);

    // The server gets a bare environment: the caller's (DATABASE_URL, AWS keys...) is none of its
    // business, and a postmaster's environment is readable by the OS user it runs as.
    const guardian = spawnHelper(
      GUARDIAN_SOURCE,
      {
        bin: bins.postgres,
        args,
        env: helperEnv({ LC_ALL: 'C' }),
        ...(owner ?? {}),
        removeDir: persistent ? undefined : base,
      },
      ['pipe', 'ignore', 'pipe'],
    );
    await waitUntilReady(guardian, onLog, logs, { host, port, timeoutMs: options.startTimeoutMs ?? 30_000 });
    if (!fresh) {
      try {
        await setPassword(runDir, port, user, password);
      } catch (err) {
        guardian.stdin?.end();
        throw err;
      }
    }

    let stopped: Promise<void> | undefined;
    const stop = () => {
      stopped ??= new Promise<void>((done) => {
        if (guardian.exitCode !== null || guardian.signalCode !== null) return done();
        guardian.once('exit', () => done());
        guardian.stdin?.end();
      });
      return stopped;
    };
    const urlFor = (database = 'postgres', params?: Record<string, string>) => {
      const u = new URL(`postgresql://${host}:${port}/`);
      u.username = encodeURIComponent(user);
      u.password = encodeURIComponent(password);
      u.pathname = `/${encodeURIComponent(database)}`;
      for (const [k, v] of Object.entries(params ?? {})) u.searchParams.set(k, v);
      return u.toString();
    };
    const server: LocalPostgres = {
      host,
      port,
      user,
      database: 'postgres',
      dataDir,
      persistent,
      get url() {
        return urlFor();
      },
      urlFor,
      password: () => password,
      async createDatabase(name) {
        const pg = await import('pg');
        const client = new pg.default.Client({ connectionString: urlFor() });
        await client.connect();
        try {
          await client.query(`CREATE DATABASE "${name.replaceAll('"', '""')}"`);
        } finally {
          await client.end();
        }
        return urlFor(name);
      },
      stop,
      [Symbol.asyncDispose]: stop,
    };
    // `url` is a getter: JSON.stringify and util.inspect of the server show no password.
    Object.defineProperty(server, 'url', { enumerable: false });
    return server;
  } catch (err) {
    if (!persistent) rmSync(base, { recursive: true, force: true });
    throw err;
  }
}

/** A persistent cluster's password, kept next to its data (created with the cluster). */
function storedPassword(base: string, fresh: boolean): string {
  const file = join(base, 'superuser-password');
  if (!fresh && existsSync(file)) return readFileSync(file, 'utf8').trim();
  const password = randomPassword();
  writeFileSync(file, `${password}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return password;
}

/**
 * Sets the superuser's password on an existing cluster (a given one, or a persistent cluster's
 * stored one) over the Unix socket, whose folder only the server's OS user can enter (pg_hba: local
 * trust). The SQL carries a SCRAM verifier, never the password.
 */
async function setPassword(runDir: string, port: number, user: string, password: string): Promise<void> {
  const pg = await import('pg');
  const client = new pg.default.Client({ host: runDir, port, user, database: 'postgres' });
  await client.connect();
  try {
    await client.query(`ALTER ROLE "${user}" PASSWORD '${scramVerifier(password)}'`);
  } finally {
    await client.end();
  }
}

function validateName(value: string, what: string) {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(value)) {
    throw new LocalError(
      'BAD_OPTION',
      `${what} must be a plain identifier (letters, digits, _), got ${JSON.stringify(value)}.`,
    );
  }
}

/** PostgreSQL refuses to run as root: as root, run it as the `postgres` OS user (created if missing). */
export function serverOwner(): { uid: number; gid: number } | undefined {
  if (process.platform === 'win32' || userInfo().uid !== 0) return undefined;
  const ids = () => {
    try {
      return {
        uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })),
        gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })),
      };
    } catch {
      return undefined;
    }
  };
  const found = ids();
  if (found) return found;
  try {
    execFileSync('useradd', ['--system', '--user-group', '--no-create-home', 'postgres'], { stdio: 'ignore' });
  } catch (cause) {
    throw new LocalError(
      'START_FAILED',
      'PostgreSQL cannot run as root, and creating a `postgres` OS user to run it failed. Create one (useradd --system --user-group postgres) or run as a normal user.',
      { cause },
    );
  }
  const created = ids();
  if (!created)
    throw new LocalError('START_FAILED', 'Created the `postgres` OS user but cannot read its ids (id -u postgres).');
  return created;
}

function initdb(
  bin: string,
  dataDir: string,
  runDir: string,
  user: string,
  password: string,
  owner: { uid: number; gid: number } | undefined,
  onLog: (line: string) => void,
) {
  mkdirSync(dataDir, { recursive: true });
  if (owner) chownSync(dataDir, owner.uid, owner.gid);
  // The password goes through a file readable only by the server's user, never through argv.
  const pwfile = join(runDir, `.pw-${randomBytes(6).toString('hex')}`);
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (owner) chownSync(pwfile, owner.uid, owner.gid);
  try {
    const out = execFileSync(
      bin,
      [
        `--pgdata=${dataDir}`,
        `--username=${user}`,
        `--pwfile=${pwfile}`,
        '--auth=scram-sha-256',
        '--encoding=UTF8',
        '--locale=C',
        '--no-sync',
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: helperEnv({ LC_ALL: 'C' }), ...(owner ?? {}) },
    );
    for (const line of out.split('\n')) if (line) onLog(line);
  } catch (cause) {
    const stderr = (cause as { stderr?: string }).stderr ?? '';
    throw new LocalError(
      'INITDB_FAILED',
      `initdb failed for ${dataDir}: ${stderr.trim() || String(cause)}. If the folder holds something else, choose an empty one.`,
      { cause },
    );
  } finally {
    rmSync(pwfile, { force: true });
  }
}

const HBA_BEGIN = '# --- anypg-local managed (rewritten at every start) ---';
const HBA_END = '# --- end anypg-local managed ---';

/** Writes our lines at the top of pg_hba.conf (first match wins), keeping whatever follows. */
function writeHba(dataDir: string, method: AuthMethod, extra: string[], owner?: { uid: number; gid: number }) {
  const path = join(dataDir, 'pg_hba.conf');
  let rest = readFileSync(path, 'utf8');
  const end = rest.indexOf(HBA_END);
  if (end >= 0) rest = rest.slice(end + HBA_END.length + 1);
  const ours = [
    HBA_BEGIN,
    ...extra,
    `local all all trust`,
    `host all all 127.0.0.1/32 ${method}`,
    `host all all ::1/128 ${method}`,
    `host all all 0.0.0.0/0 ${method}`,
    HBA_END,
  ];
  writeFileSync(path, `${ours.join('\n')}\n${rest}`);
  if (owner) chownSync(path, owner.uid, owner.gid);
}

function waitUntilReady(
  guardian: ChildProcess,
  onLog: (line: string) => void,
  logs: string[],
  { host, port, timeoutMs }: { host: string; port: number; timeoutMs: number },
): Promise<void> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    let ready = false;
    const timer = setTimeout(() => {
      guardian.stdin?.end();
      reject(
        new LocalError(
          'START_FAILED',
          `PostgreSQL did not accept connections within ${timeoutMs} ms. Last server output:\n${logs.slice(-10).join('\n')}`,
        ),
      );
    }, timeoutMs);
    guardian.stderr?.setEncoding('utf8');
    guardian.stderr?.on('data', (chunk: string) => {
      buffer += chunk;
      let nl = buffer.indexOf('\n');
      while (nl >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        onLog(line);
        if (!ready && line.includes('database system is ready to accept connections')) {
          ready = true;
          clearTimeout(timer);
          resolve();
        }
        nl = buffer.indexOf('\n');
      }
    });
    guardian.once('exit', (code) => {
      if (ready) return;
      clearTimeout(timer);
      if (logs.some((l) => l.includes('Address already in use'))) {
        reject(portInUse(port, host, 'PostgreSQL'));
        return;
      }
      reject(
        new LocalError(
          'START_FAILED',
          `PostgreSQL exited during start (exit code ${code}). Server output:\n${logs.slice(-15).join('\n')}`,
        ),
      );
    });
  });
}
