// createDb() for any build: validate the options, resolve the backend, build its transport, wrap it
// in the Drizzle handle. Reads the environment when called, never at import, and opens no
// connection until the first query (so it belongs at a Lambda handler's global scope).
import { type ConnectionParts, parseConnectionString } from '../config/connection-string.js';
import type { CreateDbOptions } from '../config/options.js';
import { type AnypgDatabase, buildDatabase } from '../drizzle/database.js';
import { ConfigurationError } from '../errors.js';
import { QueryEventSink } from '../observe/events.js';
import type { Telemetry } from '../observe/trace.js';
import { detectRuntime } from '../runtime/detect.js';
import type { BackendName } from '../transport/info.js';
import type { BackendFactories } from './context.js';
import type { Resolution, ResolveInput } from './resolve.js';

/** URL-less backends: they get their connection from a binding or from ARNs. */
const NO_URL: ReadonlySet<BackendName> = new Set(['hyperdrive', 'data-api']);

export function createDbWith<TSchema extends Record<string, unknown>>(
  factories: BackendFactories,
  options: CreateDbOptions<TSchema>,
  resolve: (input: ResolveInput) => Resolution,
  detectPooler?: (url: ConnectionParts) => { kind: string; evidence: string } | undefined,
  defaultTelemetry?: () => Telemetry | undefined,
): AnypgDatabase<TSchema> {
  if (typeof options !== 'object' || options === null) {
    throw new ConfigurationError('options', 'createDb takes an options object, e.g. createDb({ schema }).');
  }
  const env = (options.env ?? globalThis.process?.env ?? {}) as Record<string, unknown>;
  const runtime = detectRuntime(env);
  const fromEnv = options.url === undefined;
  const rawUrl = options.url ?? env.DATABASE_URL;
  if (rawUrl !== undefined && typeof rawUrl !== 'string') {
    throw new ConfigurationError('url', `url must be a string, got a ${typeof rawUrl}.`);
  }
  const url = rawUrl ? parseConnectionString(rawUrl, fromEnv ? 'DATABASE_URL' : 'url') : undefined;
  const dataApi = options.dataApi ?? dataApiFromEnv(env);

  const pooler = url && detectPooler ? detectPooler(url) : undefined;
  const resolution = resolve({
    explicit: options.backend,
    env,
    runtime,
    host: url?.host,
    pooler,
    dataApi: dataApi !== undefined,
    neonEndpoint: options.neon?.fetchEndpoint !== undefined,
    available: Object.keys(factories) as BackendName[],
    hyperdriveBinding: options.hyperdrive?.binding,
  });
  if (!url && !NO_URL.has(resolution.backend)) {
    // On Lambda the other way in is the Data API: say so, with the variables anypg reads.
    const dataApiHint =
      runtime.name === 'aws-lambda'
        ? ' For the RDS Data API instead, set ANYPG_DATA_API_RESOURCE_ARN, ANYPG_DATA_API_SECRET_ARN and ANYPG_DATA_API_DATABASE (or pass createDb({ dataApi })).'
        : '';
    throw new ConfigurationError(
      'url',
      `No database URL: pass createDb({ url }) or set DATABASE_URL (postgresql://user:password@host:5432/database).${dataApiHint}`,
    );
  }
  const factory = factories[resolution.backend]!;
  const telemetry = telemetryOf(options.telemetry, defaultTelemetry);
  const ctx = {
    options: { ...(options as CreateDbOptions<Record<string, unknown>>), ...(dataApi && { dataApi }) },
    env,
    runtime,
    resolution,
    url,
    rawUrl: rawUrl || undefined,
    events: new QueryEventSink(options),
    pooler,
  };
  const build = (c: typeof ctx) => {
    const transport = factory(c);
    return buildDatabase(telemetry ? telemetry.instrument(transport) : transport, options, transport.drizzle);
  };
  const db = build(ctx);
  const uncached = options.hyperdrive?.uncachedBinding;
  if (resolution.backend === 'hyperdrive' && uncached) {
    const fresh = {
      ...resolution,
      binding: uncached,
      reason: `${resolution.reason}; $fresh uses ${uncached} (no cache)`,
    };
    db.$setFresh(build({ ...ctx, resolution: fresh }));
  }
  return db;
}

function telemetryOf(option: unknown, fallback: (() => Telemetry | undefined) | undefined): Telemetry | undefined {
  if (option === false) return undefined;
  if (option === undefined) return fallback?.();
  if (typeof (option as Partial<Telemetry>)?.instrument !== 'function') {
    throw new ConfigurationError(
      'telemetry',
      "telemetry takes openTelemetry(api) or false: import * as otel from '@opentelemetry/api'; createDb({ telemetry: openTelemetry(otel) }).",
    );
  }
  return option as Telemetry;
}

/** Data API settings from the environment (the names the AWS docs and SAM templates use). */
function dataApiFromEnv(env: Record<string, unknown>): CreateDbOptions['dataApi'] {
  const resourceArn = env.ANYPG_DATA_API_RESOURCE_ARN ?? env.DATABASE_RESOURCE_ARN;
  const secretArn = env.ANYPG_DATA_API_SECRET_ARN ?? env.DATABASE_SECRET_ARN;
  if (typeof resourceArn !== 'string' || typeof secretArn !== 'string' || !resourceArn || !secretArn) return undefined;
  const database = env.ANYPG_DATA_API_DATABASE ?? env.DATABASE_NAME;
  return { resourceArn, secretArn, ...(typeof database === 'string' && database && { database }) };
}
