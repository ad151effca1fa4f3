//! The Zipkin listener over a real socket.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use prost::Message;
use spoor_model::attr;

use super::ZipkinConfig;
use super::proto::proto3;
use crate::jaeger::receiver_tests::{Harness, post};

const V2: &str = r#"[{"traceId":"463ac35c9f6413ad48485a3953bb6124","id":"a2fb4a1d1a96d312",
  "name":"get /","kind":"SERVER","timestamp":1700000000000000,"duration":2000,
  "localEndpoint":{"serviceName":"web"},"tags":{"http.method":"GET"}}]"#;

const V1: &str = r#"[{"traceId":"48485a3953bb6124","id":"b2fb4a1d1a96d312","name":"get",
  "timestamp":1700000000000000,"duration":1000,
  "annotations":[{"timestamp":1700000000000000,"value":"cs","endpoint":{"serviceName":"app"}}]}]"#;

#[tokio::test]
async fn accepts_v1_v2_json_and_proto_and_rejects_bad_input() {
    let h = Harness::new();
    let running = ZipkinConfig {
        endpoint: SocketAddr::from(([127, 0, 0, 1], 0)),
        max_request_body_size: 100_000,
        ..Default::default()
    }
    .build(h.ctx())
    .await
    .expect("start");
    let addr = running.local_addr;
    let json = [("content-type", "application/json")];
    assert_eq!(post(addr, "/api/v2/spans", &json, V2.as_bytes()).await, 202);
    assert_eq!(post(addr, "/api/v2/spans", &[], V2.as_bytes()).await, 202);
    assert_eq!(post(addr, "/api/v1/spans", &json, V1.as_bytes()).await, 202);
    let proto = proto3::ListOfSpans {
        spans: vec![proto3::Span {
            trace_id: vec![7; 16],
            id: vec![8; 8],
            name: "p".into(),
            kind: proto3::span::Kind::Client as i32,
            timestamp: 1_700_000_000_000_000,
            duration: 10,
            local_endpoint: Some(proto3::Endpoint {
                service_name: "proto-svc".into(),
                ..Default::default()
            }),
            ..Default::default()
        }],
    }
    .encode_to_vec();
    let protobuf = [("content-type", "application/x-protobuf")];
    assert_eq!(post(addr, "/api/v2/spans", &protobuf, &proto).await, 202);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, V2.as_bytes()).expect("gzip");
    let gz = gz.finish().expect("gzip");
    let gzip = [
        ("content-type", "application/json"),
        ("content-encoding", "gzip"),
    ];
    assert_eq!(post(addr, "/api/v2/spans", &gzip, &gz).await, 202);
    let thrift = super::encode_v1_thrift(&[(
        9,
        9,
        None,
        "thrift-span",
        1_700_000_000_000_000,
        5,
        vec![(1_700_000_000_000_000, "sr", "thrift-svc")],
    )]);
    let x_thrift = [("content-type", "application/x-thrift")];
    assert_eq!(post(addr, "/api/v1/spans", &x_thrift, &thrift).await, 202);
    h.wait_spans(6).await;
    let services: Vec<String> = h
        .sink
        .batches
        .lock()
        .expect("lock")
        .iter()
        .filter_map(|rs| {
            attr::find_str(&rs.resource.as_ref()?.attributes, "service.name").map(String::from)
        })
        .collect();
    assert_eq!(
        services,
        ["web", "web", "app", "proto-svc", "web", "thrift-svc"]
    );

    assert_eq!(post(addr, "/api/v2/spans", &json, b"[{").await, 400);
    assert_eq!(
        post(addr, "/api/v2/spans", &protobuf, b"\x0a\xff").await,
        400
    );
    assert_eq!(
        post(
            addr,
            "/api/v2/spans",
            &[("content-type", "text/xml")],
            b"<a/>"
        )
        .await,
        415
    );
    assert_eq!(
        post(addr, "/api/v2/spans", &json, &vec![b' '; 200_000]).await,
        413
    );
    assert_eq!(
        h.metric(&["receiver_request_errors", "reason=\"decode\""]),
        2.0
    );
    h.sink.refuse.store(true, Ordering::Relaxed);
    assert_eq!(post(addr, "/api/v2/spans", &json, V2.as_bytes()).await, 429);
    h.stop(running).await;
}
