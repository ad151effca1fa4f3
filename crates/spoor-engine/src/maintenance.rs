//! Everything that changes the manifest: cutting the head into blocks, retention, compaction
//! and quarantine. All of it runs under `Inner::maintenance`, one change at a time, and follows
//! one rule for crash safety: write new blocks first, then commit the manifest version that
//! switches to them, then delete what it no longer names. A crash at any point leaves either
//! the old or the new set live; files no manifest names are deleted on the next open.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use spoor_storage::StorageError;

use crate::block::encode_head_sealed;
use crate::config::ClusterRole;
use crate::engine::Inner;
use crate::error::{internal, store};
use crate::head::Head;
use crate::manifest::BlockMeta;
use crate::manifest::{Commit, Manifest, block_path, quarantine_path};
use crate::wal;

/// Head memory per span that compaction assumes before the first cut has measured it.
const COMPACTION_BYTES_PER_SPAN_BEFORE_A_CUT: u64 = 512;

impl Inner {
    /// `<clock nanos>-<salt>`: sorts by creation time; the salt (wall-clock nanos, process id
    /// and a counter, hashed) keeps ids unique when the injected clock stands still or
    /// another process writes to the same store.
    fn new_block_id(&self) -> String {
        let n = self.next_id.fetch_add(1, Ordering::SeqCst);
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let salt = crc32c::crc32c(
            &[
                wall.to_le_bytes(),
                u64::from(std::process::id()).to_le_bytes(),
                n.to_le_bytes(),
            ]
            .concat(),
        );
        format!(
            "{:020}-{salt:08x}{:04x}",
            self.config.clock.now_unix_nanos(),
            n & 0xffff
        )
    }

    /// Applies `change` to the current manifest and commits it as the next version. On a
    /// conflict (another writer created that version) reloads and retries.
    pub(crate) async fn commit(
        &self,
        change: impl Fn(&mut Manifest),
    ) -> Result<Arc<Manifest>, StorageError> {
        for _ in 0..5 {
            let mut next = (**self.manifest.read()).clone();
            change(&mut next);
            next.version += 1;
            next.format = crate::block::FORMAT_VERSION;
            next.catalog = self.catalog.read().entries();
            match self.manifests.commit(&next).await? {
                Commit::Done => {
                    let next = Arc::new(next);
                    *self.manifest.write() = next.clone();
                    self.update_gauges();
                    let _ = self.manifests.prune(next.version, 3).await;
                    return Ok(next);
                }
                Commit::Conflict => {
                    let (latest, _) = self.manifests.load().await?;
                    *self.manifest.write() = Arc::new(latest);
                }
            }
        }
        Err(StorageError::Unavailable(
            "manifest commit kept conflicting with another writer".to_string(),
        ))
    }

    /// Writes `head` as a new block (fsynced on local disk before any manifest names it).
    pub(crate) async fn put_block(
        &self,
        head: Arc<Head>,
        level: u32,
        wal_seq: u64,
        inputs: Vec<String>,
    ) -> Result<BlockMeta, StorageError> {
        let id = self.new_block_id();
        let rg = self.config.row_group_spans;
        let now = self.config.clock.now_unix_nanos();
        let keys = self.blocks.keys.clone();
        let encoded = tokio::task::spawn_blocking(move || {
            encode_head_sealed(&head, &id, level, rg, now, wal_seq, inputs, &keys)
        })
        .await
        .map_err(internal)??;
        let path = block_path(&self.blocks.prefix, &encoded.meta.id);
        let create = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        self.blocks
            .store
            .put_opts(&path, PutPayload::from(encoded.bytes), create)
            .await
            .map_err(|e| store("writing block", e))?;
        if let Some(root) = self.manifests.local.clone() {
            tokio::task::spawn_blocking(move || crate::manifest::sync_local(&root, &path))
                .await
                .map_err(internal)??;
        }
        self.metrics.blocks_written.inc();
        Ok(encoded.meta)
    }

    /// Cuts the head when due (or `force`), then writes every frozen head as a block.
    pub(crate) async fn cut(&self, force: bool) -> Result<(), StorageError> {
        let _guard = self.maintenance.lock().await;
        let due = {
            let head = self.shared.head.read();
            let now = self.config.clock.now_unix_nanos();
            let age = head.first_write.map(|t| now.saturating_sub(t)).unwrap_or(0);
            !head.is_empty()
                && (force
                    || head.bytes >= self.config.block_cut_bytes
                    || head.memory_bytes() >= self.config.cut_memory()
                    || age >= self.config.block_cut_interval.as_nanos() as u64)
        };
        if due {
            // Publishes the head as frozen in the same step as it swaps in an empty one.
            self.wal.rotate().await?;
        }
        loop {
            let next = self
                .shared
                .frozen
                .read()
                .first()
                .map(|f| (f.seq, f.head.clone()));
            let Some((seq, head)) = next else {
                break;
            };
            let meta = if head.is_empty() {
                None
            } else {
                // A small head is mostly its first 1 MiB chunk: not a measure of its spans.
                if head.len() >= 1024 {
                    self.head_bytes_per_span
                        .store(head.memory_bytes() / head.len() as u64, Ordering::Relaxed);
                }
                Some(self.put_block(head.clone(), 0, seq, Vec::new()).await?)
            };
            self.commit(|m| {
                if let Some(meta) = &meta {
                    m.blocks.push(meta.clone());
                }
                m.wal_checkpoint = m.wal_checkpoint.max(seq);
            })
            .await?;
            self.shared.frozen.write().remove(0);
            self.head_room.notify_waiters();
            // Segments up to `seq` are now covered by blocks.
            let mut freed = 0u64;
            for s in wal::list_segments(&self.wal_dir)? {
                if s <= seq {
                    let path = wal::segment_path(&self.wal_dir, s);
                    freed += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                    let _ = std::fs::remove_file(&path);
                }
            }
            let _ = self
                .shared
                .wal_bytes
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                    Some(b.saturating_sub(freed))
                });
            self.update_gauges();
        }
        Ok(())
    }

    /// Schedules the files of blocks that `old` named and the new manifest does not for
    /// deletion once no reader holds `old` or an older snapshot (readers hold an
    /// `Arc<Manifest>` for the whole read), so a read that started before the switch still
    /// finds every block it planned to open.
    pub(crate) fn retire(&self, old: Arc<Manifest>, ids: Vec<String>) {
        self.retired.lock().push_back((old, ids));
        self.reap_retired();
    }

    /// Retired blocks whose manifest snapshot no reader holds any more, oldest first.
    fn take_reapable(&self) -> Vec<String> {
        let mut ready = Vec::new();
        let mut retired = self.retired.lock();
        while retired
            .front()
            .is_some_and(|(m, _)| Arc::strong_count(m) == 1)
        {
            if let Some((_, ids)) = retired.pop_front() {
                ready.extend(ids);
            }
        }
        for id in &ready {
            self.blocks.evict(id);
        }
        ready
    }

    /// Deletes (in the background) retired blocks that no reader can still open.
    pub(crate) fn reap_retired(&self) {
        let ready = self.take_reapable();
        if ready.is_empty() {
            return;
        }
        let store = self.blocks.store.clone();
        let prefix = self.blocks.prefix.clone();
        tokio::spawn(async move {
            for id in ready {
                let _ = store.delete(&block_path(&prefix, &id)).await;
            }
        });
    }

    /// Deletes retired blocks that no reader can still open, and waits for it (shutdown).
    pub(crate) async fn reap_retired_now(&self) {
        for id in self.take_reapable() {
            let _ = self
                .blocks
                .store
                .delete(&block_path(&self.blocks.prefix, &id))
                .await;
        }
    }

    /// After a read error on `b`: if its file is gone, drops it from the live set (with an
    /// error and `spoor_engine_missing_blocks_total`) so everything else keeps serving.
    pub(crate) async fn drop_if_missing(&self, b: &BlockMeta) -> Result<bool, StorageError> {
        let path = block_path(&self.blocks.prefix, &b.id);
        match self.blocks.store.head(&path).await {
            Err(object_store::Error::NotFound { .. }) => {}
            _ => return Ok(false),
        }
        if self.config.read_only {
            // The writer replaced it (compaction, retention, delete); the next manifest poll
            // drops it here too.
            return Ok(true);
        }
        let _guard = self.maintenance.lock().await;
        if !self.manifest.read().blocks.iter().any(|x| x.id == b.id) {
            return Ok(true);
        }
        tracing::error!(
            block = %b.id,
            spans = b.span_count,
            "block file is missing from the store; dropping it from the live set"
        );
        let id = b.id.clone();
        self.commit(|m| m.blocks.retain(|x| x.id != id)).await?;
        self.blocks.evict(&b.id);
        self.metrics.missing_blocks.inc();
        Ok(true)
    }

    /// Replaces blocks `ids` by `output` (none for retention): in the compactor's log with
    /// tombstones when this is the scale-out compactor, else in this engine's own log, the
    /// files deleted once no read holds the old manifest.
    async fn replace(
        &self,
        ids: Vec<String>,
        output: Option<BlockMeta>,
    ) -> Result<(), StorageError> {
        if self.config.cluster_role == ClusterRole::Compact {
            return self.compactor_replace(&ids, output.as_ref()).await;
        }
        let old = self.manifest.read().clone();
        self.commit(|m| {
            m.blocks.retain(|b| !ids.contains(&b.id));
            if let Some(out) = &output {
                m.blocks.push(out.clone());
            }
        })
        .await?;
        self.retire(old, ids);
        Ok(())
    }

    pub(crate) async fn maintain(&self) -> Result<(), StorageError> {
        self.reap_retired();
        self.cut(false).await?;
        if self.config.cluster_role == ClusterRole::Ingest {
            // Compaction and retention are the compactor's.
            return self.drop_replaced().await;
        }
        self.retention().await?;
        if self.config.compaction.enabled {
            self.compact().await?;
        }
        Ok(())
    }

    /// Drops whole blocks whose newest span is older than the retention period.
    pub(crate) async fn retention(&self) -> Result<usize, StorageError> {
        let _guard = self.maintenance.lock().await;
        let now = self.config.clock.now_unix_nanos();
        let cutoff = now.saturating_sub(self.config.retention.as_nanos() as u64);
        let expired: Vec<BlockMeta> = self
            .manifest
            .read()
            .blocks
            .iter()
            .filter(|b| b.max_start < cutoff)
            .cloned()
            .collect();
        if expired.is_empty() {
            return Ok(0);
        }
        self.catalog.write().expire(cutoff);
        let ids: Vec<String> = expired.iter().map(|b| b.id.clone()).collect();
        self.replace(ids, None).await?;
        self.metrics
            .retention_dropped_blocks
            .inc_by(expired.len() as u64);
        Ok(expired.len())
    }

    /// Under a memory limit, keeps the oldest of `inputs` whose merge fits in the room the
    /// process has now (the limit less its resident memory); `false`, counted in
    /// `spoor_engine_compactions_deferred_total`, when fewer than two fit: the compaction waits
    /// for a later round. A merge holds its output head while it is built and about as much
    /// again while it is encoded, so it needs twice the head memory of its spans (per span, as
    /// much as the last cut of 1024 spans or more took; 512 bytes before one). The receivers stop
    /// reading new data at the limit, but a compaction already running goes on: without this,
    /// merging two 25k-span blocks took RSS 60 MiB over the limit (the overload test).
    fn fit_compaction_in_memory(&self, inputs: &mut Vec<BlockMeta>) -> bool {
        let Some(limit) = self.config.memory_limit else {
            return true;
        };
        let per_span = match self.head_bytes_per_span.load(Ordering::Relaxed) {
            0 => COMPACTION_BYTES_PER_SPAN_BEFORE_A_CUT,
            n => n,
        };
        let room = limit.saturating_sub(spoor_telemetry::current_rss().unwrap_or(0));
        let mut need = 0u64;
        let fit = inputs
            .iter()
            .take_while(|b| {
                need = need.saturating_add(b.span_count.saturating_mul(per_span * 2));
                need <= room
            })
            .count();
        inputs.truncate(fit);
        if fit < 2 {
            self.metrics.compactions_deferred.inc();
            tracing::debug!(
                room,
                per_span,
                "compaction deferred: too little memory room"
            );
            return false;
        }
        true
    }

    /// Merges small blocks of the same time window into one, keeping traces together (the
    /// output is sorted by trace id like every block). One group per call; the group's summed
    /// size is bounded by `max_input_bytes`, which bounds memory.
    pub(crate) async fn compact(&self) -> Result<bool, StorageError> {
        let _guard = self.maintenance.lock().await;
        let cfg = &self.config.compaction;
        let window = cfg.window.as_nanos().max(1) as u64;
        let mut groups: BTreeMap<u64, Vec<BlockMeta>> = BTreeMap::new();
        for b in &self.manifest.read().blocks {
            if b.size_bytes < cfg.target_block_bytes {
                groups
                    .entry(b.min_start / window)
                    .or_default()
                    .push(b.clone());
            }
        }
        let Some(mut inputs) = groups
            .into_values()
            .find(|g| g.len() >= cfg.min_blocks.max(2))
        else {
            return Ok(false);
        };
        inputs.sort_by_key(|b| b.min_start);
        let mut total = 0u64;
        inputs.retain(|b| {
            total += b.size_bytes;
            total <= cfg.max_input_bytes || total == b.size_bytes
        });
        if inputs.len() < 2 {
            return Ok(false);
        }
        if !self.fit_compaction_in_memory(&mut inputs) {
            return Ok(false);
        }
        let mut head = Head::default();
        // Inputs with rows that did not decode: kept in quarantine/ after the switch, so the
        // rows the output leaves out are not destroyed.
        let mut partial = Vec::new();
        for b in &inputs {
            let read = self.blocks.read_each(b, |r| {
                head.insert_row(r.resource.as_ref(), r.scope.as_ref(), &r.span);
            });
            match read.await {
                Ok(skipped) => {
                    if skipped > 0 {
                        partial.push(b.id.clone());
                    }
                }
                Err(StorageError::Corrupt { .. }) => {
                    drop(_guard);
                    self.quarantine(b).await?;
                    return Ok(false);
                }
                Err(e) => {
                    drop(_guard);
                    self.drop_if_missing(b).await?;
                    return Err(e);
                }
            }
        }
        let level = inputs.iter().map(|b| b.level).max().unwrap_or(0) + 1;
        let wal_seq = inputs.iter().map(|b| b.wal_seq).max().unwrap_or(0);
        let ids: Vec<String> = inputs.iter().map(|b| b.id.clone()).collect();
        let meta = self
            .put_block(Arc::new(head), level, wal_seq, ids.clone())
            .await?;
        if self.crash_before_commit.swap(false, Ordering::SeqCst) {
            return Err(internal("simulated crash before the compaction commit"));
        }
        // Copied before the switch: `replace` may delete the inputs' files at once.
        for id in &partial {
            let from = block_path(&self.blocks.prefix, id);
            let _ = self
                .blocks
                .store
                .copy(&from, &quarantine_path(&self.blocks.prefix, id))
                .await;
        }
        self.replace(ids, Some(meta)).await?;
        self.metrics.compactions.inc();
        Ok(true)
    }

    /// Moves a block that failed its checksum or decoding to `quarantine/`, drops it from the
    /// manifest and counts it. Its spans are no longer served.
    pub(crate) async fn quarantine(&self, b: &BlockMeta) -> Result<(), StorageError> {
        if self.config.read_only {
            // Left to the writer; this process changes nothing in the store.
            self.metrics.corrupt_blocks.inc();
            return Ok(());
        }
        let _guard = self.maintenance.lock().await;
        if !self.manifest.read().blocks.iter().any(|x| x.id == b.id) {
            return Ok(());
        }
        tracing::error!(block = %b.id, "quarantining corrupt block");
        let from = block_path(&self.blocks.prefix, &b.id);
        let to = quarantine_path(&self.blocks.prefix, &b.id);
        let _ = self.blocks.store.copy(&from, &to).await;
        let id = b.id.clone();
        self.commit(|m| m.blocks.retain(|x| x.id != id)).await?;
        let _ = self.blocks.store.delete(&from).await;
        self.blocks.evict(&b.id);
        self.metrics.corrupt_blocks.inc();
        Ok(())
    }
}
