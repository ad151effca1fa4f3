//! Encryption at rest flags: the keys the engine seals its WAL records, blocks and manifests
//! with, and the object store's server-side encryption (S3 SSE) passed through.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use spoor_engine::{Keyring, default_key_id, parse_key, read_key_file};

/// The environment variable holding the current key's material (hex or base64), as an
/// alternative to `--encryption-key-file` that keeps it off the command line.
pub const KEY_ENV: &str = "SPOOR_ENCRYPTION_KEY";

#[derive(Debug, Clone, Default, Args)]
pub struct EncryptionArgs {
    /// Encrypt the WAL, blocks and manifests at rest (AES-256-GCM) with the key in this file:
    /// 32 raw bytes, 64 hex digits or base64 of 32 bytes (e.g. `openssl rand -hex 32`).
    /// The key material can also come from the SPOOR_ENCRYPTION_KEY environment variable.
    #[arg(long, env = "SPOOR_ENCRYPTION_KEY_FILE", value_name = "PATH")]
    pub encryption_key_file: Option<PathBuf>,

    /// The current key's id, recorded with everything it encrypts (default: `k-` and the
    /// first 16 hex digits of the key's SHA-256), so data keeps naming the key it needs.
    #[arg(long, env = "SPOOR_ENCRYPTION_KEY_ID", value_name = "ID")]
    pub encryption_key_id: Option<String>,

    /// A previous key `ID=PATH` (repeatable; env: comma-separated), to read data written
    /// before a rotation; new data uses the current key, compaction re-encrypts old blocks.
    #[arg(
        long = "encryption-old-key-file",
        env = "SPOOR_ENCRYPTION_OLD_KEY_FILE",
        value_delimiter = ',',
        value_name = "ID=PATH"
    )]
    pub encryption_old_key_files: Vec<String>,

    /// S3 server-side encryption of the objects spoor writes: `AES256` (SSE-S3), `aws:kms`
    /// or `aws:kms:dsse` (SSE-KMS); the object_store option `aws_server_side_encryption`.
    #[arg(long, env = "SPOOR_S3_SSE", value_name = "AES256|aws:kms|aws:kms:dsse")]
    pub s3_sse: Option<String>,

    /// The KMS key for `--s3-sse aws:kms` (object_store option `aws_sse_kms_key_id`).
    #[arg(
        long,
        env = "SPOOR_S3_SSE_KMS_KEY_ID",
        value_name = "KEY_ID",
        requires = "s3_sse"
    )]
    pub s3_sse_kms_key_id: Option<String>,
}

impl EncryptionArgs {
    /// The keyring the flags describe; empty when no key is configured.
    pub fn keyring(&self) -> anyhow::Result<Keyring> {
        let env_key = std::env::var(KEY_ENV).ok().filter(|v| !v.trim().is_empty());
        let current = match (&self.encryption_key_file, env_key) {
            (Some(_), Some(_)) => {
                anyhow::bail!("both --encryption-key-file and {KEY_ENV} are set; use one of them")
            }
            (Some(path), None) => Some(read_key_file(path)?),
            (None, Some(material)) => Some(parse_key(material.as_bytes(), KEY_ENV)?),
            (None, None) => None,
        };
        let mut ring = match current {
            Some(key) => {
                let id = self
                    .encryption_key_id
                    .clone()
                    .unwrap_or_else(|| default_key_id(&key));
                Keyring::new(&id, key)?
            }
            None if self.encryption_key_id.is_some() => {
                anyhow::bail!("--encryption-key-id needs --encryption-key-file or {KEY_ENV}")
            }
            None => Keyring::none(),
        };
        for spec in &self.encryption_old_key_files {
            let (id, path) = spec
                .split_once('=')
                .filter(|(id, path)| !id.is_empty() && !path.is_empty())
                .with_context(|| format!("--encryption-old-key-file {spec:?}: expected ID=PATH"))?;
            let key = read_key_file(std::path::Path::new(path))?;
            ring.add(id, key)
                .with_context(|| format!("--encryption-old-key-file {spec:?}"))?;
        }
        Ok(ring)
    }

    /// The object store options `--s3-sse` and `--s3-sse-kms-key-id` stand for.
    pub fn sse_options(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(sse) = &self.s3_sse {
            out.push(("aws_server_side_encryption".to_string(), sse.clone()));
        }
        if let Some(id) = &self.s3_sse_kms_key_id {
            out.push(("aws_sse_kms_key_id".to_string(), id.clone()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_build_the_keyring_with_old_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cur = dir.path().join("cur.key");
        let old = dir.path().join("old.key");
        std::fs::write(&cur, "01".repeat(32)).expect("write");
        std::fs::write(&old, [2u8; 32]).expect("write");
        let args = EncryptionArgs {
            encryption_key_file: Some(cur),
            encryption_old_key_files: vec![format!("old={}", old.display())],
            ..Default::default()
        };
        let ring = args.keyring().expect("keyring");
        assert!(ring.enabled());
        let dbg = format!("{ring:?}");
        assert!(dbg.contains(&default_key_id(&[1u8; 32])), "{dbg}");
        assert!(dbg.contains("\"old\""), "{dbg}");
        let bad = EncryptionArgs {
            encryption_old_key_files: vec!["no-path".into()],
            ..Default::default()
        };
        assert!(bad.keyring().is_err());
        let sse = EncryptionArgs {
            s3_sse: Some("aws:kms".into()),
            s3_sse_kms_key_id: Some("alias/x".into()),
            ..Default::default()
        };
        assert_eq!(sse.sse_options().len(), 2);
    }
}
