//! Key generation and signing, in the minisign format (the `minisign` tool reads and writes the same
//! files: a key made by `minisign -G` signs here, and a signature made here verifies with
//! `minisign -V`).

use std::io::{Cursor, Write as _};
use std::path::{Path, PathBuf};

use ct_codecs::{Base64, Decoder as _};

use crate::keys::{UNTRUSTED_PREFIX, decode_public_key};
use crate::{KeyId, TrustError};

/// How to get the password of a password-protected secret key (`minisign -G` makes those).
#[derive(Clone, Debug)]
pub enum Password {
    /// No password available: a protected key is refused with a message saying so.
    None,
    /// This password.
    Given(String),
    /// Ask on the terminal (minisign's prompt).
    Prompt,
}

/// A secret key, ready to sign.
pub struct SigningKey {
    /// Its key ID.
    pub id: KeyId,
    /// The file it was read from (empty for a freshly generated key).
    pub file: PathBuf,
    sk: minisign::SecretKey,
    pk: minisign::PublicKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("id", &self.id).field("file", &self.file).finish_non_exhaustive()
    }
}

/// Size of a decoded minisign secret key.
const SECRET_KEY_BYTES: usize = 158;

impl SigningKey {
    /// Read a minisign secret key file (`ferrolb plugin keygen`'s `PREFIX.key`, or `minisign -G`'s
    /// `minisign.key`, which is password-protected unless made with `-W`).
    pub fn read(file: &Path, password: Password) -> Result<SigningKey, TrustError> {
        let bad = |reason: String| TrustError::SecretKey { file: file.to_path_buf(), reason };
        let text = std::fs::read_to_string(file)
            .map_err(|source| TrustError::Read { path: file.to_path_buf(), error: source })?;
        let (line_no, line) = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim()))
            .find(|(_, l)| !l.is_empty() && !l.starts_with(UNTRUSTED_PREFIX.trim_end()))
            .ok_or_else(|| bad("no key in the file (expected a minisign secret key)".into()))?;
        let raw = Base64::decode_to_vec(line, None)
            .map_err(|_| bad(format!("line {line_no}: not base64 (is this a minisign secret key?)")))?;
        if raw.len() != SECRET_KEY_BYTES {
            if decode_public_key(line).is_ok() {
                return Err(bad("this is a public key; signing needs the secret key (the .key file)".into()));
            }
            return Err(bad(format!(
                "line {line_no}: decodes to {} bytes, a minisign secret key has {SECRET_KEY_BYTES}",
                raw.len()
            )));
        }
        if &raw[..2] != b"Ed" {
            return Err(bad(format!("unknown key algorithm {:?}", String::from_utf8_lossy(&raw[..2]))));
        }
        // The box minisign parses: a comment line and the key line.
        let sk_box = minisign::SecretKeyBox::from_string(&format!("{UNTRUSTED_PREFIX}secret key\n{line}\n"))
            .map_err(|e| bad(e.to_string()))?;
        let sk = match &raw[2..4] {
            [0, 0] => minisign::SecretKey::from_unencrypted_box(sk_box),
            b"Sc" => match password {
                Password::None => {
                    return Err(bad("the key is password-protected and no password was given".into()));
                }
                Password::Given(p) => minisign::SecretKey::from_box(sk_box, Some(p)),
                Password::Prompt => minisign::SecretKey::from_box(sk_box, None),
            },
            other => return Err(bad(format!("unknown key encryption {other:?}"))),
        }
        .map_err(|e| bad(e.to_string()))?;
        Self::from_secret(sk, file.to_path_buf())
    }

    fn from_secret(sk: minisign::SecretKey, file: PathBuf) -> Result<SigningKey, TrustError> {
        let id = KeyId::from_slice(sk.keynum())
            .ok_or_else(|| TrustError::SecretKey { file: file.clone(), reason: "the key ID is not 8 bytes".into() })?;
        let pk = minisign::PublicKey::from_secret_key(&sk)
            .map_err(|e| TrustError::SecretKey { file: file.clone(), reason: e.to_string() })?;
        Ok(SigningKey { id, file, sk, pk })
    }

    /// The matching public key as one base64 line.
    pub fn public_base64(&self) -> String {
        self.pk.to_base64()
    }

    /// Sign `bytes`: the text of a `.minisig` file. `trusted_comment` (one line) is covered by the
    /// signature; `None` gives minisign's default (`timestamp:<unix seconds>`).
    pub fn sign(&self, bytes: &[u8], trusted_comment: Option<&str>) -> Result<Vec<u8>, TrustError> {
        if let Some(c) = trusted_comment
            && c.contains(['\n', '\r'])
        {
            return Err(TrustError::Comment { comment: c.to_string(), reason: "it must be one line".into() });
        }
        let untrusted = format!("signature from ferrolb plugin key {}", self.id);
        let sig = minisign::sign(Some(&self.pk), &self.sk, Cursor::new(bytes), trusted_comment, Some(&untrusted))
            .map_err(|e| TrustError::Crypto { what: format!("signing with key {}", self.id), reason: e.to_string() })?;
        Ok(sig.into_string().into_bytes())
    }
}

/// Sign `bytes` with `key` (see [`SigningKey::sign`]).
pub fn sign(key: &SigningKey, bytes: &[u8], trusted_comment: Option<&str>) -> Result<Vec<u8>, TrustError> {
    key.sign(bytes, trusted_comment)
}

/// A new key pair, as the text of its two files.
#[derive(Debug)]
pub struct KeyPair {
    /// Its key ID.
    pub id: KeyId,
    /// The public key file (`untrusted comment: ...` + the base64 key): give it to the routers.
    pub public: String,
    /// The secret key file, unencrypted: keep it where plugins are built and signed, not on routers.
    pub secret: String,
    /// The secret key, ready to sign.
    pub signing_key: SigningKey,
}

/// Generate an ed25519 key pair (unencrypted secret key, as `minisign -G -W`).
pub fn generate_keypair() -> Result<KeyPair, TrustError> {
    let crypto = |reason: String| TrustError::Crypto { what: "generating a key pair".into(), reason };
    let kp = minisign::KeyPair::generate_unencrypted_keypair().map_err(|e| crypto(e.to_string()))?;
    let id = KeyId::from_slice(kp.pk.keynum()).ok_or_else(|| crypto("the key ID is not 8 bytes".into()))?;
    let public = format!("{UNTRUSTED_PREFIX}minisign public key {id}\n{}\n", kp.pk.to_base64());
    let secret = kp
        .sk
        .to_box(Some(&format!("ferrolb plugin signing key {id} (unencrypted: keep it off the routers)")))
        .map_err(|e| crypto(e.to_string()))?
        .into_string();
    let signing_key = SigningKey { id, file: PathBuf::new(), sk: kp.sk, pk: kp.pk };
    Ok(KeyPair { id, public, secret, signing_key })
}

impl KeyPair {
    /// Write `PREFIX.pub` (mode 0644) and `PREFIX.key` (mode 0600). Existing files are refused
    /// unless `overwrite`. Returns the two paths.
    pub fn write(&self, prefix: &Path, overwrite: bool) -> Result<(PathBuf, PathBuf), TrustError> {
        let with_ext = |ext: &str| {
            let mut s = prefix.as_os_str().to_os_string();
            s.push(ext);
            PathBuf::from(s)
        };
        let (pub_path, key_path) = (with_ext(".pub"), with_ext(".key"));
        write_file(&key_path, self.secret.as_bytes(), 0o600, overwrite)?;
        write_file(&pub_path, self.public.as_bytes(), 0o644, overwrite)?;
        Ok((pub_path, key_path))
    }
}

fn write_file(path: &Path, bytes: &[u8], mode: u32, overwrite: bool) -> Result<(), TrustError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let err = |source| TrustError::Write { path: path.to_path_buf(), error: source };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).mode(mode);
    if overwrite {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    let mut f = opts.open(path).map_err(err)?;
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(err)
}

/// Write a signature next to its plugin (`PLUGIN.minisig`, or `to`), atomically: a reader sees the
/// old signature or the new one, never half of one. Returns the path written.
pub fn write_signature(plugin: &Path, to: Option<&Path>, signature: &[u8]) -> Result<PathBuf, TrustError> {
    let path = to.map(Path::to_path_buf).unwrap_or_else(|| crate::signature_path(plugin));
    let mut tmp = path.as_os_str().to_os_string();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    write_file(&tmp, signature, 0o644, true)?;
    std::fs::rename(&tmp, &path).map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        TrustError::Write { path: path.clone(), error: source }
    })?;
    Ok(path)
}
