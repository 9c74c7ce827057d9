//! [`TrustError`]: every refusal names the plugin, the file, the key and the cause.

use std::fmt;
use std::path::PathBuf;

use crate::KeyId;

/// Why a plugin, a signature or a key was refused.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// Require mode, and no signature file next to the plugin.
    #[error(
        "plugin {} is not signed (required: trust mode require; expected signature at {})",
        plugin.display(),
        expected.display()
    )]
    Unsigned {
        /// The plugin.
        plugin: PathBuf,
        /// Where its signature was looked for.
        expected: PathBuf,
    },
    /// The signature was made by a key the operator does not allow.
    #[error(
        "signature {} of plugin {} was made by key {key_id}, which is not among the {} ({})",
        signature.display(),
        plugin.display(),
        if allowed.len() == 1 { "1 allowed key".to_string() } else { format!("{} allowed keys", allowed.len()) },
        KeyList(allowed)
    )]
    UnknownKey {
        /// The plugin.
        plugin: PathBuf,
        /// Its signature file.
        signature: PathBuf,
        /// The key that made the signature.
        key_id: KeyId,
        /// The allowed keys.
        allowed: Vec<KeyId>,
    },
    /// The signature was made by an allowed key, but not over these bytes.
    #[error(
        "signature {} does not match the bytes of plugin {} (modified after signing?); it claims key {key_id} ({key_source})",
        signature.display(),
        plugin.display()
    )]
    Mismatch {
        /// The plugin.
        plugin: PathBuf,
        /// Its signature file.
        signature: PathBuf,
        /// The allowed key the signature names.
        key_id: KeyId,
        /// Where that key was configured (`file:line`).
        key_source: String,
    },
    /// The plugin's bytes match, but the trusted comment was changed after signing.
    #[error(
        "the trusted comment of signature {} was altered after signing (plugin {}, key {key_id})",
        signature.display(),
        plugin.display()
    )]
    CommentAltered {
        /// The plugin.
        plugin: PathBuf,
        /// Its signature file.
        signature: PathBuf,
        /// The key the signature names.
        key_id: KeyId,
    },
    /// A signature file that is not a minisign signature.
    #[error("{}:{line}: not a valid minisign signature: {reason}", file.display())]
    MalformedSignature {
        /// The signature file.
        file: PathBuf,
        /// The offending line (1-based).
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A public key file with a line that is not a minisign public key.
    #[error("{}:{line}: not a valid minisign public key: {reason}", file.display())]
    MalformedKey {
        /// The key file.
        file: PathBuf,
        /// The offending line (1-based).
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// Two different keys with the same key ID.
    #[error("{second}: key ID {key_id} is already used by a different key at {first}")]
    ConflictingKey {
        /// The key ID.
        key_id: KeyId,
        /// Where the first key with it was read (`file:line`).
        first: String,
        /// Where the second one was read (`file:line`).
        second: String,
    },
    /// A key file or directory with no keys in it.
    #[error("{} holds no public keys (expected minisign public keys: lines such as RWQ...)", path.display())]
    NoKeys {
        /// The file or directory.
        path: PathBuf,
    },
    /// Require mode with an empty key list: nothing could ever load.
    #[error("trust mode require needs at least one allowed public key")]
    NoTrustedKeys,
    /// A secret key that cannot be used.
    #[error("secret key {}: {reason}", file.display())]
    SecretKey {
        /// The secret key file.
        file: PathBuf,
        /// Why.
        reason: String,
    },
    /// A trusted comment that cannot be signed.
    #[error("invalid trusted comment {comment:?}: {reason}")]
    Comment {
        /// The comment.
        comment: String,
        /// Why.
        reason: String,
    },
    /// Reading a file failed.
    #[error("cannot read {}: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error (in the message, so not also a `source`).
        error: std::io::Error,
    },
    /// Writing a file failed.
    #[error("cannot write {}: {error}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error (in the message, so not also a `source`).
        error: std::io::Error,
    },
    /// The signing library failed (random numbers, encoding).
    #[error("{what}: {reason}")]
    Crypto {
        /// What was being done.
        what: String,
        /// Why it failed.
        reason: String,
    },
}

/// `A (f:1), B (g:2)` for messages.
struct KeyList<'a>(&'a [KeyId]);

impl fmt::Display for KeyList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, k) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{k}")?;
        }
        Ok(())
    }
}
