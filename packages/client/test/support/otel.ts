// OpenTelemetry's SDK with its in-memory exporters, for the telemetry tests: the spans and metrics
// a client records, passed to openTelemetry() as providers (nothing registered globally).
import * as otel from '@opentelemetry/api';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { type OpenTelemetryOptions, openTelemetry, type Telemetry } from '../../src/node.js';

export interface OtelHarness {
  telemetry: Telemetry;
  tracerProvider: BasicTracerProvider;
  meterProvider: MeterProvider;
  /** Finished spans so far, in the order they ended. */
  spans(): ReadableSpan[];
  reset(): void;
  /** Collects now; every data point of the metric `name`. */
  points(name: string): Promise<Array<{ attributes: Record<string, unknown>; value: unknown }>>;
  shutdown(): Promise<void>;
}

export function otelHarness(
  options: Omit<OpenTelemetryOptions, 'tracerProvider' | 'meterProvider'> = {},
  temporality: AggregationTemporality = AggregationTemporality.CUMULATIVE,
): OtelHarness {
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const metricExporter = new InMemoryMetricExporter(temporality);
  // Never on its own schedule: collected when a test asks (forceFlush).
  const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 });
  const meterProvider = new MeterProvider({ readers: [reader] });
  return {
    telemetry: openTelemetry(otel, { ...options, tracerProvider, meterProvider }),
    tracerProvider,
    meterProvider,
    spans: () => exporter.getFinishedSpans(),
    reset: () => exporter.reset(),
    async points(name) {
      metricExporter.reset();
      await reader.forceFlush();
      const all = metricExporter.getMetrics().at(-1);
      const metric = all?.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === name);
      return (metric?.dataPoints ?? []).map((p) => ({ attributes: p.attributes, value: p.value }));
    },
    async shutdown() {
      await tracerProvider.shutdown();
      await meterProvider.shutdown();
    },
  };
}

/** Everything a span says (name, attributes, events, status), as one string to search for secrets. */
export function spanText(spans: ReadableSpan[]): string {
  return JSON.stringify(
    spans.map((s) => ({ name: s.name, attributes: s.attributes, events: s.events, status: s.status, links: s.links })),
  );
}

export const childrenOf = (spans: ReadableSpan[], parent: ReadableSpan): ReadableSpan[] =>
  spans.filter((s) => s.parentSpanContext?.spanId === parent.spanContext().spanId);
