//! `spoor query 'QUERY'`: a TraceQL or SQL-form query against a running server's Tempo API, or
//! against a data directory (opened read-only; the same Tempo API answers in process), printed
//! as a table or as Tempo's search JSON (analytics SQL: a table of its rows, or its JSON).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use axum::body::Body;
use spoor_engine::{Engine, EngineConfig};
use spoor_query::QueryService;
use spoor_telemetry::Telemetry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    /// TraceQL (`{ resource.service.name = "cart" && duration > 1s }`), the SQL form
    /// (`SELECT * FROM traces WHERE duration > 1000ms ORDER BY duration DESC`) or analytics
    /// SQL (`SELECT service.name, quantile(duration, 0.99), count(*) FROM spans GROUP BY 1`).
    pub query: String,
    /// A running server's Tempo API.
    #[arg(
        long,
        default_value = "http://127.0.0.1:3200",
        conflicts_with = "data_dir"
    )]
    pub server: String,
    /// Query this data directory instead of a server (its blocks; a running server's
    /// unflushed spans are not seen).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Print Tempo's search JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Most traces printed.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Only traces started in this last period (e.g. 1h); default: all.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub since: Option<Duration>,
}

pub async fn run(args: QueryArgs) -> anyhow::Result<()> {
    let mut url = form_urlencoded_pairs(&[
        ("q", args.query.clone()),
        ("limit", args.limit.to_string()),
        ("spss", "3".to_string()),
    ]);
    if let Some(since) = args.since {
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let start = now.saturating_sub(since.as_secs());
        url.push_str(&format!("&start={start}&end={now}"));
    }
    let path = format!("/api/search?{url}");
    let (status, body) = match &args.data_dir {
        Some(dir) => in_process(dir.clone(), &path).await?,
        None => http_get(&args.server, &path).await?,
    };
    if status != 200 {
        bail!("the query was refused ({status}): {}", body.trim());
    }
    if args.json {
        println!("{body}");
        return Ok(());
    }
    let answer: serde_json::Value = serde_json::from_str(&body).context("reading the answer")?;
    if answer.get("columns").is_some() {
        print!("{}", analytics_table(&answer));
    } else {
        print!("{}", table(&answer));
    }
    Ok(())
}

/// The table of an analytics SQL answer (`{"columns":[…],"rows":[[…]]}`).
fn analytics_table(answer: &serde_json::Value) -> String {
    let columns = answer["columns"].as_array().cloned().unwrap_or_default();
    let header: Vec<String> = columns
        .iter()
        .map(|c| {
            let name = c["name"].as_str().unwrap_or("").to_string();
            match c["unit"].as_str() {
                Some(unit) => format!("{name} [{unit}]"),
                None => name,
            }
        })
        .collect();
    let mut rows = vec![header];
    let data = answer["rows"].as_array().cloned().unwrap_or_default();
    for r in &data {
        let cells = r.as_array().cloned().unwrap_or_default();
        rows.push(
            cells
                .iter()
                .map(|c| match c {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Null => "-".to_string(),
                    other => other.to_string(),
                })
                .collect(),
        );
    }
    let mut out = aligned(&rows);
    out.push_str(&format!(
        "{} rows from {} spans{}\n",
        data.len(),
        answer["spansMatched"].as_u64().unwrap_or(0),
        if answer["truncated"].as_bool() == Some(true) {
            " (truncated: the newest traces of the window only)"
        } else {
            ""
        }
    ));
    out
}

fn aligned(rows: &[Vec<String>]) -> String {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..n)
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn form_urlencoded_pairs(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", percent(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn percent(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn in_process(dir: PathBuf, path: &str) -> anyhow::Result<(u16, String)> {
    let telemetry = Telemetry::new();
    let engine = Engine::open(
        EngineConfig {
            data_dir: dir.clone(),
            read_only: true,
            background: false,
            ..EngineConfig::default()
        },
        &telemetry,
    )
    .await
    .with_context(|| format!("opening {} read-only", dir.display()))?;
    let router = spoor_api::tempo_router(QueryService::new(Arc::new(engine)), &telemetry);
    let request = http::Request::get(path).body(Body::empty())?;
    let response = router.oneshot(request).await?;
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), 64 << 20).await?;
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}

/// A plain HTTP/1.1 GET (the server's Tempo API is plain HTTP on loopback or a trusted network).
async fn http_get(server: &str, path: &str) -> anyhow::Result<(u16, String)> {
    let Some(authority) = server.strip_prefix("http://") else {
        bail!("--server must be an http:// URL, got {server:?}");
    };
    let authority = authority.trim_end_matches('/');
    let mut stream = tokio::net::TcpStream::connect(authority)
        .await
        .with_context(|| format!("connecting to {server}"))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut raw))
        .await
        .context("the server did not answer within 60s")??;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("malformed HTTP answer")?;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("malformed HTTP status line")?;
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Ok((status, body))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

fn table(answer: &serde_json::Value) -> String {
    let mut rows = vec![[
        "TRACE ID".to_string(),
        "START".to_string(),
        "DURATION".to_string(),
        "ROOT SERVICE".to_string(),
        "ROOT NAME".to_string(),
        "MATCHED".to_string(),
    ]];
    let traces = answer["traces"].as_array().cloned().unwrap_or_default();
    for t in &traces {
        let start_ns: u64 = t["startTimeUnixNano"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let start = UNIX_EPOCH + Duration::from_nanos(start_ns);
        let matched: u64 = t["spanSets"]
            .as_array()
            .map(|sets| sets.iter().filter_map(|s| s["matched"].as_u64()).sum())
            .unwrap_or(0);
        rows.push([
            t["traceID"].as_str().unwrap_or("").to_string(),
            humantime::format_rfc3339_millis(start).to_string(),
            format!("{}ms", t["durationMs"].as_u64().unwrap_or(0)),
            t["rootServiceName"].as_str().unwrap_or("").to_string(),
            t["rootTraceName"].as_str().unwrap_or("").to_string(),
            matched.to_string(),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out.push_str(&format!("{} traces\n", traces.len()));
    out
}
