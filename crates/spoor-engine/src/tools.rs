//! Operator tools: `inspect_block` (what is in one block file) and `verify` (checksums and
//! manifest against the files). The CLI wires them as `spoor tool inspect` / `spoor tool verify`.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::path::Path;

use futures::TryStreamExt;
use parquet::file::reader::{FileReader, SerializedFileReader};
use spoor_storage::StorageError;

use crate::block::Blocks;
use crate::config::EngineConfig;
use crate::error::{corrupt, io, store};
use crate::manifest::ManifestStore;
use crate::wal;

/// A human-readable description of one block file: format, block metadata, schema, row
/// groups, and compressed/uncompressed bytes per column.
pub fn inspect_block(path: &Path) -> Result<String, StorageError> {
    let file = std::fs::File::open(path).map_err(|e| io(path, e))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let loc = path.display().to_string();
    let reader = SerializedFileReader::new(file).map_err(|e| corrupt(&loc, e))?;
    let meta = reader.metadata();
    let fm = meta.file_metadata();
    let mut out = String::new();
    let rows = fm.num_rows().max(1) as f64;
    let _ = writeln!(out, "file: {loc}");
    let _ = writeln!(
        out,
        "size: {size} bytes, {} rows, {:.1} bytes/row, {} row groups",
        fm.num_rows(),
        size as f64 / rows,
        meta.num_row_groups()
    );
    for kv in fm.key_value_metadata().into_iter().flatten() {
        if kv.key.starts_with("spoor.") {
            let _ = writeln!(out, "{}: {}", kv.key, kv.value.as_deref().unwrap_or(""));
        }
    }
    let _ = writeln!(out, "\nschema:");
    for c in fm.schema_descr().columns() {
        let _ = writeln!(
            out,
            "  {:<40} {:?} {:?}",
            c.path().string(),
            c.physical_type(),
            c.logical_type_ref()
        );
    }
    let _ = writeln!(out, "\nrow groups:");
    let mut per_col: BTreeMap<String, (i64, i64, usize)> = BTreeMap::new();
    for (i, rg) in meta.row_groups().iter().enumerate() {
        let _ = writeln!(
            out,
            "  #{i}: {} rows, {} bytes compressed",
            rg.num_rows(),
            rg.compressed_size()
        );
        for (j, c) in rg.columns().iter().enumerate() {
            let e = per_col.entry(c.column_path().string()).or_insert((0, 0, j));
            e.0 += c.compressed_size();
            e.1 += c.uncompressed_size();
        }
    }
    let _ = writeln!(
        out,
        "\ncolumns (compressed bytes, bytes/row, uncompressed bytes):"
    );
    let mut cols: Vec<_> = per_col.into_iter().collect();
    cols.sort_by_key(|(_, (_, _, j))| *j);
    for (name, (comp, uncomp, _)) in cols {
        let _ = writeln!(
            out,
            "  {name:<40} {comp:>12} {:>8.2} {uncomp:>12}",
            comp as f64 / rows
        );
    }
    Ok(out)
}

/// What [`verify`] found. `problems` is empty when everything checks out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub manifest_version: u64,
    pub blocks_checked: usize,
    pub blocks_ok: usize,
    /// Block files in the store that the manifest does not name.
    pub orphan_blocks: Vec<String>,
    pub wal_segments: usize,
    pub wal_records: u64,
    pub wal_corrupt_records: u64,
    pub wal_torn_bytes: u64,
    pub problems: Vec<String>,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks a data directory without changing it: every manifest block exists with the recorded
/// size and crc32c and parses as Parquet; lists block files the manifest does not name; reads
/// every WAL segment and counts intact, corrupt and torn records. Do not run it against a
/// directory an engine is writing to (the WAL tail may be mid-write).
pub async fn verify(config: &EngineConfig) -> Result<VerifyReport, StorageError> {
    let opened = crate::store::open_store(config)?;
    let (object_store, prefix) = (opened.store.clone(), opened.prefix.clone());
    let manifests = ManifestStore {
        store: opened.store,
        prefix: opened.prefix,
        local: opened.local,
    };
    let (manifest, skipped) = manifests.load().await?;
    let mut report = VerifyReport {
        manifest_version: manifest.version,
        ..VerifyReport::default()
    };
    for v in skipped {
        report
            .problems
            .push(format!("manifest version {v} is unreadable"));
    }
    let blocks = Blocks::new(object_store.clone(), prefix.clone(), Default::default());
    for b in &manifest.blocks {
        report.blocks_checked += 1;
        match blocks.fetch_verified(b).await {
            Ok(bytes) => match SerializedFileReader::new(bytes) {
                Ok(r) if r.metadata().file_metadata().num_rows() as u64 == b.span_count => {
                    report.blocks_ok += 1
                }
                Ok(r) => report.problems.push(format!(
                    "block {}: {} rows, manifest says {}",
                    b.id,
                    r.metadata().file_metadata().num_rows(),
                    b.span_count
                )),
                Err(e) => report
                    .problems
                    .push(format!("block {}: not readable parquet: {e}", b.id)),
            },
            Err(e) => report.problems.push(format!("block {}: {e}", b.id)),
        }
    }
    let live: HashSet<&str> = manifest.blocks.iter().map(|b| b.id.as_str()).collect();
    let listed: Vec<_> = object_store
        .list(Some(&prefix.clone().join("blocks")))
        .try_collect()
        .await
        .map_err(|e| store("listing blocks", e))?;
    for obj in listed {
        if let Some(id) = obj
            .location
            .filename()
            .and_then(|f| f.strip_suffix(".parquet"))
            && !live.contains(id)
        {
            report.orphan_blocks.push(id.to_string());
        }
    }
    let wal_dir = config.data_dir.join("wal");
    if wal_dir.is_dir() {
        for seq in wal::list_segments(&wal_dir)? {
            if seq <= manifest.wal_checkpoint {
                continue;
            }
            report.wal_segments += 1;
            let stats = wal::replay_segment(&wal::segment_path(&wal_dir, seq), false, |_| {})?;
            report.wal_records += stats.records;
            report.wal_corrupt_records += stats.corrupt_records;
            report.wal_torn_bytes += stats.torn_bytes;
            if stats.corrupt_records > 0 {
                report.problems.push(format!(
                    "wal segment {seq}: {} corrupt records",
                    stats.corrupt_records
                ));
            }
        }
    }
    Ok(report)
}
