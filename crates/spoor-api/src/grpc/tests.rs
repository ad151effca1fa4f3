//! The gRPC query services called directly against a `MemoryStore`, and once over a socket.

use std::sync::Arc;

use prost_types::{Duration, Timestamp};
use spoor_model::otlp_common::InstrumentationScope;
use spoor_model::otlp_resource::Resource;
use spoor_model::otlp_trace::span::{Event, Link, SpanKind};
use spoor_model::otlp_trace::status::StatusCode;
use spoor_model::{ResourceSpans, ScopeSpans, Span, Status, attr};
use spoor_query::QueryService;
use spoor_storage::{
    DependencyLink, MemoryStore, Operation, OperationQuery, ScanRequest, SpanReader, SpanWriter,
    StorageError, TimeRange, Trace,
};
use tokio_stream::StreamExt;
use tonic::{Code, Request};

use super::proto::api_v2 as v2pb;
use super::proto::api_v2::query_service_server::QueryService as _;
use super::proto::api_v3 as v3pb;
use super::proto::api_v3::query_service_server::QueryService as _;
use super::request::now_nanos;
use super::v2::{SPANS_PER_CHUNK, V2Query};
use super::v3::{MAX_CHUNK_BYTES, V3Query, trace_chunks};

const TRACE: [u8; 16] = [
    0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 1, 2, 3, 4, 5, 6, 7, 8,
];
const TRACE_HEX: &str = "a1a2a3a4a5a6a7a80102030405060708";
const ROOT: [u8; 8] = [0, 0, 0, 0, 0, 0, 0, 1];
const CHILD: [u8; 8] = [0, 0, 0, 0, 0, 0, 0, 2];
const REMOTE: [u8; 8] = [0, 0, 0, 0, 0, 0, 0, 3];
const LINKED_TRACE: [u8; 16] = [9; 16];
const LINKED_SPAN: [u8; 8] = [7; 8];

fn resource(service: &str, extra: Vec<spoor_model::otlp_common::KeyValue>) -> Option<Resource> {
    let mut attributes = vec![attr::string("service.name", service)];
    attributes.extend(extra);
    Some(Resource {
        attributes,
        ..Default::default()
    })
}

fn span(trace: [u8; 16], id: [u8; 8], parent: Option<[u8; 8]>, name: &str, start: u64) -> Span {
    Span {
        trace_id: trace.to_vec(),
        span_id: id.to_vec(),
        parent_span_id: parent.map(|p| p.to_vec()).unwrap_or_default(),
        name: name.to_string(),
        start_time_unix_nano: start,
        end_time_unix_nano: start + 1_500_123,
        ..Default::default()
    }
}

/// frontend: `GET /cart` (server, root, typed attributes, an event, a link, sampled) → `SELECT`
/// (client, error); backend: `lookup` (server, child of `SELECT`).
fn sample_trace(base: u64) -> Vec<ResourceSpans> {
    let mut root = span(TRACE, ROOT, None, "GET /cart", base);
    root.kind = SpanKind::Server as i32;
    root.flags = 0x101;
    root.attributes = vec![
        attr::string("http.method", "GET"),
        attr::int("http.status_code", 200),
        attr::double("ratio", 0.25),
        attr::bool("cached", false),
        attr::bytes("blob", vec![1, 2, 3]),
    ];
    root.events = vec![Event {
        time_unix_nano: base + 1_234,
        name: "cache.miss".into(),
        attributes: vec![attr::int("attempt", 2)],
        ..Default::default()
    }];
    root.links = vec![Link {
        trace_id: LINKED_TRACE.to_vec(),
        span_id: LINKED_SPAN.to_vec(),
        ..Default::default()
    }];
    let mut child = span(TRACE, CHILD, Some(ROOT), "SELECT", base + 100);
    child.kind = SpanKind::Client as i32;
    child.status = Some(Status {
        code: StatusCode::Error as i32,
        message: "timeout".into(),
    });
    let mut remote = span(TRACE, REMOTE, Some(CHILD), "lookup", base + 200);
    remote.kind = SpanKind::Server as i32;
    vec![
        ResourceSpans {
            resource: resource("frontend", vec![attr::string("host.name", "h1")]),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "shop-lib".into(),
                    version: "1.0".into(),
                    ..Default::default()
                }),
                spans: vec![root, child],
                ..Default::default()
            }],
            ..Default::default()
        },
        ResourceSpans {
            resource: resource("backend", vec![]),
            scope_spans: vec![ScopeSpans {
                scope: None,
                spans: vec![remote],
                ..Default::default()
            }],
            ..Default::default()
        },
    ]
}

async fn loaded(batch: Vec<ResourceSpans>) -> QueryService {
    let store = MemoryStore::new(100);
    store.write(batch).await.expect("write");
    QueryService::new(Arc::new(store))
}

type Streamed<T> =
    std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<T, tonic::Status>> + Send>>;

async fn collect<T>(response: Result<tonic::Response<Streamed<T>>, tonic::Status>) -> Vec<T> {
    let stream = response.expect("call succeeds").into_inner();
    stream
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .map(|r| r.expect("chunk"))
        .collect()
}

fn ts(nanos: u64) -> Option<Timestamp> {
    Some(super::request::timestamp(nanos))
}

fn tag<'a>(tags: &'a [v2pb::KeyValue], key: &str) -> &'a v2pb::KeyValue {
    tags.iter()
        .find(|kv| kv.key == key)
        .unwrap_or_else(|| panic!("tag {key} missing in {tags:?}"))
}

#[tokio::test]
async fn v2_get_trace_converts_every_field() {
    let base = now_nanos() - 60_000_000_000;
    let v2 = V2Query::new(loaded(sample_trace(base)).await);
    let chunks = collect(
        v2.get_trace(Request::new(v2pb::GetTraceRequest {
            trace_id: TRACE.to_vec(),
            ..Default::default()
        }))
        .await,
    )
    .await;
    assert_eq!(chunks.len(), 1);
    let spans = &chunks[0].spans;
    assert_eq!(spans.len(), 3);
    let root = spans
        .iter()
        .find(|s| s.operation_name == "GET /cart")
        .expect("root");
    assert_eq!(root.trace_id, TRACE.to_vec());
    assert_eq!(root.span_id, ROOT.to_vec());
    assert_eq!(root.flags, 1);
    assert_eq!(root.start_time, ts(base));
    assert_eq!(
        root.duration,
        Some(Duration {
            seconds: 0,
            nanos: 1_500_123
        })
    );
    // A link is a FOLLOWS_FROM reference; a root has no CHILD_OF.
    assert_eq!(
        root.references,
        vec![v2pb::SpanRef {
            trace_id: LINKED_TRACE.to_vec(),
            span_id: LINKED_SPAN.to_vec(),
            ref_type: v2pb::SpanRefType::FollowsFrom as i32,
        }]
    );
    let method = tag(&root.tags, "http.method");
    assert_eq!(method.v_type, v2pb::ValueType::String as i32);
    assert_eq!(method.v_str, "GET");
    let status = tag(&root.tags, "http.status_code");
    assert_eq!(status.v_type, v2pb::ValueType::Int64 as i32);
    assert_eq!(status.v_int64, 200);
    let ratio = tag(&root.tags, "ratio");
    assert_eq!(ratio.v_type, v2pb::ValueType::Float64 as i32);
    assert_eq!(ratio.v_float64, 0.25);
    let cached = tag(&root.tags, "cached");
    assert_eq!(cached.v_type, v2pb::ValueType::Bool as i32);
    assert!(!cached.v_bool);
    let blob = tag(&root.tags, "blob");
    assert_eq!(blob.v_type, v2pb::ValueType::Binary as i32);
    assert_eq!(blob.v_binary, vec![1, 2, 3]);
    assert_eq!(tag(&root.tags, "span.kind").v_str, "server");
    assert_eq!(tag(&root.tags, "otel.scope.name").v_str, "shop-lib");
    assert_eq!(root.logs.len(), 1);
    assert_eq!(root.logs[0].timestamp, ts(base + 1_234));
    assert_eq!(tag(&root.logs[0].fields, "event").v_str, "cache.miss");
    assert_eq!(tag(&root.logs[0].fields, "attempt").v_int64, 2);
    let process = root.process.as_ref().expect("inline process");
    assert_eq!(process.service_name, "frontend");
    assert_eq!(tag(&process.tags, "host.name").v_str, "h1");
    assert!(process.tags.iter().all(|kv| kv.key != "service.name"));
    assert_eq!(root.process_id, "");

    let select = spans
        .iter()
        .find(|s| s.operation_name == "SELECT")
        .expect("child");
    assert_eq!(
        select.references,
        vec![v2pb::SpanRef {
            trace_id: TRACE.to_vec(),
            span_id: ROOT.to_vec(),
            ref_type: v2pb::SpanRefType::ChildOf as i32,
        }]
    );
    let error = tag(&select.tags, "error");
    assert_eq!(error.v_type, v2pb::ValueType::Bool as i32);
    assert!(error.v_bool);
    assert_eq!(
        tag(&select.tags, "otel.status_description").v_str,
        "timeout"
    );
    let lookup = spans
        .iter()
        .find(|s| s.operation_name == "lookup")
        .expect("remote");
    assert_eq!(
        lookup.process.as_ref().map(|p| p.service_name.as_str()),
        Some("backend")
    );
}

#[tokio::test]
async fn v2_streams_chunks_of_ten_and_64_bit_ids_widen() {
    let base = now_nanos() - 60_000_000_000;
    let short_trace: [u8; 8] = [0, 0, 0, 0, 0, 0, 0x0b, 0x0c];
    let spans: Vec<Span> = (1..=25u8)
        .map(|i| Span {
            trace_id: short_trace.to_vec(),
            span_id: vec![0, 0, 0, 0, 0, 0, 1, i],
            name: format!("op-{i}"),
            start_time_unix_nano: base + u64::from(i),
            end_time_unix_nano: base + 1000,
            ..Default::default()
        })
        .collect();
    let batch = vec![ResourceSpans {
        resource: resource("many", vec![]),
        scope_spans: vec![ScopeSpans {
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }];
    let v2 = V2Query::new(loaded(batch).await);
    // An 8-byte trace id in the request is left-padded, as the store pads OTLP's.
    let chunks = collect(
        v2.get_trace(Request::new(v2pb::GetTraceRequest {
            trace_id: short_trace.to_vec(),
            ..Default::default()
        }))
        .await,
    )
    .await;
    let sizes: Vec<usize> = chunks.iter().map(|c| c.spans.len()).collect();
    assert_eq!(sizes, vec![SPANS_PER_CHUNK, SPANS_PER_CHUNK, 5]);
    let mut want = [0u8; 16];
    want[8..].copy_from_slice(&short_trace);
    assert!(
        chunks
            .iter()
            .flat_map(|c| &c.spans)
            .all(|s| s.trace_id == want.to_vec())
    );
}

#[tokio::test]
async fn v2_find_traces_and_catalog() {
    let base = now_nanos() - 60_000_000_000;
    let v2 = V2Query::new(loaded(sample_trace(base)).await);
    let query = |q: v2pb::TraceQueryParameters| v2pb::FindTracesRequest { query: Some(q) };
    let found = collect(
        v2.find_traces(Request::new(query(v2pb::TraceQueryParameters {
            service_name: "frontend".into(),
            tags: [("http.method".to_string(), "GET".to_string())].into(),
            ..Default::default()
        })))
        .await,
    )
    .await;
    assert_eq!(found.iter().map(|c| c.spans.len()).sum::<usize>(), 3);
    let none = collect(
        v2.find_traces(Request::new(query(v2pb::TraceQueryParameters {
            service_name: "frontend".into(),
            operation_name: "GET /cart".into(),
            duration_min: Some(Duration {
                seconds: 5,
                nanos: 0,
            }),
            ..Default::default()
        })))
        .await,
    )
    .await;
    assert!(none.is_empty());
    // Go clients send unset times as the zero time (year 1): treated as absent.
    let go_zero = Some(Timestamp {
        seconds: -62_135_596_800,
        nanos: 0,
    });
    let found = collect(
        v2.find_traces(Request::new(query(v2pb::TraceQueryParameters {
            service_name: "backend".into(),
            start_time_min: go_zero,
            start_time_max: go_zero,
            ..Default::default()
        })))
        .await,
    )
    .await;
    assert_eq!(found.len(), 1);

    let services = v2
        .get_services(Request::new(v2pb::GetServicesRequest {}))
        .await
        .expect("services")
        .into_inner();
    assert_eq!(services.services, vec!["backend", "frontend"]);
    let ops = v2
        .get_operations(Request::new(v2pb::GetOperationsRequest {
            service: "frontend".into(),
            span_kind: "client".into(),
        }))
        .await
        .expect("operations")
        .into_inner();
    assert_eq!(ops.operation_names, vec!["SELECT"]);
    assert_eq!(
        ops.operations,
        vec![v2pb::Operation {
            name: "SELECT".into(),
            span_kind: "client".into()
        }]
    );
    let deps = v2
        .get_dependencies(Request::new(v2pb::GetDependenciesRequest {
            start_time: None,
            end_time: ts(now_nanos()),
        }))
        .await
        .expect("dependencies")
        .into_inner();
    assert_eq!(
        deps.dependencies,
        vec![v2pb::DependencyLink {
            parent: "frontend".into(),
            child: "backend".into(),
            call_count: 1,
            source: String::new(),
        }]
    );
}

#[tokio::test]
async fn v2_errors_have_their_codes() {
    let base = now_nanos() - 60_000_000_000;
    let v2 = V2Query::new(loaded(sample_trace(base)).await);
    for bad in [vec![], vec![0; 16], vec![1; 17]] {
        let err = v2
            .get_trace(Request::new(v2pb::GetTraceRequest {
                trace_id: bad.clone(),
                ..Default::default()
            }))
            .await
            .err()
            .expect("invalid id refused");
        assert_eq!(err.code(), Code::InvalidArgument, "{bad:?}");
    }
    let err = v2
        .get_trace(Request::new(v2pb::GetTraceRequest {
            trace_id: vec![0x42; 16],
            ..Default::default()
        }))
        .await
        .err()
        .expect("unknown trace");
    assert_eq!(err.code(), Code::NotFound);
    let err = v2
        .archive_trace(Request::new(v2pb::ArchiveTraceRequest {
            trace_id: TRACE.to_vec(),
            ..Default::default()
        }))
        .await
        .expect_err("no archive");
    assert_eq!(err.code(), Code::Unimplemented);
    let bad_queries = [
        None,
        Some(v2pb::TraceQueryParameters::default()),
        Some(v2pb::TraceQueryParameters {
            service_name: "frontend".into(),
            search_depth: -1,
            ..Default::default()
        }),
        Some(v2pb::TraceQueryParameters {
            service_name: "frontend".into(),
            start_time_min: ts(base + 10),
            start_time_max: ts(base),
            ..Default::default()
        }),
        Some(v2pb::TraceQueryParameters {
            service_name: "frontend".into(),
            duration_min: Some(Duration {
                seconds: 2,
                nanos: 0,
            }),
            duration_max: Some(Duration {
                seconds: 1,
                nanos: 0,
            }),
            ..Default::default()
        }),
    ];
    for query in bad_queries {
        let err = v2
            .find_traces(Request::new(v2pb::FindTracesRequest {
                query: query.clone(),
            }))
            .await
            .err()
            .expect("bad query refused");
        assert_eq!(err.code(), Code::InvalidArgument, "{query:?}");
    }
    let err = v2
        .get_operations(Request::new(v2pb::GetOperationsRequest::default()))
        .await
        .expect_err("service required");
    assert_eq!(err.code(), Code::InvalidArgument);
}

/// A reader whose every call fails as unavailable.
struct Down;

#[tonic::async_trait]
impl SpanReader for Down {
    async fn get_trace(
        &self,
        _: spoor_model::TraceId,
        _: Option<TimeRange>,
    ) -> Result<Option<Trace>, StorageError> {
        Err(StorageError::Unavailable("disk gone".into()))
    }
    async fn get_services(&self) -> Result<Vec<String>, StorageError> {
        Err(StorageError::Corrupt {
            location: "block 7".into(),
            detail: "bad checksum".into(),
        })
    }
    async fn get_operations(&self, _: &OperationQuery) -> Result<Vec<Operation>, StorageError> {
        Err(StorageError::Unavailable("disk gone".into()))
    }
    async fn scan(&self, _: &ScanRequest) -> Result<Vec<Trace>, StorageError> {
        Err(StorageError::Full("too busy".into()))
    }
    async fn scan_ids(&self, _: &ScanRequest) -> Result<Vec<spoor_model::TraceId>, StorageError> {
        Err(StorageError::Unavailable("disk gone".into()))
    }
    async fn get_dependencies(&self, _: u64, _: u64) -> Result<Vec<DependencyLink>, StorageError> {
        Err(StorageError::Internal("bug".into()))
    }
}

#[tokio::test]
async fn storage_errors_map_through_error_kind() {
    let query = QueryService::new(Arc::new(Down));
    let v2 = V2Query::new(query.clone());
    let v3 = V3Query::new(query);
    let err = v2
        .get_trace(Request::new(v2pb::GetTraceRequest {
            trace_id: TRACE.to_vec(),
            ..Default::default()
        }))
        .await
        .err()
        .expect("unavailable");
    assert_eq!(err.code(), Code::Unavailable);
    assert!(err.message().contains("disk gone"), "{}", err.message());
    let err = v2
        .get_services(Request::new(v2pb::GetServicesRequest {}))
        .await
        .expect_err("corrupt");
    assert_eq!(err.code(), Code::DataLoss);
    let err = v3
        .find_traces(Request::new(v3pb::FindTracesRequest {
            query: Some(v3pb::TraceQueryParameters {
                service_name: "x".into(),
                ..Default::default()
            }),
        }))
        .await
        .err()
        .expect("full");
    assert_eq!(err.code(), Code::ResourceExhausted);
    let err = v3
        .get_dependencies(Request::new(v3pb::GetDependenciesRequest::default()))
        .await
        .expect_err("internal");
    assert_eq!(err.code(), Code::Internal);
}

#[tokio::test]
async fn v3_returns_otlp_as_stored() {
    let base = now_nanos() - 60_000_000_000;
    let sent = sample_trace(base);
    let v3 = V3Query::new(loaded(sent.clone()).await);
    let chunks = collect(
        v3.get_trace(Request::new(v3pb::GetTraceRequest {
            trace_id: TRACE_HEX.into(),
            ..Default::default()
        }))
        .await,
    )
    .await;
    assert_eq!(chunks.len(), 1);
    let mut got = spoor_model::SpanRecord::flatten(chunks[0].resource_spans.clone());
    let mut want = spoor_model::SpanRecord::flatten(sent);
    got.sort_by_key(|r| r.span.span_id.clone());
    want.sort_by_key(|r| r.span.span_id.clone());
    assert_eq!(got, want);

    let found = collect(
        v3.find_traces(Request::new(v3pb::FindTracesRequest {
            query: Some(v3pb::TraceQueryParameters {
                service_name: "backend".into(),
                operation_name: "lookup".into(),
                ..Default::default()
            }),
        }))
        .await,
    )
    .await;
    assert_eq!(found.len(), 1);
    assert_eq!(spoor_model::span_count(&found[0].resource_spans), 3);

    let ops = v3
        .get_operations(Request::new(v3pb::GetOperationsRequest {
            service: "frontend".into(),
            span_kind: String::new(),
        }))
        .await
        .expect("operations")
        .into_inner();
    let names: Vec<(&str, &str)> = ops
        .operations
        .iter()
        .map(|o| (o.name.as_str(), o.span_kind.as_str()))
        .collect();
    assert_eq!(names, vec![("GET /cart", "server"), ("SELECT", "client")]);
    let services = v3
        .get_services(Request::new(v3pb::GetServicesRequest {}))
        .await
        .expect("services")
        .into_inner();
    assert_eq!(services.services, vec!["backend", "frontend"]);
}

#[tokio::test]
async fn v3_summaries() {
    let base = now_nanos() - 60_000_000_000;
    let v3 = V3Query::new(loaded(sample_trace(base)).await);
    let chunks = collect(
        v3.find_trace_summaries(Request::new(v3pb::FindTraceSummariesRequest {
            query: Some(v3pb::TraceQueryParameters {
                service_name: "frontend".into(),
                ..Default::default()
            }),
        }))
        .await,
    )
    .await;
    assert_eq!(chunks.len(), 1);
    let s = &chunks[0].summaries[0];
    assert_eq!(s.trace_id, TRACE_HEX);
    assert_eq!(s.root_service_name, "frontend");
    assert_eq!(s.root_operation_name, "GET /cart");
    assert_eq!(s.min_start_time_unix_nano, base);
    assert_eq!(s.max_end_time_unix_nano, base + 200 + 1_500_123);
    assert_eq!(
        (s.span_count, s.error_span_count, s.orphan_span_count),
        (3, 1, 0)
    );
    let services: Vec<(&str, i32, i32)> = s
        .services
        .iter()
        .map(|x| (x.name.as_str(), x.span_count, x.error_span_count))
        .collect();
    assert_eq!(services, vec![("backend", 1, 0), ("frontend", 2, 1)]);
}

#[tokio::test]
async fn v3_errors_have_their_codes() {
    let base = now_nanos() - 60_000_000_000;
    let v3 = V3Query::new(loaded(sample_trace(base)).await);
    for bad in ["", "xyz", "0000", &"1".repeat(33)] {
        let err = v3
            .get_trace(Request::new(v3pb::GetTraceRequest {
                trace_id: bad.to_string(),
                ..Default::default()
            }))
            .await
            .err()
            .expect("invalid id refused");
        assert_eq!(err.code(), Code::InvalidArgument, "{bad:?}");
    }
    let err = v3
        .get_trace(Request::new(v3pb::GetTraceRequest {
            trace_id: "42".into(),
            ..Default::default()
        }))
        .await
        .err()
        .expect("unknown");
    assert_eq!(err.code(), Code::NotFound);
    let err = v3
        .find_traces(Request::new(v3pb::FindTracesRequest {
            query: Some(v3pb::TraceQueryParameters {
                service_name: "frontend".into(),
                filter: vec![0x0a, 0x02, b'e', b'q'],
                ..Default::default()
            }),
        }))
        .await
        .err()
        .expect("structured filter refused");
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = v3
        .find_trace_summaries(Request::new(v3pb::FindTraceSummariesRequest {
            query: None,
        }))
        .await
        .err()
        .expect("query required");
    assert_eq!(err.code(), Code::InvalidArgument);
}

#[test]
fn large_traces_split_into_chunks_under_the_limit() {
    let big = "x".repeat(64 * 1024);
    let spans: Vec<Span> = (0..40u8)
        .map(|i| Span {
            trace_id: TRACE.to_vec(),
            span_id: vec![0, 0, 0, 0, 0, 0, 2, i],
            name: "big".into(),
            attributes: vec![attr::string("payload", big.clone())],
            ..Default::default()
        })
        .collect();
    let batch = vec![ResourceSpans {
        resource: resource("big", vec![]),
        scope_spans: vec![ScopeSpans {
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }];
    let chunks = trace_chunks(batch);
    assert!(chunks.len() >= 3, "{} chunks", chunks.len());
    for c in &chunks {
        assert!(prost::Message::encoded_len(c) <= MAX_CHUNK_BYTES + 1024);
        assert_eq!(
            c.resource_spans[0]
                .resource
                .as_ref()
                .and_then(|r| attr::find_str(&r.attributes, "service.name")),
            Some("big")
        );
    }
    let total: usize = chunks
        .iter()
        .map(|c| spoor_model::span_count(&c.resource_spans))
        .sum();
    assert_eq!(total, 40);
    assert_eq!(trace_chunks(sample_trace(1)).len(), 1);
}

#[tokio::test]
async fn routes_serve_both_apis_over_a_socket() {
    use super::proto::api_v2::query_service_client::QueryServiceClient as V2Client;
    use super::proto::api_v3::query_service_client::QueryServiceClient as V3Client;

    let base = now_nanos() - 60_000_000_000;
    let routes = super::query_grpc_routes(loaded(sample_trace(base)).await);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let server = crate::serve_grpc(
        "query-grpc",
        "127.0.0.1:0".parse().expect("addr"),
        routes,
        shutdown.clone(),
    )
    .await
    .expect("bind");
    let endpoint = format!("http://{}", server.local_addr);
    let mut v2 = V2Client::connect(endpoint.clone())
        .await
        .expect("connect")
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
        .send_compressed(tonic::codec::CompressionEncoding::Gzip);
    let mut stream = v2
        .get_trace(v2pb::GetTraceRequest {
            trace_id: TRACE.to_vec(),
            ..Default::default()
        })
        .await
        .expect("get trace")
        .into_inner();
    let mut spans = 0;
    while let Some(chunk) = stream.message().await.expect("chunk") {
        spans += chunk.spans.len();
    }
    assert_eq!(spans, 3);
    let mut v3 = V3Client::connect(endpoint).await.expect("connect");
    let err = v3
        .get_trace(v3pb::GetTraceRequest {
            trace_id: "not-hex".into(),
            ..Default::default()
        })
        .await
        .expect_err("invalid");
    assert_eq!(err.code(), Code::InvalidArgument);
    let services = v3
        .get_services(v3pb::GetServicesRequest {})
        .await
        .expect("services")
        .into_inner();
    assert_eq!(services.services, vec!["backend", "frontend"]);
    shutdown.cancel();
    server.join().await;
}
