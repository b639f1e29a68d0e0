// What both entries (node and edge) export besides createDb.
export type { CreateDbOptions, DataApiOptions, HyperdriveOptions, NeonOptions, PoolOptions } from './config/options.js';
export type { SslMode, SslOptions } from './config/tls.js';
export { AnypgDatabase, type PingResult } from './drizzle/database.js';
export type { AnypgQueryResultHKT, AnypgTransaction } from './drizzle/session.js';
export {
  AbortedError,
  AnypgError,
  type AnypgErrorCode,
  CircuitOpenError,
  ConfigurationError,
  ConnectionError,
  ConnectionLostError,
  DatabaseError,
  isRetryable,
  OutcomeUnknownError,
  PoolExhaustedError,
  type PostgresErrorFields,
  QueryTimeoutError,
  StatementTimeoutError,
  sqlstateOf,
} from './errors.js';
export type { AnypgWarning, QueryEvent } from './observe/events.js';
export type { OtelApi } from './observe/otel/api.js';
export { type OpenTelemetryOptions, openTelemetry } from './observe/otel/telemetry.js';
export type { ServerSessions, ServerStats, ServerStatsUnavailable } from './observe/server-stats.js';
export type { Telemetry } from './observe/trace.js';
export type { RuntimeName } from './runtime/detect.js';
export type { Field, PoolStats, QueryResult, TransactionConfig } from './transport/contract.js';
export type { BackendInfo, BackendName, Capabilities } from './transport/info.js';
