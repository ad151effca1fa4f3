//! The service graph's edges per time bucket, for `/api/dependencies` and `GetDependencies`.
//!
//! The pipeline's service graph (spoor-pipeline's `servicegraph`) pairs client and server spans
//! across requests and blocks and names uninstrumented peers (`postgresql` from `db.system`,
//! `peer.service`, …); every edge it records is added here under the minute its client span
//! started. [`DependencyStore::links`] sums the buckets that overlap a window, and
//! [`merge_links`] combines them with the links storage computed within blocks (data stored
//! before the graph existed): per pair, the larger count wins, so a pair both saw is not counted
//! twice.
//!
//! Bounded: buckets older than `max_age` (counted from the newest bucket) are dropped, and past
//! `max_entries` (bucket, parent, child) entries the oldest buckets go first.
//! Whoever persists the store reads [`DependencyStore::entries`] when
//! [`DependencyStore::take_dirty`] says something changed, and restores with
//! [`DependencyStore::restore`]; this module touches no file.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use spoor_storage::DependencyLink;

/// Width of one bucket.
pub const BUCKET_SECS: u64 = 60;
const NANOS: u64 = 1_000_000_000;

/// One stored count: calls from `parent` to `child` in the bucket starting at `bucket_secs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub bucket_secs: u64,
    pub parent: String,
    pub child: String,
    pub calls: u64,
}

#[derive(Default)]
struct Inner {
    buckets: BTreeMap<u64, HashMap<(String, String), u64>>,
    entries: usize,
    dirty: bool,
}

/// Edge counts per minute. Safe to share across tasks; every call takes one short lock.
pub struct DependencyStore {
    max_age: Duration,
    max_entries: usize,
    inner: Mutex<Inner>,
}

impl DependencyStore {
    pub fn new(max_age: Duration, max_entries: usize) -> Self {
        Self {
            max_age,
            max_entries: max_entries.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts `calls` from `parent` to `child` at `unix_nano` (the client span's start).
    pub fn add(&self, unix_nano: u64, parent: &str, child: &str, calls: u64) {
        if parent == child || calls == 0 {
            return;
        }
        let bucket = unix_nano / NANOS / BUCKET_SECS * BUCKET_SECS;
        let mut inner = self.lock();
        let counts = inner.buckets.entry(bucket).or_default();
        let fresh = match counts.get_mut(&(parent.to_string(), child.to_string())) {
            Some(n) => {
                *n += calls;
                false
            }
            None => {
                counts.insert((parent.to_string(), child.to_string()), calls);
                true
            }
        };
        if fresh {
            inner.entries += 1;
        }
        inner.dirty = true;
        self.prune(&mut inner);
    }

    fn prune(&self, inner: &mut Inner) {
        let newest = inner.buckets.keys().next_back().copied().unwrap_or(0);
        let oldest_kept = newest.saturating_sub(self.max_age.as_secs());
        while let Some((&oldest, _)) = inner.buckets.first_key_value() {
            if oldest >= oldest_kept && inner.entries <= self.max_entries {
                break;
            }
            if let Some(gone) = inner.buckets.remove(&oldest) {
                inner.entries -= gone.len();
            }
        }
    }

    /// Calls per (parent, child) in the buckets that overlap `[start, end]` (unix nanoseconds),
    /// sorted by parent then child.
    pub fn links(&self, start_unix_nano: u64, end_unix_nano: u64) -> Vec<DependencyLink> {
        let first = (start_unix_nano / NANOS).saturating_sub(BUCKET_SECS - 1);
        let last = end_unix_nano / NANOS;
        let inner = self.lock();
        let mut counts: BTreeMap<(String, String), u64> = BTreeMap::new();
        for (_, bucket) in inner.buckets.range(first..=last) {
            for ((p, c), n) in bucket {
                *counts.entry((p.clone(), c.clone())).or_default() += n;
            }
        }
        counts
            .into_iter()
            .map(|((parent, child), call_count)| DependencyLink {
                parent,
                child,
                call_count,
            })
            .collect()
    }

    /// Everything stored, oldest bucket first.
    pub fn entries(&self) -> Vec<Entry> {
        let inner = self.lock();
        let mut out = Vec::with_capacity(inner.entries);
        for (bucket, counts) in &inner.buckets {
            let mut sorted: Vec<_> = counts.iter().collect();
            sorted.sort();
            out.extend(sorted.into_iter().map(|((p, c), n)| Entry {
                bucket_secs: *bucket,
                parent: p.clone(),
                child: c.clone(),
                calls: *n,
            }));
        }
        out
    }

    /// Adds saved entries (at start-up), without marking the store changed.
    pub fn restore(&self, entries: impl IntoIterator<Item = Entry>) {
        for e in entries {
            self.add(
                e.bucket_secs.saturating_mul(NANOS),
                &e.parent,
                &e.child,
                e.calls,
            );
        }
        self.lock().dirty = false;
    }

    /// Whether anything was added since the last call.
    pub fn take_dirty(&self) -> bool {
        std::mem::take(&mut self.lock().dirty)
    }

    /// How many (bucket, parent, child) entries are held.
    pub fn len(&self) -> usize {
        self.lock().entries
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Storage's links and the graph's, per pair the larger count (the graph counts every pair
/// storage counts within a block, and more; older data has only storage's).
pub fn merge_links(
    storage: Vec<DependencyLink>,
    graph: Vec<DependencyLink>,
) -> Vec<DependencyLink> {
    let mut counts: BTreeMap<(String, String), u64> = BTreeMap::new();
    for l in storage.into_iter().chain(graph) {
        let n = counts.entry((l.parent, l.child)).or_default();
        *n = (*n).max(l.call_count);
    }
    counts
        .into_iter()
        .map(|((parent, child), call_count)| DependencyLink {
            parent,
            child,
            call_count,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60 * NANOS;

    fn link(p: &str, c: &str, n: u64) -> DependencyLink {
        DependencyLink {
            parent: p.into(),
            child: c.into(),
            call_count: n,
        }
    }

    #[test]
    fn links_sum_the_buckets_overlapping_the_window() {
        let store = DependencyStore::new(Duration::from_secs(86_400), 1000);
        store.add(100 * MIN + 5, "a", "b", 1);
        store.add(100 * MIN + 30 * NANOS, "a", "b", 2);
        store.add(103 * MIN, "a", "b", 4);
        store.add(103 * MIN, "b", "postgresql", 1);
        store.add(103 * MIN, "b", "b", 1);
        assert_eq!(
            store.links(0, 200 * MIN),
            vec![link("a", "b", 7), link("b", "postgresql", 1)]
        );
        assert_eq!(
            store.links(100 * MIN, 101 * MIN - 1),
            vec![link("a", "b", 3)]
        );
        // A window starting inside a bucket includes it.
        assert_eq!(
            store.links(100 * MIN + 40 * NANOS, 102 * MIN),
            vec![link("a", "b", 3)]
        );
        assert_eq!(store.links(101 * MIN, 102 * MIN), vec![]);
        assert_eq!(store.len(), 3);
    }

    #[test]
    fn old_buckets_and_entries_past_the_bound_are_dropped() {
        let store = DependencyStore::new(Duration::from_secs(600), 3);
        store.add(0, "a", "b", 1);
        store.add(5 * MIN, "a", "b", 1);
        store.add(11 * MIN, "a", "c", 1);
        // The bucket at 0 is more than 10 minutes older than the newest.
        assert_eq!(
            store.links(0, 20 * MIN),
            vec![link("a", "b", 1), link("a", "c", 1)]
        );
        store.add(12 * MIN, "a", "d", 1);
        store.add(12 * MIN, "a", "e", 1);
        assert_eq!(store.len(), 3);
        assert_eq!(
            store.links(0, 20 * MIN),
            vec![link("a", "c", 1), link("a", "d", 1), link("a", "e", 1)]
        );
    }

    #[test]
    fn entries_restore_to_the_same_links() {
        let store = DependencyStore::new(Duration::from_secs(86_400), 1000);
        store.add(100 * MIN, "a", "b", 3);
        store.add(101 * MIN, "b", "s3", 2);
        assert!(store.take_dirty());
        assert!(!store.take_dirty());
        let copy = DependencyStore::new(Duration::from_secs(86_400), 1000);
        copy.restore(store.entries());
        assert!(!copy.take_dirty());
        assert_eq!(copy.links(0, u64::MAX), store.links(0, u64::MAX));
        assert_eq!(copy.entries(), store.entries());
    }

    #[test]
    fn merge_takes_the_larger_count_per_pair() {
        let merged = merge_links(
            vec![link("a", "b", 2), link("x", "y", 5)],
            vec![link("a", "b", 3), link("b", "postgresql", 1)],
        );
        assert_eq!(
            merged,
            vec![
                link("a", "b", 3),
                link("b", "postgresql", 1),
                link("x", "y", 5)
            ]
        );
    }
}
