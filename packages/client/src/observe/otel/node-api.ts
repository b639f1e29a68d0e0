// The Node entry's default telemetry: OpenTelemetry when `@opentelemetry/api` is installed.
//
// Found with require() from here, when createDb() runs (never at import): an installed API is
// used, a missing one costs one failed lookup per process and nothing else. require() resolves
// through NODE_PATH too, which is where AWS Lambda layers put their packages (the ADOT layer's
// API under /opt/nodejs/node_modules). The name is held in a variable so bundlers do not try to
// resolve it: a bundle built without the API still builds (pass openTelemetry(api) there).
// Imported under another name: the banner users put on ESM Lambda bundles declares `createRequire`.
import { createRequire as nodeCreateRequire } from 'node:module';
import type { Telemetry } from '../trace.js';
import type { OtelApi } from './api.js';
import { openTelemetry } from './telemetry.js';

const API_PACKAGE = '@opentelemetry/api';
let found: OtelApi | null | undefined;

export function installedOpenTelemetryApi(): OtelApi | undefined {
  if (found === undefined) {
    found = null;
    try {
      const base = typeof import.meta.url === 'string' ? import.meta.url : `${process.cwd()}/`;
      const api = nodeCreateRequire(base)(API_PACKAGE) as Partial<OtelApi>;
      if (typeof api?.trace?.getTracer === 'function') found = api as OtelApi;
    } catch {
      // not installed: no telemetry
    }
  }
  return found ?? undefined;
}

/** openTelemetry() over the installed API, or undefined when there is none. */
export function defaultNodeTelemetry(): Telemetry | undefined {
  const api = installedOpenTelemetryApi();
  return api ? openTelemetry(api) : undefined;
}
