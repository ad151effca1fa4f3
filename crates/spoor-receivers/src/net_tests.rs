//! The memory gate over real sockets: refusals with retry hints while over the limit, service
//! again once under it.

use std::net::SocketAddr;

use prost::Message;
use spoor_telemetry::MemoryLimiter;

use crate::component::ReceiverContext;
use crate::jaeger::proto::api_v2;
use crate::jaeger::receiver_tests::{Harness, post};
use crate::jaeger::{JaegerGrpcConfig, JaegerThriftHttpConfig};

fn localhost() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn over_limit(h: &Harness) -> (ReceiverContext, MemoryLimiter) {
    let memory = MemoryLimiter::new(Some(1000), &h.telemetry);
    memory.record(2000);
    (
        ReceiverContext {
            signals: Default::default(),
            memory: memory.clone(),
            ..h.ctx()
        },
        memory,
    )
}

#[tokio::test]
async fn grpc_refuses_with_retry_info_while_over_the_memory_limit() {
    let h = Harness::new();
    let (ctx, memory) = over_limit(&h);
    let running = JaegerGrpcConfig {
        endpoint: localhost(),
        ..Default::default()
    }
    .build(ctx)
    .await
    .expect("start");
    let mut client = api_v2::collector_service_client::CollectorServiceClient::connect(format!(
        "http://{}",
        running.local_addr
    ))
    .await
    .expect("connect");
    let request = api_v2::PostSpansRequest {
        batch: Some(api_v2::Batch {
            spans: vec![api_v2::Span {
                trace_id: vec![1; 16],
                span_id: vec![2; 8],
                operation_name: "op".into(),
                ..Default::default()
            }],
            process: Some(api_v2::Process {
                service_name: "svc".into(),
                tags: vec![],
            }),
        }),
    };
    let status = client
        .post_spans(request.clone())
        .await
        .expect_err("over the limit");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    let details = crate::status::RpcStatus::decode(status.details()).expect("google.rpc.Status");
    assert_eq!(
        details.details[0].type_url,
        "type.googleapis.com/google.rpc.RetryInfo"
    );
    memory.record(10);
    client.post_spans(request).await.expect("accepted again");
    h.wait_spans(1).await;
    assert!(
        h.telemetry.render().contains("reason=\"memory_limit\"} 1"),
        "{}",
        h.telemetry.render()
    );
}

#[tokio::test]
async fn http_refuses_with_retry_after_while_over_the_memory_limit() {
    let h = Harness::new();
    let (ctx, memory) = over_limit(&h);
    let running = JaegerThriftHttpConfig {
        endpoint: localhost(),
        ..Default::default()
    }
    .build(ctx)
    .await
    .expect("start");
    let thrift = [("content-type", "application/x-thrift")];
    let body = crate::jaeger::encode_batch(
        &crate::jaeger::tests::sample_batch(),
        crate::thrift::Protocol::Binary,
    );
    assert_eq!(
        post(running.local_addr, "/api/traces", &thrift, &body).await,
        429
    );
    memory.record(10);
    assert_eq!(
        post(running.local_addr, "/api/traces", &thrift, &body).await,
        202
    );
}
