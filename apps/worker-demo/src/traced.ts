// The worker with OpenTelemetry, for local runs (`pnpm demo` starts it with this entry): the SDK's
// tracer provider with an in-memory exporter, anypg's spans under one root span per request, and
// the request's spans in an `x-anypg-trace` response header (JSON), so the demo can show where the
// milliseconds went. A deployed worker would register an SDK that exports (otel-cf-workers, say)
// and pass openTelemetry(otel) the same way.
import * as otel from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { openTelemetry } from 'anypg';
import type { Env } from './db.js';
import app from './index.js';
import { useTelemetry } from './telemetry.js';

/** Finished spans by trace, until their request's response takes them. */
const byTrace = new Map<string, ReadableSpan[]>();
const collector = {
  export(spans: ReadableSpan[], done: (result: { code: number }) => void) {
    for (const s of spans) {
      const id = s.spanContext().traceId;
      const list = byTrace.get(id) ?? [];
      list.push(s);
      byTrace.set(id, list);
    }
    done({ code: 0 });
  },
  shutdown: async () => {},
};
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(collector)] });
otel.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
useTelemetry(openTelemetry(otel, { tracerProvider: provider }));
const tracer = provider.getTracer('worker-demo');

const ms = ([s, ns]: [number, number]) => s * 1e3 + ns / 1e6;

export default {
  fetch(request: Request, env: Env, ctx: { waitUntil(p: Promise<unknown>): void }): Promise<Response> {
    return tracer.startActiveSpan(`${request.method} ${new URL(request.url).pathname}`, async (root) => {
      const answer = await app.fetch(request, env, ctx);
      root.end();
      const traceId = root.spanContext().traceId;
      const spans = (byTrace.get(traceId) ?? []).filter((s) => s.instrumentationScope.name === 'anypg');
      byTrace.delete(traceId);
      const response = new Response(answer.body, answer);
      response.headers.set(
        'x-anypg-trace',
        JSON.stringify(
          spans.map((s) => ({
            name: s.name,
            spanId: s.spanContext().spanId,
            parentSpanId: s.parentSpanContext?.spanId,
            scope: s.instrumentationScope.name,
            startMs: ms(s.startTime),
            durationMs: ms(s.duration),
          })),
        ),
      );
      return response;
    });
  },
};
