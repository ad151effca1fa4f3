//! Encryption at rest: the keyring (the current key that new data is written with, and older
//! keys kept to read what they wrote) and the sealed envelope of WAL records and manifests.
//!
//! Envelope: `0xE1 | id_len: u8 | key id (UTF-8) | nonce: 12 bytes | AES-256-GCM ciphertext
//! and 16-byte tag`; the key id is the additional authenticated data. Blocks use Parquet
//! modular encryption instead (see `block/encode.rs`), with the key id as the footer key
//! metadata, so row groups stay readable by range. See `docs/format-v3.md`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

/// First byte of a sealed envelope. Never the first byte of a plaintext WAL record (`0x0a`)
/// or manifest (`{`).
pub(crate) const ENVELOPE_TAG: u8 = 0xE1;
const TAG_LEN: usize = 16;
/// Key length: AES-256.
pub const KEY_LEN: usize = 32;

/// Why a key could not be loaded or data could not be opened.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum CryptoError {
    /// Key material that is not 32 bytes raw, 64 hex digits or base64 of 32 bytes.
    #[error("encryption key {0}: expected 32 bytes, 64 hex digits or base64 of 32 bytes")]
    BadKey(String),
    /// A key id that is empty, longer than 255 bytes or repeated.
    #[error("encryption key id {0:?}: {1}")]
    BadKeyId(String, &'static str),
    /// Data sealed with a key this process does not have.
    #[error("encrypted with key id {0:?}, which is not configured")]
    MissingKey(String),
    /// Sealed data found but no key is configured at all.
    #[error("encrypted (key id {0:?}) but no encryption key is configured")]
    NoKeys(String),
    /// The tag did not verify or the envelope is cut short: damaged data.
    #[error("sealed data does not decrypt (damaged)")]
    Damaged,
}

/// The keys of a process: the current one (new data) and every key that can be read.
#[derive(Clone, Default)]
pub struct Keyring {
    current: Option<String>,
    keys: BTreeMap<String, Arc<[u8; KEY_LEN]>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key material.
        f.debug_struct("Keyring")
            .field("current", &self.current)
            .field("ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Parses key material: exactly 32 raw bytes, 64 hex digits, or base64 (standard) of 32
/// bytes; surrounding whitespace is ignored for the text forms.
pub fn parse_key(material: &[u8], what: &str) -> Result<[u8; KEY_LEN], CryptoError> {
    let bad = || CryptoError::BadKey(what.to_string());
    // Exactly 32 bytes is a raw key (text forms are 64 or 44 characters long).
    if let Ok(k) = <[u8; KEY_LEN]>::try_from(material) {
        return Ok(k);
    }
    let text = std::str::from_utf8(material).map_err(|_| bad())?.trim();
    let decoded = if text.len() == 2 * KEY_LEN {
        hex::decode(text).map_err(|_| bad())?
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| bad())?
    };
    <[u8; KEY_LEN]>::try_from(decoded.as_slice()).map_err(|_| bad())
}

/// The default id of a key: `k-` and the first 16 hex digits of its SHA-256.
pub fn default_key_id(key: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, key);
    format!("k-{}", hex::encode(&digest.as_ref()[..8]))
}

/// Reads and parses a key file.
pub fn read_key_file(path: &Path) -> Result<[u8; KEY_LEN], CryptoError> {
    let what = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| CryptoError::BadKey(format!("{what}: {e}")))?;
    parse_key(&bytes, &what)
}

impl Keyring {
    /// No keys: nothing is encrypted and encrypted data is refused with a clear error.
    pub fn none() -> Self {
        Self::default()
    }

    /// A keyring whose current key is `key` under `id`.
    pub fn new(id: &str, key: [u8; KEY_LEN]) -> Result<Self, CryptoError> {
        let mut k = Self::default();
        k.add(id, key)?;
        k.current = Some(id.to_string());
        Ok(k)
    }

    /// Adds a key that old data was written with (rotation).
    pub fn add(&mut self, id: &str, key: [u8; KEY_LEN]) -> Result<(), CryptoError> {
        if id.is_empty() || id.len() > 255 {
            return Err(CryptoError::BadKeyId(id.to_string(), "1 to 255 bytes"));
        }
        if self.keys.contains_key(id) {
            return Err(CryptoError::BadKeyId(id.to_string(), "configured twice"));
        }
        self.keys.insert(id.to_string(), Arc::new(key));
        Ok(())
    }

    /// True when new data is encrypted.
    pub fn enabled(&self) -> bool {
        self.current.is_some()
    }

    /// The current key's id and key.
    pub(crate) fn current(&self) -> Option<(&str, &[u8; KEY_LEN])> {
        let id = self.current.as_deref()?;
        Some((id, self.keys.get(id)?))
    }

    /// The key named `id`.
    pub(crate) fn key(&self, id: &str) -> Result<&[u8; KEY_LEN], CryptoError> {
        if self.keys.is_empty() {
            return Err(CryptoError::NoKeys(id.to_string()));
        }
        self.keys
            .get(id)
            .map(|k| &**k)
            .ok_or_else(|| CryptoError::MissingKey(id.to_string()))
    }

    /// Seals `plain` under the current key, or returns it unchanged when none is set.
    pub(crate) fn seal_if_enabled(&self, plain: Vec<u8>) -> Result<Vec<u8>, CryptoError> {
        match self.current() {
            Some((id, key)) => seal(id, key, &plain),
            None => Ok(plain),
        }
    }

    /// Opens `data` when it is an envelope; plaintext (any other first byte) is returned as is.
    pub(crate) fn open_if_sealed<'a>(
        &self,
        data: &'a [u8],
    ) -> Result<std::borrow::Cow<'a, [u8]>, CryptoError> {
        if data.first() != Some(&ENVELOPE_TAG) {
            return Ok(std::borrow::Cow::Borrowed(data));
        }
        let (id, _) = envelope_key_id(data).ok_or(CryptoError::Damaged)?;
        let key = self.key(id)?;
        open(key, data).map(std::borrow::Cow::Owned)
    }
}

/// The key id of an envelope and the offset of its nonce.
pub(crate) fn envelope_key_id(data: &[u8]) -> Option<(&str, usize)> {
    if data.first() != Some(&ENVELOPE_TAG) {
        return None;
    }
    let n = usize::from(*data.get(1)?);
    let id = std::str::from_utf8(data.get(2..2 + n)?).ok()?;
    Some((id, 2 + n))
}

fn aead_key(key: &[u8; KEY_LEN]) -> Result<LessSafeKey, CryptoError> {
    UnboundKey::new(&AES_256_GCM, key)
        .map(LessSafeKey::new)
        .map_err(|_| CryptoError::BadKey("rejected by AES-256-GCM".to_string()))
}

/// Seals `plain` under `key` named `id` with a fresh random nonce.
pub(crate) fn seal(id: &str, key: &[u8; KEY_LEN], plain: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let id_len =
        u8::try_from(id.len()).map_err(|_| CryptoError::BadKeyId(id.to_string(), "too long"))?;
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| CryptoError::BadKey("no randomness for a nonce".to_string()))?;
    let mut out = Vec::with_capacity(2 + id.len() + NONCE_LEN + plain.len() + TAG_LEN);
    out.push(ENVELOPE_TAG);
    out.push(id_len);
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(&nonce);
    let body_at = out.len();
    out.extend_from_slice(plain);
    let mut body = out.split_off(body_at);
    aead_key(key)?
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(id.as_bytes()),
            &mut body,
        )
        .map_err(|_| CryptoError::Damaged)?;
    out.extend_from_slice(&body);
    Ok(out)
}

/// Opens an envelope with `key` (the one its key id names).
pub(crate) fn open(key: &[u8; KEY_LEN], data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let (id, at) = envelope_key_id(data).ok_or(CryptoError::Damaged)?;
    let nonce: [u8; NONCE_LEN] = data
        .get(at..at + NONCE_LEN)
        .and_then(|n| n.try_into().ok())
        .ok_or(CryptoError::Damaged)?;
    let mut body = data
        .get(at + NONCE_LEN..)
        .ok_or(CryptoError::Damaged)?
        .to_vec();
    let plain_len = aead_key(key)?
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(id.as_bytes()),
            &mut body,
        )
        .map_err(|_| CryptoError::Damaged)?
        .len();
    body.truncate(plain_len);
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_with_the_named_key_only() {
        let mut ring = Keyring::new("k2", [2; KEY_LEN]).expect("ring");
        ring.add("k1", [1; KEY_LEN]).expect("old key");
        let sealed = ring
            .seal_if_enabled(b"service-secret".to_vec())
            .expect("seal");
        assert!(!sealed.windows(6).any(|w| w == b"secret"), "ciphertext");
        assert_eq!(envelope_key_id(&sealed).map(|(id, _)| id), Some("k2"));
        assert_eq!(
            ring.open_if_sealed(&sealed).expect("open").as_ref(),
            b"service-secret"
        );
        // Rotation: a ring whose current key is k3 still reads k2's data when it has k2.
        let mut rotated = Keyring::new("k3", [3; KEY_LEN]).expect("ring");
        rotated.add("k2", [2; KEY_LEN]).expect("old");
        assert_eq!(
            rotated.open_if_sealed(&sealed).expect("open").as_ref(),
            b"service-secret"
        );
        // Without k2: a clear error naming the key id, not "damaged".
        let other = Keyring::new("k3", [3; KEY_LEN]).expect("ring");
        assert_eq!(
            other.open_if_sealed(&sealed).err(),
            Some(CryptoError::MissingKey("k2".into()))
        );
        assert_eq!(
            Keyring::none().open_if_sealed(&sealed).err(),
            Some(CryptoError::NoKeys("k2".into()))
        );
        // The same id with other key material: damaged (the tag does not verify).
        let wrong = Keyring::new("k2", [9; KEY_LEN]).expect("ring");
        assert_eq!(
            wrong.open_if_sealed(&sealed).err(),
            Some(CryptoError::Damaged)
        );
        // A flipped byte anywhere after the header is caught.
        let mut flipped = sealed.clone();
        if let Some(b) = flipped.last_mut() {
            *b ^= 1;
        }
        assert_eq!(
            ring.open_if_sealed(&flipped).err(),
            Some(CryptoError::Damaged)
        );
        // Plaintext passes through; without a current key nothing is sealed.
        assert_eq!(ring.open_if_sealed(b"{}").expect("plain").as_ref(), b"{}");
        assert_eq!(
            Keyring::none().seal_if_enabled(b"x".to_vec()).expect("x"),
            b"x"
        );
    }

    #[test]
    fn keys_parse_from_raw_hex_and_base64() {
        let raw = [7u8; KEY_LEN];
        assert_eq!(parse_key(&raw, "raw"), Ok(raw));
        let hex = hex::encode(raw);
        assert_eq!(parse_key(format!("{hex}\n").as_bytes(), "hex"), Ok(raw));
        let b64 = base64::engine::general_purpose::STANDARD.encode(raw);
        assert_eq!(parse_key(b64.as_bytes(), "b64"), Ok(raw));
        assert!(parse_key(b"too short", "short").is_err());
        assert!(parse_key(&[1u8; 31], "31").is_err());
        assert!(Keyring::new("", raw).is_err());
        let mut ring = Keyring::new("a", raw).expect("ring");
        assert!(ring.add("a", raw).is_err(), "an id twice");
        assert!(!format!("{ring:?}").contains("7, 7"), "no key material");
    }
}
