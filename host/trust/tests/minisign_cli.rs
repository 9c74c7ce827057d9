//! Interop with the real `minisign` tool (Debian package `minisign`): what it signs, ferrolb
//! verifies, and what ferrolb signs, it verifies — including its password-protected secret keys.
//! Skipped, saying why, when the tool is not installed (`cargo xtask test` installs it as root).

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use ferrolb_trust::{Password, SigningKey, TrustError, TrustPolicy, generate_keypair, load_keys, write_signature};

const PLUGIN: &[u8] = b"\0asm\x0d\0\x01\0 a component, as far as signatures care";

fn have_minisign() -> bool {
    match Command::new("minisign").arg("-v").output() {
        Ok(o) if o.status.success() => true,
        _ => {
            eprintln!("SKIPPED: the minisign tool is not installed (apt-get install minisign); interop not checked");
            false
        }
    }
}

fn minisign(dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new("minisign")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run minisign");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("password to minisign");
    child.wait_with_output().expect("minisign output")
}

fn ok(o: &Output) -> String {
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "minisign failed: {text}");
    text
}

#[test]
fn signed_by_the_minisign_tool_verified_by_ferrolb() {
    if !have_minisign() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::write(d.join("p.wasm"), PLUGIN).expect("plugin");
    ok(&minisign(d, &["-G", "-W", "-p", "tool.pub", "-s", "tool.key"], ""));
    ok(&minisign(d, &["-S", "-s", "tool.key", "-m", "p.wasm", "-t", "allocator 1.2.0"], ""));
    let policy =
        TrustPolicy::require(load_keys(&d.join("tool.pub")).expect("minisign's .pub is a keys file")).expect("policy");
    let v = policy.check_file(&d.join("p.wasm")).expect("ferrolb accepts minisign's signature").verified;
    let v = v.expect("require mode verified it");
    assert_eq!(v.trusted_comment, "allocator 1.2.0");
    assert!(v.prehashed, "minisign signs prehashed by default");

    // Legacy (non-prehashed) signatures are accepted too, as minisign -V accepts them.
    ok(&minisign(d, &["-S", "-l", "-s", "tool.key", "-m", "p.wasm", "-x", "legacy.minisig"], ""));
    let sig = std::fs::read(d.join("legacy.minisig")).expect("legacy signature");
    let v = policy.verify_named(&d.join("p.wasm"), &d.join("legacy.minisig"), PLUGIN, &sig).expect("legacy");
    assert!(!v.prehashed);

    // Modified after the tool signed it.
    let mut changed = PLUGIN.to_vec();
    changed.push(b'!');
    std::fs::write(d.join("p.wasm"), &changed).expect("tamper");
    let e = policy.check_file(&d.join("p.wasm")).expect_err("tampered");
    assert!(matches!(e, TrustError::Mismatch { .. }), "{e}");
}

#[test]
fn signed_by_ferrolb_verified_by_the_minisign_tool() {
    if !have_minisign() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let plugin = d.join("p.wasm");
    std::fs::write(&plugin, PLUGIN).expect("plugin");
    let pair = generate_keypair().expect("keygen");
    let (pub_path, key_path) = pair.write(&d.join("ferrolb"), false).expect("write keys");
    let key = SigningKey::read(&key_path, Password::None).expect("read our key");
    write_signature(&plugin, None, &key.sign(PLUGIN, Some("merge 0.3.1")).expect("sign")).expect("write sig");
    let out = ok(&minisign(d, &["-V", "-p", pub_path.to_str().expect("utf-8"), "-m", "p.wasm"], ""));
    assert!(out.contains("Trusted comment: merge 0.3.1"), "{out}");
    // The tool refuses a modified plugin too.
    std::fs::write(&plugin, b"something else").expect("tamper");
    let o = minisign(d, &["-V", "-p", pub_path.to_str().expect("utf-8"), "-m", "p.wasm"], "");
    assert!(!o.status.success(), "minisign accepted a modified file");
}

#[test]
fn password_protected_minisign_keys_sign() {
    if !have_minisign() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let plugin = d.join("p.wasm");
    std::fs::write(&plugin, PLUGIN).expect("plugin");
    // minisign reads the password from stdin when it is not a terminal. (Each derivation of this
    // key costs seconds and 1 GiB: minisign's scrypt parameters are libsodium's "sensitive" ones.)
    ok(&minisign(d, &["-G", "-p", "enc.pub", "-s", "enc.key"], "hunter2\nhunter2\n"));
    let e = SigningKey::read(&d.join("enc.key"), Password::None).expect_err("needs the password");
    assert!(e.to_string().contains("password-protected"), "{e}");
    let key = SigningKey::read(&d.join("enc.key"), Password::Given("hunter2".into())).expect("decrypt");
    write_signature(&plugin, None, &key.sign(PLUGIN, None).expect("sign")).expect("write sig");
    ok(&minisign(d, &["-V", "-p", "enc.pub", "-m", "p.wasm"], ""));
}
