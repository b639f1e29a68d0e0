// A small connection pool over pg.Client that survives Lambda freezes.
//
// Why not pg-pool: it judges idle connections by timers, and timers do not run while a Lambda
// container is frozen; it validates only new clients; and an idle client's `error` event kills a
// process nobody listens for. This pool judges a connection at checkout by what can be known
// without a round trip:
//   - wall-clock idle age (idleTimeoutMs) and total age (maxLifetimeMs);
//   - the socket's state, after letting the event loop deliver whatever arrived while the process
//     was frozen (a FIN or RST from a server, NAT or proxy that dropped the connection);
//   - errors the client reported while idle (it is marked broken, never crashes the process).
// A connection that fails these checks is closed and replaced, before any statement is sent.
import type pg from 'pg';
import {
  AnypgError,
  abortedError,
  ConfigurationError,
  ConnectionError,
  type ConnectionError as ConnectionErrorType,
  isPostgresError,
  PoolExhaustedError,
} from '../../errors.js';
import type { CircuitBreaker } from '../../resilience/breaker.js';

export interface PoolSettings {
  max: number;
  min: number;
  idleTimeoutMs: number;
  maxLifetimeMs: number;
  acquireTimeoutMs: number;
  /** For messages: where we connect, without the password. */
  target: string;
  /**
   * Called when a connection goes idle (and may be closed by the idle timer), with a promise that
   * settles once it has left the idle list, reused or closed. On Vercel it is the invocation's
   * waitUntil, so that an instance is not suspended while it still holds an idle connection.
   */
  onIdle?: ((left: Promise<void>) => void) | undefined;
}

export interface Counters {
  opened: number;
  staleReplaced: number;
  acquireTimeouts: number;
  retries: number;
  outcomeUnknown: number;
}

/** One pooled connection. */
export interface Conn {
  readonly client: pg.Client;
  readonly id: number;
  createdAt: number;
  lastUsedAt: number;
  /** Set when the client reported an error or its socket ended: never reuse it. */
  broken: boolean;
  /** Closed (or closing) and no longer counted in the pool's total. */
  destroyed: boolean;
  /** A cancelled statement still finishing: the connection goes back to the pool after it. */
  settling?: Promise<void> | undefined;
  idleTimer: ReturnType<typeof setTimeout> | undefined;
  /** Settles the promise given to `onIdle` for this idle spell. */
  leftIdle?: (() => void) | undefined;
}

interface Waiter {
  resolve(conn: Conn): void;
  reject(err: unknown): void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * Idle longer than this, a connection gets one turn of the event loop before it is judged, so
 * that a FIN or RST that arrived during a freeze is processed first. Below it the check costs
 * nothing. A thawed container handles the invocation in the same event-loop turn that delivers
 * it, before the socket's close is read: without the yield, a statement would go out on a socket
 * the server already closed. 100 ms keeps the yield off a busy server's hot path (connections
 * reused within milliseconds) and on every Lambda invocation but back-to-back ones, where it
 * costs microseconds against the gap.
 */
const YIELD_AFTER_IDLE_MS = 100;

/** One turn of the event loop: I/O callbacks run before this resolves (setTimeout where setImmediate is missing). */
const yieldToEventLoop = (): Promise<void> =>
  new Promise((r) => (typeof setImmediate === 'function' ? setImmediate(r) : setTimeout(r, 0)));

export class FreezeAwarePool {
  private readonly idle: Conn[] = [];
  private readonly waiters: Waiter[] = [];
  private total = 0;
  private nextId = 1;
  private closed = false;

  constructor(
    private readonly settings: PoolSettings,
    private readonly connect: () => Promise<pg.Client>,
    private readonly breaker: CircuitBreaker | undefined,
    readonly counters: Counters,
  ) {}

  stats() {
    return { total: this.total, idle: this.idle.length, waiting: this.waiters.length };
  }

  async acquire(signal?: AbortSignal): Promise<Conn> {
    if (this.closed) throw closedError();
    if (signal?.aborted) throw abortedError(signal);
    while (this.idle.length > 0) {
      const conn = this.idle.pop()!;
      clearTimeout(conn.idleTimer);
      conn.idleTimer = undefined;
      conn.leftIdle?.();
      conn.leftIdle = undefined;
      const stale = this.isStale(conn);
      if (stale === true || (stale !== false && (await stale))) {
        this.counters.staleReplaced++;
        this.destroy(conn);
        continue;
      }
      return conn;
    }
    if (this.total < this.settings.max) return this.open();
    return new Promise<Conn>((resolve, reject) => {
      const onAbort = () => {
        const i = this.waiters.indexOf(waiter);
        if (i < 0) return;
        this.waiters.splice(i, 1);
        clearTimeout(waiter.timer);
        reject(abortedError(signal!));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const waiter: Waiter = {
        resolve: (conn) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(conn);
        },
        reject,
        timer: setTimeout(() => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          this.counters.acquireTimeouts++;
          reject(
            new PoolExhaustedError(
              `No connection became free within ${this.settings.acquireTimeoutMs} ms: all ${this.settings.max} connection(s) of the pool are in use and ${this.waiters.length + 1} caller(s) were waiting. Raise pool.max or pool.acquireTimeoutMs, keep transactions short, or look for a transaction that never ends (leak warnings). Answer with HTTP 503.`,
            ),
          );
        }, this.settings.acquireTimeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  /** Returns a connection; `destroy` (or a broken connection) closes it instead. */
  release(conn: Conn, destroy = false): void {
    if (conn.settling && !destroy) {
      const settling = conn.settling;
      conn.settling = undefined;
      void settling.then(() => this.release(conn));
      return;
    }
    if (destroy || conn.broken || this.closed) {
      this.destroy(conn);
      this.serveWaiterWithNewConnection();
      return;
    }
    conn.lastUsedAt = Date.now();
    const waiter = this.waiters.shift();
    if (waiter) {
      clearTimeout(waiter.timer);
      waiter.resolve(conn);
      return;
    }
    this.idle.push(conn);
    if (this.total > this.settings.min) {
      // Best effort only: this timer does not run while the process is frozen; checkout decides.
      conn.idleTimer = setTimeout(() => this.closeIdle(conn), this.settings.idleTimeoutMs);
      conn.idleTimer.unref?.();
      this.settings.onIdle?.(new Promise<void>((resolve) => (conn.leftIdle = resolve)));
    }
  }

  async end(): Promise<void> {
    this.closed = true;
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(closedError());
    }
    await Promise.all(this.idle.splice(0).map((c) => this.destroy(c)));
  }

  /**
   * Whether an idle connection must not be used. Synchronous on the hot path (a connection reused
   * within a second); after a longer idle (a freeze, perhaps) it first yields once to the event loop.
   */
  private isStale(conn: Conn): boolean | Promise<boolean> {
    const now = Date.now();
    if (now - conn.lastUsedAt > this.settings.idleTimeoutMs) return true;
    if (now - conn.createdAt > this.settings.maxLifetimeMs) return true;
    const judge = () => conn.broken || !socketUsable(conn.client);
    return now - conn.lastUsedAt > YIELD_AFTER_IDLE_MS ? yieldToEventLoop().then(judge) : judge();
  }

  private async open(): Promise<Conn> {
    this.breaker?.beforeAttempt();
    this.total++;
    let client: pg.Client;
    try {
      client = await this.connect();
    } catch (err) {
      this.total--;
      const wrapped = err instanceof AnypgError ? err : connectError(this.settings.target, err);
      // A missing driver or a bad setting is not the database failing: it must not open the circuit.
      if (!(wrapped instanceof ConfigurationError)) this.breaker?.failure(wrapped);
      this.serveWaiterWithNewConnection();
      throw wrapped;
    }
    this.breaker?.success();
    this.counters.opened++;
    const now = Date.now();
    const conn: Conn = {
      client,
      id: this.nextId++,
      createdAt: now,
      lastUsedAt: now,
      broken: false,
      destroyed: false,
      idleTimer: undefined,
    };
    const markBroken = () => {
      conn.broken = true;
      // An idle connection that died is dropped now rather than at checkout.
      const i = this.idle.indexOf(conn);
      if (i >= 0) {
        this.idle.splice(i, 1);
        clearTimeout(conn.idleTimer);
        this.counters.staleReplaced++;
        this.destroy(conn);
      }
    };
    // Without an 'error' listener, an idle client whose server goes away crashes the process.
    client.on('error', markBroken);
    client.on('end', markBroken);
    return conn;
  }

  private serveWaiterWithNewConnection(): void {
    if (this.closed || this.waiters.length === 0 || this.total >= this.settings.max) return;
    const waiter = this.waiters.shift()!;
    clearTimeout(waiter.timer);
    this.open().then(waiter.resolve, waiter.reject);
  }

  private closeIdle(conn: Conn): void {
    const i = this.idle.indexOf(conn);
    if (i < 0 || this.total <= this.settings.min) return;
    this.idle.splice(i, 1);
    this.destroy(conn);
  }

  /** Closes a connection and stops counting it. The only place `total` goes down for a live connection. */
  private destroy(conn: Conn): Promise<void> {
    if (conn.destroyed) return Promise.resolve();
    conn.destroyed = true;
    this.total--;
    clearTimeout(conn.idleTimer);
    const left = conn.leftIdle;
    conn.leftIdle = undefined;
    return left ? closeClient(conn).finally(left) : closeClient(conn);
  }
}

async function closeClient(conn: Conn): Promise<void> {
  const client = conn.client;
  if (!conn.broken && socketUsable(client)) {
    // A clean Terminate message, but never wait long for a peer that may be gone.
    await Promise.race([client.end().catch(() => undefined), new Promise((r) => setTimeout(r, 1000).unref?.())]);
  }
  connectionOf(client)?.destroy();
}

interface StreamLike {
  destroyed?: boolean;
  writable?: boolean;
  readableEnded?: boolean;
  destroy(): void;
}

export function connectionOf(client: pg.Client): StreamLike | undefined {
  return (client as unknown as { connection?: { stream?: StreamLike } }).connection?.stream;
}

/** What the socket itself says, without a round trip. */
export function socketUsable(client: pg.Client): boolean {
  const internal = client as unknown as { _ending?: boolean; _ended?: boolean; _queryable?: boolean };
  if (internal._ending || internal._ended || internal._queryable === false) return false;
  const s = connectionOf(client);
  if (!s) return false;
  return !s.destroyed && s.writable !== false && !s.readableEnded;
}

function closedError(): AnypgError {
  return new AnypgError('CLIENT_CLOSED', 'This database client was closed with $close(); create a new one.');
}

function connectError(target: string, err: unknown): ConnectionErrorType {
  // Node reports a refused connection to a name with several addresses as an AggregateError
  // with an empty message: fall back to its code.
  const e = err as { message?: string; code?: string };
  const reason = e?.message || e?.code || String(err);
  const code = (err as { code?: unknown }).code;
  const sqlstate = isPostgresError(err) ? (code as string) : undefined;
  // Wrong password, unknown role or database: trying again will not help.
  // PgBouncer answers a wrong password or a refused startup parameter with 08P01.
  const permanent =
    (sqlstate !== undefined && (sqlstate.startsWith('28') || sqlstate === '3D000')) ||
    /SASL authentication failed|unsupported startup parameter/.test(reason);
  const advice = sqlstate === TOO_MANY_CONNECTIONS ? ` ${TOO_MANY_ADVICE}` : '';
  return new ConnectionError(`Could not connect to ${target}: ${reason}${advice}`, err, !permanent, sqlstate);
}

/** SQLSTATE 53300: the server (or the role, or the database) has no connection slot left. */
export const TOO_MANY_CONNECTIONS = '53300';
const TOO_MANY_ADVICE =
  'The server has no connection slot left (SQLSTATE 53300), even after retrying within connectTimeoutMs: put a pooler in front (RDS Proxy, PgBouncer, Supavisor, Hyperdrive), or lower pool.max or the number of instances.';
