// OpenTelemetry set up as ADOT does it: a global tracer and meter provider, an AsyncLocalStorage
// context manager, and @opentelemetry/instrumentation-pg patching pg as it loads. Import it before
// anything that loads pg (it hooks require; a pg loaded earlier stays unpatched).
// enhancedDatabaseReporting is on: the worst case, where instrumentation-pg records parameter values.
import * as otel from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';

export const spanExporter = new InMemorySpanExporter();
export const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spanExporter)] });
export const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
export const metricReader = new PeriodicExportingMetricReader({
  exporter: metricExporter,
  exportIntervalMillis: 3_600_000,
});
export const meterProvider = new MeterProvider({ readers: [metricReader] });

otel.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
otel.trace.setGlobalTracerProvider(tracerProvider);
otel.metrics.setGlobalMeterProvider(meterProvider);

export const pgInstrumentation = new PgInstrumentation({ enhancedDatabaseReporting: true });
pgInstrumentation.setTracerProvider(tracerProvider);
pgInstrumentation.setMeterProvider(meterProvider);
pgInstrumentation.enable();
