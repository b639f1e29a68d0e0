// A real PgBouncer in front of a PostgreSQL, for local development and for tests of code that will
// run behind a transaction-mode pooler (RDS Proxy, Supavisor, Neon's pooler, a PgBouncer).
//
// PgBouncer is the system package (Debian 12: 1.18.0). It refuses to run as root, so as root it runs
// as the `postgres` OS user, like the PostgreSQL server, and every file it touches (ini, auth file,
// pid file, Unix socket) lives in a temp folder that user owns, removed at close. A guardian process
// (the PostgreSQL server's) stops it when the caller exits, even on SIGKILL.
import type { ChildProcess } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalError } from '../errors.js';
import { helperEnv, spawnHelper } from '../helper-process.js';
import { assertPortFree, freePort, portInUse } from '../ports.js';
import { GUARDIAN_SOURCE } from '../postgres/guardian.js';
import { serverOwner } from '../postgres/server.js';
import { findPgBouncer } from './binary.js';
import { authFileLine, type BouncerConfig, type PoolMode, parseUpstream, renderIni, type Upstream } from './config.js';

export type { PoolMode } from './config.js';

export interface StartPgBouncerOptions {
  /** The PostgreSQL to pool, as a URL with the user and password clients will log in with. */
  upstream: string;
  /** Default: a free port picked by the OS. */
  port?: number;
  /** Address to listen on. Default 127.0.0.1. */
  host?: string;
  /** Default `transaction`, the mode of the managed poolers anypg cares about. */
  poolMode?: PoolMode;
  /** Most client connections PgBouncer accepts. Default 100. */
  maxClientConn?: number;
  /** Server connections per user and database. Default 20. */
  defaultPoolSize?: number;
  /** An idle server connection is closed after this. Default 600 s (PgBouncer's default). */
  serverIdleTimeoutMs?: number;
  /**
   * Startup parameters PgBouncer accepts and drops instead of refusing the connection. Default none,
   * as PgBouncer itself: then a client that sends `statement_timeout`, `lock_timeout`,
   * `idle_in_transaction_session_timeout` or `options` (pg does when they are configured) is refused
   * with 08P01 "unsupported startup parameter". Listing one here lets the client in, but the setting
   * is silently not applied. (`application_name`, `client_encoding`, `DateStyle`, `TimeZone` and
   * `standard_conforming_strings` are always accepted and tracked.)
   */
  ignoreStartupParameters?: string[];
  /** More [pgbouncer] settings, e.g. `{ max_prepared_statements: 100 }` on PgBouncer >= 1.21. */
  settings?: Record<string, string | number | boolean>;
  /** The pgbouncer executable. Default: ANYPG_PGBOUNCER_BIN, else `pgbouncer` on PATH or in /usr/sbin. */
  binary?: string;
  /** PgBouncer's log lines. Default: kept in memory and shown in errors only. */
  onLog?: (line: string) => void;
  /** How long to wait for PgBouncer to listen. Default 10 s. */
  startTimeoutMs?: number;
}

export interface LocalPgBouncer {
  readonly host: string;
  readonly port: number;
  readonly poolMode: PoolMode;
  /** The PgBouncer process id (while it runs). */
  readonly pid: number;
  /** Where the upstream is. */
  readonly upstream: { readonly host: string; readonly port: number };
  /** The upstream URL with host and port replaced by PgBouncer's (same user, password, database). */
  readonly url: string;
  /** The same through PgBouncer, for another database of the upstream, with optional query parameters. */
  urlFor(database?: string, params?: Record<string, string>): string;
  /** The admin console (database `pgbouncer`): SHOW POOLS, SHOW SERVERS, SHOW CLIENTS. Simple queries only. */
  readonly adminUrl: string;
  /** Stops PgBouncer (fast exit: open client connections are dropped) and removes its folder. Safe to call twice. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function startPgBouncer(options: StartPgBouncerOptions): Promise<LocalPgBouncer> {
  if (typeof options?.upstream !== 'string' || options.upstream === '') {
    throw new LocalError('BAD_OPTION', 'startPgBouncer needs `upstream`: the URL of the PostgreSQL to pool.');
  }
  const upstream = parseUpstream(options.upstream);
  const bin = findPgBouncer(options.binary);
  const host = options.host ?? '127.0.0.1';
  const poolMode = options.poolMode ?? 'transaction';
  if (!['transaction', 'session', 'statement'].includes(poolMode)) {
    throw new LocalError(
      'BAD_OPTION',
      `poolMode must be transaction, session or statement, got ${JSON.stringify(poolMode)}.`,
    );
  }
  const numbers = {
    maxClientConn: options.maxClientConn ?? 100,
    defaultPoolSize: options.defaultPoolSize ?? 20,
    serverIdleTimeoutMs: options.serverIdleTimeoutMs ?? 600_000,
  };
  for (const [k, v] of Object.entries(numbers)) {
    if (!Number.isInteger(v) || v < 1) throw new LocalError('BAD_OPTION', `${k} must be an integer >= 1, got ${v}.`);
  }
  if (options.port !== undefined) await assertPortFree(options.port, host, 'PgBouncer');

  const owner = serverOwner();
  // A port we picked ourselves can be taken by someone else before PgBouncer binds it: pick again.
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await freePort(host));
    const files = writeFiles(owner, {
      upstream,
      host,
      port,
      poolMode,
      ...numbers,
      ignoreStartupParameters: options.ignoreStartupParameters ?? [],
      settings: options.settings ?? {},
    });
    try {
      const guardian = await launch(bin, files, owner, { host, port, options });
      return handle(guardian, { host, port, poolMode, upstream, pidFile: files.pidFile });
    } catch (err) {
      rmSync(files.base, { recursive: true, force: true });
      if (err instanceof LocalError && err.code === 'PORT_IN_USE' && options.port === undefined && attempt < 3)
        continue;
      throw err;
    }
  }
}

interface Files {
  base: string;
  iniFile: string;
  pidFile: string;
}

/**
 * One folder for everything PgBouncer reads or writes: the ini, the auth file (it holds the
 * password: mode 0600), the pid file and the Unix socket; owned by PgBouncer's user.
 */
function writeFiles(
  owner: { uid: number; gid: number } | undefined,
  config: Omit<BouncerConfig, 'runDir' | 'authFile'>,
): Files {
  const base = mkdtempSync(join(tmpdir(), 'anypg-pgbouncer-'));
  try {
    const runDir = join(base, 'run');
    const authFile = join(base, 'userlist.txt');
    const iniFile = join(base, 'pgbouncer.ini');
    mkdirSync(runDir, { mode: 0o700 });
    writeFileSync(authFile, authFileLine(config.upstream.user, config.upstream.password), { mode: 0o600 });
    writeFileSync(iniFile, renderIni({ ...config, runDir, authFile }), { mode: 0o600 });
    if (owner) for (const p of [base, runDir, authFile, iniFile]) chownSync(p, owner.uid, owner.gid);
    return { base, iniFile, pidFile: join(runDir, 'pgbouncer.pid') };
  } catch (err) {
    rmSync(base, { recursive: true, force: true });
    throw err;
  }
}

/** Starts the guardian (which starts PgBouncer) and waits until PgBouncer listens on host:port. */
function launch(
  bin: string,
  files: Files,
  owner: { uid: number; gid: number } | undefined,
  { host, port, options }: { host: string; port: number; options: StartPgBouncerOptions },
): Promise<ChildProcess> {
  const guardian = spawnHelper(
    GUARDIAN_SOURCE,
    {
      bin,
      args: [files.iniFile],
      // PgBouncer reads its ini and auth file: the caller's environment is none of its business.
      env: helperEnv({ LC_ALL: 'C' }),
      ...(owner ?? {}),
      // The folder goes when PgBouncer exits, however it ends (the caller may be SIGKILLed).
      removeDir: files.base,
      // PgBouncer 1.18: SIGINT waits for running transactions (and, in session mode, for clients
      // to leave); SIGTERM exits at once. A stand-in must never hang its caller's shutdown.
      stopSignal: 'SIGTERM',
    },
    ['pipe', 'ignore', 'pipe'],
  );
  const logs: string[] = [];
  const timeoutMs = options.startTimeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    let buffer = '';
    let listening = false;
    let settled = false;
    const fail = (err: LocalError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // Stop whatever started; resolve the promise only after the process is gone.
      if (guardian.exitCode === null && guardian.signalCode === null) {
        guardian.once('exit', () => reject(err));
        guardian.stdin?.end();
      } else reject(err);
    };
    const timer = setTimeout(
      () =>
        fail(
          new LocalError('START_FAILED', `PgBouncer did not listen within ${timeoutMs} ms. Its output:\n${tail(logs)}`),
        ),
      timeoutMs,
    );
    guardian.stderr?.setEncoding('utf8');
    guardian.stderr?.on('data', (chunk: string) => {
      buffer += chunk;
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        logs.push(line);
        if (logs.length > 200) logs.shift();
        options.onLog?.(line);
        if (settled) continue;
        // PgBouncer does not exit when the TCP port is taken: it warns, keeps its Unix socket, and
        // runs on. Treat that warning as the failure it is.
        if (/cannot listen on .*Address already in use/.test(line)) fail(portInUse(port, host, 'PgBouncer'));
        else if (/ listening on (?!unix:)/.test(line) && line.endsWith(`:${port}`)) listening = true;
        else if (line.includes('process up:')) {
          if (!listening) {
            fail(
              new LocalError(
                'START_FAILED',
                `PgBouncer started but is not listening on ${host}:${port}. Its output:\n${tail(logs)}`,
              ),
            );
            continue;
          }
          settled = true;
          clearTimeout(timer);
          resolve(guardian);
        }
      }
    });
    guardian.once('exit', (code) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(
        new LocalError('START_FAILED', `PgBouncer exited during start (exit code ${code}). Its output:\n${tail(logs)}`),
      );
    });
  });
}

function tail(logs: string[]): string {
  return logs.slice(-15).join('\n') || '(nothing)';
}

function handle(
  guardian: ChildProcess,
  info: { host: string; port: number; poolMode: PoolMode; upstream: Upstream; pidFile: string },
): LocalPgBouncer {
  const { host, port, upstream } = info;
  const pid = Number(readFileSync(info.pidFile, 'utf8').trim());
  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= new Promise<void>((done) => {
      // The guardian removes the folder before it exits.
      if (guardian.exitCode !== null || guardian.signalCode !== null) return done();
      guardian.once('exit', () => done());
      guardian.stdin?.end();
    });
    return closed;
  };
  const urlFor = (database = upstream.database, params?: Record<string, string>) => {
    const u = new URL(`postgresql://${host.includes(':') ? `[${host}]` : host}:${port}/`);
    u.username = encodeURIComponent(upstream.user);
    if (upstream.password !== undefined) u.password = encodeURIComponent(upstream.password);
    u.pathname = `/${encodeURIComponent(database)}`;
    for (const [k, v] of Object.entries(params ?? {})) u.searchParams.set(k, v);
    return u.toString();
  };
  const bouncer: LocalPgBouncer = {
    host,
    port,
    poolMode: info.poolMode,
    pid,
    upstream: { host: upstream.host, port: upstream.port },
    get url() {
      return urlFor();
    },
    urlFor,
    get adminUrl() {
      return urlFor('pgbouncer');
    },
    close,
    [Symbol.asyncDispose]: close,
  };
  // Getters, and not enumerable: JSON.stringify and util.inspect of the handle show no password.
  Object.defineProperty(bouncer, 'url', { enumerable: false });
  Object.defineProperty(bouncer, 'adminUrl', { enumerable: false });
  return bouncer;
}
