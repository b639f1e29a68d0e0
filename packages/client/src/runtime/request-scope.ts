// A db that outlives one Workers request (created at module scope) without sharing a connection
// between requests.
//
// Each request that calls the db gets a transport of its own (its own pool of connections), made
// at its first call and found again by its marker (request-context.ts) at every later call. No
// request ever reaches another's connections, so none waits on a socket workerd has closed or
// refuses, and nothing is sent twice: the retry rules stay those of the inner transport.
//
// A request's transport is closed once it has been idle for `idleMs` (no call running), from a
// timer of that request, which workerd keeps running after the response because the transport is
// registered with `waitUntil`: connections end with a clean Terminate inside their own request,
// never abandoned when workerd tears the request down. A request that uses the db again after a
// longer pause simply gets a new transport.
import { AnypgError, ConfigurationError } from '../errors.js';
import type { Trace } from '../observe/trace.js';
import { batchInTransaction } from '../transport/batch-in-transaction.js';
import type {
  Executor,
  PoolStats,
  QueryResult,
  Statement,
  TransactionConfig,
  Transport,
} from '../transport/contract.js';
import type { BackendInfo, Capabilities } from '../transport/info.js';
import {
  isGlobalScopeError,
  loadedWaitUntil,
  loadWaitUntil,
  type MarkerFactory,
  type RequestMarker,
  type WaitUntil,
} from './request-context.js';

/**
 * The default `pool.idleTimeoutMs` of request-scoped pools: a request's connections close this long
 * after its last call ended. Statements that follow each other (or other work that is not I/O)
 * share a connection: a timer cannot fire between them. A request that waits on other I/O longer
 * than this pays one new connection when it comes back, which Hyperdrive makes cheap; in exchange
 * a finished request lets go of its connection about as soon as a per-request db closed in
 * ctx.waitUntil(db.$close()) would.
 */
export const REQUEST_IDLE_MS = 10;

export interface RequestScopeOptions {
  /** Builds the transport of one request; called inside that request, at its first call. */
  open: () => Transport;
  info: BackendInfo;
  capabilities: Capabilities;
  /** A request's transport is closed after this long without a call running. */
  idleMs: number;
  markers: MarkerFactory;
  /** The circuit state shared by every request's transport (a breaker is plain state, not I/O). */
  circuit?: () => PoolStats['circuit'];
}

interface Scope {
  readonly marker: RequestMarker;
  readonly transport: Transport;
  /** Calls running now. */
  active: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** Closing or closed; no longer found by lookups. */
  retired: boolean;
  /** Dropped from the lookup list (too many requests at once); it still closes itself. */
  evicted: boolean;
  closing: Promise<void> | undefined;
  /** Ends the waitUntil lease. */
  release: () => void;
}

/**
 * How many of the most recently used scopes a call asks before opening a new one. A request's next
 * call almost always follows its previous one directly, so its scope is first; asking a foreign
 * marker costs an exception, so the search stays short (a miss costs one more connection, never a
 * shared one).
 */
const PROBES = 2;

/** Scopes remembered for lookup and stats; older ones are forgotten (they still close themselves). */
const MAX_SCOPES = 256;

type Counters = Omit<PoolStats, 'total' | 'idle' | 'waiting' | 'circuit'>;

export class RequestScopedTransport implements Transport {
  readonly info: BackendInfo;
  readonly capabilities: Capabilities;
  readonly #opts: RequestScopeOptions;
  /** Live scopes, most recently used first. */
  readonly #scopes: Scope[] = [];
  /** Counters of the scopes that are gone. */
  readonly #gone: Counters = { opened: 0, staleReplaced: 0, acquireTimeouts: 0, retries: 0, outcomeUnknown: 0 };
  #closed = false;

  constructor(opts: RequestScopeOptions) {
    this.#opts = opts;
    this.info = opts.info;
    this.capabilities = opts.capabilities;
  }

  query(stmt: Statement): Promise<QueryResult> {
    return this.#run((t) => t.query(stmt));
  }

  transaction<T>(
    fn: (tx: Executor) => Promise<T>,
    config?: TransactionConfig,
    signal?: AbortSignal,
    trace?: Trace,
  ): Promise<T> {
    return this.#run((t) => t.transaction(fn, config, signal, trace));
  }

  /** One flight, on the request's own connection (the inner transport's batch). */
  batch(stmts: Statement[], trace?: Trace): Promise<QueryResult[]> {
    return this.#run(async (t) => {
      if (t.batch) return t.batch(stmts, trace);
      return batchInTransaction(t, stmts);
    });
  }

  /**
   * `db.$client`: the running request's own transport's client (a connection belongs to one request
   * in workerd); undefined outside a request.
   */
  client(): unknown {
    const scope = this.#find();
    return scope?.transport.client?.();
  }

  stats(): PoolStats {
    const sum = { total: 0, idle: 0, waiting: 0, ...this.#gone };
    for (const scope of this.#scopes) {
      const s = scope.transport.stats();
      sum.total += s.total;
      sum.idle += s.idle;
      sum.waiting += s.waiting;
      add(sum, s);
    }
    return { ...sum, circuit: this.#opts.circuit?.() ?? 'closed' };
  }

  /**
   * Closes the running request's transport now. Other requests' transports cannot be touched from
   * here (workerd forbids it): each closes itself as soon as its request has no call running.
   */
  async close(): Promise<void> {
    this.#closed = true;
    const own = this.#scopes.filter((s) => s.marker.owns());
    await Promise.all(own.map((s) => this.#retire(s)));
  }

  async #run<T>(f: (t: Transport) => Promise<T>): Promise<T> {
    const scope = await this.#enter();
    try {
      return await f(scope.transport);
    } finally {
      scope.active--;
      this.#idle(scope);
    }
  }

  /** The running request's scope, with one more call counted (so no idle timer can close it). */
  #enter(): Scope | Promise<Scope> {
    if (this.#closed) throw closedError();
    const found = this.#find();
    if (found) return hold(found);
    // Made before anything else: at global scope this is where workerd refuses.
    let marker: RequestMarker;
    try {
      marker = this.#opts.markers();
    } catch (err) {
      if (isGlobalScopeError(err)) throw globalScopeError(err);
      throw err;
    }
    const waitUntil = loadedWaitUntil();
    if (waitUntil !== undefined) return hold(this.#create(marker, waitUntil));
    // First call in this isolate: load waitUntil, then look again (a parallel first call of the same
    // request may have made the scope meanwhile).
    return loadWaitUntil().then((w) => {
      if (this.#closed) throw closedError();
      return hold(this.#find() ?? this.#create(marker, w));
    });
  }

  #find(): Scope | undefined {
    const n = Math.min(PROBES, this.#scopes.length);
    for (let i = 0; i < n; i++) {
      const scope = this.#scopes[i]!;
      if (!scope.marker.owns()) continue;
      if (i > 0) this.#scopes.unshift(...this.#scopes.splice(i, 1));
      return scope;
    }
    return undefined;
  }

  #create(marker: RequestMarker, waitUntil: WaitUntil | null): Scope {
    const scope: Scope = {
      marker,
      transport: this.#opts.open(),
      active: 0,
      timer: undefined,
      retired: false,
      evicted: false,
      closing: undefined,
      release: () => {},
    };
    // Keeps this request alive after its response until its connections are closed.
    waitUntil?.(new Promise<void>((resolve) => (scope.release = resolve)));
    this.#scopes.unshift(scope);
    if (this.#scopes.length > MAX_SCOPES) {
      const old = this.#scopes.pop()!;
      old.evicted = true;
      add(this.#gone, old.transport.stats());
    }
    return scope;
  }

  /** A call ended: the scope moves to the front, and once nothing runs its idle timer starts. */
  #idle(scope: Scope): void {
    if (scope.retired) return;
    if (!scope.evicted && this.#scopes[0] !== scope) {
      const i = this.#scopes.indexOf(scope);
      if (i > 0) this.#scopes.unshift(...this.#scopes.splice(i, 1));
    }
    if (scope.active > 0) return;
    if (this.#closed) {
      void this.#retire(scope);
      return;
    }
    // Set in this request, so it fires in this request (kept alive by the waitUntil lease).
    scope.timer = setTimeout(() => void this.#retire(scope), this.#opts.idleMs);
  }

  #retire(scope: Scope): Promise<void> {
    if (scope.closing) return scope.closing;
    scope.retired = true;
    clearTimeout(scope.timer);
    const i = this.#scopes.indexOf(scope);
    if (i >= 0) this.#scopes.splice(i, 1);
    // Its counters move to the gone ones as it leaves the list, not once it has closed: in between,
    // $stats() would miss them (seen as one connection too few under wrangler dev). Closing opens
    // nothing, so they are final.
    if (!scope.evicted) add(this.#gone, scope.transport.stats());
    scope.closing = scope.transport
      .close()
      .catch(() => undefined)
      .then(() => scope.release());
    return scope.closing;
  }
}

function hold(scope: Scope): Scope {
  scope.active++;
  clearTimeout(scope.timer);
  scope.timer = undefined;
  return scope;
}

function add(into: Counters, s: PoolStats): void {
  into.opened += s.opened;
  into.staleReplaced += s.staleReplaced;
  into.acquireTimeouts += s.acquireTimeouts;
  into.retries += s.retries;
  into.outcomeUnknown += s.outcomeUnknown;
}

function closedError(): AnypgError {
  return new AnypgError('CLIENT_CLOSED', 'This database client was closed with $close(); create a new one.');
}

function globalScopeError(cause: unknown): ConfigurationError {
  const err = new ConfigurationError(
    'scope',
    "A query ran at the Worker's global scope (a top-level await, say), where workerd allows no I/O. createDb() may stay at module scope; run the queries inside fetch() or another handler.",
  );
  (err as { cause?: unknown }).cause = cause;
  return err;
}
