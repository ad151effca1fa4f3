// Root spans through the OpenTelemetry JS SDK under @opentelemetry/sampler-jaeger-remote, which
// polls Spoor's sampling endpoint; sampled spans go to Spoor's Zipkin endpoint.
// Usage: node node_remote_sampled.js SAMPLING_URL ZIPKIN_URL SERVICE OPERATION=COUNT...
// Prints {"sampler": str, "sampled": {operation: n}} as JSON.
'use strict';
const path = require('path');
const mods = path.join(__dirname, '..', 'node', 'node_modules');
const need = (name) => require(path.join(mods, name));
const { TracerProvider, BatchSpanProcessor, AlwaysOffSampler } = need('@opentelemetry/sdk-trace');
const { resourceFromAttributes } = need('@opentelemetry/resources');
const { ZipkinExporter } = need('@opentelemetry/exporter-zipkin');
const { JaegerRemoteSampler } = need('@opentelemetry/sampler-jaeger-remote');

const [samplingUrl, zipkinUrl, service, ...plan] = process.argv.slice(2);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const sampler = new JaegerRemoteSampler({
    endpoint: samplingUrl,
    serviceName: service,
    poolingInterval: 200,
    initialSampler: new AlwaysOffSampler(),
  });
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': service }),
    sampler,
    spanProcessors: [
      new BatchSpanProcessor({
        exporter: new ZipkinExporter({ url: zipkinUrl }),
        maxQueueSize: 100000,
        maxExportBatchSize: 500,
        scheduledDelayMillis: 100,
      }),
    ],
  });
  const deadline = Date.now() + 15000;
  while (String(sampler).includes('sampler=AlwaysOffSampler') && Date.now() < deadline) {
    await sleep(50);
  }
  const tracer = provider.getTracer('remote-sampling-e2e');
  const sampled = {};
  for (const item of plan) {
    const [op, count] = item.split('=');
    sampled[op] = 0;
    for (let i = 0; i < Number(count); i += 1) {
      const span = tracer.startSpan(op);
      if (span.spanContext().traceFlags & 1) {
        sampled[op] += 1;
      }
      span.end();
    }
  }
  await provider.forceFlush();
  await provider.shutdown();
  console.log(JSON.stringify({ sampler: String(sampler), sampled }));
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
