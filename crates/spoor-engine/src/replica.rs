//! A read-only engine: a query-only process on a store another process writes (the same data
//! directory, or the same bucket). It takes no `LOCK`, opens no WAL, and changes nothing in
//! the store (no cut, compaction, retention, repair or quarantine); it finds the blocks the
//! writer commits by reloading the manifest every `manifest_poll_interval`. It serves what the
//! writer has cut into blocks: spans still in the writer's head appear after the writer's next
//! cut and this process's next poll.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};
use spoor_storage::StorageError;
use spoor_telemetry::Telemetry;
use tokio::sync::Notify;

use crate::block::{Blocks, register_key_errors};
use crate::catalog::Catalog;
use crate::config::{ClusterRole, EngineConfig};
use crate::engine::{Engine, Inner, RecoveryReport};
use crate::head::Head;
use crate::manifest::ManifestStore;
use crate::metrics::Metrics;
use crate::wal::{self, WalHandle};

impl Engine {
    /// Opens the store read-only (see the module docs); `Engine::open` calls it when
    /// `config.read_only` is set.
    pub(crate) async fn open_read_only(
        config: EngineConfig,
        telemetry: &Telemetry,
    ) -> Result<Engine, StorageError> {
        let opened = crate::store::open_store(&config)?;
        let (object_store, prefix) = (opened.store.clone(), opened.prefix.clone());
        let manifests = ManifestStore {
            store: opened.store,
            prefix: opened.prefix,
            local: opened.local,
            log: None,
            keys: config.keys.clone(),
        };
        let metrics = Metrics::default();
        metrics.register(telemetry);
        // Every node's log merged (just the one log when a single process writes).
        let manifest = crate::cluster::load_view(&manifests).await?;
        let lease = (config.cluster_role == ClusterRole::Compact).then(|| {
            crate::cluster::Lease::new(&manifests.prefix, &config.node_id, config.lease_ttl)
        });
        let catalog = Arc::new(RwLock::new(Catalog::from_entries(&manifest.catalog)));
        let shared = Arc::new(wal::Shared {
            head: RwLock::new(Head::default()),
            poisoned: AtomicBool::new(false),
            wal_bytes: AtomicU64::new(0),
            clock: config.clock.clone(),
            catalog: catalog.clone(),
            frozen: RwLock::new(Vec::new()),
        });
        let inner = Arc::new(Inner {
            blocks: Blocks::new(
                object_store,
                prefix,
                metrics.undecodable_rows.clone(),
                config.keys.clone(),
            ),
            wal_dir: config.data_dir.join("wal"),
            wal: WalHandle::none(),
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
            _lock: None,
            lease,
            recovery: RecoveryReport::default(),
            config,
        });
        register_key_errors(&inner.blocks, telemetry);
        inner.update_gauges();
        let background = inner.config.background.then(|| {
            let inner = inner.clone();
            if inner.lease.is_some() {
                tokio::spawn(async move { inner.run_compactor().await })
            } else {
                tokio::spawn(async move { inner.poll_manifest().await })
            }
        });
        tracing::info!(
            manifest_version = inner.manifest.read().version,
            poll_interval = ?inner.config.manifest_poll_interval,
            "storage engine open read-only"
        );
        Ok(Engine {
            inner,
            background: Mutex::new(background),
        })
    }

    /// Reloads the manifest now; whether a newer version was found. What a read-only engine
    /// does every `manifest_poll_interval`.
    pub async fn refresh_manifest(&self) -> Result<bool, StorageError> {
        self.inner.refresh_manifest().await
    }
}

impl Inner {
    /// Switches to the newest readable manifest if it is newer than the current one.
    pub(crate) async fn refresh_manifest(&self) -> Result<bool, StorageError> {
        let latest = crate::cluster::load_view(&self.manifests).await?;
        let current = self.manifest.read().clone();
        if latest.version == current.version {
            return Ok(false);
        }
        *self.catalog.write() = Catalog::from_entries(&latest.catalog);
        let live: std::collections::HashSet<&str> =
            latest.blocks.iter().map(|b| b.id.as_str()).collect();
        for b in current
            .blocks
            .iter()
            .filter(|b| !live.contains(b.id.as_str()))
        {
            self.blocks.evict(&b.id);
        }
        tracing::debug!(
            from = current.version,
            to = latest.version,
            "read-only engine switched to a newer manifest"
        );
        *self.manifest.write() = Arc::new(latest);
        self.metrics.manifest_refreshes.inc();
        self.update_gauges();
        Ok(true)
    }

    async fn poll_manifest(self: Arc<Self>) {
        let every = self.config.manifest_poll_interval;
        while !self.closed.load(Ordering::SeqCst) {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = self.wake.notified() => {}
            }
            if self.closed.load(Ordering::SeqCst) {
                break;
            }
            if let Err(e) = self.refresh_manifest().await {
                tracing::warn!(error = %e, "reloading the manifest failed; will retry");
            }
        }
    }
}
