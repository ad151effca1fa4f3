//! From flags and `--config` files to the pipeline config: the implicit config of the flags, or
//! the files with the listener flags given explicitly laid over them.

use std::net::SocketAddr;

use anyhow::Context;
use clap::ArgMatches;
use clap::parser::ValueSource;
use spoor_pipeline::config::{self, Config, Source};
use spoor_pipeline::receivers::override_listener;
use spoor_pipeline::registry::Kind;

use crate::cli::RunArgs;

/// The receiver listener flags: (flag id, listener name).
const RECEIVER_FLAGS: [(&str, &str); 7] = [
    ("otlp_grpc", "otlp-grpc"),
    ("otlp_http", "otlp-http"),
    ("jaeger_thrift_compact", "jaeger-thrift-compact"),
    ("jaeger_thrift_binary", "jaeger-thrift-binary"),
    ("jaeger_thrift_http", "jaeger-thrift-http"),
    ("jaeger_grpc", "jaeger-grpc"),
    ("zipkin", "zipkin"),
];

/// Flag ids set on the command line or in the environment (not defaults).
pub fn explicit_flags(matches: &ArgMatches) -> Vec<String> {
    matches
        .ids()
        .filter(|id| {
            matches!(
                matches.value_source(id.as_str()),
                Some(ValueSource::CommandLine | ValueSource::EnvVariable)
            )
        })
        .map(|id| id.as_str().to_string())
        .collect()
}

fn listener(args: &RunArgs, flag: &str) -> Option<SocketAddr> {
    match flag {
        "otlp_grpc" => args.otlp_grpc.addr(),
        "otlp_http" => args.otlp_http.addr(),
        "jaeger_thrift_compact" => args.jaeger_thrift_compact.addr(),
        "jaeger_thrift_binary" => args.jaeger_thrift_binary.addr(),
        "jaeger_thrift_http" => args.jaeger_thrift_http.addr(),
        "jaeger_grpc" => args.jaeger_grpc.addr(),
        "zipkin" => args.zipkin.addr(),
        _ => None,
    }
}

fn env(var: &str) -> Option<String> {
    std::env::var(var).ok()
}

/// Loads and validates; on error the diagnostics are the error.
pub fn load(args: &RunArgs, explicit: &[String]) -> Result<Config, config::Diagnostics> {
    if args.config.is_empty() {
        let listeners: Vec<(&str, SocketAddr)> = RECEIVER_FLAGS
            .iter()
            .filter_map(|(flag, name)| listener(args, flag).map(|a| (*name, a)))
            .collect();
        return config::implicit(&listeners);
    }
    let mut sources = Vec::new();
    let mut diags = config::Diagnostics::default();
    for path in &args.config {
        match std::fs::read_to_string(path) {
            Ok(text) => sources.push(Source {
                name: path.display().to_string(),
                text,
            }),
            Err(e) => diags.errors.push(config::Diagnostic {
                path: String::new(),
                pos: Default::default(),
                message: format!("cannot read {}: {e}", path.display()),
            }),
        }
    }
    if !diags.errors.is_empty() {
        return Err(diags);
    }
    let mut config = config::load(&sources, &env)?;
    for (flag, name) in RECEIVER_FLAGS {
        if !explicit.iter().any(|f| f == flag) {
            continue;
        }
        let Some(addr) = listener(args, flag) else {
            continue;
        };
        for c in config.section_mut(Kind::Receiver) {
            if override_listener(&mut c.spec, name, addr) {
                tracing::debug!(receiver = %c.id, listener = name, %addr, "listener flag overrides the config");
                c.effective = effective_after_override(&c.effective, name, addr);
            }
        }
    }
    Ok(config)
}

/// Mirrors a flag override in the printed config.
fn effective_after_override(
    v: &serde_json::Value,
    listener: &str,
    addr: SocketAddr,
) -> serde_json::Value {
    let mut v = v.clone();
    let pointer = match listener {
        "otlp-grpc" | "jaeger-grpc" => "/protocols/grpc/endpoint",
        "otlp-http" => "/protocols/http/endpoint",
        "jaeger-thrift-http" => "/protocols/thrift_http/endpoint",
        "jaeger-thrift-compact" => "/protocols/thrift_compact/endpoint",
        "jaeger-thrift-binary" => "/protocols/thrift_binary/endpoint",
        _ => "/endpoint",
    };
    if let Some(slot) = v.pointer_mut(pointer) {
        *slot = serde_json::Value::String(addr.to_string());
    }
    v
}

/// `spoor validate`: prints every error and warning; errors make it fail.
pub fn validate(args: &RunArgs, explicit: &[String]) -> anyhow::Result<bool> {
    if args.config.is_empty() {
        anyhow::bail!("spoor validate needs --config FILE");
    }
    for w in config::legacy_env_warnings(&env) {
        eprintln!("warning: {w}");
    }
    match load(args, explicit) {
        Ok(c) => {
            for w in &c.warnings {
                eprintln!("warning: {w}");
            }
            let files = args
                .config
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ");
            println!("{files}: valid ({} pipelines)", c.service.pipelines.len());
            Ok(true)
        }
        Err(d) => {
            eprint!("{d}");
            let n = d.errors.len();
            eprintln!("{n} error{}", if n == 1 { "" } else { "s" });
            Ok(false)
        }
    }
}

/// `spoor print-config`: the effective config as YAML.
pub fn print(args: &RunArgs, explicit: &[String]) -> anyhow::Result<bool> {
    match load(args, explicit) {
        Ok(c) => {
            let yaml =
                serde_saphyr::to_string(&c.effective()).context("rendering the config as YAML")?;
            print!("{yaml}");
            Ok(true)
        }
        Err(d) => {
            eprint!("{d}");
            Ok(false)
        }
    }
}
