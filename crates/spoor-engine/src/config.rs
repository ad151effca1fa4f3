//! Engine configuration and the injected clock.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// When the WAL is fsynced, and so what an acknowledged write survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// fsync every group commit before acknowledging: survives power loss.
    Always,
    /// Acknowledge once the batch is written to the WAL file (the OS page cache) and fsync at
    /// most this long after: survives a crash of the process (kill -9), may lose the last
    /// interval on power loss.
    Interval(Duration),
    /// Never fsync (tests, throw-away data): survives a crash of the process only.
    Never,
}

impl Default for FsyncPolicy {
    /// `Interval(100 ms)`.
    fn default() -> Self {
        FsyncPolicy::Interval(Duration::from_millis(100))
    }
}

/// What a writing engine does on a store shared by several processes (`--role`; see
/// `docs/scale-out.md`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ClusterRole {
    /// The only writer: one manifest log, cut, compaction and retention (`--role all`).
    #[default]
    Single,
    /// One of several ingest nodes: a WAL, blocks cut into the store, its own manifest log
    /// `manifest/nodes/<node_id>/`; no compaction or retention.
    Ingest,
    /// The compactor (with `read_only` set: no WAL, no writes): compaction and retention over
    /// the merged view of every log, while it holds the lease object `lease/compactor.json`.
    Compact,
}

/// Background compaction.
#[derive(Debug, Clone, PartialEq)]
pub struct CompactionConfig {
    /// Run compaction in the background.
    pub enabled: bool,
    /// Blocks whose spans start in the same window of this length are merged together.
    pub window: Duration,
    /// Blocks at least this large (bytes) are left alone.
    pub target_block_bytes: u64,
    /// Upper bound on the summed size of the blocks merged in one run. Compaction decodes its
    /// inputs into memory (roughly 20–30 bytes of memory per stored byte), so this bounds its
    /// memory; it also bounds how large compaction makes blocks.
    pub max_input_bytes: u64,
    /// Minimum number of small blocks in a window before they are merged.
    pub min_blocks: usize,
}

impl Default for CompactionConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            window: Duration::from_secs(3600),
            target_block_bytes: 4 << 20,
            max_input_bytes: 8 << 20,
            min_blocks: 2,
        }
    }
}

/// Everything the engine needs to open.
#[derive(Clone)]
pub struct EngineConfig {
    /// Local directory for the WAL (always local) and, without `storage_url`, the blocks.
    pub data_dir: PathBuf,
    /// Where blocks and manifests live: `s3://bucket/prefix`, `gs://…`, `az://…`,
    /// `file:///path`, or `memory://` (tests). `None`: `<data_dir>/store`.
    pub storage_url: Option<String>,
    /// Extra options for the object store (e.g. `aws_endpoint`, `aws_allow_http`); credentials
    /// are usually taken from the environment instead.
    pub storage_options: Vec<(String, String)>,
    pub wal_fsync: FsyncPolicy,
    /// The head is cut into a block when its oldest span arrived this long ago…
    pub block_cut_interval: Duration,
    /// …or when it holds this many bytes of encoded spans.
    pub block_cut_bytes: u64,
    /// Whole blocks whose newest span is older than this are dropped.
    pub retention: Duration,
    pub compaction: CompactionConfig,
    /// Spans per Parquet row group.
    pub row_group_spans: usize,
    /// How often the background task checks for cut, compaction and retention work.
    pub maintenance_interval: Duration,
    /// Run background tasks at all (tests drive [`crate::Engine::maintain`] instead).
    pub background: bool,
    /// The source of "now"; tests inject a [`ManualClock`].
    pub clock: Arc<dyn Clock>,
    /// Block files no manifest names are moved to `quarantine/` on open only once they are
    /// this old (by the store's modification time and the wall clock): a younger one may be
    /// a block another process is about to commit.
    pub orphan_grace: Duration,
    /// Open as a query-only process on a store another process writes: no WAL, no `LOCK`, no
    /// cut, compaction, retention, quarantine or repair; nothing in the store is changed.
    /// Writes are refused. New blocks are found by reloading the manifest every
    /// `manifest_poll_interval`.
    pub read_only: bool,
    /// How often a read-only engine looks for a newer manifest.
    pub manifest_poll_interval: Duration,
    /// The process memory limit (`--memory-limit`, or a pipeline `memory_limiter`'s soft limit),
    /// if any. The head (live and waiting to be written) may hold three quarters of what the limit
    /// leaves besides `HEAD_RESERVE` (144 MiB), at least an eighth of it and at most two cuts
    /// ([`Self::head_memory_budget`]): it is cut early at half of that share, and writes wait
    /// for room while it holds more (refused with [`spoor_storage::StorageError::Full`] when
    /// none comes in time).
    pub memory_limit: Option<u64>,
    /// Scale-out role of this process (see [`ClusterRole`]).
    pub cluster_role: ClusterRole,
    /// This node's name (`--node-id`): the name of its manifest log and lease holder.
    pub node_id: String,
    /// The compactor lease's time to live; the holder renews it every third of it.
    pub lease_ttl: Duration,
    /// Files of blocks the compactor replaced are deleted this long after the replacement
    /// (readers holding an older view can still open them meanwhile).
    pub delete_grace: Duration,
    /// Encryption at rest: new WAL records, blocks and manifests are encrypted with the
    /// current key; data written under any key of the ring is read. Empty: nothing is
    /// encrypted, and encrypted data is refused with an error naming its key id.
    pub keys: Arc<crate::crypto::Keyring>,
}

impl std::fmt::Debug for EngineConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineConfig")
            .field("data_dir", &self.data_dir)
            .field("storage_url", &self.storage_url)
            .field("wal_fsync", &self.wal_fsync)
            .field("block_cut_interval", &self.block_cut_interval)
            .field("block_cut_bytes", &self.block_cut_bytes)
            .field("retention", &self.retention)
            .field("compaction", &self.compaction)
            .field("row_group_spans", &self.row_group_spans)
            .field("read_only", &self.read_only)
            .field("memory_limit", &self.memory_limit)
            .field("cluster_role", &self.cluster_role)
            .field("node_id", &self.node_id)
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./spoor-data"),
            storage_url: None,
            storage_options: Vec::new(),
            wal_fsync: FsyncPolicy::default(),
            block_cut_interval: Duration::from_secs(60),
            block_cut_bytes: 64 << 20,
            retention: Duration::from_secs(72 * 3600),
            compaction: CompactionConfig::default(),
            row_group_spans: 32 * 1024,
            maintenance_interval: Duration::from_secs(1),
            background: true,
            clock: Arc::new(SystemClock),
            orphan_grace: Duration::from_secs(3600),
            read_only: false,
            manifest_poll_interval: Duration::from_secs(10),
            memory_limit: None,
            cluster_role: ClusterRole::Single,
            node_id: String::new(),
            lease_ttl: Duration::from_secs(15),
            delete_grace: Duration::from_secs(60),
            keys: Arc::default(),
        }
    }
}

impl EngineConfig {
    /// Memory the head (live plus waiting to become blocks) may hold before writes wait for
    /// room (and are refused if none comes): two cuts' worth, and under a memory limit at most
    /// its share of it.
    ///
    /// Two cuts are the live head and one frozen head being written. Flat-out ingest on a
    /// 2-core machine is bound by the CPU, not by this buffer, and fills any budget, so the
    /// budget is what the process's peak memory follows: 128 MiB keeps it near 300 MiB
    /// (four cuts, 256 MiB, peaked at 400–430 MiB). Writes that find the head full wait for
    /// the frozen head's block rather than being sent into their clients' back-off
    /// (`Inner::wait_for_head_room`).
    ///
    /// A memory limit (like the Collector's `memory_limiter`) compares the whole process's
    /// resident memory with the limit and refuses new data while it is above. So the head's
    /// share is not a fixed fraction of the limit: the process first needs [`HEAD_RESERVE`]
    /// for what is not the head (its baseline, the requests in flight, a block being encoded),
    /// and the head may take three quarters of the rest (the rest is for the cut's encoding,
    /// which holds 4096 rows at a time, and spikes), but never less than an eighth of the limit.
    /// A 512 MiB `memory_limiter` (409 MiB after its spike) leaves the head its two full
    /// 64 MiB cuts (its share would be 199 MiB); a 256 MiB limit gives 84 MiB; at 160 MiB and
    /// below the head keeps an eighth.
    pub(crate) fn head_memory_budget(&self) -> u64 {
        let cuts = self.block_cut_bytes.saturating_mul(HEAD_CUTS);
        self.memory_limit.map_or(cuts, |limit| {
            let share = (limit.saturating_sub(HEAD_RESERVE) / 4 * 3).max(limit / 8);
            cuts.min(share)
        })
    }

    /// Memory at which the live head is cut: the cut size, or half the head's budget when
    /// that is smaller.
    pub(crate) fn cut_memory(&self) -> u64 {
        self.block_cut_bytes.min(self.head_memory_budget() / 2)
    }
}

/// Cuts the head may hold without a memory limit: the live one and one being written.
pub(crate) const HEAD_CUTS: u64 = 2;

/// What a process under a memory limit holds besides the engine's head, which the head's
/// budget leaves aside (`EngineConfig::head_memory_budget`): about 40 MiB of baseline (runtime,
/// caches, metric stores), the requests being read and decoded, and a block being encoded.
pub(crate) const HEAD_RESERVE: u64 = 144 << 20;

/// The engine's source of the current time (unix nanoseconds).
pub trait Clock: Send + Sync + 'static {
    fn now_unix_nanos(&self) -> u64;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix_nanos(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to; for deterministic tests.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    pub fn new(now_unix_nanos: u64) -> Self {
        Self(AtomicU64::new(now_unix_nanos))
    }
    pub fn set(&self, now_unix_nanos: u64) {
        self.0.store(now_unix_nanos, Ordering::SeqCst);
    }
    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_nanos() as u64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_unix_nanos(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn with_limit(limit: Option<u64>) -> EngineConfig {
        EngineConfig {
            memory_limit: limit,
            ..EngineConfig::default()
        }
    }

    /// The basic seed's `memory_limiter` (`limit_mib: 512`, 409.6 MiB after its 20 % spike) no
    /// longer shrinks the head to an eighth (51 MiB, 25 MiB cuts): its share (199 MiB) holds
    /// the two full 64 MiB cuts the head takes without a limit.
    #[test]
    fn a_512_mib_memory_limiter_leaves_the_head_full_size_cuts() {
        let config = with_limit(Some(512 * MIB - 512 * MIB / 5));
        assert_eq!(config.head_memory_budget(), 128 * MIB);
        assert_eq!(config.cut_memory(), config.block_cut_bytes);
    }

    #[test]
    fn the_head_budget_is_two_cuts_at_most_and_an_eighth_of_a_small_limit_at_least() {
        assert_eq!(with_limit(None).head_memory_budget(), 128 * MIB);
        assert_eq!(with_limit(Some(16 << 30)).head_memory_budget(), 128 * MIB);
        assert_eq!(with_limit(Some(256 * MIB)).head_memory_budget(), 84 * MIB);
        assert_eq!(with_limit(Some(192 * MIB)).head_memory_budget(), 36 * MIB);
        assert_eq!(with_limit(Some(160 * MIB)).head_memory_budget(), 20 * MIB);
        assert_eq!(with_limit(Some(32 * MIB)).head_memory_budget(), 4 * MIB);
        assert_eq!(with_limit(Some(32 * MIB)).cut_memory(), 2 * MIB);
    }
}
