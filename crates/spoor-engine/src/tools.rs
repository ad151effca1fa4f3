//! Operator tools: `inspect` (what is in one block file, or the per-column bytes of every block
//! of a data directory) and `verify` (checksums and manifest against the files). The CLI wires
//! them as `spoor tool inspect` / `spoor tool verify`.

use std::collections::HashSet;
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
    for (i, rg) in meta.row_groups().iter().enumerate() {
        let _ = writeln!(
            out,
            "  #{i}: {} rows, {} bytes compressed",
            rg.num_rows(),
            rg.compressed_size()
        );
    }
    let mut sizes = ColumnSizes::default();
    sizes.add(meta, size);
    sizes.write(&mut out);
    Ok(out)
}

/// Compressed and uncompressed bytes per column, summed over row groups (and blocks), in
/// schema order.
#[derive(Debug, Default)]
struct ColumnSizes {
    rows: u64,
    file_bytes: u64,
    /// `(column path, compressed, uncompressed)`.
    columns: Vec<(String, i64, i64)>,
}

impl ColumnSizes {
    fn add(&mut self, meta: &parquet::file::metadata::ParquetMetaData, file_bytes: u64) {
        self.rows += meta.file_metadata().num_rows().max(0) as u64;
        self.file_bytes += file_bytes;
        for rg in meta.row_groups() {
            for c in rg.columns() {
                let path = c.column_path().string();
                let pos = match self.columns.iter().position(|(p, _, _)| *p == path) {
                    Some(p) => p,
                    None => {
                        self.columns.push((path, 0, 0));
                        self.columns.len() - 1
                    }
                };
                self.columns[pos].1 += c.compressed_size();
                self.columns[pos].2 += c.uncompressed_size();
            }
        }
    }

    fn write(&self, out: &mut String) {
        let rows = self.rows.max(1) as f64;
        let _ = writeln!(
            out,
            "\ncolumns ({} spans, {:.2} bytes/span in files):",
            self.rows,
            self.file_bytes as f64 / rows
        );
        let _ = writeln!(
            out,
            "  {:<40} {:>12} {:>9} {:>7} {:>12} {:>9}",
            "column", "compressed", "B/span", "share", "uncompressed", "B/span"
        );
        let total: i64 = self.columns.iter().map(|c| c.1).sum();
        for (name, comp, uncomp) in &self.columns {
            let _ = writeln!(
                out,
                "  {name:<40} {comp:>12} {:>9.2} {:>6.1}% {uncomp:>12} {:>9.2}",
                *comp as f64 / rows,
                100.0 * *comp as f64 / total.max(1) as f64,
                *uncomp as f64 / rows
            );
        }
        let uncomp: i64 = self.columns.iter().map(|c| c.2).sum();
        let _ = writeln!(
            out,
            "  {:<40} {total:>12} {:>9.2} {:>6.1}% {uncomp:>12} {:>9.2}",
            "(all columns)",
            total as f64 / rows,
            100.0,
            uncomp as f64 / rows
        );
    }
}

/// [`inspect_block`] for a block file; for a directory (a data directory, its `store/`, or a
/// `blocks/` folder), the per-column byte breakdown summed over every block in it, with the
/// bytes per span of the files and of each column.
pub fn inspect(path: &Path) -> Result<String, StorageError> {
    if !path.is_dir() {
        return inspect_block(path);
    }
    let dir = [path.join("store/blocks"), path.join("blocks")]
        .into_iter()
        .find(|d| d.is_dir())
        .unwrap_or_else(|| path.to_path_buf());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map_err(|e| io(&dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .collect();
    files.sort();
    let mut sizes = ColumnSizes::default();
    let mut out = String::new();
    let _ = writeln!(out, "blocks in {}: {}", dir.display(), files.len());
    for f in &files {
        let file = std::fs::File::open(f).map_err(|e| io(f, e))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        let loc = f.display().to_string();
        let reader = SerializedFileReader::new(file).map_err(|e| corrupt(&loc, e))?;
        let meta = reader.metadata();
        let format = meta
            .file_metadata()
            .key_value_metadata()
            .into_iter()
            .flatten()
            .find(|kv| kv.key == "spoor.format")
            .and_then(|kv| kv.value.clone())
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {}: format {format}, {} spans, {size} bytes, {:.2} bytes/span",
            f.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default(),
            meta.file_metadata().num_rows(),
            size as f64 / meta.file_metadata().num_rows().max(1) as f64
        );
        sizes.add(meta, size);
    }
    sizes.write(&mut out);
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
        log: None,
        keys: config.keys.clone(),
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
    let blocks = Blocks::new(
        object_store.clone(),
        prefix.clone(),
        Default::default(),
        config.keys.clone(),
    );
    for b in &manifest.blocks {
        report.blocks_checked += 1;
        match blocks.fetch_verified(b).await {
            Ok(bytes) => match blocks.read_options(&bytes).and_then(|(o, _)| {
                parquet::arrow::arrow_reader::ArrowReaderMetadata::load(&bytes, o)
                    .map_err(|e| crate::error::internal(e.to_string()))
            }) {
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
            let path = wal::segment_path(&wal_dir, seq);
            let stats = wal::replay_segment_keyed(&path, false, &config.keys, |_| {})?;
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
