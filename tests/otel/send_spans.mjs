// send_spans.mjs - GenAI spans made by the real OpenTelemetry JS SDK, for
// tally's tests. Usage:
//   node send_spans.mjs export URL TOKEN proto|json PREFIX   (OTLP/HTTP exporter)
//   node send_spans.mjs env proto|json PREFIX              (exporter configured by the
//                                                              OTEL_EXPORTER_OTLP_* variables)
//   node send_spans.mjs write FILE proto|json PREFIX          (the bytes the Collector's
//                                                              Kafka exporter writes:
//                                                              otlp_proto / otlp_json)
import { BasicTracerProvider, SimpleSpanProcessor, InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { ProtobufTraceSerializer, JsonTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { SpanStatusCode, SpanKind } from '@opentelemetry/api';
import { writeFileSync } from 'node:fs';

const [mode, a1, a2, a3, a4] = process.argv.slice(2);
const enc = mode === 'export' ? a3 : mode === 'env' ? a1 : a2;
const prefix = mode === 'export' ? a4 : mode === 'env' ? a2 : a3;

let exporter;
if (mode === 'export') {
  const opts = { url: a1, headers: { Authorization: `Bearer ${a2}` } };
  // The protobuf exporter gzips, as the Collector's otlphttp exporter does by default.
  exporter = enc === 'proto' ? new ProtoExporter({ ...opts, compression: 'gzip' }) : new JsonExporter(opts);
} else if (mode === 'env') {
  // Everything from OTEL_EXPORTER_OTLP_TRACES_* (docs/integrations.md).
  exporter = enc === 'proto' ? new ProtoExporter() : new JsonExporter();
} else {
  exporter = new InMemorySpanExporter();
}
const resource = resourceFromAttributes({
  'service.name': `${prefix}-bot`,
  'tally.team': 'support',
  'deployment.environment.name': 'test',
});
const provider = new BasicTracerProvider({ resource, spanProcessors: [new SimpleSpanProcessor(exporter)] });
const tracer = provider.getTracer('tally-test', '1.0.0');
const t0 = Date.UTC(2026, 10, 5, 9, 0, 0); // 2026-11-05T09:00:00Z

function span(name, attrs, { start = t0, ms = 800, error = false, kind = SpanKind.CLIENT } = {}) {
  const s = tracer.startSpan(name, { kind, attributes: attrs, startTime: new Date(start) });
  if (error) s.setStatus({ code: SpanStatusCode.ERROR, message: 'upstream timed out' });
  s.end(new Date(start + ms));
}

// 1. OpenAI chat, cache read, workflow from the span.
span('chat gpt-4o-mini', {
  'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai',
  'gen_ai.request.model': 'gpt-4o-mini', 'gen_ai.response.model': 'gpt-4o-mini-2024-07-18',
  'gen_ai.usage.input_tokens': 1000, 'gen_ai.usage.output_tokens': 200,
  'gen_ai.usage.cache_read.input_tokens': 400, 'gen_ai.response.id': `chatcmpl-${prefix}-1`,
  'gen_ai.response.finish_reasons': ['stop'], 'tally.workflow': 'ticket-triage',
  'tally.task_type': 'classify', 'tally.outcome_id': `TICKET-${prefix}`, 'user.id': 'alice',
});
// 2. Anthropic (older gen_ai.system), cache write and read, reasoning.
span('chat claude', {
  'gen_ai.operation.name': 'chat', 'gen_ai.system': 'anthropic',
  'gen_ai.request.model': 'claude-sonnet-4-20250514',
  'gen_ai.usage.input_tokens': 2000, 'gen_ai.usage.output_tokens': 500,
  'gen_ai.usage.cache_creation.input_tokens': 200, 'gen_ai.usage.cache_read.input_tokens': 800,
  'gen_ai.usage.reasoning.output_tokens': 100, 'gen_ai.response.id': `msg_${prefix}_2`,
  'gen_ai.response.finish_reasons': ['end_turn', 'tool_use'], 'tally.tag.env': 'prod',
}, { start: t0 + 1000, ms: 2500 });
// 3. Not a GenAI call: an HTTP server span.
span('GET /tickets', { 'http.request.method': 'GET', 'url.path': '/tickets' }, { kind: SpanKind.SERVER });
// 4. A tool execution inside an agent: GenAI, but not a model call.
span('execute_tool lookup', { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.provider.name': 'openai',
  'gen_ai.request.model': 'gpt-4o-mini', 'gen_ai.tool.name': 'lookup' });
// 5. A call that timed out before any usage.
span('chat gpt-4o', { 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai',
  'gen_ai.request.model': 'gpt-4o', 'error.type': 'timeout' }, { start: t0 + 2000, ms: 30000, error: true });
// 6. A GenAI call with an impossible token count: rejected, the others kept.
span('chat bad', { 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai',
  'gen_ai.request.model': 'gpt-4o-mini', 'gen_ai.usage.input_tokens': -5,
  'gen_ai.usage.output_tokens': 1 });

await provider.forceFlush();
if (mode === 'write') {
  const spans = exporter.getFinishedSpans();
  const bytes = enc === 'proto' ? ProtobufTraceSerializer.serializeRequest(spans)
                                : JsonTraceSerializer.serializeRequest(spans);
  writeFileSync(a1, bytes);
}
await provider.shutdown();
console.log('sent');
