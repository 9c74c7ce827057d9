//! Detached minisign signatures: strict parsing (with file:line messages) and verification.
//!
//! A minisign signature file has four lines:
//!
//! ```text
//! untrusted comment: <free text, not covered by the signature>
//! <base64: algorithm "ED" (BLAKE2b-512 prehashed) or "Ed" (legacy), key ID (8 bytes), ed25519 signature (64 bytes)>
//! trusted comment: <free text, covered by the second signature>
//! <base64: ed25519 signature of (first signature ‖ trusted comment)>
//! ```
//!
//! The file is checked here line by line before minisign's own parser sees it, so a truncated or
//! garbled file is reported with the line that is wrong, and never reaches code that assumes a
//! well-formed one.

use std::io::Cursor;
use std::path::Path;

use ct_codecs::{Base64, Decoder as _};

use crate::keys::UNTRUSTED_PREFIX;
use crate::{KeyId, TrustError};

const TRUSTED_PREFIX: &str = "trusted comment: ";

/// A signature file that passed the structural checks.
pub(crate) struct ParsedSignature {
    pub(crate) key_id: KeyId,
    pub(crate) trusted_comment: String,
    pub(crate) prehashed: bool,
    pub(crate) sig_box: minisign::SignatureBox,
}

/// Parse a signature file's bytes (`file` names it in messages).
pub(crate) fn parse_signature(file: &Path, bytes: &[u8]) -> Result<ParsedSignature, TrustError> {
    let bad = |line: usize, reason: String| TrustError::MalformedSignature { file: file.to_path_buf(), line, reason };
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()].iter().filter(|b| **b == b'\n').count();
        bad(line, "not text (a minisign signature is four lines of text)".into())
    })?;
    let lines: Vec<&str> = text.lines().collect();
    if lines.iter().all(|l| l.trim().is_empty()) {
        return Err(bad(1, "the file is empty".into()));
    }
    let line = |i: usize| lines.get(i).copied();
    let missing =
        |i: usize, what: &str| bad(i + 1, format!("missing {what} (the file ends after {} lines)", lines.len()));

    let l1 = line(0).ok_or_else(|| missing(0, "the untrusted comment"))?;
    if !l1.starts_with(UNTRUSTED_PREFIX) {
        return Err(bad(1, format!("expected a line starting with {UNTRUSTED_PREFIX:?}")));
    }
    let l2 = line(1).ok_or_else(|| missing(1, "the signature"))?;
    let sig = Base64::decode_to_vec(l2.trim(), None).map_err(|_| bad(2, "the signature is not base64".into()))?;
    if sig.len() != 74 {
        return Err(bad(2, format!("the signature decodes to {} bytes, expected 74 (truncated?)", sig.len())));
    }
    let prehashed = match &sig[..2] {
        b"ED" => true,
        b"Ed" => false,
        other => {
            return Err(bad(
                2,
                format!(
                    "unknown signature algorithm {:?} (expected ED, or Ed for legacy signatures)",
                    String::from_utf8_lossy(other)
                ),
            ));
        }
    };
    let key_id = KeyId::from_slice(&sig[2..10]).ok_or_else(|| bad(2, "truncated key ID".into()))?;
    let l3 = line(2).ok_or_else(|| missing(2, "the trusted comment"))?;
    let trusted_comment = l3
        .strip_prefix(TRUSTED_PREFIX)
        .ok_or_else(|| bad(3, format!("expected a line starting with {TRUSTED_PREFIX:?}")))?
        .trim()
        .to_string();
    let l4 = line(3).ok_or_else(|| missing(3, "the trusted comment's signature"))?;
    let global =
        Base64::decode_to_vec(l4.trim(), None).map_err(|_| bad(4, "the comment signature is not base64".into()))?;
    if global.len() != 64 {
        return Err(bad(
            4,
            format!("the comment signature decodes to {} bytes, expected 64 (truncated?)", global.len()),
        ));
    }
    if let Some((i, _)) = lines.iter().enumerate().skip(4).find(|(_, l)| !l.trim().is_empty()) {
        return Err(bad(i + 1, "unexpected text after the four lines of the signature".into()));
    }
    let sig_box = minisign::SignatureBox::from_string(text).map_err(|e| bad(1, e.to_string()))?;
    Ok(ParsedSignature { key_id, trusted_comment, prehashed, sig_box })
}

/// What verifying one signature with one key gave.
pub(crate) enum Outcome {
    Good,
    BytesMismatch,
    CommentAltered,
}

/// Verify `sig` over `bytes` with `key` (whose ID the caller already matched).
pub(crate) fn verify(key: &minisign::PublicKey, sig: &ParsedSignature, bytes: &[u8]) -> Outcome {
    // quiet, no output copy, legacy (non-prehashed) signatures accepted as the minisign tool does.
    match minisign::verify(key, &sig.sig_box, Cursor::new(bytes), true, false, true) {
        Ok(()) => Outcome::Good,
        // minisign checks the data signature first, then the one over the trusted comment; its
        // errors are not typed, so only the comment case is told apart by its message, and any
        // other failure is reported as the safe, common reading: the bytes do not match.
        Err(e) if e.to_string().contains("Comment signature") => Outcome::CommentAltered,
        Err(_) => Outcome::BytesMismatch,
    }
}
