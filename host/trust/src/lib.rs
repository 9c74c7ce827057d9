//! ferrolb's plugin trust: which policy plugins a router may load, decided by detached ed25519
//! signatures in the [minisign](https://jedisct1.github.io/minisign/) format.
//!
//! The operator keeps a secret key where plugins are built, signs each plugin
//! (`ferrolb plugin sign` or `minisign -S`), and gives the routers the public keys they allow.
//! In [`Mode::Require`] a plugin loaded from a file must have a signature next to it
//! (`foo.wasm.minisig`, see [`signature_path`]) made by one of those keys over exactly its bytes;
//! anything else is refused with a [`TrustError`] that names the plugin, the signature file, the
//! key and the cause. [`Mode::Off`] (the default) checks nothing.
//!
//! ```
//! use std::path::Path;
//! use ferrolb_trust::{TrustPolicy, generate_keypair, parse_keys};
//!
//! let pair = generate_keypair().expect("keygen");
//! let keys = parse_keys(Path::new("allowed.pub"), &pair.public).expect("keys");
//! let policy = TrustPolicy::require(keys).expect("one key");
//!
//! let plugin = b"\0asm...";
//! let sig = pair.signing_key.sign(plugin, Some("allocator 1.2.0")).expect("sign");
//! let ok = policy.check(Path::new("alloc.wasm"), plugin, Some(&sig)).expect("trusted");
//! assert_eq!(ok.expect("checked").trusted_comment, "allocator 1.2.0");
//!
//! let err = policy.check(Path::new("alloc.wasm"), plugin, None).expect_err("unsigned");
//! assert!(err.to_string().contains("is not signed"));
//! ```
//!
//! Why minisign: it is ed25519 with a file format operators can produce and check with a packaged
//! tool (`apt install minisign`) as well as with `ferrolb plugin sign/verify`; signatures carry a
//! key ID (so a refusal can say which key signed) and a signed "trusted comment" (what was signed,
//! when). The `minisign` crate is the format author's implementation and needs no wasmtime.

mod error;
mod keys;
mod signature;
mod signing;

use std::fmt;
use std::path::{Path, PathBuf};

pub use error::TrustError;
pub use keys::{TrustedKey, load_keys, parse_keys};
pub use signing::{KeyPair, Password, SigningKey, generate_keypair, sign, write_signature};

/// The extension a plugin's signature has, appended to the plugin's file name.
pub const SIGNATURE_EXTENSION: &str = "minisig";

/// Where the signature of `plugin` is: `foo.wasm` → `foo.wasm.minisig` (minisign's convention).
pub fn signature_path(plugin: &Path) -> PathBuf {
    let mut s = plugin.as_os_str().to_os_string();
    s.push(".");
    s.push(SIGNATURE_EXTENSION);
    PathBuf::from(s)
}

/// A minisign key ID: 8 bytes, shown as minisign shows it (16 hex digits, little-endian).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 8]);

impl KeyId {
    pub(crate) fn from_slice(b: &[u8]) -> Option<KeyId> {
        b.try_into().ok().map(KeyId)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016X}", u64::from_le_bytes(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// Whether plugins must be signed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// No checks (the default): any readable plugin may load.
    #[default]
    Off,
    /// A plugin loaded from a file needs a good signature by an allowed key.
    Require,
}

/// A good signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The key that made it.
    pub key_id: KeyId,
    /// Where that key is configured (`file:line`).
    pub key_source: String,
    /// The signed comment (minisign's default is `timestamp:... file:...`).
    pub trusted_comment: String,
    /// Whether the signature is over the BLAKE2b-512 hash of the bytes (minisign's default) rather
    /// than the bytes themselves (legacy).
    pub prehashed: bool,
}

/// A plugin file read once and checked: compile exactly these bytes.
#[derive(Debug)]
pub struct CheckedPlugin {
    /// The plugin's bytes.
    pub bytes: Vec<u8>,
    /// The good signature, in require mode (`None` in off mode).
    pub verified: Option<Verified>,
}

/// The trust policy: a mode and the allowed keys.
#[derive(Clone, Debug, Default)]
pub struct TrustPolicy {
    /// Whether signatures are required.
    pub mode: Mode,
    /// The allowed public keys.
    pub keys: Vec<TrustedKey>,
}

impl TrustPolicy {
    /// Check nothing.
    pub fn off() -> TrustPolicy {
        TrustPolicy::default()
    }

    /// Require a signature by one of `keys` (at least one).
    pub fn require(keys: Vec<TrustedKey>) -> Result<TrustPolicy, TrustError> {
        if keys.is_empty() {
            return Err(TrustError::NoTrustedKeys);
        }
        Ok(TrustPolicy { mode: Mode::Require, keys })
    }

    /// The policy the command line describes: `require` with the keys read from `key_paths`
    /// (files or directories, see [`load_keys`]), or off.
    pub fn from_paths(require: bool, key_paths: &[PathBuf]) -> Result<TrustPolicy, TrustError> {
        let mut keys = Vec::new();
        for p in key_paths {
            for k in load_keys(p)? {
                keys::merge_key(&mut keys, k)?;
            }
        }
        if require { TrustPolicy::require(keys) } else { Ok(TrustPolicy { mode: Mode::Off, keys }) }
    }

    /// Verify `signature` (the bytes of a `.minisig` file) over `bytes`, whatever the mode.
    /// `plugin` names the plugin in messages; the signature is named `plugin.minisig`.
    pub fn verify(&self, plugin: &Path, bytes: &[u8], signature: &[u8]) -> Result<Verified, TrustError> {
        self.verify_named(plugin, &signature_path(plugin), bytes, signature)
    }

    /// [`TrustPolicy::verify`] with the signature file named explicitly.
    pub fn verify_named(
        &self,
        plugin: &Path,
        signature_file: &Path,
        bytes: &[u8],
        signature: &[u8],
    ) -> Result<Verified, TrustError> {
        let sig = signature::parse_signature(signature_file, signature)?;
        let Some(key) = self.keys.iter().find(|k| k.id == sig.key_id) else {
            return Err(TrustError::UnknownKey {
                plugin: plugin.to_path_buf(),
                signature: signature_file.to_path_buf(),
                key_id: sig.key_id,
                allowed: self.keys.iter().map(|k| k.id).collect(),
            });
        };
        match signature::verify(&key.key, &sig, bytes) {
            signature::Outcome::Good => Ok(Verified {
                key_id: key.id,
                key_source: key.source.clone(),
                trusted_comment: sig.trusted_comment,
                prehashed: sig.prehashed,
            }),
            signature::Outcome::BytesMismatch => Err(TrustError::Mismatch {
                plugin: plugin.to_path_buf(),
                signature: signature_file.to_path_buf(),
                key_id: key.id,
                key_source: key.source.clone(),
            }),
            signature::Outcome::CommentAltered => Err(TrustError::CommentAltered {
                plugin: plugin.to_path_buf(),
                signature: signature_file.to_path_buf(),
                key_id: key.id,
            }),
        }
    }

    /// Apply the policy to a plugin's bytes and its signature, if it has one. Off: `Ok(None)`.
    /// Require: `Ok(Some(..))` for a good signature by an allowed key, an error otherwise.
    pub fn check(&self, plugin: &Path, bytes: &[u8], signature: Option<&[u8]>) -> Result<Option<Verified>, TrustError> {
        match self.mode {
            Mode::Off => Ok(None),
            Mode::Require => match signature {
                None => Err(TrustError::Unsigned { plugin: plugin.to_path_buf(), expected: signature_path(plugin) }),
                Some(sig) => self.verify(plugin, bytes, sig).map(Some),
            },
        }
    }

    /// Read a plugin file (and, in require mode, its signature next to it) and check it. The
    /// bytes returned are the ones checked: load those, not the file again.
    pub fn check_file(&self, plugin: &Path) -> Result<CheckedPlugin, TrustError> {
        let bytes =
            std::fs::read(plugin).map_err(|source| TrustError::Read { path: plugin.to_path_buf(), error: source })?;
        let signature = match self.mode {
            Mode::Off => None,
            Mode::Require => {
                let sig_path = signature_path(plugin);
                match std::fs::read(&sig_path) {
                    Ok(s) => Some(s),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                    Err(source) => return Err(TrustError::Read { path: sig_path, error: source }),
                }
            }
        };
        let verified = self.check(plugin, &bytes, signature.as_deref())?;
        Ok(CheckedPlugin { bytes, verified })
    }
}

#[cfg(test)]
mod tests;
