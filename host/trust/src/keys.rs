//! Trusted public keys: minisign public keys read from a file or a directory of `*.pub` files.
//!
//! A keys file holds any number of keys, one base64 line each (`RWQ...`, 56 characters), each
//! optionally preceded by its `untrusted comment:` line — so a file written by `minisign -G` or
//! `ferrolb plugin keygen` is a keys file, and so is `cat alice.pub bob.pub`. Blank lines and
//! lines starting with `#` are ignored. Anything else is an error naming the file and the line.

use std::path::{Path, PathBuf};

use ct_codecs::{Base64, Decoder as _};

use crate::{KeyId, TrustError};

/// `untrusted comment: ` — the first line of minisign key and signature files.
pub(crate) const UNTRUSTED_PREFIX: &str = "untrusted comment: ";

/// One allowed public key.
#[derive(Clone)]
pub struct TrustedKey {
    /// The key ID (as `minisign` shows it: 16 hex digits).
    pub id: KeyId,
    /// Where it was configured: `file:line`.
    pub source: String,
    /// The `untrusted comment:` line before it, if any (informative only).
    pub comment: Option<String>,
    pub(crate) key: minisign::PublicKey,
}

impl std::fmt::Debug for TrustedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustedKey").field("id", &self.id).field("source", &self.source).finish_non_exhaustive()
    }
}

impl TrustedKey {
    /// The key as one base64 line (what goes into a keys file).
    pub fn to_base64(&self) -> String {
        self.key.to_base64()
    }
}

/// Decode a base64 public key line: 42 bytes, algorithm `Ed`.
pub(crate) fn decode_public_key(line: &str) -> Result<(KeyId, minisign::PublicKey), String> {
    let bytes = Base64::decode_to_vec(line.trim(), None)
        .map_err(|_| "not base64 (a minisign public key is one base64 line such as RWQ...)".to_string())?;
    if bytes.len() != 42 {
        return Err(format!("decodes to {} bytes, a minisign public key has 42", bytes.len()));
    }
    if &bytes[..2] != b"Ed" {
        return Err(format!("unknown key algorithm {:?} (expected Ed, ed25519)", String::from_utf8_lossy(&bytes[..2])));
    }
    if bytes[10..].iter().all(|b| *b == 0) {
        return Err("the key is all zeros (a placeholder, not a key)".into());
    }
    let id = KeyId::from_slice(&bytes[2..10]).ok_or_else(|| "truncated key ID".to_string())?;
    let key = minisign::PublicKey::from_bytes(&bytes).map_err(|e| e.to_string())?;
    Ok((id, key))
}

/// Parse the text of a keys file (`name` is used in messages).
pub fn parse_keys(file: &Path, text: &str) -> Result<Vec<TrustedKey>, TrustError> {
    let mut keys: Vec<TrustedKey> = Vec::new();
    let mut comment: Option<String> = None;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(c) = line.strip_prefix(UNTRUSTED_PREFIX.trim_end()) {
            comment = Some(c.trim().to_string());
            continue;
        }
        let (id, key) = decode_public_key(line).map_err(|reason| TrustError::MalformedKey {
            file: file.to_path_buf(),
            line: line_no,
            reason,
        })?;
        let source = format!("{}:{line_no}", file.display());
        if let Some(prev) = keys.iter().find(|k| k.id == id) {
            if prev.key.to_bytes() != key.to_bytes() {
                return Err(TrustError::ConflictingKey { key_id: id, first: prev.source.clone(), second: source });
            }
            comment = None;
            continue; // the same key twice (a file concatenated twice): harmless
        }
        keys.push(TrustedKey { id, source, comment: comment.take(), key });
    }
    Ok(keys)
}

/// Read trusted keys from a keys file, or from every `*.pub` file of a directory (in name order).
/// A file or directory with no key is an error: it is almost certainly the wrong path.
pub fn load_keys(path: &Path) -> Result<Vec<TrustedKey>, TrustError> {
    let read_err = |p: &Path| {
        let p = p.to_path_buf();
        move |source| TrustError::Read { path: p, error: source }
    };
    let meta = std::fs::metadata(path).map_err(read_err(path))?;
    let files: Vec<PathBuf> = if meta.is_dir() {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(path).map_err(read_err(path))? {
            let p = entry.map_err(read_err(path))?.path();
            if p.extension().is_some_and(|e| e == "pub") && p.is_file() {
                files.push(p);
            }
        }
        files.sort();
        files
    } else {
        vec![path.to_path_buf()]
    };
    let mut keys: Vec<TrustedKey> = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).map_err(read_err(f))?;
        for k in parse_keys(f, &text)? {
            merge_key(&mut keys, k)?;
        }
    }
    if keys.is_empty() {
        return Err(TrustError::NoKeys { path: path.to_path_buf() });
    }
    Ok(keys)
}

/// Add `k` to `keys` unless the same key is already there; a different key with its ID is an error.
pub(crate) fn merge_key(keys: &mut Vec<TrustedKey>, k: TrustedKey) -> Result<(), TrustError> {
    match keys.iter().find(|o| o.id == k.id) {
        Some(o) if o.key.to_bytes() != k.key.to_bytes() => {
            Err(TrustError::ConflictingKey { key_id: k.id, first: o.source.clone(), second: k.source })
        }
        Some(_) => Ok(()),
        None => {
            keys.push(k);
            Ok(())
        }
    }
}
