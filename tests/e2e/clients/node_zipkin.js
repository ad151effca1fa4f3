// The ingest test trace through zipkin-js (`zipkin` + `zipkin-transport-http`), JSON v2 or v1.
// Usage: node node_zipkin.js v2|v1 BASE_URL SERVICE → prints {"trace_id", "root", "db", "charge"}.
'use strict';
const path = require('path');
const mods = path.join(__dirname, '..', 'node', 'node_modules');
const need = (name) => require(path.join(mods, name));
const { Tracer, BatchRecorder, ExplicitContext, Annotation, jsonEncoder, sampler } = need('zipkin');
const { HttpLogger } = need('zipkin-transport-http');

const [version, base, service] = process.argv.slice(2);
const v2 = version === 'v2';
const logger = new HttpLogger({
  endpoint: `${base}/api/${v2 ? 'v2' : 'v1'}/spans`,
  jsonEncoder: v2 ? jsonEncoder.JSON_V2 : jsonEncoder.JSON_V1,
  httpInterval: 100,
});
const recorder = new BatchRecorder({ logger, timeout: 60 * 1000 * 1000 });
const tracer = new Tracer({
  ctxImpl: new ExplicitContext(),
  recorder,
  localServiceName: service,
  sampler: new sampler.Sampler(sampler.alwaysSample),
  traceId128Bit: true,
});

function span(name, parent, annotate) {
  const id = parent ? tracer.letId(parent, () => tracer.createChildId()) : tracer.createRootId();
  tracer.letId(id, () => {
    tracer.recordServiceName(service);
    tracer.recordRpc(name);
    annotate();
  });
  return id;
}

function finish(id, kind) {
  tracer.letId(id, () => tracer.recordAnnotation(kind === 'server' ? new Annotation.ServerSend() : kind === 'client' ? new Annotation.ClientRecv() : new Annotation.LocalOperationStop()));
}

const root = span('get /orders', null, () => {
  tracer.recordAnnotation(new Annotation.ServerRecv());
  tracer.recordBinary('http.method', 'GET');
  tracer.recordBinary('order.count', '3');
});
const db = span('select orders', root, () => {
  tracer.recordAnnotation(new Annotation.ClientSend());
  tracer.recordMessage('query.start');
});
const charge = span('charge card', db, () => {
  tracer.recordAnnotation(new Annotation.LocalOperationStart('charge card'));
  tracer.recordBinary('error', 'card declined');
});
finish(charge, 'local');
finish(db, 'client');
finish(root, 'server');

setTimeout(() => {
  const hex = (s) => s.padStart(32, '0');
  console.log(JSON.stringify({
    trace_id: hex(root.traceId),
    root: root.spanId,
    db: db.spanId,
    charge: charge.spanId,
  }));
  process.exit(0);
}, 1500);
