use std::path::PathBuf;

use super::*;

fn fixture(name: &str) -> Source {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/collector")
        .join(name);
    Source {
        name: name.to_string(),
        text: std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    }
}

fn yaml(text: &str) -> Result<Config, Diagnostics> {
    load(
        &[Source {
            name: "c.yaml".into(),
            text: text.into(),
        }],
        &|_| None,
    )
}

fn errors(text: &str) -> Vec<String> {
    match yaml(text) {
        Ok(_) => panic!("expected errors"),
        Err(d) => d.errors.iter().map(ToString::to_string).collect(),
    }
}

const MINIMAL: &str = "receivers:\n  otlp:\n    protocols:\n      grpc:\nexporters:\n  spoor:\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [spoor]\n";

#[test]
fn loads_a_minimal_config_with_defaults() {
    let c = yaml(MINIMAL).expect("valid");
    let eff = c.effective();
    assert_eq!(
        eff["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"],
        "0.0.0.0:4317"
    );
    assert!(
        eff["receivers"]["otlp"]["protocols"].get("http").is_none(),
        "only listed protocols"
    );
    assert_eq!(
        eff["service"]["pipelines"]["traces"]["exporters"][0],
        "spoor"
    );
}

#[test]
fn reports_all_five_errors_with_paths_and_lines() {
    let d = match load(&[fixture("five-errors.yaml")], &|_| None) {
        Err(d) => d,
        Ok(_) => panic!("five errors"),
    };
    let text: Vec<String> = d.errors.iter().map(ToString::to_string).collect();
    assert_eq!(d.errors.len(), 5, "{text:#?}");
    let paths: Vec<&str> = d.errors.iter().map(|e| e.path.as_str()).collect();
    for want in [
        "receivers.otlp.protocols.grpc.endpoint",
        "processors.batch.timeout",
        "processors.memory_limiter.limit_mib",
        "exporters.debug.verbosity",
        "service.pipelines.traces.exporters[1]",
    ] {
        assert!(paths.contains(&want), "{want} missing in {text:#?}");
    }
    let timeout = d
        .errors
        .iter()
        .find(|e| e.path == "processors.batch.timeout")
        .expect("timeout");
    assert_eq!(timeout.pos.line, 9, "{timeout}");
    assert!(
        timeout.message.contains("invalid duration \"1x\""),
        "{timeout}"
    );
}

#[test]
fn merges_files_later_over_earlier() {
    let base = Source {
        name: "a.yaml".into(),
        text: MINIMAL.into(),
    };
    let over = Source {
        name: "b.yaml".into(),
        text:
            "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:5317\n"
                .into(),
    };
    let c = load(&[base, over], &|_| None).expect("valid");
    assert_eq!(
        c.effective()["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"],
        "127.0.0.1:5317"
    );
}

#[test]
fn substitutes_environment_variables() {
    let text = MINIMAL.replace(
        "      grpc:\n",
        "      grpc:\n        endpoint: ${env:HOST:-127.0.0.1}:${PORT}\n",
    );
    let c = load(
        &[Source {
            name: "c".into(),
            text,
        }],
        &|v| (v == "PORT").then(|| "7317".to_string()),
    )
    .expect("valid");
    assert_eq!(
        c.effective()["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"],
        "127.0.0.1:7317"
    );
}

#[test]
fn refuses_malformed_yaml_with_its_line() {
    let e = errors("receivers:\n  otlp: [\nexporters: {}\n");
    assert!(e[0].contains("invalid YAML"), "{e:?}");
    assert!(e[0].starts_with("c.yaml:"), "{e:?}");
}

#[test]
fn refuses_unknown_components_and_names_known_ones() {
    let e = errors(&MINIMAL.replace("  spoor:\n", "  spoor:\n  kafka:\n"));
    assert!(
        e.iter().any(|e| e.contains("exporters.kafka")
            && e.contains("unknown exporter type \"kafka\"")
            && e.contains("otlp")),
        "{e:?}"
    );
}

#[test]
fn refuses_elasticsearch_naming_the_alternative() {
    let e = errors(&MINIMAL.replace(
        "  spoor:\n",
        "  spoor:\n  elasticsearch:\n    endpoints: [http://es:9200]\n",
    ));
    assert!(
        e.iter().any(|e| e.contains("exporters.elasticsearch")
            && e.contains("not supported")
            && e.contains("`spoor` exporter")),
        "{e:?}"
    );
}

#[test]
fn refuses_wrong_types_and_unknown_options() {
    let e = errors(&MINIMAL.replace(
        "  spoor:\n",
        "  spoor:\n  debug:\n    verbosity: [1]\n  file:\n    path: /tmp/x\n    colour: red\n",
    ));
    assert!(
        e.iter().any(|e| e.contains("exporters.debug.verbosity")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|e| e.contains("exporters.file") && e.contains("unknown field `colour`")),
        "{e:?}"
    );
}

#[test]
fn refuses_undefined_pipeline_components() {
    let e = errors(&MINIMAL.replace("exporters: [spoor]", "exporters: [spoor, otlp/missing]"));
    assert!(
        e.iter()
            .any(|e| e.contains("service.pipelines.traces.exporters[1]")
                && e.contains("otlp/missing is not defined")),
        "{e:?}"
    );
}

#[test]
fn refuses_a_cycle_through_connectors() {
    let text = "receivers:\n  otlp:\nexporters:\n  spoor:\nconnectors:\n  forward/a:\n  forward/b:\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [forward/a]\n    traces/a:\n      receivers: [forward/a]\n      exporters: [forward/b, spoor]\n    traces/b:\n      receivers: [forward/b]\n      exporters: [forward/a]\n";
    let e = errors(text);
    assert!(
        e.iter().any(|e| e.contains("cycle through connectors")
            && e.contains("traces/a → traces/b → traces/a")),
        "{e:?}"
    );
}

#[test]
fn the_implicit_config_sends_every_receiver_to_the_store() {
    let addr = |p: u16| std::net::SocketAddr::from(([127, 0, 0, 1], p));
    let c = implicit(&[
        ("otlp-grpc", addr(1)),
        ("zipkin", addr(2)),
        ("jaeger-thrift-compact", addr(3)),
    ])
    .expect("valid");
    let eff = c.effective();
    assert_eq!(
        eff["service"]["pipelines"]["traces"]["receivers"],
        serde_json::json!(["otlp", "jaeger", "zipkin"])
    );
    assert_eq!(
        eff["receivers"]["jaeger"]["protocols"]["thrift_compact"]["endpoint"],
        "127.0.0.1:3"
    );
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn seed_configs_load_except_components_spoor_refuses() {
    // Every seed loads with no error at all, except full.yaml's `elasticsearch` exporter, which
    // is refused with the alternative named; the processors they use (resource, span) are built.
    for name in ["basic.yaml", "minimal.yaml", "kubernetes.yaml"] {
        let c =
            load(&[fixture(name)], &|_| None).unwrap_or_else(|d| panic!("{name}: {:#?}", d.errors));
        assert!(!c.service.pipelines.is_empty(), "{name}");
    }
    let errors = match load(&[fixture("full.yaml")], &|_| None) {
        Ok(_) => panic!("full.yaml: the elasticsearch exporter must be refused"),
        Err(d) => d.errors,
    };
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["exporters.elasticsearch"], "{errors:#?}");
    let message = errors[0].to_string();
    assert!(message.contains("elasticsearch"), "{message}");
    assert!(
        message.contains("spoor") || message.contains("otlp"),
        "alternative: {message}"
    );
}

#[test]
fn warns_about_jaeger_era_environment() {
    let env = |v: &str| match v {
        "SPAN_STORAGE_TYPE" => Some("elasticsearch".to_string()),
        "ES_SERVER_URLS" => Some("http://es:9200".to_string()),
        _ => None,
    };
    let w = legacy_env_warnings(&env);
    assert_eq!(w.len(), 2);
    assert!(w[0].contains("SPAN_STORAGE_TYPE=elasticsearch") && w[1].contains("ES_SERVER_URLS"));
}

#[test]
fn warns_that_service_telemetry_is_not_applied() {
    let c = yaml(&format!(
        "{MINIMAL}  telemetry:\n    metrics:\n      address: 0.0.0.0:8888\n"
    ))
    .expect("valid");
    assert!(
        c.warnings
            .iter()
            .any(|w| w.path == "service.telemetry" && w.message.contains("not applied")),
        "{:?}",
        c.warnings
    );
}

#[test]
fn a_persistent_queue_needs_an_enabled_file_storage() {
    let config = |extensions: &str, storage: &str| {
        format!(
            "receivers:\n  otlp:\n    protocols:\n      grpc:\nexporters:\n  otlp:\n    endpoint: b:4317\n    tls:\n      insecure: true\n    sending_queue:\n      storage: {storage}\nextensions:\n  file_storage/q:\n    directory: /tmp\n  zpages:\nservice:\n  extensions: [{extensions}]\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [otlp]\n"
        )
    };
    assert!(yaml(&config("file_storage/q", "file_storage/q")).is_ok());
    let e = errors(&config("file_storage/q, zpages", "file_storage/other"));
    assert!(
        e.iter()
            .any(|e| e.contains("exporters.otlp.sending_queue.storage")
                && e.contains("file_storage/other is not defined")),
        "{e:?}"
    );
    let e = errors(&config("zpages", "file_storage/q"));
    assert!(e.iter().any(|e| e.contains("not enabled")), "{e:?}");
    let e = errors(&config("file_storage/q, zpages", "zpages"));
    assert!(
        e.iter().any(|e| e.contains("not a storage extension")),
        "{e:?}"
    );
}
