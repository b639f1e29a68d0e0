// The telemetry the worker's databases use: none unless an entry sets it before the first request
// (src/traced.ts does, for the local demo run). Kept apart so the deployed bundle carries no
// OpenTelemetry code: the entry that imports it is the one that pays.
import type { Telemetry } from 'anypg';

let current: Telemetry | undefined;

export function useTelemetry(telemetry: Telemetry | undefined): void {
  current = telemetry;
}

export function telemetry(): Telemetry | undefined {
  return current;
}
