//! Plugin trust and per-plugin limits through the real `ferrolb` binary: `plugin keygen / sign /
//! verify`, and `plan` / `run` with `--require-signed --trusted-keys` and `--plugin-*` limits.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const QUICKSTART: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/quickstart.yaml");

fn ferrolb(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferrolb")).args(args).env("FERROLB_LOG", "error").output().expect("run ferrolb")
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// Exit code, stdout, stderr.
fn run(args: &[&str]) -> (i32, String, String) {
    let o = ferrolb(args);
    let (out, err) = text(&o);
    (o.status.code().unwrap_or(-1), out, err)
}

/// A copy of the default allocator component (the bytes `builtin:allocator` embeds) in `dir`.
fn allocator_copy(dir: &Path, name: &str) -> PathBuf {
    let src = Path::new(ferrolb::policy::builtin::PLUGIN_DIR).join("ferrolb_allocator.wasm");
    assert!(src.is_file(), "{} is missing: the build script builds the plugins", src.display());
    let dst = dir.join(name);
    std::fs::copy(&src, &dst).expect("copy plugin");
    dst
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn keygen(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let prefix = dir.join(name);
    let (code, out, err) = run(&["plugin", "keygen", "--out", s(&prefix)]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("key ID:"), "{out}");
    (dir.join(format!("{name}.pub")), dir.join(format!("{name}.key")))
}

#[test]
fn keygen_sign_verify_and_tampering() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (ops_pub, ops_key) = keygen(d, "ops");
    let (other_pub, _) = keygen(d, "other");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(std::fs::metadata(&ops_key).expect("key").permissions().mode() & 0o777, 0o600);
    // keygen does not overwrite a key.
    let (code, _, err) = run(&["plugin", "keygen", "--out", s(&d.join("ops"))]);
    assert_eq!(code, 2);
    assert!(err.contains("exists; not overwriting a key (--force to replace it)"), "{err}");

    let plugin = allocator_copy(d, "alloc.wasm");
    // Unsigned.
    let (code, _, err) = run(&["plugin", "verify", "--keys", s(&ops_pub), s(&plugin)]);
    assert_eq!(code, 1);
    assert!(err.contains("is not signed (required: trust mode require; expected signature at"), "{err}");

    let (code, out, err) =
        run(&["plugin", "sign", "--key", s(&ops_key), s(&plugin), "--comment", "allocator for site A"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(d.join("alloc.wasm.minisig").is_file());
    let (code, out, err) = run(&["plugin", "verify", "--keys", s(&ops_pub), s(&plugin)]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("good signature by key"), "{out}");
    assert!(out.contains("trusted comment: allocator for site A"), "{out}");

    // Allowed keys as a directory of *.pub files.
    let (code, out, err) = run(&["plugin", "verify", "--keys", s(d), s(&plugin)]);
    assert_eq!(code, 0, "{out}{err}");

    // Signed, but not by an allowed key.
    let (code, _, err) = run(&["plugin", "verify", "--keys", s(&other_pub), s(&plugin)]);
    assert_eq!(code, 1);
    assert!(err.contains("which is not among the 1 allowed key ("), "{err}");

    // Modified after signing.
    let mut bytes = std::fs::read(&plugin).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    std::fs::write(&plugin, &bytes).expect("tamper");
    let (code, _, err) = run(&["plugin", "verify", "--keys", s(&ops_pub), s(&plugin)]);
    assert_eq!(code, 1);
    assert!(err.contains("does not match the bytes of plugin"), "{err}");
    assert!(err.contains("(modified after signing?)"), "{err}");

    // A signature file cut short names its line.
    std::fs::write(&plugin, std::fs::read(allocator_copy(d, "fresh.wasm")).expect("fresh")).expect("restore");
    let sig = std::fs::read_to_string(d.join("alloc.wasm.minisig")).expect("sig");
    std::fs::write(d.join("alloc.wasm.minisig"), &sig[..sig.len() / 2]).expect("truncate");
    let (code, _, err) = run(&["plugin", "verify", "--keys", s(&ops_pub), s(&plugin)]);
    assert_eq!(code, 1);
    assert!(err.contains("alloc.wasm.minisig:2: not a valid minisign signature"), "{err}");
}

fn plan(plugin: &Path, extra: &[&str]) -> (i32, String, String) {
    let spec = format!("allocator={}", s(plugin));
    let mut args = vec!["plan", "-f", QUICKSTART, "--node", "worker-0", "-o", "json", "--plugin", &spec];
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn plan_and_run_require_signed_plugins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (ops_pub, ops_key) = keygen(d, "ops");
    let (_, other_key) = keygen(d, "other");
    let require = ["--require-signed", "--trusted-keys", s(&ops_pub)];

    let unsigned = allocator_copy(d, "unsigned.wasm");
    // Off (the default): an unsigned file loads.
    let (code, out, err) = plan(&unsigned, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"status\": \"ok\""), "{out}");
    // Require: refused, before anything is planned.
    let (code, out, err) = plan(&unsigned, &require);
    assert_eq!(code, 2, "{out}");
    assert!(out.is_empty(), "{out}");
    let expected = format!(
        "plugin {} is not signed (required: trust mode require; expected signature at {}.minisig)",
        unsigned.display(),
        unsigned.display()
    );
    assert!(err.contains(&expected), "{err}");

    // Signed by a key that is not allowed.
    let wrong = allocator_copy(d, "wrong.wasm");
    assert_eq!(run(&["plugin", "sign", "--key", s(&other_key), s(&wrong)]).0, 0);
    let (code, _, err) = plan(&wrong, &require);
    assert_eq!(code, 2);
    assert!(err.contains("which is not among the 1 allowed key"), "{err}");

    // Signed by the allowed key: loads and plans.
    let good = allocator_copy(d, "good.wasm");
    assert_eq!(run(&["plugin", "sign", "--key", s(&ops_key), s(&good)]).0, 0);
    let (code, out, err) = plan(&good, &require);
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).expect("plan JSON");
    assert_eq!(json["policies"][0]["world"], "allocator");
    assert_eq!(json["policies"][0]["status"], "ok");
    assert!(!json["allocations"].as_array().expect("allocations").is_empty(), "{out}");

    // Modified after signing.
    let mut bytes = std::fs::read(&good).expect("read");
    bytes.extend_from_slice(b"\0");
    std::fs::write(&good, &bytes).expect("tamper");
    let (code, _, err) = plan(&good, &require);
    assert_eq!(code, 2);
    assert!(err.contains("does not match the bytes of plugin"), "{err}");

    // The two options go together.
    let (code, _, err) = plan(&unsigned, &["--require-signed"]);
    assert_eq!(code, 2);
    assert!(err.contains("--trusted-keys"), "{err}");

    // `ferrolb run` refuses the same plugin before it starts anything.
    let spec = format!("allocator={}", s(&unsigned));
    let (code, _, err) = run(&[
        "run",
        "-f",
        QUICKSTART,
        "--node",
        "worker-0",
        "--state",
        s(&d.join("state")),
        "--socket",
        s(&d.join("admin.sock")),
        "--plugin",
        &spec,
        "--require-signed",
        "--trusted-keys",
        s(&ops_pub),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains(&expected), "{err}");
    assert!(!d.join("state").exists(), "run started before refusing the plugin");
}

/// Services enough that the default allocator needs more than 1 MiB of linear memory (it needs
/// well under the default 64 MiB).
fn many_services(dir: &Path, n: usize) -> PathBuf {
    use std::fmt::Write as _;
    let mut y = String::from(
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: big, namespace: metallb-system}\n\
         spec:\n  addresses: [10.0.0.0/16]\n",
    );
    for i in 0..n {
        let _ = write!(
            y,
            "---\napiVersion: v1\nkind: Service\nmetadata: {{name: svc-{i}, namespace: default}}\nspec:\n  \
             type: LoadBalancer\n  ports:\n    - {{port: 80, protocol: TCP}}\n"
        );
    }
    let p = dir.join("many.yaml");
    std::fs::write(&p, y).expect("write manifests");
    p
}

#[test]
fn per_plugin_limits_apply_to_plugin_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let plugin = allocator_copy(d, "alloc.wasm");
    let manifests = many_services(d, 8000);
    let spec = format!("allocator={}", s(&plugin));
    let plan = |extra: &[&str]| {
        let mut args = vec!["plan", "-f", s(&manifests), "--node", "n", "-o", "json", "--plugin", &spec];
        args.extend_from_slice(extra);
        let (code, out, err) = run(&args);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str::<serde_json::Value>(&out).expect("plan JSON")
    };
    // Fits in the default 64 MiB.
    let ok = plan(&[]);
    assert_eq!(ok["policies"][0]["status"], "ok", "{}", ok["policies"][0]);
    assert_eq!(ok["allocations"].as_array().expect("allocations").len(), 8000);
    // Not in 1 MiB: the allocator fails with the reason, and nothing is allocated.
    let small = plan(&["--plugin-memory-mib", "1"]);
    assert_eq!(small["policies"][0]["status"], "failed", "{}", small["policies"][0]);
    let msg = small["policies"][0]["message"].as_str().expect("message");
    assert!(msg.contains("exceeded its memory limit of 1048576 bytes"), "{msg}");
    assert!(small["allocations"].as_array().expect("allocations").is_empty());

    // Fuel and deadlines reach the plugin file too (here: it cannot even say who it is).
    let (code, _, err) =
        run(&["plan", "-f", QUICKSTART, "--node", "worker-0", "--plugin", &spec, "--plugin-fuel", "1000"]);
    assert_eq!(code, 2);
    assert!(err.contains("ran out of fuel (1000 units)"), "{err}");
    let (code, _, err) = run(&["plan", "-f", QUICKSTART, "--node", "worker-0", "--plugin-deadline-ms", "0"]);
    assert_eq!(code, 2);
    assert!(err.contains("0 is not in 1..=600000"), "{err}");
}
