// The small contract every backend implements. The Drizzle layer (drizzle/session.ts) speaks only
// this; a backend is a folder under backends/ that turns these calls into its wire protocol.

import type { PgDialect } from 'drizzle-orm/pg-core';
import type { Trace } from '../observe/trace.js';
import type { BackendInfo, Capabilities } from './info.js';

export interface Field {
  name: string;
  /** PostgreSQL type OID. */
  dataTypeID: number;
}

/** What a statement returns, the same on every backend. */
export interface QueryResult<Row = unknown> {
  /** The command tag's verb: SELECT, INSERT, UPDATE, DELETE, CREATE, ... */
  command: string;
  /** Rows affected or returned; null for commands without a count. */
  rowCount: number | null;
  fields: Field[];
  rows: Row[];
}

export interface Statement {
  text: string;
  params: unknown[];
  /** `array`: rows as arrays (the query builder); `object`: rows keyed by column name (execute). */
  rowMode: 'array' | 'object';
  /**
   * `builder`: as drizzle's node-postgres driver parses values (date, timestamp, timestamptz,
   * interval, their arrays and numeric[] stay PostgreSQL's text, for drizzle's column mappers and,
   * by default, db.execute()); `raw`: every value parsed as node-postgres parses it by default.
   */
  parse: 'builder' | 'raw';
  /** A prepared statement name (drizzle's `.prepare(name)`); backends that cannot keep it ignore it. */
  name?: string;
  /** Ends every wait for this statement (connection, answer): the caller's deadline. */
  signal?: AbortSignal;
  /**
   * drizzle's type hint per parameter ('date', 'time', 'timestamp', 'uuid', 'json', 'decimal' or
   * 'none'), for backends that cannot let the server infer parameter types (the Data API).
   */
  typings?: readonly string[];
  /** Set when telemetry is on: what the transport reports while it runs the statement (observe/trace.ts). */
  trace?: Trace;
  /**
   * The SQL type of each result column, when the caller knows them all (drizzle's selected table
   * columns): the Data API then needs no column metadata to decode the values.
   */
  resultTypes?: readonly string[];
  /** A per-statement auth token (`db.$withAuth`), for backends whose capabilities have `withAuth`. */
  authToken?: string | (() => string | Promise<string>);
}

export interface TransactionConfig {
  isolationLevel?: 'read uncommitted' | 'read committed' | 'repeatable read' | 'serializable';
  accessMode?: 'read only' | 'read write';
  deferrable?: boolean;
}

/** Runs statements on one connection or session (a transaction holds one). */
export interface Executor {
  query(stmt: Statement): Promise<QueryResult>;
  /**
   * Inside a transaction: the statements in order, in one round trip where the backend can; the
   * first failure stops the rest (the transaction is then aborted).
   */
  batch?(stmts: Statement[]): Promise<QueryResult[]>;
}

export interface PoolStats {
  /** Connections open or opening. */
  total: number;
  idle: number;
  /** Callers waiting for a connection. */
  waiting: number;
  /** Connections opened since the client was created. */
  opened: number;
  /** Idle connections found dead or too old at checkout (e.g. after a Lambda freeze) and replaced. */
  staleReplaced: number;
  acquireTimeouts: number;
  /** Statements run again after a connection broke (only when that was safe). */
  retries: number;
  /** Statements that failed with OUTCOME_UNKNOWN (never replayed). */
  outcomeUnknown: number;
  circuit: 'closed' | 'open' | 'half-open';
}

export interface Transport extends Executor {
  readonly info: BackendInfo;
  readonly capabilities: Capabilities;
  /**
   * Runs `fn` inside BEGIN ... COMMIT on one session; ROLLBACK when it throws. `trace` (telemetry
   * on) gets the connection wait and the BEGIN/COMMIT the transport sends.
   */
  transaction<T>(
    fn: (tx: Executor) => Promise<T>,
    config?: TransactionConfig,
    signal?: AbortSignal,
    trace?: Trace,
  ): Promise<T>;
  /** Runs the statements atomically in one round trip, where the backend has a primitive for it. */
  batch?(stmts: Statement[], trace?: Trace): Promise<QueryResult[]>;
  stats(): PoolStats;
  close(): Promise<void>;
  /** The driver-level object behind `db.$client` (see the client README, per backend). */
  client?(): unknown;
  /**
   * How drizzle must build statements for this backend, where drizzle's PgDialect is not enough
   * (the Data API's casting dialect, drizzle/casting-dialect.ts). Set by the backend's factory, so
   * builds without that backend (the edge entries) do not carry it.
   */
  drizzle?: DrizzleKit;
}

/** A backend's drizzle layer: its dialect, and what the session tells its statements. */
export interface DrizzleKit {
  dialect(config: { casing?: 'snake_case' | 'camelCase' }): PgDialect;
  /** The typing of a parameter bound to `encoder` (Statement.typings). */
  typingOf(encoder: unknown): string;
  /** The result columns' types from drizzle's selected fields (Statement.resultTypes). */
  resultTypesOf(fields: readonly { field: unknown }[]): readonly string[] | undefined;
}
