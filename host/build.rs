//! Build script: compile the policy plugins (`../plugins`, a separate workspace) for
//! `wasm32-wasip2` so the default ones can be embedded in the binary (`src/policy/builtin.rs`).
//!
//! The plugins are built by a nested `cargo build` into `<target>/wasm-plugins`, a target directory
//! of their own (so the nested cargo never waits on the outer one's lock). If the `wasm32-wasip2`
//! target is missing and rustup is available, it is installed first: a fresh clone builds with
//! plain `cargo build`. Rebuilt only when `plugins/` or `wit/` change.

use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";

fn main() {
    if let Err(e) = run() {
        eprintln!("error: building the ferrolb policy plugins failed:\n{e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").map_err(|e| e.to_string())?);
    let root = manifest_dir.parent().ok_or("host/ has no parent directory")?;
    let plugins = root.join("plugins");
    let wit = root.join("wit");
    println!("cargo:rerun-if-changed={}", wit.display());
    // Everything in plugins/ but a stray `target` (the nested build uses its own target dir).
    let entries = std::fs::read_dir(&plugins).map_err(|e| format!("cannot read {}: {e}", plugins.display()))?;
    for entry in entries.flatten() {
        if entry.file_name() != "target" {
            println!("cargo:rerun-if-changed={}", entry.path().display());
        }
    }
    println!("cargo:rerun-if-env-changed=FERROLB_SKIP_PLUGIN_BUILD");

    let target_dir = target_dir()?.join("wasm-plugins");
    let out = target_dir.join(TARGET).join("release");
    println!("cargo:rustc-env=FERROLB_PLUGIN_DIR={}", out.display());
    if std::env::var_os("FERROLB_SKIP_PLUGIN_BUILD").is_some() {
        // For packagers who build the plugins themselves into the same place.
        return Ok(());
    }
    ensure_target()?;

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&plugins)
        .args(["build", "--release", "--workspace", "--target", TARGET, "--target-dir"])
        .arg(&target_dir);
    // Nothing of the outer build's configuration may leak into the guest build.
    for var in [
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_LLVM_COV",
        "LLVM_PROFILE_FILE",
    ] {
        cmd.env_remove(var);
    }
    for (k, _) in std::env::vars_os() {
        if let Some(k) = k.to_str()
            && (k.starts_with("CARGO_PROFILE_") || k.starts_with("CARGO_CFG_") || k.starts_with("CARGO_FEATURE_"))
        {
            cmd.env_remove(k);
        }
    }
    let output = cmd.output().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "`cargo build --release --target {TARGET}` in {} failed:\n{}",
            plugins.display(),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    for name in ["ferrolb_allocator", "ferrolb_advertise", "ferrolb_merge", "ferrolb_egress"] {
        let p = out.join(format!("{name}.wasm"));
        if !p.is_file() {
            return Err(format!("the plugin build produced no {}", p.display()));
        }
    }
    Ok(())
}

/// The outer build's target directory. OUT_DIR is `<target>/[<triple>/]<profile>/build/<pkg>/out`;
/// cargo marks `<target>` with a CACHEDIR.TAG file.
fn target_dir() -> Result<PathBuf, String> {
    let out = PathBuf::from(std::env::var("OUT_DIR").map_err(|e| e.to_string())?);
    let build = out
        .ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "build"))
        .ok_or_else(|| format!("unexpected OUT_DIR layout: {}", out.display()))?;
    let profile_dir = build.parent().ok_or("OUT_DIR has no profile directory")?;
    let tagged = profile_dir.ancestors().skip(1).find(|p| p.join("CACHEDIR.TAG").is_file());
    tagged
        .or_else(|| profile_dir.parent())
        .map(Path::to_path_buf)
        .ok_or_else(|| format!("cannot find the target directory above {}", out.display()))
}

/// Install the wasm32-wasip2 standard library with rustup when it is missing.
fn ensure_target() -> Result<(), String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot =
        Command::new(&rustc).args(["--print", "sysroot"]).output().map_err(|e| format!("cannot run {rustc}: {e}"))?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
    if sysroot.join("lib/rustlib").join(TARGET).is_dir() {
        return Ok(());
    }
    println!("cargo:warning=installing the {TARGET} target with rustup (needed to build the policy plugins)");
    let status = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()
        .map_err(|e| format!("the {TARGET} target is missing and rustup cannot be run ({e}); install it with `rustup target add {TARGET}`"))?;
    if !status.success() {
        return Err(format!("`rustup target add {TARGET}` failed"));
    }
    Ok(())
}
