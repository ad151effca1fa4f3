use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use anyhow::Context;
use spoor_engine::{Clock as _, DeleteFilter, Engine, EngineConfig};
use spoor_storage::StorageError;

use crate::cli::ToolCommand;

/// `spoor tool …`: prints a report; fails (exit 1) when verification finds problems.
pub async fn run(tool: ToolCommand) -> anyhow::Result<()> {
    match tool {
        ToolCommand::Inspect { block } => {
            let report = spoor_engine::inspect(&block)
                .with_context(|| format!("inspecting {}", block.display()))?;
            println!("{report}");
            Ok(())
        }
        ToolCommand::Repair {
            store,
            dry_run,
            orphan_grace,
        } => {
            let mut config = store_config(store)?;
            config.orphan_grace = orphan_grace;
            let r = spoor_engine::repair(&config, dry_run)
                .await
                .context("repairing the store")?;
            let verb = if dry_run { "would " } else { "" };
            if r.unreadable_manifests.is_empty() {
                println!("newest manifest readable");
            } else {
                println!(
                    "unreadable manifest versions: {:?}; {verb}rebuild the block list from the block files",
                    r.unreadable_manifests
                );
            }
            println!(
                "blocks {verb}recovered from their footers: {}",
                r.blocks_recovered.len()
            );
            for id in &r.blocks_recovered {
                println!("  {id}");
            }
            println!(
                "missing block files {verb}dropped: {}",
                r.missing_blocks.len()
            );
            for id in &r.missing_blocks {
                println!("  {id}");
            }
            println!(
                "unreferenced block files {verb}moved to quarantine/: {} (younger than the grace period, left: {})",
                r.quarantined_orphans.len(),
                r.young_orphans.len()
            );
            Ok(())
        }
        ToolCommand::Delete {
            store,
            before,
            service,
        } => {
            let now = spoor_engine::SystemClock.now_unix_nanos();
            let before = before
                .as_deref()
                .map(|b| spoor_api::parse_before(b, now))
                .transpose()
                .map_err(|e| anyhow::anyhow!("--before: {e}"))?;
            anyhow::ensure!(
                before.is_some() || service.is_some(),
                "spoor tool delete needs --before, --service, or both"
            );
            let filter = DeleteFilter { before, service };
            let telemetry = spoor_telemetry::Telemetry::new();
            let engine = Engine::open(store_config(store)?, &telemetry)
                .await
                .context("opening the store")?;
            let deleted = engine.delete(&filter).await;
            let closed = engine.shutdown().await;
            let r = deleted.context("deleting")?;
            closed.context("closing the store")?;
            println!(
                "deleted {} spans: {} blocks dropped, {} rewritten, {} kept",
                r.spans_deleted, r.blocks_dropped, r.blocks_rewritten, r.blocks_kept
            );
            Ok(())
        }
        ToolCommand::Verify { store } => {
            let config = store_config(store)?;
            let r = spoor_engine::verify(&config)
                .await
                .context("verifying the store")?;
            println!("manifest version {}", r.manifest_version);
            println!("blocks: {} checked, {} ok", r.blocks_checked, r.blocks_ok);
            println!("orphan block files: {}", r.orphan_blocks.len());
            for orphan in &r.orphan_blocks {
                println!("  {orphan}");
            }
            println!(
                "wal: {} segments, {} records, {} corrupt, {} torn bytes",
                r.wal_segments, r.wal_records, r.wal_corrupt_records, r.wal_torn_bytes
            );
            for problem in &r.problems {
                println!("problem: {problem}");
            }
            let report = r;
            anyhow::ensure!(report.is_ok(), "verification found problems");
            Ok(())
        }
    }
}

fn store_config(store: crate::cli::StoreArgs) -> anyhow::Result<EngineConfig> {
    let keys = std::sync::Arc::new(store.encryption.keyring().context("encryption at rest")?);
    let config = EngineConfig {
        data_dir: store.data_dir,
        storage_url: store.storage_url,
        storage_options: store
            .storage_options
            .into_iter()
            .chain(store.encryption.sse_options())
            .collect(),
        background: false,
        keys,
        ..EngineConfig::default()
    };
    Ok(match &store.tenant {
        Some(tenant) => crate::tenants::tenant_config(&config, tenant),
        None => config,
    })
}

/// `POST /api/admin/delete` on the running engine.
pub struct EnginePurger(pub Arc<Engine>);

impl spoor_api::Purger for EnginePurger {
    fn delete(
        &self,
        request: spoor_api::DeleteRequest,
    ) -> Pin<Box<dyn Future<Output = Result<serde_json::Value, StorageError>> + Send + '_>> {
        Box::pin(async move {
            let filter = DeleteFilter {
                before: request.before,
                service: request.service,
            };
            let report = self.0.delete(&filter).await?;
            serde_json::to_value(&report).map_err(|e| StorageError::Internal(e.to_string()))
        })
    }
}
