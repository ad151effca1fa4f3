# Jaeger agent UDP interface, from jaeger-idl thrift/agent.thrift. Clients send one oneway
# emitBatch message per datagram: compact protocol to 6831, binary protocol to 6832.
include "jaeger.thrift"
include "zipkincore.thrift"

service Agent {
  oneway void emitZipkinBatch(1: list<zipkincore.Span> spans)
  oneway void emitBatch(1: jaeger.Batch batch)
}
