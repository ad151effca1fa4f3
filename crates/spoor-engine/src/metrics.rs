//! The engine's metrics, registered as `spoor_engine_*`.

use spoor_telemetry::Telemetry;
use spoor_telemetry::metrics::counter::Counter;
use spoor_telemetry::metrics::gauge::Gauge;

#[derive(Clone, Default)]
pub(crate) struct Metrics {
    pub(crate) blocks: Gauge,
    pub(crate) block_bytes: Gauge,
    pub(crate) wal_bytes: Gauge,
    pub(crate) head_spans: Gauge,
    pub(crate) head_memory: Gauge,
    pub(crate) head_full_refusals: Counter,
    pub(crate) head_full_waits: Counter,
    pub(crate) spans_written: Counter,
    pub(crate) blocks_written: Counter,
    pub(crate) wal_corrupt_records: Counter,
    pub(crate) wal_torn_bytes: Counter,
    pub(crate) corrupt_blocks: Counter,
    pub(crate) undecodable_rows: Counter,
    pub(crate) missing_blocks: Counter,
    pub(crate) wal_segments_moved_aside: Counter,
    pub(crate) compactions: Counter,
    pub(crate) compactions_deferred: Counter,
    pub(crate) retention_dropped_blocks: Counter,
    pub(crate) manifest_refreshes: Counter,
    pub(crate) deleted_spans: Counter,
    pub(crate) lease_held: Gauge,
}

impl Metrics {
    pub(crate) fn register(&self, t: &Telemetry) {
        t.register(
            "engine_blocks",
            "Live blocks in the manifest",
            self.blocks.clone(),
        );
        t.register(
            "engine_block_bytes",
            "Bytes of live blocks",
            self.block_bytes.clone(),
        );
        t.register(
            "engine_wal_bytes",
            "Bytes in WAL segments not yet covered by blocks",
            self.wal_bytes.clone(),
        );
        t.register(
            "engine_head_spans",
            "Spans in the in-memory head (incl. heads being written)",
            self.head_spans.clone(),
        );
        t.register(
            "engine_spans_written",
            "Spans acknowledged by the engine",
            self.spans_written.clone(),
        );
        t.register(
            "engine_blocks_written",
            "Blocks written (cuts and compactions)",
            self.blocks_written.clone(),
        );
        t.register(
            "engine_wal_corrupt_records",
            "WAL records skipped on replay because their checksum or decoding failed",
            self.wal_corrupt_records.clone(),
        );
        t.register(
            "engine_wal_torn_bytes",
            "Bytes cut from torn WAL tails on replay",
            self.wal_torn_bytes.clone(),
        );
        t.register(
            "engine_corrupt_blocks",
            "Blocks quarantined because they failed a checksum or could not be decoded",
            self.corrupt_blocks.clone(),
        );
        t.register(
            "engine_undecodable_rows",
            "Block rows skipped on read because a stored value did not decode (the rest of the block is served)",
            self.undecodable_rows.clone(),
        );
        t.register(
            "engine_missing_blocks",
            "Blocks the manifest names whose file is missing, dropped from the live set",
            self.missing_blocks.clone(),
        );
        t.register(
            "engine_wal_segments_moved_aside",
            "WAL segments that could not be read at all, moved to wal/damaged/",
            self.wal_segments_moved_aside.clone(),
        );
        t.register(
            "engine_head_memory_bytes",
            "Memory held by the head (live and waiting to be written as blocks)",
            self.head_memory.clone(),
        );
        t.register(
            "engine_head_full_refusals",
            "Writes refused because the head held more than its memory budget",
            self.head_full_refusals.clone(),
        );
        t.register(
            "engine_head_full_waits",
            "Writes that found the head over its memory budget and waited for a cut to free room",
            self.head_full_waits.clone(),
        );
        t.register(
            "engine_compactions",
            "Compactions completed",
            self.compactions.clone(),
        );
        t.register(
            "engine_compactions_deferred",
            "Compactions put off because the memory limit left too little room for them",
            self.compactions_deferred.clone(),
        );
        t.register(
            "engine_retention_dropped_blocks",
            "Blocks dropped by retention",
            self.retention_dropped_blocks.clone(),
        );
        t.register(
            "engine_manifest_refreshes",
            "Newer manifests a read-only engine switched to",
            self.manifest_refreshes.clone(),
        );
        t.register(
            "engine_deleted_spans",
            "Spans deleted on demand (spoor tool delete, POST /api/admin/delete)",
            self.deleted_spans.clone(),
        );
        t.register(
            "engine_compactor_lease_held",
            "1 while this process holds the compactor lease (--role compact)",
            self.lease_held.clone(),
        );
    }
}
