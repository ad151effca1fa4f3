//! Search in blocks: the row groups a query's window may hit, and the traces in them with a
//! span matching the query (predicates pushed into parquet's scan, narrowed once `limit`
//! traces are found). Part of [`Blocks`]; the reading machinery is in `reader.rs`.

use std::collections::HashMap;

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use arrow_schema::ArrowError;
use futures::TryStreamExt;
use parquet::arrow::arrow_reader::{ArrowPredicate, ArrowPredicateFn, RowFilter};
use spoor_model::TraceId;
use spoor_storage::{ScanRequest, StorageError};

use super::reader::{Blocks, Loaded, SEARCH_BATCH_ROWS, pq};
use super::{decode, filter, schema};
use crate::error::corrupt;
use crate::manifest::BlockMeta;

impl Blocks {
    /// Row groups of block `b` whose spans may start in the query's window, each with the
    /// newest start it holds (from its statistics; the block's when it has none).
    pub(crate) async fn search_groups(
        &self,
        b: &BlockMeta,
        query: &ScanRequest,
    ) -> Result<Vec<(usize, u64)>, StorageError> {
        let l = self.load(b).await?;
        let qmin = query
            .start_min
            .map(|v| i64::try_from(v).unwrap_or(i64::MAX));
        let qmax = query
            .start_max
            .map(|v| i64::try_from(v).unwrap_or(i64::MAX));
        let mut groups = Vec::new();
        for (i, rg) in l.meta.metadata().row_groups().iter().enumerate() {
            let mut newest = b.max_start;
            if let Some((min, max)) = Self::start_range(&l, rg) {
                if qmin.is_some_and(|q| max < q) || qmax.is_some_and(|q| min > q) {
                    continue;
                }
                newest = newest.min(max.max(0) as u64);
            }
            groups.push((i, newest));
        }
        Ok(groups)
    }

    /// Traces of row groups `groups` of block `b` with a span matching `query`:
    /// `(trace id, earliest matching start)`.
    ///
    /// With `from` (the `limit`-th newest trace found so far), only traces whose earliest
    /// matching span starts at or after it are returned, and rows starting before it are not
    /// read (row groups overlap in time: long traces' late spans). A trace found there that
    /// started earlier may match earlier too: its rows are read again, selected by trace id.
    pub(crate) async fn search(
        &self,
        b: &BlockMeta,
        groups: Vec<usize>,
        query: &ScanRequest,
        from: Option<u64>,
    ) -> Result<Vec<(TraceId, u64)>, StorageError> {
        let l = self.load(b).await?;
        let Some(from) = from.filter(|f| query.start_min.is_none_or(|m| m < *f)) else {
            let hits = self.search_rows(&l, groups, query, false).await?;
            return Ok(hits.into_iter().map(|(id, (s, _))| (id, s)).collect());
        };
        let mut narrowed = query.clone();
        narrowed.start_min = Some(from);
        let mut hits = self
            .search_rows(&l, groups.clone(), &narrowed, true)
            .await?;
        let mut unsure: Vec<TraceId> = hits
            .iter()
            .filter(|(_, (_, trace_start))| trace_start.is_none_or(|t| t < from))
            .map(|(id, _)| *id)
            .collect();
        if !unsure.is_empty() {
            unsure.sort_unstable();
            let mut again = query.clone();
            again.trace_ids = Some(unsure);
            for (id, (start, _)) in self.search_rows(&l, groups, &again, false).await? {
                if let Some(h) = hits.get_mut(&id) {
                    h.0 = h.0.min(start);
                }
            }
        }
        Ok(hits
            .into_iter()
            .filter(|(_, (s, _))| *s >= from)
            .map(|(id, (s, _))| (id, s))
            .collect())
    }

    /// [`Self::search`]'s scan: per trace, its earliest matching start and the trace start
    /// its rows store (format 3; `None` before). With `start_first`, the start bound is tested
    /// first on its own columns (for a narrowed search, which keeps few rows).
    async fn search_rows(
        &self,
        l: &Loaded,
        groups: Vec<usize>,
        query: &ScanRequest,
        start_first: bool,
    ) -> Result<HashMap<TraceId, (u64, Option<u64>)>, StorageError> {
        let loc = l.path.to_string();
        if groups.is_empty() {
            return Ok(HashMap::new());
        }
        let mut predicates: Vec<Box<dyn ArrowPredicate>> = Vec::new();
        if let Some(ids) = &query.trace_ids {
            // Rows are sorted by trace id: the few pages of the asked traces are read.
            let mut want: Vec<[u8; 16]> = ids.iter().map(|id| id.0).collect();
            want.sort_unstable();
            predicates.push(Box::new(ArrowPredicateFn::new(
                Self::mask(l, &[schema::TRACE_ID]),
                move |batch| {
                    let col = batch
                        .column(0)
                        .as_fixed_size_binary_opt()
                        .ok_or_else(|| ArrowError::SchemaError("trace_id type".into()))?;
                    Ok((0..col.len())
                        .map(|i| {
                            Some(
                                want.binary_search_by(|w| w.as_slice().cmp(col.value(i)))
                                    .is_ok(),
                            )
                        })
                        .collect())
                },
            )));
        }
        if let Some(from) = query.start_min.filter(|_| start_first) {
            predicates.push(Box::new(ArrowPredicateFn::new(
                Self::mask(l, &filter::START_COLUMNS),
                move |batch| filter::start_filter(&batch, from),
            )));
        }
        let q = query.clone();
        predicates.push(Box::new(ArrowPredicateFn::new(
            Self::mask(l, &filter::CHEAP_COLUMNS),
            move |batch| filter::cheap_filter(&batch, &q),
        )));
        if !query.predicates.is_empty() {
            let q = query.clone();
            let loc2 = loc.clone();
            let (format, undecodable) = (l.format, self.undecodable.clone());
            // Only the columns the predicates read: rows are matched without decoding spans.
            predicates.push(Box::new(ArrowPredicateFn::new(
                Self::mask(l, &filter::predicate_columns(query)),
                move |batch| filter::predicate_filter(&batch, &q, &loc2, format, &undecodable),
            )));
        }
        let stream = self
            .builder(l)
            .with_row_groups(groups)
            .with_projection(Self::mask(
                l,
                &[
                    schema::TRACE_ID,
                    schema::START,
                    schema::TRACE_START,
                    schema::START_OFFSET,
                ],
            ))
            .with_row_filter(RowFilter::new(predicates))
            .with_batch_size(SEARCH_BATCH_ROWS)
            .build()
            .map_err(pq(&loc))?;
        let batches: Vec<RecordBatch> = stream.try_collect().await.map_err(pq(&loc))?;
        let mut hits: HashMap<TraceId, (u64, Option<u64>)> = HashMap::new();
        for batch in &batches {
            let ids = decode::column(batch, schema::TRACE_ID, &loc)?
                .as_fixed_size_binary_opt()
                .ok_or_else(|| corrupt(&loc, "trace_id type"))?;
            let starts = decode::Starts::new(batch, &loc)?;
            let trace_starts = match batch.column_by_name(schema::TRACE_START) {
                Some(c) => Some(
                    c.as_primitive_opt::<arrow_array::types::Int64Type>()
                        .ok_or_else(|| corrupt(&loc, "trace start type"))?,
                ),
                None => None,
            };
            for i in 0..batch.num_rows() {
                let Ok(id) = TraceId::from_bytes(ids.value(i)) else {
                    continue;
                };
                if !query.allows_trace(&id) {
                    continue;
                }
                let start = starts.value(i);
                let trace_start = trace_starts.map(|t| t.value(i).max(0) as u64);
                let e = hits.entry(id).or_insert((start, trace_start));
                e.0 = e.0.min(start);
                e.1 = e.1.min(trace_start);
            }
        }
        Ok(hits)
    }
}
