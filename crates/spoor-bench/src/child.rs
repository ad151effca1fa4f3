//! Child processes under test: the `spoor` binary (listeners found from its log) and the
//! receive-and-drop baseline.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::BenchError;
use crate::http::HttpClient;

/// Last log lines kept for error messages.
const LOG_TAIL: usize = 40;

/// A running child process whose stderr is parsed for `listening listener=<name> addr=<addr>`.
pub(crate) struct Process {
    pub(crate) name: String,
    child: Child,
    pid: u32,
    listeners: Arc<Mutex<HashMap<String, SocketAddr>>>,
    tail: Arc<Mutex<Vec<String>>>,
}

/// Removes ANSI escape sequences (colour codes) from a log line.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// `(listener, addr)` from a `listening listener=<name> addr=<ip:port>` log line.
pub(crate) fn parse_listening(line: &str) -> Option<(String, SocketAddr)> {
    let line = strip_ansi(line);
    if !line.contains("listening") {
        return None;
    }
    let mut name = None;
    let mut addr = None;
    for token in line.split_whitespace() {
        let token = token.trim_matches('"');
        if let Some(v) = token.strip_prefix("listener=") {
            name = Some(v.trim_matches('"').to_string());
        } else if let Some(v) = token.strip_prefix("addr=") {
            addr = v.trim_matches('"').parse().ok();
        }
    }
    Some((name?, addr?))
}

impl Process {
    /// Starts `program args…` with stderr parsed; stdout is discarded.
    pub(crate) fn spawn(name: &str, program: &Path, args: &[String]) -> Result<Self, BenchError> {
        let mut child = Command::new(program)
            .args(args)
            .env("NO_COLOR", "1")
            // Jaeger traces itself to 127.0.0.1:4317 unless told not to.
            .env("OTEL_TRACES_EXPORTER", "none")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| BenchError::Spawn {
                program: program.to_path_buf(),
                source,
            })?;
        let pid = child.id().unwrap_or(0);
        let listeners = Arc::new(Mutex::new(HashMap::new()));
        let tail = Arc::new(Mutex::new(Vec::new()));
        if let Some(stderr) = child.stderr.take() {
            let (listeners, tail) = (listeners.clone(), tail.clone());
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some((name, addr)) = parse_listening(&line)
                        && let Ok(mut l) = listeners.lock()
                    {
                        l.insert(name, addr);
                    }
                    if let Ok(mut t) = tail.lock() {
                        if t.len() >= LOG_TAIL {
                            t.remove(0);
                        }
                        t.push(strip_ansi(&line));
                    }
                }
            });
        }
        Ok(Self {
            name: name.to_string(),
            child,
            pid,
            listeners,
            tail,
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// The last lines it logged, for error messages.
    pub(crate) fn log_tail(&self) -> String {
        self.tail.lock().map(|t| t.join("\n")).unwrap_or_default()
    }

    fn failed(&self, message: String) -> BenchError {
        BenchError::Child {
            name: self.name.clone(),
            message,
            log: self.log_tail(),
        }
    }

    /// Waits until every named listener has been logged.
    pub(crate) async fn wait_listeners(
        &mut self,
        names: &[&str],
        timeout: Duration,
    ) -> Result<HashMap<String, SocketAddr>, BenchError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(l) = self.listeners.lock()
                && names.iter().all(|n| l.contains_key(*n))
            {
                return Ok(l.clone());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                // Give the log reader a moment to collect the last lines.
                tokio::time::sleep(Duration::from_millis(100)).await;
                return Err(self.failed(format!("exited during start-up ({status})")));
            }
            if Instant::now() >= deadline {
                return Err(self.failed(format!("did not log listeners {names:?} in {timeout:?}")));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Polls `GET path` on `addr` until it answers 200.
    pub(crate) async fn wait_http_ok(
        &mut self,
        addr: SocketAddr,
        path: &str,
        timeout: Duration,
    ) -> Result<(), BenchError> {
        let deadline = Instant::now() + timeout;
        let mut client = HttpClient::new(addr, Duration::from_secs(2));
        loop {
            if let Ok((200, _)) = client.get(path).await {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(self.failed(format!("exited before {path} answered ({status})")));
            }
            if Instant::now() >= deadline {
                return Err(self.failed(format!("{path} on {addr} not 200 within {timeout:?}")));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Peak resident set size so far (`VmHWM`), in bytes.
    pub(crate) fn peak_rss(&self) -> Option<u64> {
        proc_status_kib(self.pid, "VmHWM:").map(|k| k * 1024)
    }

    /// SIGKILL, then reap.
    pub(crate) async fn kill9(mut self) -> Result<(), BenchError> {
        self.child
            .start_kill()
            .map_err(|e| self.failed(format!("cannot kill: {e}")))?;
        let _ = self.child.wait().await;
        Ok(())
    }

    /// SIGTERM and wait for a clean exit (killed after `timeout`).
    pub(crate) async fn terminate(mut self, timeout: Duration) -> Result<(), BenchError> {
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        if !sent.is_ok_and(|s| s.success()) {
            return self.kill9().await;
        }
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(Ok(status)) if status.success() => Ok(()),
            Ok(Ok(status)) => Err(self.failed(format!("exited with {status} after SIGTERM"))),
            Ok(Err(e)) => Err(self.failed(format!("cannot wait for exit: {e}"))),
            Err(_) => {
                let message = format!("still running {timeout:?} after SIGTERM; killed");
                let err = self.failed(message);
                let _ = self.kill9().await;
                Err(err)
            }
        }
    }
}

/// CPU seconds (user + system) a process has used, from `/proc/<pid>/stat`.
pub(crate) fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start with the state (field 3);
    // utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// Resident set size now (`VmRSS`), in bytes.
pub(crate) fn current_rss(pid: u32) -> Option<u64> {
    proc_status_kib(pid, "VmRSS:").map(|k| k * 1024)
}

/// A `kB` field of `/proc/<pid>/status`.
fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line[field.len()..].split_whitespace().next()?.parse().ok()
}

/// A free TCP port on 127.0.0.1 (bound and released; fine for a benchmark).
pub(crate) fn free_port() -> Result<u16, BenchError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(BenchError::Io)
}

/// Waits until a TCP connection to `addr` succeeds.
pub(crate) async fn wait_tcp(addr: SocketAddr, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// What a data directory holds.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DiskUsage {
    /// Sum of file lengths.
    pub(crate) apparent: u64,
    /// Bytes the file system allocated (`st_blocks` × 512): what sparse or preallocated files
    /// (Badger's value log) really take.
    pub(crate) allocated: u64,
    pub(crate) blocks: u64,
    pub(crate) wal: u64,
}

/// [`DiskUsage`] of everything under `dir`.
pub(crate) fn disk_usage(dir: &Path) -> DiskUsage {
    use std::os::unix::fs::MetadataExt;
    let (mut total, mut allocated, mut blocks, mut wal) = (0, 0, 0, 0);
    let mut stack: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                stack.push(path);
                continue;
            }
            let len = meta.len();
            total += len;
            allocated += meta.blocks() * 512;
            let in_wal = path
                .strip_prefix(dir)
                .ok()
                .is_some_and(|p| p.components().any(|c| c.as_os_str() == "wal"))
                || path.extension().is_some_and(|x| x == "wal");
            if path.extension().is_some_and(|x| x == "parquet") {
                blocks += len;
            } else if in_wal {
                wal += len;
            }
        }
    }
    DiskUsage {
        apparent: total,
        allocated,
        blocks,
        wal,
    }
}

/// Block files (`*.parquet`) under `dir`, sorted.
pub(crate) fn block_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                if !path.ends_with("quarantine") {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|x| x == "parquet") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_listening_lines() {
        let plain = "2026-11-21T12:00:00Z  INFO spoor::run: listening listener=otlp-grpc addr=127.0.0.1:4317";
        assert_eq!(
            parse_listening(plain),
            Some(("otlp-grpc".into(), "127.0.0.1:4317".parse().expect("addr")))
        );
        let coloured = "\u{1b}[2m2026\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m listening \u{1b}[3mlistener\u{1b}[0m\u{1b}[2m=\u{1b}[0mquery-http \u{1b}[3maddr\u{1b}[0m\u{1b}[2m=\u{1b}[0m127.0.0.1:16686";
        assert_eq!(
            parse_listening(coloured).map(|(n, _)| n),
            Some("query-http".into())
        );
        assert_eq!(parse_listening("spoor is ready"), None);
    }
}
