//! The manifest: which blocks are live, the WAL checkpoint, and the service/operation catalog.
//!
//! Each version is a new immutable object `manifest/<version:020>.json`, created with a
//! conditional put (`PutMode::Create`): two writers cannot both create the same version, so a
//! commit either wins or learns that someone else moved first. The highest readable version is
//! the current state.

use std::sync::Arc;

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};
use spoor_storage::StorageError;

use crate::error::{internal, store};

/// One operation of a service, as the catalog and block metadata keep it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CatalogOp {
    pub service: String,
    pub name: String,
    /// Jaeger span kind name; empty when unspecified.
    pub kind: String,
}

/// What the manifest records about one block (also stored in the block's Parquet key-value
/// metadata under `spoor.block`, with `size_bytes`/`crc32c` zero there).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockMeta {
    pub id: String,
    /// 0 for a block cut from the head, +1 for each compaction.
    pub level: u32,
    pub size_bytes: u64,
    /// crc32c of the whole file.
    pub crc32c: u32,
    pub span_count: u64,
    pub trace_count: u64,
    /// Earliest and latest span start, unix nanoseconds.
    pub min_start: u64,
    pub max_start: u64,
    /// Smallest and largest trace id, lower-case hex.
    pub min_trace_id: String,
    pub max_trace_id: String,
    pub services: Vec<String>,
    pub operations: Vec<CatalogOp>,
    /// `(parent service, child service, calls)` for parent/child pairs inside this block.
    pub dependencies: Vec<(String, String, u64)>,
    /// Clock time the block was written.
    pub created_at: u64,
    /// Format 2: the last WAL segment whose spans the block holds (the newest of its inputs'
    /// for a compacted block); 0 when unknown. Lets a rebuilt manifest set `wal_checkpoint`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub wal_seq: u64,
    /// Format 2: the blocks a compaction merged into this one. A rebuild from the block
    /// files leaves those out when this block is live.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<String>,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

impl BlockMeta {
    /// Object path of the block under the store prefix.
    pub fn path(&self, prefix: &Path) -> Path {
        block_path(prefix, &self.id)
    }
}

pub(crate) fn block_path(prefix: &Path, id: &str) -> Path {
    prefix
        .clone()
        .join("blocks")
        .join(format!("{id}.parquet").as_str())
}

pub(crate) fn quarantine_path(prefix: &Path, id: &str) -> Path {
    prefix
        .clone()
        .join("quarantine")
        .join(format!("{id}.parquet").as_str())
}

/// A catalog entry with the newest span start seen for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogEntry {
    #[serde(flatten)]
    pub op: CatalogOp,
    pub last_seen: u64,
}

/// One manifest version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u64,
    /// Format version of the blocks and this file.
    pub format: u32,
    pub blocks: Vec<BlockMeta>,
    /// WAL segments with a sequence number up to this one are covered by blocks.
    pub wal_checkpoint: u64,
    pub catalog: Vec<CatalogEntry>,
    /// Scale-out: blocks the compactor replaced (merged or expired) that other nodes' logs may
    /// still name; readers of the merged view leave them out (see `docs/scale-out.md`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub superseded: Vec<Tombstone>,
}

/// A block the compactor replaced, and when (clock nanos); its file is deleted once no node
/// log names it and the grace period has passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tombstone {
    pub id: String,
    pub at: u64,
}

/// Reads and commits manifest versions under `<prefix>/manifest/`.
#[derive(Clone)]
pub(crate) struct ManifestStore {
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) prefix: Path,
    /// The local directory behind `store` when it is local disk: commits are then fsynced
    /// (file and directory), which `object_store` does not do.
    pub(crate) local: Option<std::path::PathBuf>,
    /// The log under `manifest/`: `None` for the single-writer log (`manifest/<v>.json`),
    /// `Some("nodes/<node-id>")` for an ingest node's, `Some("compactor")` for the
    /// compactor's (see `crate::cluster`).
    pub(crate) log: Option<String>,
    /// Versions are sealed with the current key and opened with the key they name.
    pub(crate) keys: Arc<crate::crypto::Keyring>,
}

/// Flushes a file the object store wrote under `root`, and its directory, to disk.
pub(crate) fn sync_local(root: &std::path::Path, path: &Path) -> Result<(), StorageError> {
    let file = root.join(path.as_ref());
    let io = |p: &std::path::Path, e| crate::error::io(p, e);
    std::fs::File::open(&file)
        .and_then(|f| f.sync_all())
        .map_err(|e| io(&file, e))?;
    if let Some(dir) = file.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io(dir, e))?;
    }
    Ok(())
}

pub(crate) enum Commit {
    Done,
    /// Another writer created this version first.
    Conflict,
}

impl ManifestStore {
    fn dir(&self) -> Path {
        let root = self.prefix.clone().join("manifest");
        match &self.log {
            None => root,
            Some(log) => log.split('/').fold(root, |p, part| p.join(part)),
        }
    }

    /// The same store and prefix, another log.
    pub(crate) fn with_log(&self, log: Option<String>) -> ManifestStore {
        ManifestStore {
            log,
            ..self.clone()
        }
    }

    pub(crate) fn version_path(&self, version: u64) -> Path {
        self.dir().join(format!("{version:020}.json").as_str())
    }

    /// Versions present, ascending.
    pub(crate) async fn versions(&self) -> Result<Vec<u64>, StorageError> {
        // Only this log's own objects: the single-writer log's directory also holds the
        // other logs (`nodes/…`, `compactor/`).
        let list = self
            .store
            .list_with_delimiter(Some(&self.dir()))
            .await
            .map_err(|e| store("listing manifests", e))?;
        let mut out: Vec<u64> = list
            .objects
            .iter()
            .filter_map(|m| m.location.filename())
            .filter_map(|f| f.strip_suffix(".json"))
            .filter_map(|v| v.parse().ok())
            .collect();
        out.sort_unstable();
        Ok(out)
    }

    /// The newest readable manifest (an empty one at version 0 when none exists). Unreadable
    /// newer versions are skipped and returned in the second field (newest first).
    pub(crate) async fn load(&self) -> Result<(Manifest, Vec<u64>), StorageError> {
        let mut skipped = Vec::new();
        // Sealed versions whose tag did not verify: one damaged version is skipped like any
        // unreadable one, but when no sealed version opens the key is wrong (same id, other
        // key material), which must not turn into a rebuild.
        let mut undecryptable = Vec::new();
        let wrong_key = |vs: &[u64]| {
            StorageError::Unavailable(format!(
                "manifest versions {vs:?} do not decrypt with the configured key of their key \
                 id (wrong key material?); nothing was changed"
            ))
        };
        for v in self.versions().await?.into_iter().rev() {
            let path = self.version_path(v);
            let bytes = match self.store.get(&path).await {
                Ok(r) => r.bytes().await.map_err(|e| store("reading manifest", e))?,
                Err(e) => return Err(store("reading manifest", e)),
            };
            // A version sealed with a key this process lacks is not damaged: refuse to go on
            // (a rebuild would drop what it names) with an error naming the key id.
            let bytes = match self.keys.open_if_sealed(&bytes) {
                Ok(b) => b,
                Err(
                    e @ (crate::crypto::CryptoError::MissingKey(_)
                    | crate::crypto::CryptoError::NoKeys(_)),
                ) => {
                    return Err(StorageError::Unavailable(format!(
                        "manifest {path} {e}; configure it with --encryption-key-file or \
                         --encryption-old-key-file"
                    )));
                }
                Err(_) => {
                    tracing::warn!(
                        version = v,
                        "skipping manifest version that does not decrypt"
                    );
                    skipped.push(v);
                    undecryptable.push(v);
                    continue;
                }
            };
            let sealed = matches!(bytes, std::borrow::Cow::Owned(_));
            match serde_json::from_slice::<Manifest>(&bytes) {
                Ok(_) if !sealed && !undecryptable.is_empty() => {
                    return Err(wrong_key(&undecryptable));
                }
                Ok(m) if m.version == v => return Ok((m, skipped)),
                _ => {
                    tracing::warn!(version = v, "skipping unreadable manifest version");
                    skipped.push(v);
                }
            }
        }
        if !undecryptable.is_empty() {
            return Err(wrong_key(&undecryptable));
        }
        Ok((
            Manifest {
                format: crate::block::FORMAT_VERSION,
                ..Manifest::default()
            },
            skipped,
        ))
    }

    /// Creates version `m.version`; never overwrites.
    pub(crate) async fn commit(&self, m: &Manifest) -> Result<Commit, StorageError> {
        let body = serde_json::to_vec_pretty(m).map_err(internal)?;
        let body = self.keys.seal_if_enabled(body).map_err(internal)?;
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        let path = self.version_path(m.version);
        match self
            .store
            .put_opts(&path, PutPayload::from(body), opts)
            .await
        {
            Ok(_) => {
                if let Some(root) = &self.local {
                    let root = root.clone();
                    tokio::task::spawn_blocking(move || sync_local(&root, &path))
                        .await
                        .map_err(internal)??;
                }
                Ok(Commit::Done)
            }
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. }) => Ok(Commit::Conflict),
            Err(e) => Err(store("writing manifest", e)),
        }
    }

    /// Deletes all but the newest `keep` versions below `current`.
    pub(crate) async fn prune(&self, current: u64, keep: usize) -> Result<(), StorageError> {
        let versions = self.versions().await?;
        let old: Vec<u64> = versions.into_iter().filter(|v| *v < current).collect();
        let n = old.len().saturating_sub(keep);
        for v in &old[..n] {
            // A failed delete leaves an old version behind; harmless.
            let _ = self.store.delete(&self.version_path(*v)).await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_version_is_created_once() {
        let ms = ManifestStore {
            store: Arc::new(object_store::memory::InMemory::new()),
            prefix: Path::from("p"),
            local: None,
            log: None,
            keys: Arc::default(),
        };
        let (m0, _) = ms.load().await.expect("load empty");
        assert_eq!(m0.version, 0);
        let mut a = m0.clone();
        a.version = 1;
        a.wal_checkpoint = 7;
        let mut b = m0;
        b.version = 1;
        b.wal_checkpoint = 9;
        assert!(matches!(ms.commit(&a).await.expect("a"), Commit::Done));
        assert!(matches!(ms.commit(&b).await.expect("b"), Commit::Conflict));
        let (cur, skipped) = ms.load().await.expect("load");
        assert_eq!(
            (cur.version, cur.wal_checkpoint),
            (1, 7),
            "the first writer won"
        );
        assert!(skipped.is_empty());
        for v in 2..=6 {
            let mut n = cur.clone();
            n.version = v;
            assert!(matches!(ms.commit(&n).await.expect("commit"), Commit::Done));
        }
        ms.prune(6, 3).await.expect("prune");
        assert_eq!(ms.versions().await.expect("versions"), vec![3, 4, 5, 6]);
    }
}
