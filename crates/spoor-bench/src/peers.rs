//! The servers a run compares: the receive-and-drop baseline (rotel), Spoor (implicit config,
//! and optionally a pipeline config), and Jaeger v2 all-in-one with Badger storage.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::BenchError;
use crate::child::{Process, free_port, wait_tcp};

/// Listener flags the server is started with: ours on ephemeral ports, the rest off.
const ON: &[&str] = &["otlp-grpc", "query-http", "tempo-http", "admin-http"];
const OFF: &[&str] = &[
    "otlp-http",
    "sampling-http",
    "query-grpc",
    "health-http",
    "jaeger-thrift-compact",
    "jaeger-thrift-binary",
    "jaeger-thrift-http",
    "jaeger-grpc",
    "zipkin",
];

/// The default pipeline of issue 10: the `basic` seed config (memory_limiter + batch) with its
/// forwarders replaced by the store. Written to the work dir for `--default-pipeline`.
pub(crate) const DEFAULT_PIPELINE: &str = include_str!("default-pipeline.yaml");

/// How to start the `spoor` server.
#[derive(Clone)]
pub(crate) struct SpoorCmd {
    pub(crate) bin: PathBuf,
    /// Flags its `--help` lists.
    pub(crate) help: String,
    pub(crate) extra: Vec<String>,
}

impl SpoorCmd {
    fn knows(&self, flag: &str) -> bool {
        self.help.contains(&format!("--{flag} "))
    }

    /// Whether `--storage disk` is accepted: the help text of `--storage`, up to the next flag,
    /// mentions `disk`.
    pub(crate) fn has_disk(&self) -> bool {
        let Some(at) = self.help.find("--storage ") else {
            return false;
        };
        let section = &self.help[at + 10..];
        let end = section.find("\n      --").unwrap_or(section.len());
        section[..end].contains("disk")
    }

    fn args(&self, data_dir: &Path) -> Vec<String> {
        let mut args = Vec::new();
        if self.knows("storage") {
            let kind = if self.has_disk() { "disk" } else { "memory" };
            args.extend(["--storage".into(), kind.into()]);
        }
        args.extend(["--data-dir".into(), data_dir.display().to_string()]);
        for flag in ON {
            args.extend([format!("--{flag}"), "127.0.0.1:0".into()]);
        }
        for flag in OFF.iter().filter(|f| self.knows(f)) {
            args.extend([format!("--{flag}"), "off".into()]);
        }
        args.extend(self.extra.iter().cloned());
        args
    }
}

/// What a peer is.
#[derive(Clone)]
pub(crate) enum Kind {
    Baseline(PathBuf),
    Spoor(SpoorCmd),
    Jaeger(PathBuf),
}

/// One compared server.
#[derive(Clone)]
pub(crate) struct Peer {
    pub(crate) name: String,
    pub(crate) kind: Kind,
}

/// A started peer.
pub(crate) struct Running {
    pub(crate) process: Process,
    pub(crate) otlp: SocketAddr,
    /// The Jaeger HTTP query API (`/api/traces`), when the peer stores.
    pub(crate) query: Option<SocketAddr>,
    /// The Tempo HTTP API (`/api/search` with TraceQL), Spoor only.
    pub(crate) tempo: Option<SocketAddr>,
}

impl Peer {
    /// Starts the peer on ephemeral ports with `data_dir`, and waits until it is ready.
    pub(crate) async fn start(
        &self,
        data_dir: &Path,
        timeout: Duration,
    ) -> Result<Running, BenchError> {
        match &self.kind {
            Kind::Baseline(bin) => start_rotel(&self.name, bin, timeout).await,
            Kind::Spoor(cmd) => start_spoor(&self.name, cmd, data_dir, timeout).await,
            Kind::Jaeger(bin) => start_jaeger(&self.name, bin, data_dir, timeout).await,
        }
    }
}

async fn start_spoor(
    name: &str,
    cmd: &SpoorCmd,
    data_dir: &Path,
    timeout: Duration,
) -> Result<Running, BenchError> {
    let mut process = Process::spawn(name, &cmd.bin, &cmd.args(data_dir))?;
    let listeners = process.wait_listeners(ON, timeout).await?;
    let addr = |n: &str| {
        listeners
            .get(n)
            .copied()
            .ok_or_else(|| BenchError::Setup(format!("no {n} listener")))
    };
    let (otlp, query, admin) = (addr("otlp-grpc")?, addr("query-http")?, addr("admin-http")?);
    let tempo = addr("tempo-http")?;
    process.wait_http_ok(admin, "/health", timeout).await?;
    Ok(Running {
        process,
        otlp,
        query: Some(query),
        tempo: Some(tempo),
    })
}

async fn start_rotel(name: &str, bin: &Path, timeout: Duration) -> Result<Running, BenchError> {
    let grpc = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let http = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let process = Process::spawn(
        name,
        bin,
        &[
            "start".into(),
            "--otlp-grpc-endpoint".into(),
            grpc.to_string(),
            "--otlp-http-endpoint".into(),
            http.to_string(),
            "--exporter".into(),
            "blackhole".into(),
        ],
    )?;
    if !wait_tcp(grpc, timeout).await {
        let _ = process.kill9().await;
        return Err(BenchError::Setup(format!("rotel did not listen on {grpc}")));
    }
    Ok(Running {
        process,
        otlp: grpc,
        query: None,
        tempo: None,
    })
}

/// Jaeger v2's configuration (an OpenTelemetry Collector config; JSON is YAML): OTLP gRPC in,
/// the `batch` processor as in Jaeger's own `config-badger.yaml`, Badger on `dir`, the query
/// extension's HTTP API on `query`.
pub(crate) fn jaeger_config(
    dir: &Path,
    otlp: SocketAddr,
    query: SocketAddr,
    query_grpc: SocketAddr,
) -> serde_json::Value {
    let dir = dir.display().to_string();
    serde_json::json!({
        "service": {
            "extensions": ["jaeger_storage", "jaeger_query"],
            "pipelines": {"traces": {
                "receivers": ["otlp"],
                "processors": ["batch"],
                "exporters": ["jaeger_storage_exporter"],
            }},
            "telemetry": {"metrics": {"level": "none"}, "logs": {"level": "info"}},
        },
        "extensions": {
            "jaeger_query": {
                "storage": {"traces": "badger_store"},
                "max_clock_skew_adjust": "0s",
                "http": {"endpoint": query.to_string()},
                "grpc": {"endpoint": query_grpc.to_string()},
            },
            "jaeger_storage": {"backends": {"badger_store": {"badger": {
                "directories": {"keys": format!("{dir}/keys"), "values": format!("{dir}/values")},
                "ephemeral": false,
                "ttl": {"spans": "168h"},
            }}}},
        },
        "receivers": {"otlp": {"protocols": {
            "grpc": {"endpoint": otlp.to_string(), "max_recv_msg_size_mib": 64},
        }}},
        "processors": {"batch": {}},
        "exporters": {"jaeger_storage_exporter": {"trace_storage": "badger_store"}},
    })
}

async fn start_jaeger(
    name: &str,
    bin: &Path,
    data_dir: &Path,
    timeout: Duration,
) -> Result<Running, BenchError> {
    let port = || free_port().map(|p| SocketAddr::from(([127, 0, 0, 1], p)));
    let (otlp, query, query_grpc) = (port()?, port()?, port()?);
    std::fs::create_dir_all(data_dir)?;
    let config_path = data_dir.with_extension("jaeger.yaml");
    let config = jaeger_config(data_dir, otlp, query, query_grpc);
    std::fs::write(&config_path, config.to_string())?;
    let mut process = Process::spawn(
        name,
        bin,
        &["--config".into(), config_path.display().to_string()],
    )?;
    if !wait_tcp(otlp, timeout).await {
        let _ = process.kill9().await;
        return Err(BenchError::Setup(format!(
            "jaeger did not listen on {otlp} (OTLP gRPC)"
        )));
    }
    process
        .wait_http_ok(query, "/api/services", timeout)
        .await?;
    Ok(Running {
        process,
        otlp,
        query: Some(query),
        tempo: None,
    })
}

/// The Jaeger binary: the flag, or `.cache/peers/jaeger/jaeger` (built by
/// `scripts/peers/build-jaeger.sh`) under the current directory or an ancestor of the `spoor`
/// binary.
pub(crate) fn find_jaeger(flag: Option<&Path>, spoor: &Path) -> Option<PathBuf> {
    if let Some(p) = flag {
        return Some(p.to_path_buf());
    }
    let mut roots: Vec<PathBuf> = std::env::current_dir().into_iter().collect();
    roots.extend(spoor.ancestors().map(Path::to_path_buf));
    roots
        .into_iter()
        .map(|r| r.join(".cache/peers/jaeger/jaeger"))
        .find(|p| p.is_file())
}

/// The rotel binary: the flag, or under `.cache/venvs/rotel` of the current directory or of an
/// ancestor of the `spoor` binary (a repository checkout).
pub(crate) fn find_rotel(flag: Option<&Path>, spoor: &Path) -> Option<PathBuf> {
    if let Some(p) = flag {
        return Some(p.to_path_buf());
    }
    let mut roots: Vec<PathBuf> = std::env::current_dir().into_iter().collect();
    roots.extend(spoor.ancestors().map(Path::to_path_buf));
    for root in roots {
        let lib = root.join(".cache/venvs/rotel/lib");
        let Ok(pythons) = std::fs::read_dir(&lib) else {
            continue;
        };
        for py in pythons.flatten() {
            let agent = py.path().join("site-packages/rotel/rotel-agent");
            if agent.is_file() {
                return Some(agent);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jaeger_config_stores_in_badger_under_the_data_dir() {
        let a = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
        let c = jaeger_config(Path::new("/tmp/j"), a(1), a(2), a(3));
        let badger = &c["extensions"]["jaeger_storage"]["backends"]["badger_store"]["badger"];
        assert_eq!(badger["directories"]["keys"], "/tmp/j/keys");
        assert_eq!(badger["ephemeral"], false);
        assert_eq!(
            c["exporters"]["jaeger_storage_exporter"]["trace_storage"],
            "badger_store"
        );
        assert_eq!(
            c["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"],
            "127.0.0.1:1"
        );
        assert_eq!(
            c["extensions"]["jaeger_query"]["http"]["endpoint"],
            "127.0.0.1:2"
        );
    }

    #[test]
    fn default_pipeline_is_the_basic_seed_into_the_store() {
        assert!(DEFAULT_PIPELINE.contains("processors: [memory_limiter, batch]"));
        assert!(DEFAULT_PIPELINE.contains("exporters: [spoor]"));
        assert!(!DEFAULT_PIPELINE.contains("jaeger:"));
    }
}
