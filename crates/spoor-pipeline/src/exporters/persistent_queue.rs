//! The on-disk part of a persistent `sending_queue` (`storage: file_storage[/name]`).
//!
//! Layout: `<file_storage.directory>/exporter_<name>_<signal>/`, holding a `LOCK` file (one
//! process at a time) and one file per queued batch, `<seq>.batch` with a 20-digit sequence
//! number. A batch file is `SPQ1`, the CRC-32C of the payload (u32 little-endian), then the
//! payload: an OTLP `ExportTraceServiceRequest` in protobuf.
//! A batch is written to `<seq>.tmp` and renamed, so a crash leaves either the whole batch or
//! nothing; it is deleted once sent (or given up on). At start, what is left is sent again in
//! sequence order; a file that fails its checksum is renamed to `<seq>.corrupt` and counted.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use prost::Message;
use spoor_model::ResourceSpans;
use spoor_model::otlp_collector::ExportTraceServiceRequest;

use crate::extensions::FileStorageConfig;

const MAGIC: &[u8; 4] = b"SPQ1";

/// A batch found on disk at start.
pub struct Recovered {
    pub seq: u64,
    pub batch: Vec<ResourceSpans>,
}

/// What [`DiskQueue::open`] found.
pub struct Opened {
    pub queue: DiskQueue,
    pub recovered: Vec<Recovered>,
    /// Files that failed their checksum or did not decode, set aside as `<seq>.corrupt`.
    pub corrupt: u64,
}

/// One exporter's queue directory.
pub struct DiskQueue {
    dir: PathBuf,
    fsync: bool,
    next: AtomicU64,
    _lock: File,
}

/// The subdirectory name of a component, as the Collector's file_storage names it.
pub fn queue_dir_name(kind: &str, name: &str, signal: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{kind}_{safe}_{signal}")
}

fn batch_path(dir: &Path, seq: u64, ext: &str) -> PathBuf {
    dir.join(format!("{seq:020}.{ext}"))
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

impl DiskQueue {
    /// Opens (and locks) the queue directory of `exporter`, and reads what an earlier run left.
    pub fn open(storage: &FileStorageConfig, exporter: &str) -> Result<Opened, String> {
        let root = PathBuf::from(&storage.directory);
        if !root.is_dir() {
            if !storage.create_directory {
                return Err(format!(
                    "file_storage directory {} does not exist; create it or set create_directory: true",
                    root.display()
                ));
            }
            let mode = storage.permissions()?;
            use std::os::unix::fs::DirBuilderExt;
            fs::DirBuilder::new()
                .recursive(true)
                .mode(mode)
                .create(&root)
                .map_err(|e| format!("cannot create {}: {e}", root.display()))?;
        }
        let dir = root.join(queue_dir_name("exporter", exporter, "traces"));
        fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let lock = lock(&dir, storage.timeout.get())?;
        let mut recovered = Vec::new();
        let mut corrupt = 0;
        let entries =
            fs::read_dir(&dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        let mut seqs = Vec::new();
        let mut max_seen = 0;
        for entry in entries.flatten() {
            let path = entry.path();
            let Some((stem, ext)) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.split_once('.'))
            else {
                continue;
            };
            let Ok(seq) = stem.parse::<u64>() else {
                continue;
            };
            max_seen = max_seen.max(seq);
            match ext {
                "batch" => seqs.push(seq),
                // A write that did not finish: that batch was never acknowledged.
                "tmp" => {
                    let _ = fs::remove_file(&path);
                }
                _ => {}
            }
        }
        seqs.sort_unstable();
        for seq in seqs {
            let path = batch_path(&dir, seq, "batch");
            match read_batch(&path) {
                Ok(batch) => recovered.push(Recovered { seq, batch }),
                Err(e) => {
                    corrupt += 1;
                    tracing::error!(file = %path.display(), error = %e, "persistent queue: damaged batch set aside");
                    let _ = fs::rename(&path, batch_path(&dir, seq, "corrupt"));
                }
            }
        }
        Ok(Opened {
            queue: DiskQueue {
                dir,
                fsync: storage.fsync,
                next: AtomicU64::new(max_seen + 1),
                _lock: lock,
            },
            recovered,
            corrupt,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes a batch; once this returns, the batch survives a crash of the process (and a
    /// power loss with `fsync`).
    pub fn put(&self, batch: &[ResourceSpans]) -> std::io::Result<u64> {
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        let payload = ExportTraceServiceRequest {
            resource_spans: batch.to_vec(),
        }
        .encode_to_vec();
        let tmp = batch_path(&self.dir, seq, "tmp");
        let result = (|| {
            let mut f = File::create(&tmp)?;
            let mut header = Vec::with_capacity(8);
            header.extend_from_slice(MAGIC);
            header.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
            f.write_all(&header)?;
            f.write_all(&payload)?;
            if self.fsync {
                f.sync_all()?;
            }
            fs::rename(&tmp, batch_path(&self.dir, seq, "batch"))?;
            if self.fsync {
                sync_dir(&self.dir)?;
            }
            Ok(seq)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Forgets a batch that was sent or given up on.
    pub fn remove(&self, seq: u64) {
        let path = batch_path(&self.dir, seq, "batch");
        if let Err(e) = fs::remove_file(&path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::error!(file = %path.display(), error = %e, "persistent queue: cannot delete a sent batch; it will be sent again after a restart");
        }
    }
}

fn lock(dir: &Path, timeout: std::time::Duration) -> Result<File, String> {
    let path = dir.join("LOCK");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let started = std::time::Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(fs::TryLockError::WouldBlock) if started.elapsed() < timeout => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(fs::TryLockError::WouldBlock) => {
                return Err(format!(
                    "{} is in use by another process (waited {:?})",
                    dir.display(),
                    timeout
                ));
            }
            Err(fs::TryLockError::Error(e)) => {
                return Err(format!("cannot lock {}: {e}", path.display()));
            }
        }
    }
}

fn read_batch(path: &Path) -> Result<Vec<ResourceSpans>, String> {
    let bytes = fs::read(path).map_err(|e| e.to_string())?;
    if bytes.len() < 8 || &bytes[..4] != MAGIC {
        return Err("not a queued batch (bad header)".to_string());
    }
    let mut crc = [0u8; 4];
    crc.copy_from_slice(&bytes[4..8]);
    let payload = &bytes[8..];
    if crc32c::crc32c(payload) != u32::from_le_bytes(crc) {
        return Err("checksum mismatch".to_string());
    }
    ExportTraceServiceRequest::decode(payload)
        .map(|r| r.resource_spans)
        .map_err(|e| format!("undecodable batch: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn storage(dir: &Path) -> FileStorageConfig {
        FileStorageConfig {
            directory: dir.to_string_lossy().into_owned(),
            timeout: crate::config::Duration::from_millis(100),
            ..FileStorageConfig::default()
        }
    }

    fn batch(name: &str) -> Vec<ResourceSpans> {
        vec![ResourceSpans {
            scope_spans: vec![spoor_model::ScopeSpans {
                spans: vec![spoor_model::Span {
                    trace_id: vec![1; 16],
                    span_id: vec![2; 8],
                    name: name.to_string(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }]
    }

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "spoor-pq-{name}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn batches_survive_a_reopen_in_order_and_sent_ones_are_gone() {
        let root = temp("reopen");
        fs::create_dir_all(&root).expect("mkdir");
        let s = storage(&root);
        {
            let opened = DiskQueue::open(&s, "otlp/b").expect("open");
            assert!(opened.recovered.is_empty());
            let q = opened.queue;
            let a = q.put(&batch("a")).expect("put a");
            q.put(&batch("b")).expect("put b");
            q.put(&batch("c")).expect("put c");
            q.remove(a);
        }
        let opened = DiskQueue::open(&s, "otlp/b").expect("reopen");
        let names: Vec<_> = opened
            .recovered
            .iter()
            .map(|r| r.batch[0].scope_spans[0].spans[0].name.clone())
            .collect();
        assert_eq!(names, ["b", "c"]);
        assert!(opened.queue.dir().ends_with("exporter_otlp_b_traces"));
        // New batches get numbers after the recovered ones.
        let seq = opened.queue.put(&batch("d")).expect("put d");
        assert!(opened.recovered.iter().all(|r| r.seq < seq));
        drop(opened);
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn a_damaged_batch_is_set_aside_and_a_torn_write_ignored() {
        let root = temp("damaged");
        fs::create_dir_all(&root).expect("mkdir");
        let s = storage(&root);
        let dir = {
            let q = DiskQueue::open(&s, "otlp").expect("open").queue;
            let bad = q.put(&batch("bad")).expect("put");
            q.put(&batch("good")).expect("put");
            let path = batch_path(q.dir(), bad, "batch");
            let mut bytes = fs::read(&path).expect("read");
            let last = bytes.len() - 1;
            bytes[last] ^= 0xff;
            fs::write(&path, bytes).expect("write");
            fs::write(batch_path(q.dir(), 99, "tmp"), b"SPQ1half").expect("tmp");
            q.dir().to_path_buf()
        };
        let opened = DiskQueue::open(&s, "otlp").expect("reopen");
        assert_eq!(opened.corrupt, 1);
        assert_eq!(opened.recovered.len(), 1);
        assert_eq!(
            opened.recovered[0].batch[0].scope_spans[0].spans[0].name,
            "good"
        );
        assert!(!batch_path(&dir, 99, "tmp").exists());
        assert!(
            fs::read_dir(&dir)
                .expect("ls")
                .flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(".corrupt"))
        );
        drop(opened);
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn a_second_user_of_the_directory_waits_then_fails_clearly() {
        let root = temp("lock");
        fs::create_dir_all(&root).expect("mkdir");
        let s = storage(&root);
        let first = DiskQueue::open(&s, "otlp").expect("open");
        let err = DiskQueue::open(&s, "otlp").err().expect("locked");
        assert!(err.contains("in use by another process"), "{err}");
        drop(first);
        assert!(DiskQueue::open(&s, "otlp").is_ok());
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn a_missing_directory_is_an_error_unless_create_directory() {
        let root = temp("missing");
        let mut s = storage(&root);
        let err = DiskQueue::open(&s, "otlp").err().expect("missing");
        assert!(err.contains("does not exist"), "{err}");
        s.create_directory = true;
        assert!(DiskQueue::open(&s, "otlp").is_ok());
        let _ = fs::remove_dir_all(&root);
    }
}
