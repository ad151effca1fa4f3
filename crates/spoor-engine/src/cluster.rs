//! Scale-out on one shared store: several ingest nodes, query nodes and one compactor at a
//! time (`--role`; the design is in `docs/scale-out.md`).
//!
//! - Each ingest node commits only to its own manifest log, `manifest/nodes/<node-id>/`, so
//!   concurrent writers never race for a version: no node can lose another's blocks, even on
//!   a store without conditional writes.
//! - The compactor commits only to `manifest/compactor/`: its output blocks, and a tombstone
//!   for every block it replaced (merged or expired), whoever wrote it.
//! - Readers (query nodes, the compactor) merge every log: the union of their blocks minus
//!   the tombstoned ones, and the union of their catalogs.
//! - An ingest node drops tombstoned blocks from its own log at its next maintenance; the
//!   compactor deletes a tombstoned block's file once no node log names it and
//!   `delete_grace` has passed, then forgets the tombstone.
//! - Only the holder of the lease object `lease/compactor.json` compacts. The lease is taken
//!   and renewed with conditional writes (`PutMode::Create`, then `PutMode::Update` with the
//!   etag) and expires `lease_ttl` after its last renewal. A store that ignores the
//!   conditions (Garage 2.5 accepts `If-None-Match`/`If-Match` on PUT and overwrites anyway)
//!   is detected with a probe object; there a process that takes the lease reads it back
//!   after a settling delay and holds it only if its own write won.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use spoor_storage::StorageError;

use crate::engine::Inner;
use crate::error::{internal, store};
use crate::manifest::{
    BlockMeta, CatalogEntry, CatalogOp, Commit, Manifest, ManifestStore, Tombstone, block_path,
};

/// The compactor's manifest log under `manifest/`.
pub(crate) const COMPACTOR_LOG: &str = "compactor";

/// The manifest log of ingest node `node_id` under `manifest/`.
pub(crate) fn node_log(node_id: &str) -> String {
    format!("nodes/{node_id}")
}

/// A node id names a directory of the store: letters, digits, `.`, `_` and `-` only.
pub(crate) fn check_node_id(node_id: &str) -> Result<(), StorageError> {
    let ok = !node_id.is_empty()
        && node_id.len() <= 128
        && node_id != "."
        && node_id != ".."
        && node_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(StorageError::InvalidQuery(format!(
            "node id {node_id:?}: use 1 to 128 letters, digits, '.', '_' or '-'"
        )))
    }
}

/// The newest manifest of every log in the store: the single-writer log, each ingest node's
/// and the compactor's (`None` names the single-writer log).
pub(crate) async fn load_logs(
    root: &ManifestStore,
) -> Result<Vec<(Option<String>, Manifest)>, StorageError> {
    let nodes_dir = root.prefix.clone().join("manifest").join("nodes");
    let listed = root
        .store
        .list_with_delimiter(Some(&nodes_dir))
        .await
        .map_err(|e| store("listing node manifests", e))?;
    let mut logs = vec![None, Some(COMPACTOR_LOG.to_string())];
    let mut nodes: Vec<String> = listed
        .common_prefixes
        .iter()
        .filter_map(|p| p.filename().map(node_log))
        .collect();
    nodes.sort();
    logs.extend(nodes.into_iter().map(Some));
    let mut out = Vec::with_capacity(logs.len());
    for log in logs {
        let (m, _) = root.with_log(log.clone()).load().await?;
        out.push((log, m));
    }
    Ok(out)
}

/// The merged view: every log's blocks (once each) except the tombstoned ones, and the union
/// of the catalogs. Its version is the sum of the logs' versions, which grows whenever any log
/// commits.
pub(crate) fn merge(logs: &[(Option<String>, Manifest)]) -> Manifest {
    let gone: HashSet<&str> = logs
        .iter()
        .flat_map(|(_, m)| m.superseded.iter().map(|t| t.id.as_str()))
        .collect();
    let mut seen = HashSet::new();
    let mut blocks = Vec::new();
    let mut catalog: BTreeMap<CatalogOp, u64> = BTreeMap::new();
    for (_, m) in logs {
        for b in &m.blocks {
            if !gone.contains(b.id.as_str()) && seen.insert(b.id.clone()) {
                blocks.push(b.clone());
            }
        }
        for e in &m.catalog {
            let seen = catalog.entry(e.op.clone()).or_insert(e.last_seen);
            *seen = (*seen).max(e.last_seen);
        }
    }
    blocks.sort_by(|a, b| a.min_start.cmp(&b.min_start).then(a.id.cmp(&b.id)));
    Manifest {
        version: logs.iter().map(|(_, m)| m.version).sum(),
        format: crate::block::FORMAT_VERSION,
        blocks,
        wal_checkpoint: 0,
        catalog: catalog
            .into_iter()
            .map(|(op, last_seen)| CatalogEntry { op, last_seen })
            .collect(),
        superseded: Vec::new(),
    }
}

/// The merged view of every log under `root` (see [`merge`]).
pub(crate) async fn load_view(root: &ManifestStore) -> Result<Manifest, StorageError> {
    Ok(merge(&load_logs(root).await?))
}

/// Commits `change` applied to the newest version of `log` as the next version, retrying on
/// a conflict.
pub(crate) async fn commit_log(
    log: &ManifestStore,
    change: impl Fn(&mut Manifest),
) -> Result<Manifest, StorageError> {
    for _ in 0..8 {
        let (mut m, skipped) = log.load().await?;
        change(&mut m);
        m.version = m.version.max(skipped.first().copied().unwrap_or(0)) + 1;
        m.format = crate::block::FORMAT_VERSION;
        match log.commit(&m).await? {
            Commit::Done => {
                let _ = log.prune(m.version, 3).await;
                return Ok(m);
            }
            Commit::Conflict => continue,
        }
    }
    Err(StorageError::Unavailable(
        "the compactor's manifest commit kept conflicting with another compactor".into(),
    ))
}

#[derive(Serialize, Deserialize)]
struct LeaseBody {
    holder: String,
    /// Wall clock, unix milliseconds.
    expires_at_ms: u64,
}

/// The compactor lease (see the module docs).
pub(crate) struct Lease {
    path: Path,
    /// Unique per process: the node id, the process id and the start time.
    holder: String,
    ttl: Duration,
    /// Until when this process may act as the holder (local monotonic clock).
    held_until: Mutex<Option<Instant>>,
    /// The object written twice with `PutMode::Create` to learn whether the store honours it.
    probe: Path,
    /// Whether the store honours conditional writes; probed on the first round.
    conditional: Mutex<Option<bool>>,
}

fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Lease {
    pub(crate) fn new(prefix: &Path, node_id: &str, ttl: Duration) -> Lease {
        let unique = format!("{}-{}", std::process::id(), wall_ms());
        Lease {
            path: prefix.clone().join("lease").join("compactor.json"),
            holder: format!("{node_id}/{unique}"),
            ttl,
            held_until: Mutex::new(None),
            probe: prefix
                .clone()
                .join("lease")
                .join(format!("probe-{node_id}-{unique}")),
            conditional: Mutex::new(None),
        }
    }

    /// How long a taker waits before reading the lease back on a store without conditional
    /// writes: concurrent takers have all written by then and read the same last writer.
    fn settle(&self) -> Duration {
        (self.ttl / 10).clamp(Duration::from_millis(100), Duration::from_secs(2))
    }

    /// Whether the store refuses a second `PutMode::Create` of one object (asked once).
    async fn conditional(&self, s: &dyn ObjectStore) -> Result<bool, StorageError> {
        if let Some(known) = *self.conditional.lock() {
            return Ok(known);
        }
        let create = || PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        let put = |opts| s.put_opts(&self.probe, PutPayload::from_static(b"probe"), opts);
        let known = match put(create()).await {
            Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => match put(create()).await {
                Err(object_store::Error::AlreadyExists { .. })
                | Err(object_store::Error::Precondition { .. }) => true,
                Ok(_) | Err(object_store::Error::NotImplemented { .. }) => false,
                Err(e) => return Err(store("probing conditional writes", e)),
            },
            Err(object_store::Error::NotImplemented { .. }) => false,
            Err(e) => return Err(store("probing conditional writes", e)),
        };
        let _ = s.delete(&self.probe).await;
        if !known {
            tracing::warn!(
                "the store ignores conditional writes (If-None-Match/If-Match on PUT): the \
                 compactor lease falls back to writing and reading back after {:?}",
                self.settle()
            );
        }
        *self.conditional.lock() = Some(known);
        Ok(known)
    }

    /// Whether this process holds the lease with at least a quarter of its TTL left.
    pub(crate) fn held(&self) -> bool {
        self.held_until
            .lock()
            .is_some_and(|t| Instant::now() + self.ttl / 4 < t)
    }

    /// Takes the lease when it is free or expired, renews it when this process holds it.
    /// Returns whether this process holds it now.
    pub(crate) async fn try_hold(&self, s: &dyn ObjectStore) -> Result<bool, StorageError> {
        let conditional = self.conditional(s).await?;
        let started = Instant::now();
        let now = wall_ms();
        // Renewing a lease this process holds, as opposed to taking a free or expired one.
        let mut renewing = false;
        let mode = match s.get(&self.path).await {
            Err(object_store::Error::NotFound { .. }) => PutMode::Create,
            Err(e) => return Err(store("reading the compactor lease", e)),
            Ok(r) => {
                let meta = r.meta.clone();
                let bytes = r
                    .bytes()
                    .await
                    .map_err(|e| store("reading the compactor lease", e))?;
                let free = match serde_json::from_slice::<LeaseBody>(&bytes) {
                    Ok(b) => {
                        renewing = b.holder == self.holder && b.expires_at_ms >= now;
                        b.holder == self.holder || b.expires_at_ms < now
                    }
                    Err(_) => true,
                };
                if !free {
                    *self.held_until.lock() = None;
                    return Ok(false);
                }
                PutMode::Update(UpdateVersion {
                    e_tag: meta.e_tag,
                    version: meta.version,
                })
            }
        };
        let body = serde_json::to_vec(&LeaseBody {
            holder: self.holder.clone(),
            expires_at_ms: now + self.ttl.as_millis() as u64,
        })
        .map_err(internal)?;
        let opts = PutOptions {
            mode,
            ..PutOptions::default()
        };
        match s.put_opts(&self.path, PutPayload::from(body), opts).await {
            Ok(_) => {
                if !renewing && !conditional && !self.won(s).await? {
                    *self.held_until.lock() = None;
                    return Ok(false);
                }
                let was = self.held_until.lock().replace(started + self.ttl);
                if was.is_none() {
                    tracing::info!(holder = %self.holder, "took the compactor lease");
                }
                Ok(true)
            }
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. }) => {
                *self.held_until.lock() = None;
                Ok(false)
            }
            Err(e @ object_store::Error::NotImplemented { .. }) => {
                *self.held_until.lock() = None;
                Err(StorageError::Unavailable(format!(
                    "the store does not support conditional writes, which the compactor lease \
                     needs: {e}"
                )))
            }
            Err(e) => {
                *self.held_until.lock() = None;
                Err(store("writing the compactor lease", e))
            }
        }
    }
}

impl Lease {
    /// After a settling delay, whether the lease names this process (the last writer won).
    async fn won(&self, s: &dyn ObjectStore) -> Result<bool, StorageError> {
        tokio::time::sleep(self.settle()).await;
        let r = s
            .get(&self.path)
            .await
            .map_err(|e| store("reading the compactor lease back", e))?;
        let bytes = r
            .bytes()
            .await
            .map_err(|e| store("reading the compactor lease back", e))?;
        let ours =
            serde_json::from_slice::<LeaseBody>(&bytes).is_ok_and(|b| b.holder == self.holder);
        if !ours {
            tracing::info!(holder = %self.holder, "another compactor took the lease at the same time");
        }
        Ok(ours)
    }
}

impl Inner {
    fn compactor_log(&self) -> ManifestStore {
        self.manifests.with_log(Some(COMPACTOR_LOG.to_string()))
    }

    /// Switches a compactor's tombstoned blocks out: `ids` replaced by `output` in the
    /// compactor's log, tombstones for `ids`, and the merged view reloaded.
    pub(crate) async fn compactor_replace(
        &self,
        ids: &[String],
        output: Option<&BlockMeta>,
    ) -> Result<(), StorageError> {
        let at = self.config.clock.now_unix_nanos();
        commit_log(&self.compactor_log(), |m| {
            m.blocks.retain(|b| !ids.contains(&b.id));
            if let Some(out) = output {
                m.blocks.push(out.clone());
            }
            let known: HashSet<String> = m.superseded.iter().map(|t| t.id.clone()).collect();
            for id in ids.iter().filter(|id| !known.contains(*id)) {
                m.superseded.push(Tombstone { id: id.clone(), at });
            }
            m.catalog.clear();
        })
        .await?;
        self.refresh_manifest().await?;
        Ok(())
    }

    /// One round of the compactor: renew or take the lease; while holding it, reload the
    /// view, apply retention, compact one group and delete replaced files no node names.
    pub(crate) async fn compactor_round(&self) -> Result<(), StorageError> {
        let Some(lease) = &self.lease else {
            return self.refresh_manifest().await.map(|_| ());
        };
        let held = lease.try_hold(self.blocks.store.as_ref()).await;
        self.metrics
            .lease_held
            .set(i64::from(*held.as_ref().unwrap_or(&false)));
        let refreshed = self.refresh_manifest().await;
        if !held? || !lease.held() {
            return refreshed.map(|_| ());
        }
        refreshed?;
        self.retention().await?;
        if self.config.compaction.enabled && lease.held() {
            self.compact().await?;
        }
        if lease.held() {
            self.delete_replaced().await?;
        }
        Ok(())
    }

    /// Deletes files of tombstoned blocks older than `delete_grace` that no node log names
    /// any more, and forgets their tombstones.
    async fn delete_replaced(&self) -> Result<(), StorageError> {
        let log = self.compactor_log();
        let (own, _) = log.load().await?;
        let now = self.config.clock.now_unix_nanos();
        let grace = self.config.delete_grace.as_nanos() as u64;
        let due: Vec<&Tombstone> = own
            .superseded
            .iter()
            .filter(|t| now.saturating_sub(t.at) >= grace)
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        let logs = load_logs(&self.manifests).await?;
        let named: HashSet<&str> = logs
            .iter()
            .filter(|(l, _)| l.as_deref() != Some(COMPACTOR_LOG))
            .flat_map(|(_, m)| m.blocks.iter().map(|b| b.id.as_str()))
            .collect();
        let mut done = Vec::new();
        for t in due.into_iter().filter(|t| !named.contains(t.id.as_str())) {
            match self
                .blocks
                .store
                .delete(&block_path(&self.blocks.prefix, &t.id))
                .await
            {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {
                    self.blocks.evict(&t.id);
                    done.push(t.id.clone());
                }
                Err(e) => {
                    tracing::warn!(block = %t.id, error = %e, "deleting a replaced block failed")
                }
            }
        }
        if !done.is_empty() {
            commit_log(&log, |m| m.superseded.retain(|t| !done.contains(&t.id))).await?;
        }
        Ok(())
    }

    /// An ingest node's share of the compactor's work: drops the blocks the compactor
    /// tombstoned from this node's own log (their files are the compactor's to delete), and
    /// expires catalog entries past retention.
    pub(crate) async fn drop_replaced(&self) -> Result<(), StorageError> {
        let cutoff = self
            .config
            .clock
            .now_unix_nanos()
            .saturating_sub(self.config.retention.as_nanos() as u64);
        self.catalog.write().expire(cutoff);
        let (compactor, _) = self.compactor_log().load().await?;
        let gone: HashSet<String> = compactor.superseded.into_iter().map(|t| t.id).collect();
        let _guard = self.maintenance.lock().await;
        let ours: Vec<String> = self
            .manifest
            .read()
            .blocks
            .iter()
            .filter(|b| gone.contains(&b.id))
            .map(|b| b.id.clone())
            .collect();
        if ours.is_empty() {
            return Ok(());
        }
        self.commit(|m| m.blocks.retain(|b| !ours.contains(&b.id)))
            .await?;
        for id in &ours {
            self.blocks.evict(id);
        }
        Ok(())
    }

    /// The compactor's background loop: a round every third of the lease TTL (or the
    /// maintenance interval, when shorter).
    pub(crate) async fn run_compactor(self: std::sync::Arc<Self>) {
        let every = self
            .config
            .maintenance_interval
            .min(self.config.lease_ttl / 3);
        while !self.closed.load(Ordering::SeqCst) {
            if let Err(e) = self.compactor_round().await {
                tracing::warn!(error = %e, "compactor round failed; will retry");
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = self.wake.notified() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests;
