//! The read path: head, heads being written, and blocks, merged.

use std::collections::{BTreeMap, HashMap, HashSet};

use futures::StreamExt;

use spoor_model::{SpanRecord, TraceId};
use spoor_storage::{
    DependencyLink, Operation, OperationQuery, ScanRequest, SpanReader, StorageError, TimeRange,
    Trace,
};

use crate::engine::{Engine, Inner};
use crate::manifest::BlockMeta;

/// Row groups searched at once, once the newest one has not been enough: the first is read
/// alone, since it usually holds `limit` traces newer than every other row group, and a second
/// read beside it would cost as much CPU again for nothing.
const SCAN_CONCURRENCY: usize = 2;

/// The start of the `limit`-th newest trace found, once `limit` traces are found: a span that
/// starts before it cannot bring a new trace into the answer.
fn kth_newest(hits: &HashMap<TraceId, u64>, limit: usize) -> Option<u64> {
    if hits.len() < limit {
        return None;
    }
    let Some(k) = limit.checked_sub(1) else {
        return Some(u64::MAX);
    };
    let mut starts: Vec<u64> = hits.values().copied().collect();
    let (_, kth, _) = starts.select_nth_unstable_by(k, |a, b| b.cmp(a));
    Some(*kth)
}

/// True when `limit` traces already found all start after `newest`, the newest span start of
/// what is left to read.
fn past_limit(hits: &HashMap<TraceId, u64>, limit: usize, newest: u64) -> bool {
    kth_newest(hits, limit).is_some_and(|kth| newest < kth)
}

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

    /// Loads the footer, page index and trace-id bloom filters of every block not loaded yet,
    /// so that the first read of a new block does not pay for fetching and verifying it.
    /// Failures are left to the reads, which quarantine or report them.
    pub(crate) async fn warm_blocks(&self) {
        let snapshot = self.manifest.read().clone();
        for b in &snapshot.blocks {
            if let Err(e) = self.blocks.load(b).await {
                tracing::debug!(block = %b.id, error = %e, "block not preloaded");
            }
        }
        // A block compacted or dropped meanwhile is not kept.
        let current = self.manifest.read().clone();
        for b in &snapshot.blocks {
            if !current.blocks.iter().any(|c| c.id == b.id) {
                self.blocks.evict(&b.id);
            }
        }
    }

    /// The spans of each of `ids` from the head, the heads being written and the blocks; a
    /// block is visited once for all the ids its trace-id range may hold.
    pub(crate) async fn trace_records(
        &self,
        ids: &[TraceId],
        window: Option<TimeRange>,
    ) -> Result<HashMap<TraceId, Vec<SpanRecord>>, StorageError> {
        let mut records: HashMap<TraceId, Vec<SpanRecord>> = HashMap::new();
        // One lock at a time (see `update_gauges`).
        let mut add = |id: &TraceId, r: Vec<SpanRecord>| {
            if !r.is_empty() {
                records.entry(*id).or_default().extend(r);
            }
        };
        {
            let head = self.shared.head.read();
            for id in ids {
                add(id, head.trace_records(id));
            }
        }
        for f in self.shared.frozen.read().iter() {
            for id in ids {
                add(id, f.head.trace_records(id));
            }
        }
        let hexes: Vec<(TraceId, String)> = ids.iter().map(|id| (*id, id.to_hex())).collect();
        // Held for the whole read: blocks it names are not deleted before it is dropped.
        let snapshot = self.manifest.read().clone();
        for b in snapshot
            .blocks
            .iter()
            .filter(|b| overlaps(b, window.map(|w| w.start), window.map(|w| w.end)))
        {
            let inside: Vec<TraceId> = hexes
                .iter()
                .filter(|(_, hex)| b.min_trace_id <= *hex && *hex <= b.max_trace_id)
                .map(|(id, _)| *id)
                .collect();
            if inside.is_empty() {
                continue;
            }
            let rows = self.blocks.read_traces(b, &inside).await;
            for r in self.on_block(b, rows).await? {
                records.entry(r.trace).or_default().push(SpanRecord {
                    resource: r.resource.map(|x| (*x).clone()),
                    scope: r.scope.map(|x| (*x).clone()),
                    span: r.span,
                });
            }
        }
        Ok(records)
    }

    pub(crate) async fn search(&self, query: &ScanRequest) -> Result<Vec<TraceId>, StorageError> {
        let limit = query.effective_limit();
        let mut hits: HashMap<TraceId, u64> = HashMap::new();
        self.shared.head.read().search(query, &mut hits);
        for f in self.shared.frozen.read().iter() {
            f.head.search(query, &mut hits);
        }
        let service = query.service();
        let op = query.span_name();
        // Held for the whole read: blocks it names are not deleted before it is dropped.
        let snapshot = self.manifest.read().clone();
        let candidates: Vec<BlockMeta> = snapshot
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
        // Row groups newest first, so the scan can stop once `limit` traces newer than every
        // remaining row group are found. Blocks written since format 2's time-ordered row
        // groups (see `encode::time_row_groups`) stop after a few row groups; older blocks,
        // whose row groups each span the whole block, after a few blocks.
        let mut units: Vec<(u64, usize, usize)> = Vec::new();
        for (k, b) in candidates.iter().enumerate() {
            let groups = self.blocks.search_groups(b, query).await;
            for (rg, newest) in self.on_block(b, groups).await? {
                units.push((newest, k, rg));
            }
        }
        units.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        // A few row groups are read at once (object-store latency overlaps); results are taken
        // in order, so the stop rule sees them newest first, as a sequential scan would. Once
        // one row group is past the rule, all later ones are.
        let mut failed: HashSet<usize> = HashSet::new();
        let mut pending = futures::stream::FuturesOrdered::new();
        let total = units.len();
        let mut rest = units.into_iter();
        let (mut width, mut read) = (1, 0);
        loop {
            while pending.len() < width {
                let Some((newest, k, rg)) = rest.next() else {
                    break;
                };
                if past_limit(&hits, limit, newest) {
                    rest = Vec::new().into_iter();
                    break;
                }
                let b = &candidates[k];
                read += 1;
                // Row groups overlap in time (a long trace's late spans): what starts before
                // the `limit`-th trace found is not read again (see `Blocks::search`).
                let from = kth_newest(&hits, limit);
                pending.push_back(async move {
                    let found = self.blocks.search(b, vec![rg], query, from).await;
                    (newest, k, found)
                });
            }
            let Some((newest, k, found)) = pending.next().await else {
                break;
            };
            width = SCAN_CONCURRENCY;
            if past_limit(&hits, limit, newest) {
                break;
            }
            if failed.contains(&k) {
                continue;
            }
            if found.is_err() {
                failed.insert(k);
            }
            for (id, start) in self.on_block(&candidates[k], found).await? {
                let e = hits.entry(id).or_insert(start);
                *e = (*e).min(start);
            }
        }
        tracing::debug!(row_groups = total, read, hits = hits.len(), "search");
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
        let mut records = self.inner.trace_records(&[id], window).await?;
        Ok(records.remove(&id).map(|records| Trace {
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

    async fn scan(&self, query: &ScanRequest) -> Result<Vec<Trace>, StorageError> {
        let ids = self.inner.search(query).await?;
        // One pass over the blocks for the whole page of results.
        let mut records = self.inner.trace_records(&ids, None).await?;
        Ok(ids
            .into_iter()
            .filter_map(|id| {
                records.remove(&id).map(|records| Trace {
                    id,
                    resource_spans: SpanRecord::group(records),
                })
            })
            .collect())
    }

    async fn scan_ids(&self, query: &ScanRequest) -> Result<Vec<TraceId>, StorageError> {
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
