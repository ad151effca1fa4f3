use super::*;
use crate::exporters::file_writer::backups;
use prost::Message;
use spoor_model::otlp_common::{AnyValue, KeyValue, any_value};
use spoor_model::{ScopeSpans, Span};

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("spoor-file-exporter-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn batch(service: &str, spans: usize) -> Vec<ResourceSpans> {
    let attr = |k: &str, v: &str| KeyValue {
        key: k.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.to_string())),
        }),
        ..Default::default()
    };
    vec![ResourceSpans {
        resource: Some(Resource {
            attributes: vec![
                attr("service.name", service),
                attr("fileexporter.path_segment", service),
            ],
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            spans: (0..spans)
                .map(|i| Span {
                    trace_id: vec![1; 16],
                    span_id: vec![(i % 250) as u8 + 1; 8],
                    name: format!("op-{i}"),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    }]
}

/// Splits a length-delimited file into its messages.
fn frames(mut bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while bytes.len() >= 4 {
        let len = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        out.push(bytes[4..4 + len].to_vec());
        bytes = &bytes[4 + len..];
    }
    assert!(bytes.is_empty(), "trailing bytes");
    out
}

fn config(path: &Path) -> FileExporterConfig {
    FileExporterConfig {
        path: path.display().to_string(),
        ..Default::default()
    }
}

#[tokio::test]
async fn json_proto_and_zstd_read_back_as_the_same_requests() {
    let d = dir("formats");
    for (format, compression) in [
        ("json", ""),
        ("proto", ""),
        ("proto", "zstd"),
        ("json", "zstd"),
    ] {
        let path = d.join(format!("{format}-{compression}.out"));
        let c = FileExporterConfig {
            format: format.to_string(),
            compression: compression.to_string(),
            ..config(&path)
        };
        assert!(c.validate().is_empty());
        let exporter = FileExporter::open(&c).expect("open");
        exporter.export(batch("a", 3)).await.expect("export");
        exporter.export(batch("b", 2)).await.expect("export");
        drop(exporter);
        let bytes = std::fs::read(&path).expect("read");
        let messages: Vec<Vec<u8>> = if format == "json" && compression.is_empty() {
            bytes
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .map(<[u8]>::to_vec)
                .collect()
        } else {
            frames(&bytes)
        };
        let requests: Vec<ExportTraceServiceRequest> = messages
            .into_iter()
            .map(|m| {
                let m = if compression == "zstd" {
                    zstd::decode_all(&m[..]).expect("zstd frame")
                } else {
                    m
                };
                if format == "json" {
                    serde_json::from_slice(&m).expect("OTLP JSON")
                } else {
                    ExportTraceServiceRequest::decode(&m[..]).expect("protobuf")
                }
            })
            .collect();
        assert_eq!(
            requests,
            vec![
                ExportTraceServiceRequest {
                    resource_spans: batch("a", 3)
                },
                ExportTraceServiceRequest {
                    resource_spans: batch("b", 2)
                }
            ],
            "{format} {compression}"
        );
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[tokio::test]
async fn rotation_moves_full_files_aside_and_keeps_max_backups() {
    let d = dir("rotation");
    let path = d.join("spans.json");
    let c = FileExporterConfig {
        rotation: Some(RotationConfig {
            max_megabytes: 1,
            max_backups: 2,
            ..Default::default()
        }),
        ..config(&path)
    };
    assert!(c.validate().is_empty());
    let exporter = FileExporter::open(&c).expect("open");
    // ~0.3 MiB a batch: 10 batches fill about three files.
    for _ in 0..10 {
        exporter.export(batch("a", 3000)).await.expect("export");
        // Backup names carry milliseconds; keep them distinct.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    drop(exporter);
    let kept = backups(&path).expect("list");
    assert_eq!(kept.len(), 2, "{kept:?}");
    for (file, _) in &kept {
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
        let name = name.unwrap_or_default();
        assert!(
            name.starts_with("spans-") && name.ends_with(".json"),
            "{name}"
        );
        let len = std::fs::metadata(file).expect("meta").len();
        assert!(len <= 1024 * 1024, "{name}: {len}");
        assert!(len > 512 * 1024, "{name}: {len}");
    }
    assert!(std::fs::metadata(&path).expect("current").len() <= 1024 * 1024);
    let _ = std::fs::remove_dir_all(&d);
}

#[tokio::test]
async fn group_by_writes_a_file_per_value_and_drops_the_rest() {
    let d = dir("group");
    let c = FileExporterConfig {
        group_by: GroupByConfig {
            enabled: true,
            ..Default::default()
        },
        ..config(&d.join("by/*/spans.jsonl"))
    };
    assert!(c.validate().is_empty());
    let exporter = FileExporter::open(&c).expect("open");
    let mut mixed = batch("shop", 1);
    mixed.extend(batch("cart", 2));
    mixed.extend(batch("../escape", 1));
    let mut none = batch("x", 1);
    none[0].resource = None;
    mixed.extend(none);
    exporter.export(mixed).await.expect("export");
    drop(exporter);
    for (service, spans) in [("shop", 1), ("cart", 2)] {
        let text = std::fs::read_to_string(d.join(format!("by/{service}/spans.jsonl")))
            .expect("grouped file");
        let request: ExportTraceServiceRequest =
            serde_json::from_str(text.trim()).expect("one line");
        assert_eq!(request.resource_spans, batch(service, spans));
    }
    assert!(!d.join("escape").exists());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn bad_options_are_each_reported() {
    let c = FileExporterConfig {
        format: "xml".into(),
        compression: "gzip".into(),
        append: true,
        flush_interval: Duration::from_secs(0),
        rotation: Some(RotationConfig {
            max_megabytes: 0,
            ..Default::default()
        }),
        group_by: GroupByConfig {
            enabled: true,
            max_open_files: 0,
            ..Default::default()
        },
        ..config(Path::new("no-star.json"))
    };
    let paths: Vec<String> = c.validate().into_iter().map(|e| e.path).collect();
    assert_eq!(
        paths,
        [
            "format",
            "compression",
            "append",
            "append",
            "flush_interval",
            "rotation.max_megabytes",
            "path",
            "group_by.max_open_files"
        ]
    );
}
