//! Decompressed dictionary pages of recently read row groups.
//!
//! A lookup by trace id reads a few rows of one row group, but every dictionary-encoded zstd
//! column chunk of it starts with a dictionary page that has to be decompressed in full
//! before any row decodes (Round 4 and 6 of `docs/performance-notes.md`: 10–16 % of a
//! lookup's CPU, plus the fresh buffers it allocates). This cache keeps those decompressed
//! pages, keyed by the loaded block, row group and column, so reading the same row group
//! again (the same trace opened twice, or its neighbours) skips the decompression and the
//! allocation. It is bounded in bytes and evicts the least recently used page first; pages
//! are shared `Bytes`, so a hit copies nothing.

use std::collections::{BTreeMap, HashMap};

use parking_lot::Mutex;
use parquet::column::page::Page;
use spoor_telemetry::metrics::counter::Counter;

/// What the cache holds at most, by default (pages' bytes plus [`ENTRY_OVERHEAD`] each).
pub(crate) const DEFAULT_CAPACITY: usize = 8 << 20;

/// Bytes counted per entry beyond its page (key, map slots, the page's fields).
const ENTRY_OVERHEAD: usize = 96;

/// A dictionary page's place: the load of a block (see `Loaded::seq`, unique per load, so a
/// block that is dropped and loaded again never sees stale pages), its row group and column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct DictKey {
    pub(crate) block: u64,
    pub(crate) row_group: u32,
    pub(crate) column: u32,
}

struct Entry {
    page: Page,
    bytes: usize,
    used: u64,
}

#[derive(Default)]
struct Inner {
    pages: HashMap<DictKey, Entry>,
    /// Last use → key; the first entry is the least recently used.
    order: BTreeMap<u64, DictKey>,
    bytes: usize,
    clock: u64,
}

/// Decompressed dictionary pages, at most `capacity` bytes, least recently used out first.
pub(crate) struct DictCache {
    inner: Mutex<Inner>,
    capacity: usize,
    /// Dictionary pages served from the cache (`spoor_engine_dictionary_cache_hits_total`).
    pub(crate) hits: Counter,
    /// Dictionary pages decompressed because they were not cached
    /// (`spoor_engine_dictionary_cache_misses_total`).
    pub(crate) misses: Counter,
}

impl Default for DictCache {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl DictCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            capacity,
            hits: Counter::default(),
            misses: Counter::default(),
        }
    }

    fn cost(page: &Page) -> usize {
        page.buffer().len() + ENTRY_OVERHEAD
    }

    /// The cached page at `key` (now the most recently used), counting a hit or a miss.
    pub(crate) fn get(&self, key: &DictKey) -> Option<Page> {
        let mut inner = self.inner.lock();
        inner.clock += 1;
        let now = inner.clock;
        let Inner { pages, order, .. } = &mut *inner;
        match pages.get_mut(key) {
            Some(e) => {
                order.remove(&e.used);
                e.used = now;
                order.insert(now, *key);
                self.hits.inc();
                Some(e.page.clone())
            }
            None => {
                self.misses.inc();
                None
            }
        }
    }

    /// Keeps `page` at `key`, evicting least recently used pages to stay within the capacity.
    /// A page larger than the whole capacity is not kept.
    pub(crate) fn insert(&self, key: DictKey, page: Page) {
        let bytes = Self::cost(&page);
        if bytes > self.capacity {
            return;
        }
        let mut inner = self.inner.lock();
        inner.clock += 1;
        let now = inner.clock;
        if let Some(old) = inner.pages.remove(&key) {
            inner.order.remove(&old.used);
            inner.bytes -= old.bytes;
        }
        while inner.bytes + bytes > self.capacity {
            let Some((_, oldest)) = inner.order.pop_first() else {
                break;
            };
            if let Some(e) = inner.pages.remove(&oldest) {
                inner.bytes -= e.bytes;
            }
        }
        inner.order.insert(now, key);
        inner.pages.insert(
            key,
            Entry {
                page,
                bytes,
                used: now,
            },
        );
        inner.bytes += bytes;
    }

    /// Bytes held (pages plus per-entry overhead).
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.inner.lock().bytes
    }

    /// Pages held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.inner.lock().pages.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use parquet::basic::Encoding;

    fn page(fill: u8, len: usize) -> Page {
        Page::DictionaryPage {
            buf: Bytes::from(vec![fill; len]),
            num_values: len as u32,
            encoding: Encoding::PLAIN,
            is_sorted: false,
        }
    }

    fn key(column: u32) -> DictKey {
        DictKey {
            block: 7,
            row_group: 1,
            column,
        }
    }

    #[test]
    fn stays_within_its_bytes_and_evicts_the_least_recently_used() {
        let per = 1000 + ENTRY_OVERHEAD;
        let cache = DictCache::new(3 * per);
        for c in 0..3 {
            cache.insert(key(c), page(c as u8, 1000));
        }
        assert_eq!(cache.bytes(), 3 * per);
        // Column 0 used again: column 1 is now the least recently used and goes first.
        assert!(cache.get(&key(0)).is_some());
        cache.insert(key(3), page(3, 1000));
        assert_eq!(cache.len(), 3);
        assert!(cache.bytes() <= 3 * per);
        assert!(cache.get(&key(1)).is_none(), "evicted");
        for c in [0, 2, 3] {
            let got = cache.get(&key(c)).expect("kept");
            assert_eq!(
                got.buffer(),
                &Bytes::from(vec![c as u8; 1000]),
                "column {c}"
            );
        }
        // A big page evicts as many as it needs.
        cache.insert(key(4), page(4, 2500));
        assert!(cache.bytes() <= 3 * per);
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.hits.get(), 4);
        assert_eq!(cache.misses.get(), 1);
    }

    #[test]
    fn a_page_larger_than_the_capacity_is_not_kept_and_replacing_counts_once() {
        let cache = DictCache::new(2000);
        cache.insert(key(0), page(0, 5000));
        assert_eq!(cache.len(), 0);
        assert_eq!(cache.bytes(), 0);
        cache.insert(key(1), page(1, 100));
        cache.insert(key(1), page(2, 200));
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.bytes(), 200 + ENTRY_OVERHEAD);
        let got = cache.get(&key(1)).expect("kept");
        assert_eq!(got.buffer(), &Bytes::from(vec![2u8; 200]));
        // Another block's same row group and column is another page.
        let other = DictKey { block: 8, ..key(1) };
        assert!(cache.get(&other).is_none());
    }
}
