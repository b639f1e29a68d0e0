// A stand-in for an OpenTelemetry Lambda layer (the ADOT layer, say), for local runs: preloaded
// with NODE_OPTIONS="--import <this file>", it registers the SDK's tracer provider and an
// AsyncLocalStorage context manager before the handler loads, and writes each finished span as one
// line on stdout:
//
//   OTEL_SPAN {"name":"SELECT notes","traceId":"..","spanId":"..","parentSpanId":"..","startMs":..,"durationMs":..,"attributes":{..},"status":{..}}
//
// A layer's collector would export them instead; `pnpm demo` and the client's Lambda test read the
// lines from the function's log. anypg finds the same API by itself (NODE_PATH, as for a layer).
import * as otel from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';

const ms = ([s, ns]) => s * 1e3 + ns / 1e6;

const stdoutExporter = {
  export(spans, done) {
    for (const s of spans) {
      const line = {
        name: s.name,
        traceId: s.spanContext().traceId,
        spanId: s.spanContext().spanId,
        parentSpanId: s.parentSpanContext?.spanId,
        scope: s.instrumentationScope.name,
        startMs: ms(s.startTime),
        durationMs: ms(s.duration),
        attributes: s.attributes,
        status: s.status,
      };
      process.stdout.write(`OTEL_SPAN ${JSON.stringify(line)}\n`);
    }
    done({ code: 0 });
  },
  shutdown: async () => {},
};

otel.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
otel.trace.setGlobalTracerProvider(
  new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(stdoutExporter)] }),
);
