//! The read path: head, heads being written, and blocks, merged.

use std::collections::{BTreeMap, HashMap};

use spoor_model::{SpanRecord, TraceId};
use spoor_storage::{
    DependencyLink, Operation, OperationQuery, SpanReader, StorageError, TimeRange, Trace,
    TraceQuery,
};

use crate::engine::{Engine, Inner};
use crate::manifest::BlockMeta;

fn overlaps(b: &BlockMeta, start: Option<u64>, end: Option<u64>) -> bool {
    !(start.is_some_and(|s| b.max_start < s) || end.is_some_and(|e| b.min_start > e))
}

impl Inner {
    /// Runs `f` on a block; a corrupt block is quarantined and contributes nothing.
    async fn on_block<T: Default>(
        &self,
        b: &BlockMeta,
        result: Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        match result {
            Ok(v) => Ok(v),
            Err(StorageError::Corrupt { location, detail }) => {
                tracing::error!(%location, %detail, "corrupt block");
                self.quarantine(b).await?;
                Ok(T::default())
            }
            Err(e) => {
                if self.drop_if_missing(b).await? {
                    return Ok(T::default());
                }
                Err(e)
            }
        }
    }

    pub(crate) async fn trace_records(
        &self,
        id: TraceId,
        window: Option<TimeRange>,
    ) -> Result<Vec<SpanRecord>, StorageError> {
        let mut records = self.shared.head.read().trace_records(&id);
        for f in self.shared.frozen.read().iter() {
            records.extend(f.head.trace_records(&id));
        }
        let hex = id.to_hex();
        // Held for the whole read: blocks it names are not deleted before it is dropped.
        let snapshot = self.manifest.read().clone();
        let candidates: Vec<BlockMeta> = snapshot
            .blocks
            .iter()
            .filter(|b| b.min_trace_id <= hex && hex <= b.max_trace_id)
            .filter(|b| overlaps(b, window.map(|w| w.start), window.map(|w| w.end)))
            .cloned()
            .collect();
        for b in candidates {
            let rows = self.blocks.read_trace(&b, id).await;
            let rows = self.on_block(&b, rows).await?;
            records.extend(rows.into_iter().map(|r| SpanRecord {
                resource: r.resource.map(|x| (*x).clone()),
                scope: r.scope.map(|x| (*x).clone()),
                span: r.span,
            }));
        }
        Ok(records)
    }

    pub(crate) async fn search(&self, query: &TraceQuery) -> Result<Vec<TraceId>, StorageError> {
        let limit = query.effective_limit();
        let mut hits: HashMap<TraceId, u64> = HashMap::new();
        self.shared.head.read().search(query, &mut hits);
        for f in self.shared.frozen.read().iter() {
            f.head.search(query, &mut hits);
        }
        let service = query.service.as_deref().filter(|s| !s.is_empty());
        let op = query.operation.as_deref().filter(|s| !s.is_empty());
        // Held for the whole read: blocks it names are not deleted before it is dropped.
        let snapshot = self.manifest.read().clone();
        let mut candidates: Vec<BlockMeta> = snapshot
            .blocks
            .iter()
            .filter(|b| overlaps(b, query.start_min, query.start_max))
            .filter(|b| service.is_none_or(|s| b.services.iter().any(|x| x == s)))
            .filter(|b| {
                op.is_none_or(|o| {
                    b.operations
                        .iter()
                        .any(|x| x.name == o && service.is_none_or(|s| x.service == s))
                })
            })
            .cloned()
            .collect();
        // Newest first, so the scan can stop once `limit` traces newer than every remaining
        // block are found.
        candidates.sort_by_key(|b| std::cmp::Reverse(b.max_start));
        for b in candidates {
            if hits.len() >= limit {
                let mut starts: Vec<u64> = hits.values().copied().collect();
                starts.sort_unstable_by(|a, b| b.cmp(a));
                if starts.get(limit - 1).is_some_and(|kth| b.max_start < *kth) {
                    break;
                }
            }
            let found = self.blocks.search(&b, query).await;
            for (id, start) in self.on_block(&b, found).await? {
                let e = hits.entry(id).or_insert(start);
                *e = (*e).min(start);
            }
        }
        let mut sorted: Vec<(u64, TraceId)> = hits.into_iter().map(|(id, s)| (s, id)).collect();
        sorted.sort_by(|a, b| b.cmp(a));
        sorted.truncate(limit);
        Ok(sorted.into_iter().map(|(_, id)| id).collect())
    }
}

#[async_trait::async_trait]
impl SpanReader for Engine {
    async fn get_trace(
        &self,
        id: TraceId,
        window: Option<TimeRange>,
    ) -> Result<Option<Trace>, StorageError> {
        let records = self.inner.trace_records(id, window).await?;
        if records.is_empty() {
            return Ok(None);
        }
        Ok(Some(Trace {
            id,
            resource_spans: SpanRecord::group(records),
        }))
    }

    async fn get_services(&self) -> Result<Vec<String>, StorageError> {
        Ok(self.inner.catalog.read().services())
    }

    async fn get_operations(&self, query: &OperationQuery) -> Result<Vec<Operation>, StorageError> {
        Ok(self
            .inner
            .catalog
            .read()
            .operations(&query.service, query.span_kind.as_deref()))
    }

    async fn find_traces(&self, query: &TraceQuery) -> Result<Vec<Trace>, StorageError> {
        let ids = self.inner.search(query).await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(t) = self.get_trace(id, None).await? {
                out.push(t);
            }
        }
        Ok(out)
    }

    async fn find_trace_ids(&self, query: &TraceQuery) -> Result<Vec<TraceId>, StorageError> {
        self.inner.search(query).await
    }

    /// Head spans are counted exactly; blocks contribute the links aggregated when they were
    /// written, for every block whose time range overlaps the window (block granularity).
    async fn get_dependencies(
        &self,
        end_unix_nano: u64,
        lookback_nanos: u64,
    ) -> Result<Vec<DependencyLink>, StorageError> {
        let start = end_unix_nano.saturating_sub(lookback_nanos);
        let mut counts: HashMap<(String, String), u64> = HashMap::new();
        self.inner
            .shared
            .head
            .read()
            .dependencies(start, end_unix_nano, &mut counts);
        for f in self.inner.shared.frozen.read().iter() {
            f.head.dependencies(start, end_unix_nano, &mut counts);
        }
        for b in &self.inner.manifest.read().blocks {
            if overlaps(b, Some(start), Some(end_unix_nano)) {
                for (p, c, n) in &b.dependencies {
                    *counts.entry((p.clone(), c.clone())).or_default() += n;
                }
            }
        }
        let sorted: BTreeMap<_, _> = counts.into_iter().collect();
        Ok(sorted
            .into_iter()
            .map(|((parent, child), call_count)| DependencyLink {
                parent,
                child,
                call_count,
            })
            .collect())
    }
}
