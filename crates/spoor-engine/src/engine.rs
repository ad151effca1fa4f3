//! The engine: opening (recovery), the write path and shutdown. Reads are in `read.rs`,
//! cut/compaction/retention/quarantine in `maintenance.rs`.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use parking_lot::{Mutex, RwLock};
use spoor_model::{ResourceSpans, span_count};
use spoor_storage::{SpanWriter, StorageError};
use spoor_telemetry::Telemetry;
use tokio::sync::Notify;

use crate::block::Blocks;
use crate::catalog::Catalog;
use crate::config::EngineConfig;
use crate::error::{io, store};
use crate::head::Head;
use crate::manifest::{Manifest, ManifestStore};
use crate::metrics::Metrics;
use crate::wal::{self, WalHandle, WalWriter};

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
    pub(crate) frozen: RwLock<Vec<Frozen>>,
    pub(crate) manifest: RwLock<Arc<Manifest>>,
    pub(crate) manifests: ManifestStore,
    pub(crate) blocks: Blocks,
    pub(crate) catalog: Arc<RwLock<Catalog>>,
    /// Serialises everything that changes the manifest.
    pub(crate) maintenance: tokio::sync::Mutex<()>,
    pub(crate) metrics: Metrics,
    pub(crate) next_id: AtomicU64,
    pub(crate) wake: Notify,
    pub(crate) closed: AtomicBool,
    /// What opening recovered.
    pub(crate) recovery: RecoveryReport,
    /// Test hook: fail compaction after writing its output, before the manifest commit.
    pub(crate) crash_before_commit: AtomicBool,
}

/// The durable storage engine. See the crate docs.
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
    background: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// What opening found while recovering.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    pub wal_segments: u64,
    pub wal_records: u64,
    pub wal_corrupt_records: u64,
    pub wal_torn_bytes: u64,
    /// Block files present in the store but not in the manifest (left by a crash), deleted.
    pub orphan_blocks: u64,
}

impl Engine {
    /// Opens (or creates) the engine: loads the manifest, deletes orphan blocks, replays the
    /// WAL past the last block (cutting a torn tail, skipping and counting corrupt records) and
    /// starts the WAL thread and, if configured, the background maintenance task.
    pub async fn open(config: EngineConfig, telemetry: &Telemetry) -> Result<Engine, StorageError> {
        let wal_dir = config.data_dir.join("wal");
        std::fs::create_dir_all(&wal_dir).map_err(|e| io(&wal_dir, e))?;
        let (object_store, prefix) = crate::store::open_store(&config)?;
        let manifests = ManifestStore {
            store: object_store.clone(),
            prefix: prefix.clone(),
        };
        let (manifest, _) = manifests.load().await?;
        let metrics = Metrics::default();
        metrics.register(telemetry);
        let mut report = RecoveryReport::default();

        // Orphans: block files no manifest version points at (a crash between writing a block
        // and committing the manifest). The live set is the current manifest's.
        let live: HashSet<String> = manifest.blocks.iter().map(|b| b.id.clone()).collect();
        let listed: Vec<_> = object_store
            .list(Some(&prefix.clone().join("blocks")))
            .try_collect()
            .await
            .map_err(|e| store("listing blocks", e))?;
        for obj in listed {
            let Some(id) = obj
                .location
                .filename()
                .and_then(|f| f.strip_suffix(".parquet"))
            else {
                continue;
            };
            if !live.contains(id) {
                report.orphan_blocks += 1;
                let _ = object_store.delete(&obj.location).await;
            }
        }

        let catalog = Arc::new(RwLock::new(Catalog::from_entries(&manifest.catalog)));
        let now = config.clock.now_unix_nanos();
        let (head, last_seq, wal_bytes, report) = {
            let (dir, cat, checkpoint) =
                (wal_dir.clone(), catalog.clone(), manifest.wal_checkpoint);
            tokio::task::spawn_blocking(move || replay_wal(&dir, checkpoint, &cat, now, report))
                .await
                .map_err(crate::error::internal)??
        };
        if report.wal_corrupt_records > 0 || report.wal_torn_bytes > 0 {
            tracing::warn!(?report, "wal recovery skipped damaged records");
        }
        metrics
            .wal_corrupt_records
            .inc_by(report.wal_corrupt_records);
        metrics.wal_torn_bytes.inc_by(report.wal_torn_bytes);
        metrics.head_spans.set(head.len() as i64);

        let cat = catalog.clone();
        let shared = Arc::new(wal::Shared {
            head: RwLock::new(head),
            poisoned: AtomicBool::new(false),
            wal_bytes: AtomicU64::new(wal_bytes),
            clock: config.clock.clone(),
            on_apply: Box::new(move |batch| cat.write().observe(batch)),
        });
        let writer = WalWriter::create(&wal_dir, last_seq + 1, config.wal_fsync, shared.clone())?;
        let wal = WalHandle::start(writer)?;
        let inner = Arc::new(Inner {
            blocks: Blocks::new(object_store, prefix),
            wal_dir,
            wal,
            shared,
            frozen: RwLock::new(Vec::new()),
            manifest: RwLock::new(Arc::new(manifest)),
            manifests,
            catalog,
            maintenance: tokio::sync::Mutex::new(()),
            metrics,
            next_id: AtomicU64::new(0),
            wake: Notify::new(),
            closed: AtomicBool::new(false),
            crash_before_commit: AtomicBool::new(false),
            recovery: report.clone(),
            config,
        });
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
        let task = self.background.lock().take();
        if let Some(task) = task {
            let _ = task.await;
        }
        let flushed = self.inner.cut(true).await;
        if flushed.is_err() {
            let _ = self.inner.wal.sync().await;
        }
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
    }
}

/// Replays the segments after `checkpoint` into a new head (deleting those up to it): one
/// thread reads and decodes records while this one applies them. Returns the head, the last
/// segment number, the WAL bytes kept and the report.
fn replay_wal(
    dir: &std::path::Path,
    checkpoint: u64,
    catalog: &RwLock<Catalog>,
    now: u64,
    mut report: RecoveryReport,
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
        let (tx, rx) = std::sync::mpsc::sync_channel(256);
        let stats = std::thread::scope(|scope| {
            let segment = path.clone();
            let reader = scope.spawn(move || {
                wal::replay_segment(&segment, true, |batch, bytes| {
                    let _ = tx.send((batch, bytes));
                })
            });
            // Ends when the reader is done and has dropped `tx`.
            for (batch, bytes) in rx {
                catalog.write().observe(&batch);
                head.insert_batch(batch, bytes, now);
            }
            reader
                .join()
                .map_err(|_| crate::error::internal("wal replay thread panicked"))?
        })?;
        wal_bytes += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        report.wal_records += stats.records;
        report.wal_corrupt_records += stats.corrupt_records;
        report.wal_torn_bytes += stats.torn_bytes;
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
        let head = self.shared.head.read().len()
            + self
                .frozen
                .read()
                .iter()
                .map(|f| f.head.len())
                .sum::<usize>();
        self.metrics.head_spans.set(head as i64);
        self.metrics
            .wal_bytes
            .set(self.shared.wal_bytes.load(Ordering::Relaxed) as i64);
    }

    fn head_bytes(&self) -> u64 {
        self.shared.head.read().bytes + self.frozen.read().iter().map(|f| f.head.bytes).sum::<u64>()
    }

    async fn run_background(self: Arc<Self>) {
        let every = self.config.maintenance_interval;
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
        }
    }
}

#[async_trait::async_trait]
impl SpanWriter for Engine {
    /// Appends the batch to the WAL (group commit) and the head; resolves once it is in the
    /// WAL as the fsync policy promises and visible to readers. Refuses with `Full` when the
    /// head holds four times the cut size (blocks cannot be written fast enough), and with
    /// `Unavailable` after a failed fsync or shutdown.
    async fn write(&self, batch: Vec<ResourceSpans>) -> Result<(), StorageError> {
        let inner = &self.inner;
        if inner.closed.load(Ordering::SeqCst) {
            return Err(StorageError::Unavailable("engine is shut down".to_string()));
        }
        let limit = inner.config.block_cut_bytes.saturating_mul(4);
        if inner.head_bytes() > limit {
            inner.wake.notify_one();
            return Err(StorageError::Full(format!(
                "head holds more than {limit} bytes; blocks are not being written fast enough"
            )));
        }
        let spans = span_count(&batch) as u64;
        inner.wal.append(batch).await?;
        inner.metrics.spans_written.inc_by(spans);
        let head = inner.shared.head.read();
        inner.metrics.head_spans.set(head.len() as i64);
        if head.bytes >= inner.config.block_cut_bytes {
            inner.wake.notify_one();
        }
        Ok(())
    }
}
