// Transactions: BeginTransaction opens a dedicated connection, runs BEGIN, and holds it under an
// opaque random id. Calls with that id run on it, one at a time. A transaction no call has used for
// `idleMs` (AWS: 3 minutes) is rolled back, and so is any transaction older than `maxLifetimeMs`
// (AWS: 24 hours); its id is then unknown, as on AWS.
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { DataApiError } from './errors.js';
import type { TypeInfo } from './types.js';
import type { UpstreamTarget } from './upstream.js';

export interface SessionOptions {
  idleMs: number;
  maxLifetimeMs: number;
  /** The error type for an unknown or expired id. */
  notFound: 'TransactionNotFoundException' | 'NotFoundException';
}

export class Session {
  busy = false;
  /** The last statement error in this transaction, for the message when COMMIT finds it aborted. */
  failure: string | undefined;
  idleTimer: NodeJS.Timeout | undefined;
  lifeTimer: NodeJS.Timeout | undefined;
  /** Past its maximum lifetime while a statement ran: rolled back when that statement ends. */
  overLifetime = false;
  constructor(
    readonly id: string,
    readonly client: pg.Client,
    readonly target: UpstreamTarget,
    readonly types: Map<number, TypeInfo>,
  ) {}
  get pid(): number {
    return (this.client as unknown as { processID: number }).processID;
  }
}

export class Sessions {
  private readonly sessions = new Map<string, Session>();
  /** Transactions rolled back because they sat unused or lived too long. */
  expired = 0;

  constructor(private readonly options: SessionOptions) {}

  get size(): number {
    return this.sessions.size;
  }

  /** Runs BEGIN on `client` and registers it; the id is 64 random base64 characters. */
  async begin(client: pg.Client, target: UpstreamTarget, types: Map<number, TypeInfo>): Promise<Session> {
    await client.query('BEGIN');
    const session = new Session(randomBytes(48).toString('base64'), client, target, types);
    this.sessions.set(session.id, session);
    session.lifeTimer = setTimeout(() => void this.expire(session, 'lifetime'), this.options.maxLifetimeMs);
    session.lifeTimer.unref();
    this.touch(session);
    // A connection the server drops ends the transaction: forget it.
    client.once('error', () => {
      this.forget(session);
    });
    return session;
  }

  /**
   * The session for `id`, marked busy until `release()` is called. AWS answers a second call on a
   * transaction that is still running one with this DatabaseErrorException.
   */
  acquire(id: unknown): { session: Session; release(): void } {
    const session = typeof id === 'string' ? this.sessions.get(id) : undefined;
    if (!session) {
      throw new DataApiError(this.options.notFound, `Transaction ${String(id)} is not found`);
    }
    if (session.busy) throw new DataApiError('DatabaseErrorException', 'Transaction is still running a query');
    session.busy = true;
    clearTimeout(session.idleTimer);
    let released = false;
    return {
      session,
      release: () => {
        if (released) return;
        released = true;
        session.busy = false;
        if (this.sessions.get(session.id) !== session) return;
        if (session.overLifetime) void this.expire(session, 'lifetime');
        else this.touch(session);
      },
    };
  }

  /** COMMIT or ROLLBACK, then closes the connection. Returns the server's command tag. */
  async finish(session: Session, statement: 'COMMIT' | 'ROLLBACK'): Promise<string> {
    this.forget(session);
    try {
      const result = await session.client.query(statement);
      return result.command;
    } finally {
      await session.client.end().catch(() => {});
    }
  }

  async closeAll(): Promise<void> {
    const all = [...this.sessions.values()];
    await Promise.all(all.map((s) => this.finish(s, 'ROLLBACK').catch(() => {})));
  }

  private touch(session: Session) {
    clearTimeout(session.idleTimer);
    session.idleTimer = setTimeout(() => void this.expire(session), this.options.idleMs);
    session.idleTimer.unref();
  }

  private async expire(session: Session, why: 'idle' | 'lifetime' = 'idle') {
    if (this.sessions.get(session.id) !== session) return;
    if (session.busy) {
      // A statement is still running (continueAfterTimeout): the transaction is in use. Past the
      // idle limit that keeps it; past its lifetime it ends as soon as the statement does.
      if (why === 'lifetime') session.overLifetime = true;
      else this.touch(session);
      return;
    }
    this.expired++;
    await this.finish(session, 'ROLLBACK').catch(() => {});
  }

  private forget(session: Session) {
    clearTimeout(session.idleTimer);
    clearTimeout(session.lifeTimer);
    if (this.sessions.get(session.id) === session) this.sessions.delete(session.id);
  }
}
