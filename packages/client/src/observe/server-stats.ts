// db.$serverStats(): this application's sessions as the server sees them (pg_stat_activity).
//
// $stats() says what this client holds; this says what the database holds for the application,
// across every client that connects with the same application_name: on Lambda, every warm
// container of the function (anypg names the connections after it). That is where a connection
// leak shows, or a transaction left idle in another container.
//
// Only where a statement runs in a session of our own does application_name mean this client:
// pg, pg-pooler (through the pooler's server connections), neon-ws. Hyperdrive, neon-http and the
// Data API run statements on connections the service pools for everyone: the answer says so.
import type { Transport } from '../transport/contract.js';
import type { BackendName } from '../transport/info.js';

export type ServerStats = ServerSessions | ServerStatsUnavailable;

export interface ServerSessions {
  available: true;
  backend: BackendName;
  /** The application_name counted (this client's). */
  applicationName: string;
  /** Sessions with this application_name, the one that answered this call included (it is active). */
  sessions: number;
  active: number;
  idle: number;
  /** Sessions inside a transaction, waiting for the client: what holds locks and connections for nothing. */
  idleInTransaction: number;
  /** Sessions waiting for a lock. */
  waiting: number;
  /** Age of the oldest open transaction among the other sessions, in ms; null when there is none. */
  oldestTransactionMs: number | null;
  /** How to read the figures on this backend, where it matters. */
  note?: string;
}

export interface ServerStatsUnavailable {
  available: false;
  backend: BackendName;
  /** Why this backend cannot tell. */
  reason: string;
}

const UNAVAILABLE: Partial<Record<BackendName, string>> = {
  hyperdrive:
    "Hyperdrive runs statements on its own pooled connections to the database, shared by every Worker using the binding: pg_stat_activity shows Hyperdrive's connections, not this client's. Use Hyperdrive's metrics in the Cloudflare dashboard.",
  'neon-http':
    "neon-http runs each statement on a connection Neon's proxy pools for every client: there is no session of this client to count. Use Neon's monitoring, or neon-ws for a session of your own.",
  'data-api':
    "The Data API runs statements on connections AWS manages and names: their application_name is not this client's. Use the cluster's Performance Insights or CloudWatch metrics.",
};

const POOLER_NOTE =
  "Through a transaction-mode pooler the sessions are the pooler's server connections last used with this application_name; the pooler may show fewer or more than the clients hold.";

const SESSIONS_SQL = `select current_setting('application_name') as application_name,
  count(*)::int as sessions,
  (count(*) filter (where state = 'active'))::int as active,
  (count(*) filter (where state = 'idle'))::int as idle,
  (count(*) filter (where state like 'idle in transaction%'))::int as idle_in_transaction,
  (count(*) filter (where wait_event_type = 'Lock'))::int as waiting,
  (extract(epoch from max(now() - xact_start) filter (where pid <> pg_backend_pid())) * 1000)::float8 as oldest_transaction_ms
from pg_stat_activity
where application_name = current_setting('application_name') and backend_type = 'client backend'`;

interface Row {
  application_name: string;
  sessions: number;
  active: number;
  idle: number;
  idle_in_transaction: number;
  waiting: number;
  oldest_transaction_ms: number | null;
}

export async function serverStats(transport: Transport): Promise<ServerStats> {
  const backend = transport.info.backend;
  const reason = UNAVAILABLE[backend];
  if (reason) return { available: false, backend, reason };
  const { rows } = await transport.query({ text: SESSIONS_SQL, params: [], rowMode: 'object', parse: 'raw' });
  const r = rows[0] as Row;
  return {
    available: true,
    backend,
    applicationName: r.application_name,
    sessions: r.sessions,
    active: r.active,
    idle: r.idle,
    idleInTransaction: r.idle_in_transaction,
    waiting: r.waiting,
    oldestTransactionMs: r.oldest_transaction_ms === null ? null : Math.round(r.oldest_transaction_ms),
    ...(backend === 'pg-pooler' && { note: POOLER_NOTE }),
  };
}
