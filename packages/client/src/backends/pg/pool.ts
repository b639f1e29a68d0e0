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

/**
 * A statement written to a connection and not yet answered. The server answers in the order the
 * statements were written, so a connection's flights are answered oldest first.
 */
export interface Flight {
  /** Its caller was answered already (a timeout, the caller's deadline): nobody waits for it. */
  abandoned: boolean;
  /** Who sent it: statements of one transaction share an owner; a pipelined statement is its own. */
  readonly owner: object;
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
  idleTimer: ReturnType<typeof setTimeout> | undefined;
  /** Settles the promise given to `onIdle` for this idle spell. */
  leftIdle?: (() => void) | undefined;
  /** Callers using it: the one holding it exclusively, or every pipelined statement not yet answered. */
  holders: number;
  /** Held by one caller (a transaction, a batch): nothing else is written to it meanwhile. */
  exclusive: boolean;
  /** A transaction waits for it: no more pipelined statements join, so that it drains. */
  claimed: boolean;
  /** A statement on it was abandoned: no more statements join until everything on it has ended. */
  draining: boolean;
  /** Written and not yet answered, oldest first. */
  readonly flights: Flight[];
  /** A CancelRequest on its way to the server: the connection is not handed out before it arrived. */
  cancelling: Promise<void> | undefined;
  /** Its socket holds writes until the end of this event-loop turn (one flight for them all). */
  corked: boolean;
  /** Statement texts prepared on this connection under a name of anypg's (the statement cache). */
  readonly prepared: Map<string, string>;
  /** Names handed out on this connection so far (a name is never used twice). */
  preparedSeq: number;
}

interface Waiter {
  /** A pipelined statement (joins a shared connection) rather than an exclusive holder. */
  shared: boolean;
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

/**
 * Checkouts come in two kinds. Exclusive (acquire): a transaction or a batch holds the connection
 * alone. Shared (acquireShared, only where pipelining is on): a statement outside a transaction is
 * written to a connection that already carries other such statements, instead of waiting for it to
 * be free; each is answered in turn. A connection goes back to the pool when its last holder is
 * done and nothing is left on the wire (no abandoned statement still running, no CancelRequest on
 * its way), so the next holder never gets an answer or a cancel meant for someone else.
 *
 * Waiters are served in order. A run of waiting statements is handed one connection together; a
 * waiting transaction claims a shared connection (no more statements join it), gets it once the
 * statements on it are answered, and so is never starved by a stream of pipelined statements.
 */
export class FreezeAwarePool {
  private readonly idle: Conn[] = [];
  private readonly waiters: Waiter[] = [];
  /** Connections out in shared mode, open to more statements unless claimed or draining. */
  private readonly shared = new Set<Conn>();
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

  /** A connection for one caller alone (a transaction, a batch, a statement where pipelining is off). */
  async acquire(signal?: AbortSignal): Promise<Conn> {
    if (this.closed) throw closedError();
    if (signal?.aborted) throw abortedError(signal);
    const conn = (await this.takeIdle()) ?? (this.total < this.settings.max ? await this.open() : undefined);
    if (conn) return this.holdExclusive(conn);
    this.claimOne();
    return this.wait(false, signal);
  }

  /**
   * A connection for one pipelined statement: an idle one, a new one while the pool has room, else
   * the least busy connection already carrying statements (the statement is written behind them).
   */
  async acquireShared(signal?: AbortSignal): Promise<Conn> {
    if (this.closed) throw closedError();
    if (signal?.aborted) throw abortedError(signal);
    let conn = await this.takeIdle();
    if (!conn && this.total < this.settings.max) conn = await this.open();
    if (conn) {
      this.holdShared(conn);
      this.joinWaiters(conn);
      return conn;
    }
    const busy = this.leastBusyShared();
    if (busy) {
      busy.holders++;
      return busy;
    }
    return this.wait(true, signal);
  }

  /** One holder is done with the connection; `destroy` (or a broken connection) closes it once nobody holds it. */
  release(conn: Conn, destroy = false): void {
    if (destroy) conn.broken = true;
    conn.holders = Math.max(0, conn.holders - 1);
    if (conn.holders > 0) return;
    conn.exclusive = false;
    conn.claimed = false;
    this.shared.delete(conn);
    this.returnWhenSettled(conn);
  }

  /**
   * The connection's wire state changed (a statement ended, a CancelRequest arrived): a connection
   * nobody holds goes back to the pool once it is clean; a draining one takes statements again.
   */
  settle(conn: Conn): void {
    if (!wireClean(conn)) return;
    conn.draining = false;
    if (conn.holders === 0) this.returnWhenSettled(conn);
  }

  async end(): Promise<void> {
    this.closed = true;
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(closedError());
    }
    await Promise.all(this.idle.splice(0).map((c) => this.destroy(c)));
  }

  private holdExclusive(conn: Conn): Conn {
    conn.exclusive = true;
    conn.holders = 1;
    return conn;
  }

  private holdShared(conn: Conn): void {
    conn.exclusive = false;
    conn.holders = 1;
    this.shared.add(conn);
  }

  /** A run of waiting statements at the head of the queue joins this shared connection. */
  private joinWaiters(conn: Conn): void {
    while (this.waiters[0]?.shared && !conn.claimed && !conn.draining) {
      const w = this.waiters.shift()!;
      clearTimeout(w.timer);
      conn.holders++;
      w.resolve(conn);
    }
    // A transaction waits behind them: it gets this connection once they are answered.
    if (this.waiters.length > 0) conn.claimed = true;
  }

  /** A pipelined statement asking now would join a connection without waiting (for telemetry). */
  hasJoinable(): boolean {
    return this.leastBusyShared() !== undefined;
  }

  private leastBusyShared(): Conn | undefined {
    let best: Conn | undefined;
    for (const c of this.shared) {
      if (c.claimed || c.draining || c.broken || !socketUsable(c.client)) continue;
      if (!best || c.holders < best.holders) best = c;
    }
    return best;
  }

  /** A waiting transaction stops statements from joining one shared connection, so that it drains. */
  private claimOne(): void {
    let best: Conn | undefined;
    for (const c of this.shared) {
      if (c.claimed) return; // one is draining for the waiters already
      if (!best || c.holders < best.holders) best = c;
    }
    if (best) best.claimed = true;
  }

  private wait(shared: boolean, signal: AbortSignal | undefined): Promise<Conn> {
    // The signal may have fired while an idle connection was being judged.
    if (signal?.aborted) return Promise.reject(abortedError(signal));
    if (this.closed) return Promise.reject(closedError());
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
        shared,
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

  /** Hands a connection nobody holds to the next waiter(s), or back to the idle list, once its wire is clean. */
  private returnWhenSettled(conn: Conn): void {
    if (conn.destroyed) return;
    if (conn.broken || this.closed) {
      this.destroy(conn);
      this.serveWaiterWithNewConnection();
      return;
    }
    if (!wireClean(conn)) return; // settle() calls back when it is
    conn.draining = false;
    conn.lastUsedAt = Date.now();
    const waiter = this.waiters.shift();
    if (waiter) {
      clearTimeout(waiter.timer);
      this.handTo(waiter, conn);
      // Another transaction still waits: let one shared connection drain for it.
      if (this.waiters.some((w) => !w.shared)) this.claimOne();
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

  /** The most recently used idle connection that passes the checks, or undefined. */
  private async takeIdle(): Promise<Conn | undefined> {
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
    return undefined;
  }

  /**
   * Whether an idle connection must not be used. Synchronous on the hot path (a connection reused
   * within a moment); after a longer idle (a freeze, perhaps) it first yields once to the event loop.
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
      holders: 0,
      exclusive: false,
      claimed: false,
      draining: false,
      flights: [],
      cancelling: undefined,
      corked: false,
      prepared: new Map(),
      preparedSeq: 0,
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
    this.open().then((conn) => this.handTo(waiter, conn), waiter.reject);
  }

  /** Gives a waiter the connection it waited for (shared waiters behind it join a shared one). */
  private handTo(waiter: Waiter, conn: Conn): void {
    if (waiter.shared) {
      this.holdShared(conn);
      this.joinWaiters(conn);
    } else {
      this.holdExclusive(conn);
    }
    waiter.resolve(conn);
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
    this.shared.delete(conn);
    clearTimeout(conn.idleTimer);
    const left = conn.leftIdle;
    conn.leftIdle = undefined;
    return left ? closeClient(conn).finally(left) : closeClient(conn);
  }
}

/** Nothing of anyone's is left on the connection: no statement unanswered, no cancel on its way. */
export function wireClean(conn: Conn): boolean {
  return conn.flights.length === 0 && conn.cancelling === undefined;
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
