// What a backend factory gets: the resolved choice and the validated configuration.
import type { ConnectionParts } from '../config/connection-string.js';
import type { CreateDbOptions } from '../config/options.js';
import type { QueryEventSink } from '../observe/events.js';
import type { DetectedRuntime } from '../runtime/detect.js';
import type { Transport } from '../transport/contract.js';
import type { BackendName } from '../transport/info.js';
import type { Resolution } from './resolve.js';

export interface BackendContext {
  options: CreateDbOptions<Record<string, unknown>>;
  env: Record<string, unknown>;
  runtime: DetectedRuntime;
  resolution: Resolution;
  /** The connection URL, parsed (absent for Hyperdrive and the Data API). */
  url: ConnectionParts | undefined;
  /** The URL as given, for drivers that take a string (never put in messages). */
  rawUrl: string | undefined;
  events: QueryEventSink;
  /** The pooler the URL goes through, if one was detected or named. */
  pooler: { kind: string; evidence: string } | undefined;
}

export type BackendFactory = (ctx: BackendContext) => Transport;
export type BackendFactories = Partial<Record<BackendName, BackendFactory>>;
