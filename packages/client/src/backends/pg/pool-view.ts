// `db.$client` on the pg-family backends (pg, pg-pooler, neon-ws, hyperdrive): a pg.Pool-shaped
// view of anypg's pool, for code written against drizzle's node-postgres `$client` (a pg.Pool)
// and for libraries that take one. `connect()` lends one of the pool's own driver clients (a
// pg.Client, or the Neon driver's Client on neon-ws) until `release()`; `query()` is
// `connect()` + `client.query()` + `release()`. What runs through it is plain node-postgres:
// pg's global type parsers, no anypg timeouts, retries or events. A client released with an error
// (`release(err)`), or whose connection broke, is closed instead of returned.
import type pg from 'pg';
import { isPostgresError } from '../../errors.js';
import type { Conn, FreezeAwarePool } from './pool.js';

export interface PooledClient extends pg.Client {
  /** Gives the client back to anypg's pool; with an error (or `true`), closes it instead. */
  release(err?: Error | boolean): void;
}

export interface PgPoolView {
  query(...args: Parameters<pg.Client['query']>): Promise<pg.QueryResult>;
  connect(): Promise<PooledClient>;
  /** Closes every connection (the same as `db.$close()`). */
  end(): Promise<void>;
  readonly totalCount: number;
  readonly idleCount: number;
  readonly waitingCount: number;
}

export function poolView(pool: FreezeAwarePool, close: () => Promise<void>): PgPoolView {
  const lend = async (): Promise<{ conn: Conn; client: PooledClient }> => {
    const conn = await pool.acquire();
    const client = conn.client as PooledClient;
    let released = false;
    client.release = (err) => {
      if (released) throw new Error('release() was called twice for the same client.');
      released = true;
      pool.release(conn, !!err);
    };
    return { conn, client };
  };
  return {
    async query(...args) {
      const { client } = await lend();
      try {
        const result = (await (client.query as (...a: unknown[]) => Promise<pg.QueryResult>)(
          ...args,
        )) as pg.QueryResult;
        client.release();
        return result;
      } catch (err) {
        // A server's error leaves the connection usable; anything else may not.
        client.release(!isPostgresError(err));
        throw err;
      }
    },
    async connect() {
      return (await lend()).client;
    },
    end: close,
    get totalCount() {
      return pool.stats().total;
    },
    get idleCount() {
      return pool.stats().idle;
    },
    get waitingCount() {
      return pool.stats().waiting;
    },
  };
}
