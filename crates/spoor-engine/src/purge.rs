//! Deleting stored spans on demand (`spoor tool delete`, `POST /api/admin/delete`).
//!
//! A delete first cuts the head into a block, so that the WAL segments holding the spans are
//! retired and a restart cannot replay them. Then, under the maintenance lock (one manifest
//! change at a time), every block is looked at once: a block none of whose spans can match
//! is left alone; a block all of whose spans match (by the manifest's time range and service
//! list) is dropped without being read; any other block is read and written again without the
//! matching spans. One manifest version then switches to the new set, and the replaced
//! block files are deleted once no read holds the old set, as compaction does. Spans written
//! while the delete runs are kept.

use std::sync::Arc;

use object_store::ObjectStoreExt;
use serde::Serialize;
use spoor_model::service_name;
use spoor_storage::StorageError;

use crate::engine::{Engine, Inner};
use crate::head::Head;
use crate::manifest::{BlockMeta, block_path, quarantine_path};

/// Which spans to delete: those matching every condition given (at least one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteFilter {
    /// Spans that started before this time (unix nanoseconds).
    pub before: Option<u64>,
    /// Spans whose resource's `service.name` is this.
    pub service: Option<String>,
}

/// What a delete did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeleteReport {
    pub spans_deleted: u64,
    /// Blocks removed whole.
    pub blocks_dropped: usize,
    /// Blocks written again without the deleted spans.
    pub blocks_rewritten: usize,
    /// Blocks left as they were.
    pub blocks_kept: usize,
}

impl DeleteFilter {
    fn is_empty(&self) -> bool {
        self.before.is_none() && self.service.as_deref().is_none_or(str::is_empty)
    }

    fn matches(&self, service: &str, start: u64) -> bool {
        self.before.is_none_or(|t| start < t)
            && self.service.as_deref().is_none_or(|s| s == service)
    }

    /// Every span of `b` matches.
    fn covers(&self, b: &BlockMeta) -> bool {
        self.before.is_none_or(|t| b.max_start < t)
            && self
                .service
                .as_deref()
                .is_none_or(|s| b.services.iter().all(|x| x == s))
    }

    /// No span of `b` matches.
    fn misses(&self, b: &BlockMeta) -> bool {
        self.before.is_some_and(|t| b.min_start >= t)
            || self
                .service
                .as_deref()
                .is_some_and(|s| !b.services.iter().any(|x| x == s))
    }
}

impl Engine {
    /// Deletes every stored span that matches `filter` (see the module docs). Refused with
    /// `InvalidQuery` for an empty filter and `Unavailable` on a read-only engine.
    pub async fn delete(&self, filter: &DeleteFilter) -> Result<DeleteReport, StorageError> {
        if filter.is_empty() {
            return Err(StorageError::InvalidQuery(
                "a delete needs a time (before) or a service, or both".to_string(),
            ));
        }
        if self.inner.config.read_only {
            return Err(StorageError::Unavailable(
                "this spoor process is read-only: delete through the writer".to_string(),
            ));
        }
        self.inner.cut(true).await?;
        let report = self.inner.delete_in_blocks(filter).await?;
        tracing::info!(?filter, ?report, "deleted spans");
        Ok(report)
    }
}

impl Inner {
    async fn delete_in_blocks(&self, filter: &DeleteFilter) -> Result<DeleteReport, StorageError> {
        let _guard = self.maintenance.lock().await;
        let snapshot = self.manifest.read().clone();
        let mut report = DeleteReport::default();
        let mut removed: Vec<String> = Vec::new();
        let mut added: Vec<BlockMeta> = Vec::new();
        // Inputs with rows that did not decode: kept in quarantine/ after the switch.
        let mut partial: Vec<String> = Vec::new();
        for b in &snapshot.blocks {
            if filter.misses(b) {
                report.blocks_kept += 1;
                continue;
            }
            if filter.covers(b) {
                report.spans_deleted += b.span_count;
                report.blocks_dropped += 1;
                removed.push(b.id.clone());
                continue;
            }
            let mut head = Head::default();
            let mut deleted = 0u64;
            let read = self.blocks.read_each(b, |r| {
                if filter.matches(
                    service_name(r.resource.as_deref()),
                    r.span.start_time_unix_nano,
                ) {
                    deleted += 1;
                } else {
                    head.insert_row(r.resource.as_ref(), r.scope.as_ref(), &r.span);
                }
            });
            let skipped = read.await.map_err(|e| {
                StorageError::Unavailable(format!(
                    "block {} cannot be read, nothing was deleted: {e}; \
                     `spoor tool verify` shows what is damaged",
                    b.id
                ))
            })?;
            if deleted == 0 {
                report.blocks_kept += 1;
                continue;
            }
            report.spans_deleted += deleted;
            removed.push(b.id.clone());
            if skipped > 0 {
                partial.push(b.id.clone());
            }
            if head.is_empty() {
                report.blocks_dropped += 1;
            } else {
                let meta = self
                    .put_block(Arc::new(head), b.level, b.wal_seq, vec![b.id.clone()])
                    .await?;
                added.push(meta);
                report.blocks_rewritten += 1;
            }
        }
        if removed.is_empty() {
            return Ok(report);
        }
        self.catalog
            .write()
            .forget(filter.service.as_deref(), filter.before);
        let old = self.manifest.read().clone();
        self.commit(|m| {
            m.blocks.retain(|b| !removed.contains(&b.id));
            m.blocks.extend(added.iter().cloned());
        })
        .await?;
        for id in &partial {
            let from = block_path(&self.blocks.prefix, id);
            let _ = self
                .blocks
                .store
                .copy(&from, &quarantine_path(&self.blocks.prefix, id))
                .await;
        }
        self.retire(old, removed);
        self.metrics.deleted_spans.inc_by(report.spans_deleted);
        Ok(report)
    }
}
