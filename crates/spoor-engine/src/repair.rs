//! Failing safe on a damaged store: rebuilding the block list from the blocks themselves when
//! the newest manifest is unreadable, dropping blocks whose files are missing, and moving
//! unreferenced files to `quarantine/` (never deleting them) once they are old enough.
//! [`Engine::open`](crate::Engine::open) runs this on every start; `spoor tool repair`
//! ([`crate::repair`]) runs it offline and reports.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, SystemTime};

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use spoor_storage::StorageError;

use crate::block::FORMAT_VERSION;
use crate::config::EngineConfig;
use crate::error::store;
use crate::manifest::{
    BlockMeta, CatalogEntry, CatalogOp, Commit, Manifest, ManifestStore, block_path,
    quarantine_path,
};

/// What opening (or `spoor tool repair`) found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepairReport {
    /// Manifest versions that did not parse, newest first (copied to `quarantine/`).
    pub unreadable_manifests: Vec<u64>,
    /// A new manifest version was written from the block files (the newest was unreadable).
    pub rebuilt: bool,
    /// Blocks added back from their own footers by the rebuild.
    pub blocks_recovered: Vec<String>,
    /// Blocks the manifest named whose file is missing, dropped from the live set.
    pub missing_blocks: Vec<String>,
    /// Block files no manifest names, old enough, moved to `quarantine/`.
    pub quarantined_orphans: Vec<String>,
    /// Block files no manifest names, younger than the grace period, left in place.
    pub young_orphans: Vec<String>,
}

fn block_id(obj: &ObjectMeta) -> Option<String> {
    obj.location
        .filename()
        .and_then(|f| f.strip_suffix(".parquet"))
        .map(str::to_string)
}

/// The block's metadata from its own footer (`spoor.block`), with the size and checksum of
/// the file as it is; `None` when the file is not a readable block.
async fn meta_from_footer(
    s: &dyn ObjectStore,
    path: &Path,
    size: u64,
    keys: &std::sync::Arc<crate::crypto::Keyring>,
) -> Option<BlockMeta> {
    let bytes = s.get(path).await.ok()?.bytes().await.ok()?;
    // An encrypted block's footer is read with the keyring.
    let (options, _) = crate::block::read_options(keys, &bytes).ok()?;
    let reader = parquet::arrow::arrow_reader::ArrowReaderMetadata::load(&bytes, options).ok()?;
    let kv = reader.metadata().file_metadata().key_value_metadata()?;
    let json = kv
        .iter()
        .find(|kv| kv.key == "spoor.block")?
        .value
        .clone()?;
    let mut meta: BlockMeta = serde_json::from_str(&json).ok()?;
    meta.size_bytes = size;
    meta.crc32c = crc32c::crc32c(&bytes);
    Some(meta)
}

/// Brings the store into a state the engine can serve and returns the manifest to use.
/// Never deletes a block file: it only commits new manifest versions and copies files to
/// `quarantine/` (removing the original only for orphans past `grace`).
pub(crate) async fn recover(
    manifests: &ManifestStore,
    grace: Duration,
    dry_run: bool,
) -> Result<(Manifest, RepairReport), StorageError> {
    let s = manifests.store.clone();
    let prefix = manifests.prefix.clone();
    let mut report = RepairReport::default();
    let (mut manifest, skipped) = manifests.load().await?;
    let listed: Vec<ObjectMeta> = s
        .list(Some(&prefix.clone().join("blocks")))
        .try_collect()
        .await
        .map_err(|e| store("listing blocks", e))?;
    let files: HashMap<String, ObjectMeta> = listed
        .into_iter()
        .filter_map(|o| block_id(&o).map(|id| (id, o)))
        .collect();
    let mut changed = false;

    // An ingest node's own log (scale-out): the store holds other nodes' blocks, so neither
    // a rebuild from the block files nor orphans apply; see `crate::cluster`.
    let node_log = manifests.log.is_some();
    if node_log && !skipped.is_empty() {
        tracing::error!(
            unreadable = ?skipped,
            using = manifest.version,
            "newest manifest of this node is unreadable; using the newest readable one"
        );
        report.unreadable_manifests = skipped.clone();
        changed = true;
    } else if !skipped.is_empty() {
        // The newest manifest is unreadable: it may name blocks the readable one does not.
        // Every block file present is a candidate; a compaction output replaces its inputs.
        tracing::error!(
            unreadable = ?skipped,
            using = manifest.version,
            "newest manifest is unreadable; rebuilding the block list from the block files"
        );
        report.unreadable_manifests = skipped.clone();
        if !dry_run {
            for v in &skipped {
                let from = manifests.version_path(*v);
                let to = prefix
                    .clone()
                    .join("quarantine")
                    .join(format!("manifest-{v:020}.json").as_str());
                let _ = s.copy(&from, &to).await;
            }
        }
        let named: HashSet<String> = manifest.blocks.iter().map(|b| b.id.clone()).collect();
        let mut ids: Vec<&String> = files.keys().filter(|id| !named.contains(*id)).collect();
        ids.sort();
        for id in ids {
            let obj = &files[id];
            match meta_from_footer(s.as_ref(), &obj.location, obj.size, &manifests.keys).await {
                Some(meta) if meta.id == *id => {
                    report.blocks_recovered.push(id.clone());
                    manifest.blocks.push(meta);
                }
                _ => {
                    tracing::warn!(block = %id, "block file has no readable metadata; left in place")
                }
            }
        }
        let superseded: HashSet<String> = manifest
            .blocks
            .iter()
            .flat_map(|b| b.inputs.iter().cloned())
            .collect();
        manifest.blocks.retain(|b| !superseded.contains(&b.id));
        report
            .blocks_recovered
            .retain(|id| !superseded.contains(id));
        manifest.wal_checkpoint = manifest
            .blocks
            .iter()
            .map(|b| b.wal_seq)
            .fold(manifest.wal_checkpoint, u64::max);
        let mut catalog: BTreeMap<CatalogOp, u64> = manifest
            .catalog
            .iter()
            .map(|e| (e.op.clone(), e.last_seen))
            .collect();
        for b in &manifest.blocks {
            for op in &b.operations {
                let e = catalog.entry(op.clone()).or_insert(b.max_start);
                *e = (*e).max(b.max_start);
            }
        }
        manifest.catalog = catalog
            .into_iter()
            .map(|(op, last_seen)| CatalogEntry { op, last_seen })
            .collect();
        report.rebuilt = true;
        changed = true;
    }

    // Referenced but missing: drop from the live set, loudly.
    let before = manifest.blocks.len();
    manifest.blocks.retain(|b| {
        let present = files.contains_key(&b.id);
        if !present {
            tracing::error!(block = %b.id, spans = b.span_count, "block file is missing from the store; dropping it from the live set");
            report.missing_blocks.push(b.id.clone());
        }
        present
    });
    changed |= manifest.blocks.len() != before;

    if changed && !dry_run {
        let newest = skipped.first().copied().unwrap_or(manifest.version);
        manifest.version = newest.max(manifest.version) + 1;
        manifest.format = FORMAT_VERSION;
        match manifests.commit(&manifest).await? {
            Commit::Done => {}
            Commit::Conflict => {
                return Err(StorageError::Unavailable(format!(
                    "another process wrote manifest version {} while this one repaired the store",
                    manifest.version
                )));
            }
        }
    }

    if node_log {
        return Ok((manifest, report));
    }
    // Orphans: named by no manifest (a crash between a block and its commit, or a compaction
    // input whose deletion did not happen). Moved aside, never deleted, and only when old.
    let live: HashSet<&str> = manifest.blocks.iter().map(|b| b.id.as_str()).collect();
    let now = SystemTime::now();
    let mut orphans: Vec<(&String, &ObjectMeta)> = files
        .iter()
        .filter(|(id, _)| !live.contains(id.as_str()))
        .collect();
    orphans.sort_by(|a, b| a.0.cmp(b.0));
    for (id, obj) in orphans {
        let modified: SystemTime = obj.last_modified.into();
        let age = now.duration_since(modified).unwrap_or_default();
        if age < grace {
            report.young_orphans.push(id.clone());
            continue;
        }
        report.quarantined_orphans.push(id.clone());
        if dry_run {
            continue;
        }
        let to = quarantine_path(&prefix, id);
        if s.copy(&obj.location, &to).await.is_ok() {
            let _ = s.delete(&block_path(&prefix, id)).await;
        }
    }
    Ok((manifest, report))
}

/// `spoor tool repair`: what [`crate::Engine::open`] does to a damaged store, run offline,
/// with a report (or, with `dry_run`, only the report). Refuses while an engine has the data
/// dir open (its `LOCK`); with an object store, run it while no engine uses the store.
pub async fn repair(config: &EngineConfig, dry_run: bool) -> Result<RepairReport, StorageError> {
    // Refuses while a server has the data dir open.
    let _lock = if config.data_dir.is_dir() {
        Some(crate::engine::lock_data_dir(&config.data_dir)?)
    } else {
        None
    };
    let opened = crate::store::open_store(config)?;
    let manifests = ManifestStore {
        store: opened.store,
        prefix: opened.prefix,
        local: opened.local,
        log: None,
        keys: config.keys.clone(),
    };
    let (_, report) = recover(&manifests, config.orphan_grace, dry_run).await?;
    Ok(report)
}
