#![allow(clippy::unwrap_used)]

use std::path::Path;

use super::*;

const PLUGIN: &[u8] = b"\0asm\x0d\0\x01\0 pretend this is a component";

fn pair() -> KeyPair {
    generate_keypair().unwrap()
}

fn policy(pairs: &[&KeyPair]) -> TrustPolicy {
    let text: String = pairs.iter().map(|p| p.public.clone()).collect();
    TrustPolicy::require(parse_keys(Path::new("keys.pub"), &text).unwrap()).unwrap()
}

fn p() -> &'static Path {
    Path::new("/x/y.wasm")
}

#[test]
fn round_trip() {
    let a = pair();
    let sig = a.signing_key.sign(PLUGIN, Some("alloc 1.0")).unwrap();
    let v = policy(&[&a]).verify(p(), PLUGIN, &sig).unwrap();
    assert_eq!(v.key_id, a.id);
    assert_eq!(v.key_source, "keys.pub:2");
    assert_eq!(v.trusted_comment, "alloc 1.0");
    assert!(v.prehashed);
    // The default trusted comment is minisign's.
    let sig = sign(&a.signing_key, PLUGIN, None).unwrap();
    let v = policy(&[&a]).verify(p(), PLUGIN, &sig).unwrap();
    assert!(v.trusted_comment.starts_with("timestamp:"), "{}", v.trusted_comment);
}

#[test]
fn wrong_key_is_named_with_the_allowed_ones() {
    let (a, b, c) = (pair(), pair(), pair());
    let sig = c.signing_key.sign(PLUGIN, None).unwrap();
    let e = policy(&[&a, &b]).verify(p(), PLUGIN, &sig).unwrap_err();
    assert!(matches!(e, TrustError::UnknownKey { key_id, .. } if key_id == c.id));
    let m = e.to_string();
    assert!(
        m.contains(&format!(
            "signature /x/y.wasm.minisig of plugin /x/y.wasm was made by key {}, which is not among the 2 allowed keys ({}, {})",
            c.id, a.id, b.id
        )),
        "{m}"
    );
}

#[test]
fn tampered_bytes_are_refused() {
    let a = pair();
    let sig = a.signing_key.sign(PLUGIN, None).unwrap();
    let mut bytes = PLUGIN.to_vec();
    bytes[12] ^= 1;
    let e = policy(&[&a]).verify(p(), &bytes, &sig).unwrap_err();
    assert!(matches!(e, TrustError::Mismatch { .. }), "{e}");
    assert!(e.to_string().contains("does not match the bytes of plugin /x/y.wasm (modified after signing?)"), "{e}");
    let mut longer = PLUGIN.to_vec();
    longer.push(0);
    assert!(matches!(policy(&[&a]).verify(p(), &longer, &sig), Err(TrustError::Mismatch { .. })));
}

#[test]
fn altered_trusted_comment_is_refused() {
    let a = pair();
    let sig = String::from_utf8(a.signing_key.sign(PLUGIN, Some("version 1")).unwrap()).unwrap();
    let forged = sig.replace("trusted comment: version 1", "trusted comment: version 2");
    let e = policy(&[&a]).verify(p(), PLUGIN, forged.as_bytes()).unwrap_err();
    assert!(matches!(e, TrustError::CommentAltered { .. }), "{e}");
}

fn malformed(sig: &[u8]) -> (usize, String) {
    match policy(&[&pair()]).verify(p(), PLUGIN, sig) {
        Err(TrustError::MalformedSignature { file, line, reason }) => {
            assert_eq!(file, Path::new("/x/y.wasm.minisig"));
            (line, reason)
        }
        other => panic!("expected a malformed signature, got {other:?}"),
    }
}

#[test]
fn truncated_and_garbage_signatures_name_the_line() {
    let a = pair();
    let sig = String::from_utf8(a.signing_key.sign(PLUGIN, None).unwrap()).unwrap();
    let lines: Vec<&str> = sig.lines().collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(malformed(b"").0, 1);
    assert_eq!(malformed(b"\xff\xfe garbage").0, 1);
    assert_eq!(malformed(b"hello\n").0, 1);
    // Only the first two lines (a file cut short).
    let (line, reason) = malformed(format!("{}\n{}\n", lines[0], lines[1]).as_bytes());
    assert_eq!(line, 3, "{reason}");
    assert!(reason.contains("missing the trusted comment"), "{reason}");
    // The signature line cut in half.
    let (line, reason) =
        malformed(format!("{}\n{}\n{}\n{}\n", lines[0], &lines[1][..40], lines[2], lines[3]).as_bytes());
    assert_eq!(line, 2);
    assert!(reason.contains("expected 74"), "{reason}");
    // The comment signature cut short (minisign itself would index past its end).
    let (line, reason) =
        malformed(format!("{}\n{}\n{}\n{}\n", lines[0], lines[1], lines[2], &lines[3][..44]).as_bytes());
    assert_eq!(line, 4);
    assert!(reason.contains("expected 64"), "{reason}");
    // Not base64.
    assert_eq!(malformed(format!("{}\n!!!!\n{}\n{}\n", lines[0], lines[2], lines[3]).as_bytes()).0, 2);
    // Trailing text.
    assert_eq!(malformed(format!("{sig}\nmore\n").as_bytes()).0, 6);
    // Trailing blank lines are fine.
    policy(&[&a]).verify(p(), PLUGIN, format!("{sig}\n\n").as_bytes()).unwrap();
}

#[test]
fn require_mode_refuses_unsigned_off_mode_checks_nothing() {
    let a = pair();
    let pol = policy(&[&a]);
    let e = pol.check(p(), PLUGIN, None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "plugin /x/y.wasm is not signed (required: trust mode require; expected signature at /x/y.wasm.minisig)"
    );
    let off = TrustPolicy::off();
    assert_eq!(off.check(p(), PLUGIN, None).unwrap(), None);
    assert_eq!(off.check(p(), PLUGIN, Some(b"garbage")).unwrap(), None);
    assert!(matches!(TrustPolicy::require(vec![]), Err(TrustError::NoTrustedKeys)));
    assert!(matches!(TrustPolicy::from_paths(true, &[]), Err(TrustError::NoTrustedKeys)));
}

#[test]
fn key_files() {
    let (a, b) = (pair(), pair());
    // minisign's own layout, bare keys, comments and a repeated key.
    let text = format!("# routers of site A\n{}\n{}\n\n{}", a.public, b.public_line(), a.public);
    let keys = parse_keys(Path::new("k.pub"), &text).unwrap();
    assert_eq!(keys.iter().map(|k| k.id).collect::<Vec<_>>(), vec![a.id, b.id]);
    assert_eq!(keys[0].source, "k.pub:3");
    assert_eq!(keys[0].comment.as_deref(), Some(format!("minisign public key {}", a.id).as_str()));
    assert_eq!(keys[1].source, "k.pub:5");
    assert_eq!(keys[1].comment, None);

    let err = |text: &str| match parse_keys(Path::new("k.pub"), text) {
        Err(TrustError::MalformedKey { line, reason, .. }) => (line, reason),
        other => panic!("expected a malformed key, got {other:?}"),
    };
    let (line, reason) = err(&format!("{}not a key\n", a.public));
    assert_eq!(line, 3);
    assert!(reason.contains("not base64"), "{reason}");
    let (line, reason) = err(&format!("\n{}\n", &b.public_line()[..28]));
    assert_eq!(line, 2);
    assert!(reason.contains("42"), "{reason}");
    // A secret key where a public one belongs.
    let (_, reason) = err(&a.secret);
    assert!(reason.contains("bytes, a minisign public key has 42"), "{reason}");
    assert!(parse_keys(Path::new("k.pub"), "# nothing\n").unwrap().is_empty());
    let e = parse_keys(
        Path::new("k.pub"),
        "untrusted comment: x\nRWxAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
    )
    .unwrap_err();
    assert!(e.to_string().starts_with("k.pub:2: not a valid minisign public key: unknown key algorithm"), "{e}");
    let (line, reason) = err("RWQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    assert_eq!(line, 1);
    assert!(reason.contains("all zeros"), "{reason}");
}

#[test]
fn key_files_and_directories_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (pair(), pair());
    let (apub, akey) = a.write(&dir.path().join("a"), false).unwrap();
    b.write(&dir.path().join("b"), false).unwrap();
    std::fs::write(dir.path().join("README"), "not a key").unwrap();
    // The directory: every *.pub.
    let keys = load_keys(dir.path()).unwrap();
    assert_eq!(keys.len(), 2);
    // One file.
    assert_eq!(load_keys(&apub).unwrap()[0].id, a.id);
    // Keygen refuses to overwrite; the secret key is private.
    assert!(matches!(a.write(&dir.path().join("a"), false), Err(TrustError::Write { .. })));
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(std::fs::metadata(&akey).unwrap().permissions().mode() & 0o777, 0o600);
    // The secret key file signs; the public one does not.
    let sk = SigningKey::read(&akey, Password::None).unwrap();
    assert_eq!(sk.id, a.id);
    let e = SigningKey::read(&apub, Password::None).unwrap_err();
    assert!(e.to_string().contains("this is a public key"), "{e}");
    // Empty directory, missing file.
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(load_keys(empty.path()), Err(TrustError::NoKeys { .. })));
    let e = load_keys(&dir.path().join("missing.pub")).unwrap_err();
    assert!(e.to_string().starts_with(&format!("cannot read {}", dir.path().join("missing.pub").display())), "{e}");
    // A conflicting key ID across files.
    let forged = a.public.replace(&a.public_line()[20..26], "AAAAAA");
    std::fs::write(dir.path().join("c.pub"), forged).unwrap();
    assert!(matches!(load_keys(dir.path()), Err(TrustError::ConflictingKey { .. })));
}

#[test]
fn check_file_reads_the_signature_next_to_the_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let a = pair();
    let plugin = dir.path().join("p.wasm");
    std::fs::write(&plugin, PLUGIN).unwrap();
    let pol = policy(&[&a]);
    assert!(matches!(pol.check_file(&plugin), Err(TrustError::Unsigned { .. })));
    let written = write_signature(&plugin, None, &a.signing_key.sign(PLUGIN, None).unwrap()).unwrap();
    assert_eq!(written, dir.path().join("p.wasm.minisig"));
    let c = pol.check_file(&plugin).unwrap();
    assert_eq!(c.bytes, PLUGIN);
    assert_eq!(c.verified.unwrap().key_id, a.id);
    assert!(TrustPolicy::off().check_file(&plugin).unwrap().verified.is_none());
    assert!(matches!(pol.check_file(&dir.path().join("nope.wasm")), Err(TrustError::Read { .. })));
}

#[test]
fn multi_line_comments_are_refused() {
    let a = pair();
    assert!(matches!(a.signing_key.sign(PLUGIN, Some("a\nb")), Err(TrustError::Comment { .. })));
}

impl KeyPair {
    /// The base64 line of the public key.
    fn public_line(&self) -> String {
        self.public.lines().nth(1).unwrap().to_string()
    }
}
