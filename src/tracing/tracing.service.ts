import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { context, propagation, ROOT_CONTEXT, SpanStatusCode, trace, type Attributes, type Context, type Span, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';

/**
 * A span the session code can hold without caring whether tracing is on. Times are
 * `performance.now()` values (as TurnTimeline's), for spans that start at an earlier mark.
 */
export interface TraceSpan {
  child(name: string, attributes?: Attributes, startTime?: number): TraceSpan;
  /** Runs `work` with this span active, so outgoing calls (the chat backend) carry its `traceparent`. */
  run<T>(work: () => T): T;
  /** Runs `work` with this span active and ends the span when it settles (marked failed if it rejects). */
  track<T>(work: () => Promise<T>): Promise<T>;
  set(attributes: Attributes): void;
  fail(error: unknown): void;
  end(endTime?: number): void;
}

const NOOP_SPAN: TraceSpan = {
  child: () => NOOP_SPAN,
  run: (work) => work(),
  track: (work) => work(),
  set: () => undefined,
  fail: () => undefined,
  end: () => undefined,
};

const epochMs = (monotonicMs: number) => performance.timeOrigin + monotonicMs;

class OtelSpan implements TraceSpan {
  private readonly context: Context;

  constructor(
    private readonly tracer: Tracer,
    private readonly span: Span,
  ) {
    this.context = trace.setSpan(ROOT_CONTEXT, span);
  }

  child(name: string, attributes?: Attributes, startTime?: number): TraceSpan {
    const span = this.tracer.startSpan(name, { attributes, ...(startTime === undefined ? {} : { startTime: epochMs(startTime) }) }, this.context);
    return new OtelSpan(this.tracer, span);
  }

  run<T>(work: () => T): T {
    return context.with(this.context, work);
  }

  async track<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await this.run(work);
    } catch (error) {
      this.fail(error);
      throw error;
    } finally {
      this.end();
    }
  }

  set(attributes: Attributes): void {
    this.span.setAttributes(attributes);
  }

  fail(error: unknown): void {
    // The error's code and class only: messages may quote user text.
    const code = typeof error === 'object' && error !== null && 'code' in error ? String((error).code) : undefined;
    this.span.setStatus({ code: SpanStatusCode.ERROR, ...(code ? { message: code } : {}) });
    if (code) this.span.setAttribute('voice.error_code', code);
  }

  end(endTime?: number): void {
    this.span.end(endTime === undefined ? undefined : epochMs(endTime));
  }
}

/**
 * OpenTelemetry tracing, off unless OTEL_EXPORTER_OTLP_ENDPOINT (or ..._TRACES_ENDPOINT) is set:
 * spans go to that OTLP/HTTP (JSON) endpoint in batches. A session is one span; each turn a child
 * with children for recognition, the chat backend call and synthesis. While the backend span is
 * active, the W3C `traceparent` header goes out with the chat request, so the backend's spans join
 * the trace. Nothing global is installed but the context manager and the W3C propagator.
 */
@Injectable()
export class TracingService implements OnApplicationShutdown {
  private readonly logger = new Logger(TracingService.name);
  private readonly provider?: NodeTracerProvider;
  private readonly tracer?: Tracer;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    const url = config.tracing.tracesUrl;
    if (!url) return;
    this.provider = new NodeTracerProvider({
      resource: resourceFromAttributes({ 'service.name': config.tracing.serviceName }),
      spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url }))],
    });
    this.tracer = this.provider.getTracer('voice-layer');
    // Both are process-wide and idempotent: a second app in the same process reuses them.
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    this.logger.log(`tracing on: spans go to ${new URL(url).origin}`);
  }

  get enabled(): boolean {
    return this.tracer !== undefined;
  }

  /** A new trace for one session (a no-op span when tracing is off). */
  startSession(attributes: Attributes): TraceSpan {
    if (!this.tracer) return NOOP_SPAN;
    return new OtelSpan(this.tracer, this.tracer.startSpan('voice.session', { attributes, root: true }));
  }

  /** Sends what is buffered (tests call this; shutdown does it too). */
  async flush(): Promise<void> {
    await this.provider?.forceFlush();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.provider?.shutdown();
  }
}

/** Adds `traceparent` (and `tracestate`) of the active span, if any, to outgoing headers. */
export function injectTraceHeaders(headers: Record<string, string>): Record<string, string> {
  propagation.inject(context.active(), headers);
  return headers;
}

export { NOOP_SPAN };
