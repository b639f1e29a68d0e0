// The part of `@opentelemetry/api` anypg uses, declared structurally (as Kysely declares the part of
// pg it needs): anypg's types and code never import the package, so it stays an optional peer that
// is loaded only by whoever passes it (openTelemetry(api)) or by the Node entry when it is installed.
// `import * as otel from '@opentelemetry/api'` satisfies OtelApi (a type test checks it).

export type AttributeValue = string | number | boolean;
export type Attributes = Record<string, AttributeValue | undefined>;

export interface OtelContext {
  getValue(key: symbol): unknown;
  setValue(key: symbol, value: unknown): OtelContext;
}

export interface OtelSpan {
  spanContext(): { traceId: string };
  setAttribute(key: string, value: AttributeValue): unknown;
  setAttributes(attributes: Attributes): unknown;
  setStatus(status: { code: number; message?: string }): unknown;
  end(endTime?: number): void;
  isRecording(): boolean;
}

export interface OtelSpanOptions {
  kind?: number;
  attributes?: Attributes;
  /** Epoch milliseconds. */
  startTime?: number;
}

export interface OtelTracer {
  startSpan(name: string, options?: OtelSpanOptions, context?: OtelContext): OtelSpan;
}

export interface OtelTracerProvider {
  getTracer(name: string, version?: string): OtelTracer;
}

export interface OtelHistogram {
  record(value: number, attributes?: Attributes): void;
}

export interface OtelObservableResult {
  observe(observable: OtelObservable, value: number, attributes?: Attributes): void;
}

// biome-ignore lint/suspicious/noEmptyInterface: an opaque handle, passed back to the meter
export interface OtelObservable {}

export interface OtelInstrumentOptions {
  description?: string;
  unit?: string;
  advice?: { explicitBucketBoundaries?: number[] };
}

export interface OtelMeter {
  createHistogram(name: string, options?: OtelInstrumentOptions): OtelHistogram;
  createObservableCounter(name: string, options?: OtelInstrumentOptions): OtelObservable;
  createObservableUpDownCounter(name: string, options?: OtelInstrumentOptions): OtelObservable;
  addBatchObservableCallback(callback: (result: OtelObservableResult) => void, observables: OtelObservable[]): void;
  removeBatchObservableCallback(callback: (result: OtelObservableResult) => void, observables: OtelObservable[]): void;
}

export interface OtelMeterProvider {
  getMeter(name: string, version?: string): OtelMeter;
}

export interface OtelApi {
  trace: {
    getTracer(name: string, version?: string): OtelTracer;
    setSpan(context: OtelContext, span: OtelSpan): OtelContext;
    /** The global provider: a ProxyTracerProvider whose delegate is the SDK's, once one is registered. */
    getTracerProvider?(): object;
  };
  /** `new ProxyTracerProvider().getDelegate()` is the API's no-op provider: what "no SDK registered" looks like. */
  ProxyTracerProvider?: new () => { getDelegate(): unknown };
  context: {
    active(): OtelContext;
    with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
      context: OtelContext,
      fn: F,
      thisArg?: ThisParameterType<F>,
      ...args: A
    ): ReturnType<F>;
  };
  metrics: {
    getMeter(name: string, version?: string): OtelMeter;
  };
  createContextKey(description: string): symbol;
}

/** The API's numeric enums (fixed by the OpenTelemetry protocol), so no value is imported. */
export const SPAN_KIND_INTERNAL = 0;
export const SPAN_KIND_CLIENT = 2;
export const STATUS_ERROR = 2;
