use anyhow::Context;
use spoor_engine::EngineConfig;

use crate::cli::ToolCommand;

/// `spoor tool …`: prints a report; fails (exit 1) when verification finds problems.
pub async fn run(tool: ToolCommand) -> anyhow::Result<()> {
    match tool {
        ToolCommand::Inspect { block } => {
            let report = spoor_engine::inspect_block(&block)
                .with_context(|| format!("inspecting {}", block.display()))?;
            println!("{report}");
            Ok(())
        }
        ToolCommand::Verify {
            data_dir,
            storage_url,
        } => {
            let config = EngineConfig {
                data_dir,
                storage_url,
                background: false,
                ..EngineConfig::default()
            };
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
