// What was chosen and what it can do: visible on the client before any call fails.
import type { RuntimeName } from '../runtime/detect.js';

export type BackendName = 'pg' | 'pg-pooler' | 'neon-http' | 'neon-ws' | 'hyperdrive' | 'data-api';

export interface BackendInfo {
  runtime: RuntimeName;
  backend: BackendName;
  /** Why this backend: the option, variable or runtime that decided it. */
  reason: string;
  /** Where it connects, password removed. */
  target: string;
  /** The TLS mode in force (libpq sslmode names). */
  tls: string;
  /** The pool's effective settings. */
  pool: { max: number; min: number; idleTimeoutMs: number; maxLifetimeMs: number };
}

export interface Capabilities {
  /** `db.transaction()` with statements that depend on earlier results. */
  interactiveTransactions: boolean;
  /** Savepoints (nested `tx.transaction()`). */
  savepoints: boolean;
  /** `db.batch()` runs atomically (all or nothing). */
  batchAtomic: boolean;
  /** Round trips a `db.batch()` of n statements costs (as a function of n). */
  batchRoundTrips: (n: number) => number;
  /** Named prepared statements survive between calls. */
  namedStatements: boolean;
  /** Most connections this client opens at once. */
  maxConnections: number;
  /** `db.$withAuth(token)`: a per-statement auth token (Neon's JWT for row-level security). neon-http only. */
  withAuth: boolean;
}
