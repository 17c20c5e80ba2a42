// A Node.js service instrumented with OpenTelemetry only (no c2cwsgiutils): it reads the caller's
// traceparent, opens a server span and a child span, and exports both by OTLP/HTTP (the
// exporter's default encoding, OTLP/JSON) to OTLP_TRACES_URL. Environment: PORT, OTLP_TRACES_URL,
// OTLP_AUTHORIZATION (the Authorization header for the collector).
"use strict";
const http = require("node:http");
const api = require("@opentelemetry/api");
const { W3CTraceContextPropagator } = require("@opentelemetry/core");
const { OTLPTraceExporter } = require("@opentelemetry/exporter-trace-otlp-http");
const { resourceFromAttributes } = require("@opentelemetry/resources");
const { BasicTracerProvider, SimpleSpanProcessor } = require("@opentelemetry/sdk-trace-base");

const exporter = new OTLPTraceExporter({
  url: process.env.OTLP_TRACES_URL,
  headers: { Authorization: process.env.OTLP_AUTHORIZATION },
});
const provider = new BasicTracerProvider({
  resource: resourceFromAttributes({ "service.name": "node-prices", "host.name": "node-host" }),
  spanProcessors: [new SimpleSpanProcessor(exporter)],
});
const propagator = new W3CTraceContextPropagator();
const tracer = provider.getTracer("node-prices.http");

const server = http.createServer((request, response) => {
  const parent = propagator.extract(api.ROOT_CONTEXT, request.headers, api.defaultTextMapGetter);
  const span = tracer.startSpan(
    "GET /prices/{id}",
    {
      kind: api.SpanKind.SERVER,
      attributes: {
        "http.route": "/prices/{id}",
        "http.request.method": "GET",
        "http.request.header.x_request_id": [String(request.headers["x-request-id"] || "")],
      },
    },
    parent,
  );
  const lookup = tracer.startSpan("price lookup", { kind: api.SpanKind.INTERNAL }, api.trace.setSpan(parent, span));
  setTimeout(() => {
    lookup.end();
    span.setAttribute("http.response.status_code", 200);
    span.end();
    response.writeHead(200, { "Content-Type": "application/json" });
    response.end(JSON.stringify({ price: 42 }));
  }, 5);
});

server.listen(Number(process.env.PORT), "127.0.0.1", () => console.log("listening"));
process.on("SIGTERM", () => {
  server.close();
  provider.shutdown().finally(() => process.exit(0));
});
