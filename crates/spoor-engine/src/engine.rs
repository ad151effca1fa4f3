//! The engine: opening (recovery), the write path and shutdown. Reads are in `read.rs`,
//! cut/compaction/retention/quarantine in `maintenance.rs`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};
use spoor_model::{ResourceSpans, span_count};
use spoor_storage::{SpanWriter, StorageError};
use spoor_telemetry::Telemetry;
use tokio::sync::Notify;

use crate::block::{Blocks, register_key_errors};
use crate::catalog::Catalog;
use crate::config::{ClusterRole, EngineConfig};
use crate::error::io;
use crate::head::Head;
use crate::manifest::{Manifest, ManifestStore};
use crate::metrics::Metrics;
use crate::wal::{self, WalHandle, WalWriter};

/// How long a write waits for room in a full head before it is refused (see
/// `Inner::wait_for_head_room`): about one 64 MiB cut on a busy 2-core machine, and well
/// inside the 5–10 s export timeouts of the Collector and the OTel SDKs.
pub(crate) const HEAD_FULL_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// A head cut from the WAL and waiting to become a block; still served to readers.
pub(crate) struct Frozen {
    /// The last WAL segment whose records it holds.
    pub(crate) seq: u64,
    pub(crate) head: Arc<Head>,
}

pub(crate) struct Inner {
    pub(crate) config: EngineConfig,
    pub(crate) wal_dir: PathBuf,
    pub(crate) wal: WalHandle,
    pub(crate) shared: Arc<wal::Shared>,
    pub(crate) manifest: RwLock<Arc<Manifest>>,
    pub(crate) manifests: ManifestStore,
    pub(crate) blocks: Blocks,
    pub(crate) catalog: Arc<RwLock<Catalog>>,
    /// Serialises everything that changes the manifest.
    pub(crate) maintenance: tokio::sync::Mutex<()>,
    pub(crate) metrics: Metrics,
    pub(crate) next_id: AtomicU64,
    pub(crate) wake: Notify,
    /// Woken when a frozen head has become a block (its memory is free) and at shutdown:
    /// writes waiting for room in a full head (see `SpanWriter::write`) look again.
    pub(crate) head_room: Notify,
    pub(crate) closed: AtomicBool,
    /// What opening recovered.
    pub(crate) recovery: RecoveryReport,
    /// Blocks switched out of the manifest, with the snapshot that still named them; deleted
    /// once no reader holds that snapshot (see `Inner::retire`).
    pub(crate) retired: Mutex<std::collections::VecDeque<(Arc<Manifest>, Vec<String>)>>,
    /// Test hook: fail compaction after writing its output, before the manifest commit.
    pub(crate) crash_before_commit: AtomicBool,
    /// Head memory per span of the last block cut (0 before the first): what compaction
    /// expects the spans it merges to take (see `Inner::compaction_room`).
    pub(crate) head_bytes_per_span: AtomicU64,
    /// The exclusive lock on `<data_dir>/LOCK`, held while the engine is open (a read-only
    /// engine takes none).
    pub(crate) _lock: Option<std::fs::File>,
    /// The compactor lease (`ClusterRole::Compact` only).
    pub(crate) lease: Option<crate::cluster::Lease>,
}

/// The durable storage engine. See the crate docs.
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
    pub(crate) background: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// What opening found while recovering.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    pub wal_segments: u64,
    pub wal_records: u64,
    pub wal_corrupt_records: u64,
    pub wal_torn_bytes: u64,
    /// Block files present in the store but not in the manifest (left by a crash), moved to
    /// `quarantine/` (only those older than `orphan_grace`).
    pub orphan_blocks: u64,
    /// WAL segments that could not be read at all, moved to `wal/damaged/`.
    pub wal_segments_moved_aside: u64,
    /// WAL segments whose magic was wrong (their intact records were still replayed).
    pub wal_bad_headers: u64,
    /// What the store needed (rebuild, missing blocks, orphans).
    pub repair: crate::RepairReport,
}

/// Takes the exclusive lock on `<data_dir>/LOCK` for the life of the process (released by
/// the OS when the process ends, also on `kill -9`).
pub(crate) fn lock_data_dir(dir: &std::path::Path) -> Result<std::fs::File, StorageError> {
    let path = dir.join("LOCK");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| io(&path, e))?;
    match file.try_lock() {
        Ok(()) => {
            use std::io::Write as _;
            let _ = file.set_len(0);
            let _ = (&file).write_all(format!("{}\n", std::process::id()).as_bytes());
            Ok(file)
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            let holder = holder.trim();
            Err(StorageError::Unavailable(format!(
                "data dir {} is in use by another spoor process{} (lock {} is held); \
                 stop that process or choose another --data-dir",
                dir.display(),
                if holder.is_empty() {
                    String::new()
                } else {
                    format!(" (pid {holder})")
                },
                path.display()
            )))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(io(&path, e)),
    }
}

impl Engine {
    /// Opens (or creates) the engine: loads the manifest, deletes orphan blocks, replays the
    /// WAL past the last block (cutting a torn tail, skipping and counting corrupt records) and
    /// starts the WAL thread and, if configured, the background maintenance task.
    pub async fn open(config: EngineConfig, telemetry: &Telemetry) -> Result<Engine, StorageError> {
        if config.read_only || config.cluster_role == ClusterRole::Compact {
            // The compactor writes no spans: no WAL, no LOCK (see `crate::cluster`).
            let config = EngineConfig {
                read_only: true,
                ..config
            };
            return Engine::open_read_only(config, telemetry).await;
        }
        std::fs::create_dir_all(&config.data_dir).map_err(|e| io(&config.data_dir, e))?;
        let lock = lock_data_dir(&config.data_dir)?;
        let wal_dir = config.data_dir.join("wal");
        std::fs::create_dir_all(&wal_dir).map_err(|e| io(&wal_dir, e))?;
        let opened = crate::store::open_store(&config)?;
        let (object_store, prefix) = (opened.store.clone(), opened.prefix.clone());
        let manifests = ManifestStore {
            store: opened.store,
            prefix: opened.prefix,
            local: opened.local,
            // An ingest node commits to its own log (see `crate::cluster`).
            log: (config.cluster_role == ClusterRole::Ingest)
                .then(|| crate::cluster::node_log(&config.node_id)),
            keys: config.keys.clone(),
        };
        if config.cluster_role == ClusterRole::Ingest {
            crate::cluster::check_node_id(&config.node_id)?;
        }
        let metrics = Metrics::default();
        metrics.register(telemetry);
        // Rebuilds the block list when the newest manifest is unreadable, drops blocks whose
        // files are missing, moves old orphans to quarantine/. Never deletes a block file.
        let (manifest, repaired) = crate::repair::recover(&manifests, config.orphan_grace, false)
            .await
            .map_err(|e| {
                StorageError::Unavailable(format!(
                    "the store cannot be brought into service: {e}; \
                     `spoor tool repair --dry-run` (with the same --data-dir/--storage-url) \
                     shows what is damaged"
                ))
            })?;
        metrics
            .missing_blocks
            .inc_by(repaired.missing_blocks.len() as u64);
        let report = RecoveryReport {
            orphan_blocks: repaired.quarantined_orphans.len() as u64,
            repair: repaired,
            ..RecoveryReport::default()
        };

        let catalog = Arc::new(RwLock::new(Catalog::from_entries(&manifest.catalog)));
        let now = config.clock.now_unix_nanos();
        let (head, last_seq, wal_bytes, report) = {
            let (dir, cat, checkpoint) =
                (wal_dir.clone(), catalog.clone(), manifest.wal_checkpoint);
            let keys = config.keys.clone();
            tokio::task::spawn_blocking(move || {
                replay_wal(&dir, checkpoint, &cat, now, report, &keys)
            })
            .await
            .map_err(crate::error::internal)??
        };
        if report.wal_corrupt_records > 0
            || report.wal_torn_bytes > 0
            || report.wal_segments_moved_aside > 0
        {
            tracing::warn!(?report, "wal recovery skipped damaged records");
        }
        metrics
            .wal_corrupt_records
            .inc_by(report.wal_corrupt_records);
        metrics.wal_torn_bytes.inc_by(report.wal_torn_bytes);
        metrics
            .wal_segments_moved_aside
            .inc_by(report.wal_segments_moved_aside);
        metrics.head_spans.set(head.len() as i64);

        let shared = Arc::new(wal::Shared {
            head: RwLock::new(head),
            poisoned: AtomicBool::new(false),
            wal_bytes: AtomicU64::new(wal_bytes),
            clock: config.clock.clone(),
            catalog: catalog.clone(),
            frozen: RwLock::new(Vec::new()),
        });
        let writer = WalWriter::create(&wal_dir, last_seq + 1, config.wal_fsync, shared.clone())?
            .with_keys(config.keys.clone());
        let wal = WalHandle::start(writer)?;
        let inner = Arc::new(Inner {
            blocks: Blocks::new(
                object_store,
                prefix,
                metrics.undecodable_rows.clone(),
                config.keys.clone(),
            ),
            wal_dir,
            wal,
            shared,
            manifest: RwLock::new(Arc::new(manifest)),
            manifests,
            catalog,
            maintenance: tokio::sync::Mutex::new(()),
            metrics,
            next_id: AtomicU64::new(0),
            wake: Notify::new(),
            head_room: Notify::new(),
            closed: AtomicBool::new(false),
            crash_before_commit: AtomicBool::new(false),
            head_bytes_per_span: AtomicU64::new(0),
            retired: Mutex::new(std::collections::VecDeque::new()),
            _lock: Some(lock),
            lease: None,
            recovery: report.clone(),
            config,
        });
        register_key_errors(&inner.blocks, telemetry);
        inner.update_gauges();
        let background = inner.config.background.then(|| {
            let inner = inner.clone();
            tokio::spawn(async move { inner.run_background().await })
        });
        tracing::info!(?report, "storage engine open");
        Ok(Engine {
            inner,
            background: Mutex::new(background),
        })
    }

    /// Cuts the head into a block now (if it holds anything) and commits it.
    pub async fn flush(&self) -> Result<(), StorageError> {
        self.inner.cut(true).await
    }

    /// Runs one round of background work: cut if due, retention, compaction. Tests call this
    /// with a [`crate::ManualClock`] instead of running the background task.
    pub async fn maintain(&self) -> Result<(), StorageError> {
        if self.inner.config.read_only {
            return self.inner.compactor_round().await;
        }
        self.inner.maintain().await
    }

    /// What opening found and repaired (WAL records replayed, corrupt and torn, orphans).
    pub fn recovery(&self) -> &RecoveryReport {
        &self.inner.recovery
    }

    /// The current manifest.
    pub fn manifest(&self) -> Arc<Manifest> {
        self.inner.manifest.read().clone()
    }

    /// Stops background work, flushes the head to a block (falling back to an fsync of the
    /// WAL if that fails) and stops the WAL thread. Writes after this fail.
    pub async fn shutdown(&self) -> Result<(), StorageError> {
        if self.inner.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        self.inner.wake.notify_one();
        self.inner.head_room.notify_waiters();
        let task = self.background.lock().take();
        if let Some(task) = task {
            let _ = task.await;
        }
        let flushed = self.inner.cut(true).await;
        if flushed.is_err() {
            let _ = self.inner.wal.sync().await;
        }
        // Blocks switched out by compaction and retention that no read still holds: deleted
        // now rather than left for the next start to find as orphans.
        self.inner.reap_retired_now().await;
        let inner = self.inner.clone();
        let _ = tokio::task::spawn_blocking(move || inner.wal.stop()).await;
        flushed
    }

    #[doc(hidden)]
    /// Test hook: makes the next compaction stop after writing its output block, before the
    /// manifest commit, as a crash there would.
    pub fn fail_compaction_before_commit(&self, on: bool) {
        self.inner.crash_before_commit.store(on, Ordering::SeqCst);
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Some(task) = self.background.lock().take() {
            task.abort();
        }
        // The WAL thread ends when its channel closes; it syncs on the way out.
        self.inner.closed.store(true, Ordering::SeqCst);
        self.inner.head_room.notify_waiters();
    }
}

/// Replays the segments after `checkpoint` into a new head (deleting those up to it). A
/// record's spans are copied into the head as they are encoded, not decoded; the catalog is
/// fed from the fields read in place. Returns the head, the last segment number, the WAL bytes
/// kept and the report.
fn replay_wal(
    dir: &std::path::Path,
    checkpoint: u64,
    catalog: &RwLock<Catalog>,
    now: u64,
    mut report: RecoveryReport,
    keys: &crate::crypto::Keyring,
) -> Result<(Head, u64, u64, RecoveryReport), StorageError> {
    let mut head = Head::default();
    let mut last_seq = checkpoint;
    let mut wal_bytes = 0u64;
    for seq in wal::list_segments(dir)? {
        let path = wal::segment_path(dir, seq);
        last_seq = last_seq.max(seq);
        if seq <= checkpoint {
            std::fs::remove_file(&path).map_err(|e| io(&path, e))?;
            continue;
        }
        report.wal_segments += 1;
        let mut catalog = catalog.write();
        let stats = wal::replay_segment_keyed(&path, true, keys, |payload| {
            // The scan checked that the payload walks.
            let _ = head.insert_payload(
                payload,
                payload.len() as u64,
                now,
                |service, name, kind, start| catalog.see(service, name, kind, start),
            );
        })?;
        drop(catalog);
        wal_bytes += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        report.wal_records += stats.records;
        report.wal_corrupt_records += stats.corrupt_records;
        report.wal_torn_bytes += stats.torn_bytes;
        report.wal_segments_moved_aside += u64::from(stats.moved_aside);
        report.wal_bad_headers += u64::from(stats.bad_header);
    }
    Ok((head, last_seq, wal_bytes, report))
}

impl Inner {
    pub(crate) fn update_gauges(&self) {
        let m = self.manifest.read();
        self.metrics.blocks.set(m.blocks.len() as i64);
        self.metrics
            .block_bytes
            .set(m.blocks.iter().map(|b| b.size_bytes).sum::<u64>() as i64);
        // One lock at a time: the WAL thread takes `frozen`, then `head`.
        let (live, live_mem) = {
            let h = self.shared.head.read();
            (h.len(), h.memory_bytes())
        };
        let (frozen, frozen_mem) = self.shared.frozen.read().iter().fold((0, 0), |(n, m), f| {
            (n + f.head.len(), m + f.head.memory_bytes())
        });
        self.metrics.head_spans.set((live + frozen) as i64);
        self.metrics.head_memory.set((live_mem + frozen_mem) as i64);
        self.metrics
            .wal_bytes
            .set(self.shared.wal_bytes.load(Ordering::Relaxed) as i64);
    }

    /// Memory held by the live head and the frozen ones (see [`Head::memory_bytes`]).
    fn head_memory(&self) -> u64 {
        // One lock at a time (see `update_gauges`).
        let frozen = self
            .shared
            .frozen
            .read()
            .iter()
            .map(|f| f.head.memory_bytes())
            .sum::<u64>();
        frozen + self.shared.head.read().memory_bytes()
    }

    /// Waits until the head holds no more than its budget: a write that finds it full waits
    /// for a cut to free memory (up to [`HEAD_FULL_WAIT`], counted in
    /// `spoor_engine_head_full_waits_total`) instead of being refused at once, so a client is
    /// not sent into its retry back-off (and the request decoded again) for what a cut frees
    /// in a second. Refuses with `Full` when the head is still full after the wait, or at once
    /// without background maintenance (nothing would cut it).
    async fn wait_for_head_room(&self) -> Result<(), StorageError> {
        let limit = self.config.head_memory_budget();
        let deadline = tokio::time::Instant::now() + HEAD_FULL_WAIT;
        let mut waited = false;
        loop {
            let room = self.head_room.notified();
            tokio::pin!(room);
            // Registered before the check, so a cut finishing in between is not missed.
            room.as_mut().enable();
            if self.head_memory() <= limit {
                return Ok(());
            }
            self.wake.notify_one();
            let closed = self.closed.load(Ordering::SeqCst);
            if !waited && self.config.background && !closed {
                waited = true;
                self.metrics.head_full_waits.inc();
            }
            if !self.config.background
                || closed
                || tokio::time::timeout_at(deadline, room).await.is_err()
            {
                self.metrics.head_full_refusals.inc();
                return Err(StorageError::Full(format!(
                    "the head holds more than its {} MiB of memory; blocks are not being \
                     written fast enough",
                    limit >> 20
                )));
            }
        }
    }

    async fn run_background(self: Arc<Self>) {
        let every = self.config.maintenance_interval;
        self.warm_blocks().await;
        while !self.closed.load(Ordering::SeqCst) {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = self.wake.notified() => {}
            }
            if self.closed.load(Ordering::SeqCst) {
                break;
            }
            if let Err(e) = self.maintain().await {
                tracing::warn!(error = %e, "storage maintenance failed; will retry");
            }
            self.warm_blocks().await;
        }
    }
}

#[async_trait::async_trait]
impl SpanWriter for Engine {
    /// Appends the batch to the WAL (group commit) and the head; resolves once it is in the
    /// WAL as the fsync policy promises and visible to readers. When the head holds more
    /// memory than its budget (two cuts, at most its share of the memory
    /// limit) the write waits for a cut to free room, and is refused with `Full` when blocks
    /// are not written fast enough for that (see `Inner::wait_for_head_room`); `Unavailable`
    /// after a failed fsync or shutdown.
    async fn write(&self, batch: Vec<ResourceSpans>) -> Result<(), StorageError> {
        let inner = &self.inner;
        if inner.config.read_only {
            return Err(StorageError::Unavailable(
                "this spoor process is read-only (--read-only): send spans to the writer".into(),
            ));
        }
        if inner.closed.load(Ordering::SeqCst) {
            return Err(StorageError::Unavailable("engine is shut down".to_string()));
        }
        inner.wait_for_head_room().await?;
        let spans = span_count(&batch) as u64;
        inner.wal.append(batch).await?;
        inner.metrics.spans_written.inc_by(spans);
        inner
            .metrics
            .wal_bytes
            .set(inner.shared.wal_bytes.load(Ordering::Relaxed) as i64);
        inner.metrics.head_memory.set(inner.head_memory() as i64);
        let head = inner.shared.head.read();
        inner.metrics.head_spans.set(head.len() as i64);
        if head.bytes >= inner.config.block_cut_bytes
            || head.memory_bytes() >= inner.config.cut_memory()
        {
            inner.wake.notify_one();
        }
        Ok(())
    }
}
