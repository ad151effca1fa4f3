//! The service graph's per-minute edges ([`DependencyStore`]) saved in the data directory, so
//! `/api/dependencies` answers the same after a restart.
//!
//! Format (`dependencies.v1.jsonl`): one JSON line per entry, `[bucket_secs, parent, child,
//! calls]`, then one trailer line `{"version":1,"entries":N,"crc32c":C}` where `C` is the
//! CRC-32C of every byte before the trailer. The file is rewritten whole (temporary file,
//! fsync, rename), so a reader sees the old or the new file, never a mix. A file whose trailer
//! is missing or whose checksum or lines do not match is corrupt: it is moved aside to
//! `dependencies.v1.jsonl.corrupt` and the store starts empty (the per-block links storage
//! keeps still answer for that data).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use spoor_query::dependencies::{DependencyStore, Entry};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The file's name in the data directory.
pub const FILE_NAME: &str = "dependencies.v1.jsonl";

/// Why the saved edges could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum DependenciesFileError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: corrupt dependencies file ({why})")]
    Corrupt { path: PathBuf, why: String },
}

/// The file's path under `data_dir`.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Trailer {
    version: u32,
    entries: usize,
    crc32c: u32,
}

fn encode(entries: &[Entry]) -> Vec<u8> {
    let mut body = Vec::new();
    for e in entries {
        let line = serde_json::json!([e.bucket_secs, e.parent, e.child, e.calls]);
        body.extend_from_slice(line.to_string().as_bytes());
        body.push(b'\n');
    }
    let trailer = Trailer {
        version: 1,
        entries: entries.len(),
        crc32c: crc32c::crc32c(&body),
    };
    body.extend_from_slice(serde_json::json!(trailer).to_string().as_bytes());
    body.push(b'\n');
    body
}

fn decode(bytes: &[u8]) -> Result<Vec<Entry>, String> {
    let text = bytes.strip_suffix(b"\n").ok_or("no final newline")?;
    let split = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let (body, trailer) = text.split_at(split);
    let trailer: Trailer = serde_json::from_slice(trailer).map_err(|e| format!("trailer: {e}"))?;
    if trailer.version != 1 {
        return Err(format!("unknown version {}", trailer.version));
    }
    let crc = crc32c::crc32c(body);
    if crc != trailer.crc32c {
        return Err(format!(
            "checksum {crc:#010x}, trailer says {:#010x}",
            trailer.crc32c
        ));
    }
    let mut out = Vec::with_capacity(trailer.entries);
    for (i, line) in body
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        let (bucket_secs, parent, child, calls): (u64, String, String, u64) =
            serde_json::from_slice(line).map_err(|e| format!("line {}: {e}", i + 1))?;
        out.push(Entry {
            bucket_secs,
            parent,
            child,
            calls,
        });
    }
    if out.len() != trailer.entries {
        return Err(format!(
            "{} entries, trailer says {}",
            out.len(),
            trailer.entries
        ));
    }
    Ok(out)
}

/// Reads the saved edges into `store`; a missing file is an empty store. Returns how many
/// entries were read. A corrupt file is moved aside before the error is returned.
pub fn load(path: &Path, store: &DependencyStore) -> Result<usize, DependenciesFileError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(source) => {
            return Err(DependenciesFileError::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    match decode(&bytes) {
        Ok(entries) => {
            let n = entries.len();
            store.restore(entries);
            Ok(n)
        }
        Err(why) => {
            let mut aside = path.as_os_str().to_owned();
            aside.push(".corrupt");
            let _ = std::fs::rename(path, PathBuf::from(aside));
            Err(DependenciesFileError::Corrupt {
                path: path.to_owned(),
                why,
            })
        }
    }
}

/// Writes every entry of `store` to `path` (temporary file, fsync, rename, directory fsync).
pub fn save(path: &Path, store: &DependencyStore) -> Result<(), DependenciesFileError> {
    let io = |source| DependenciesFileError::Io {
        path: path.to_owned(),
        source,
    };
    let bytes = encode(&store.entries());
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(&bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io)?;
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Saves `store` to `path` every `interval` when it changed, until `shutdown`; the caller saves
/// once more after the pipelines drained.
pub fn spawn_saver(
    store: Arc<DependencyStore>,
    path: PathBuf,
    interval: Duration,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            if !store.take_dirty() {
                continue;
            }
            let (store, path) = (store.clone(), path.clone());
            match tokio::task::spawn_blocking(move || save(&path, &store)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "saving the service graph's dependencies"),
                Err(e) => tracing::warn!(error = %e, "saving the service graph's dependencies"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> DependencyStore {
        DependencyStore::new(Duration::from_secs(86_400), 1000)
    }

    #[test]
    fn saved_edges_load_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = path(dir.path());
        let s = store();
        s.add(6_000_000_000_000, "frontend", "payments", 2);
        s.add(6_060_000_000_000, "payments", "post\"gres\nql", 1);
        save(&p, &s).expect("save");
        let back = store();
        assert_eq!(load(&p, &back).expect("load"), 2);
        assert_eq!(back.entries(), s.entries());
        assert_eq!(
            load(&dir.path().join("none"), &store()).expect("missing"),
            0
        );
    }

    #[test]
    fn a_corrupt_file_is_moved_aside() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = path(dir.path());
        let s = store();
        s.add(6_000_000_000_000, "a", "b", 2);
        save(&p, &s).expect("save");
        let mut bytes = std::fs::read(&p).expect("read");
        bytes[3] ^= 0x01;
        std::fs::write(&p, &bytes).expect("write");
        let back = store();
        let err = load(&p, &back).expect_err("corrupt");
        assert!(err.to_string().contains("corrupt"), "{err}");
        assert!(back.is_empty());
        assert!(!p.exists());
        assert!(dir.path().join(format!("{FILE_NAME}.corrupt")).exists());
        // A torn file (no trailer) is corrupt too.
        std::fs::write(&p, b"[60,\"a\",\"b\",1]\n").expect("write");
        assert!(load(&p, &store()).is_err());
    }
}
