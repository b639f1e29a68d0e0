// openTelemetry(api): createDb's `telemetry` option for OpenTelemetry.
//
//   import * as otel from '@opentelemetry/api';
//   import { createDb, openTelemetry } from 'anypg';
//   const db = createDb({ telemetry: openTelemetry(otel) });
//
// The API module is passed in, never imported here: this file is in a bundle only when the program
// imports openTelemetry (an edge bundle that does not gets none of it), and `@opentelemetry/api`
// stays an optional peer. On Node the entry finds an installed API by itself (node-api.ts).
import { ConfigurationError } from '../../errors.js';
import type { Telemetry } from '../trace.js';
import type { OtelApi, OtelMeterProvider, OtelTracerProvider } from './api.js';
import { instrument } from './instrument.js';

export interface OpenTelemetryOptions {
  /** Default: the API's global tracer provider (the one the SDK, ADOT or your setup registered). */
  tracerProvider?: OtelTracerProvider;
  /** Default: the API's global meter provider. Register it before createDb(): the API hands out no-op meters until then. */
  meterProvider?: OtelMeterProvider;
  /**
   * db.query.text: the statement with literals replaced by `?` (default `'sanitized'`), or `'off'`.
   * Parameter values are never recorded either way.
   */
  queryText?: 'sanitized' | 'off';
  /** db.client.connection.pool.name. Default: `server.address:server.port/db.namespace`. */
  poolName?: string;
}

/** The instrumentation scope of anypg's spans and metrics. */
export const INSTRUMENTATION_SCOPE = 'anypg';

export function openTelemetry(api: OtelApi, options: OpenTelemetryOptions = {}): Telemetry {
  const a = api as Partial<OtelApi> | undefined;
  if (
    typeof a?.trace?.getTracer !== 'function' ||
    typeof a.context?.with !== 'function' ||
    typeof a.metrics?.getMeter !== 'function' ||
    typeof a.createContextKey !== 'function'
  ) {
    throw new ConfigurationError(
      'telemetry',
      "openTelemetry() takes the @opentelemetry/api module: import * as otel from '@opentelemetry/api'; openTelemetry(otel).",
    );
  }
  if (options.queryText !== undefined && options.queryText !== 'sanitized' && options.queryText !== 'off') {
    throw new ConfigurationError('telemetry.queryText', "queryText must be 'sanitized' or 'off'.");
  }
  return {
    instrument(transport) {
      const tracer = options.tracerProvider
        ? options.tracerProvider.getTracer(INSTRUMENTATION_SCOPE)
        : api.trace.getTracer(INSTRUMENTATION_SCOPE);
      const meter = options.meterProvider
        ? options.meterProvider.getMeter(INSTRUMENTATION_SCOPE)
        : api.metrics.getMeter(INSTRUMENTATION_SCOPE);
      return instrument(transport, api, tracer, meter, {
        queryText: options.queryText !== 'off',
        poolName: options.poolName,
        globalTracer: !options.tracerProvider,
      });
    },
  };
}
