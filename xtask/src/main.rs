//! `cargo xtask`: project automation (the usual Rust pattern, no extra tools to install).
//!
//! - `cargo xtask test`  — the one test command (CI runs exactly this): installs what it needs
//!   (the wasm32-wasip2 target; Debian packages for the lab tests when run as root), builds the
//!   plugins and the hostile corpus, checks formatting and clippy on both workspaces (the plugin
//!   `*-core` crates natively too), runs every test (the core crates' natively), and prints a
//!   summary ending in `summary: N passed, N failed`.
//!   As root, the last step is the live demo in check mode (`cargo xtask demo --check`).
//! - `cargo xtask demo [--check]` — the live demo ([`demo`]): as root, `ferrolb run` announces the
//!   services of `examples/demo` to FRR in network namespaces; otherwise the offline plan.
//! - `cargo xtask bench` — every benchmark (`cargo bench`), figures for BENCHMARKS.md.
//! - `cargo xtask plugins` — build the plugin workspace only.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

mod demo;

const WASM_TARGET: &str = "wasm32-wasip2";

/// Debian packages the lab and interop tests need (installed when running as root and missing).
const DEBIAN_PACKAGES: &[&str] = &[
    "frr",
    "bird2",
    "exabgp",
    "arping",
    "ndisc6",
    "iputils-ping",
    "tcpdump",
    "nftables",
    "user-mode-linux",
    "python3-scapy",
    "iproute2",
    // ferrolb-trust's interop test: signatures made by the real minisign tool, and checked by it.
    "minisign",
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(&args[1..]),
        Some("demo") => demo::main(&args[1..]),
        Some("bench") => bench(&args[1..]),
        Some("plugins") => plugins(),
        _ => {
            eprintln!("usage: cargo xtask <test | demo [--check] | bench | plugins>");
            std::process::exit(2);
        }
    };
    if let Err(e) = result {
        eprintln!("xtask: error: {e:#}");
        std::process::exit(1);
    }
}

fn root() -> PathBuf {
    // xtask/ is one level below the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."))
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

fn run(step: &str, cmd: &mut Command) -> Result<()> {
    eprintln!("xtask: {step}: {cmd:?}");
    let status = cmd.status().with_context(|| format!("{step}: cannot start {cmd:?}"))?;
    if !status.success() {
        bail!("{step} failed ({status})");
    }
    Ok(())
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.trim_ascii() == b"0").unwrap_or(false)
}

/// Add the wasm32-wasip2 target when it is missing.
fn ensure_wasm_target() -> Result<()> {
    let out = Command::new("rustc").args(["--print", "sysroot"]).output().context("running rustc")?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if sysroot.join("lib/rustlib").join(WASM_TARGET).is_dir() {
        return Ok(());
    }
    run("install wasm target", Command::new("rustup").args(["target", "add", WASM_TARGET]))
}

/// Install the missing ones of `packages` when root (lab tests and the demo need real peers);
/// otherwise say what is missing and let the lab tests report themselves as not run.
fn ensure_debian_packages(packages: &[&str]) -> Result<()> {
    if packages.is_empty() {
        return Ok(());
    }
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| {
            !Command::new("dpkg-query")
                .args(["-W", "-f=${Status}", p])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
                .unwrap_or(false)
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !is_root() {
        eprintln!("xtask: not root: cannot install {missing:?}; lab tests that need them will fail");
        return Ok(());
    }
    run("apt-get update", Command::new("apt-get").args(["update", "-qq"]))?;
    run(
        "install Debian packages",
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

/// The plugin workspace's `*-core` crates: plain libraries, tested and linted natively.
fn core_crates() -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(root().join("plugins")).context("reading plugins/")? {
        let entry = entry.context("reading plugins/")?;
        let dir = entry.file_name().to_string_lossy().into_owned();
        if dir.ends_with("-core") && entry.path().join("Cargo.toml").is_file() {
            names.push(format!("ferrolb-{dir}"));
        }
    }
    names.sort();
    Ok(names)
}

/// The host's target triple (the plugin workspace defaults to wasm32-wasip2).
fn host_triple() -> Result<String> {
    let out = Command::new("rustc").arg("-vV").output().context("running rustc -vV")?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .context("rustc -vV printed no host triple")
}

fn core_args(cmd: &mut Command) -> Result<()> {
    cmd.current_dir(root().join("plugins")).arg("--target").arg(host_triple()?);
    for c in core_crates()? {
        cmd.args(["-p", &c]);
    }
    Ok(())
}

fn plugin_target_dir() -> PathBuf {
    root().join("target").join("wasm-plugins")
}

fn plugins() -> Result<()> {
    ensure_wasm_target()?;
    run(
        "build plugins",
        cargo()
            .current_dir(root().join("plugins"))
            .args(["build", "--release", "--workspace", "--target", WASM_TARGET, "--target-dir"])
            .arg(plugin_target_dir()),
    )
}

struct Step {
    name: &'static str,
    took: Duration,
    outcome: Outcome,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    Failed,
    Skipped,
}

fn test(extra: &[String]) -> Result<()> {
    let started = Instant::now();
    let mut steps: Vec<Step> = Vec::new();
    let mut timed = |name: &'static str, f: &mut dyn FnMut() -> Result<()>| -> bool {
        let t = Instant::now();
        let r = f();
        if let Err(e) = &r {
            eprintln!("xtask: {name}: {e:#}");
        }
        steps.push(Step { name, took: t.elapsed(), outcome: if r.is_ok() { Outcome::Ok } else { Outcome::Failed } });
        r.is_ok()
    };

    let mut ok = timed("prerequisites", &mut || {
        ensure_wasm_target()?;
        ensure_debian_packages(DEBIAN_PACKAGES)
    });
    ok &= timed("build plugins + hostile corpus", &mut plugins);
    ok &= timed("cargo fmt --check", &mut || {
        run("fmt host workspace", cargo().args(["fmt", "--all", "--", "--check"]))?;
        run("fmt plugin workspace", cargo().current_dir(root().join("plugins")).args(["fmt", "--all", "--", "--check"]))
    });
    ok &= timed("cargo clippy -D warnings", &mut || {
        run("clippy host workspace", cargo().args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))?;
        run(
            "clippy plugin workspace",
            cargo()
                .current_dir(root().join("plugins"))
                .args(["clippy", "--release", "--workspace", "--target", WASM_TARGET, "--target-dir"])
                .arg(plugin_target_dir())
                .args(["--", "-D", "warnings"]),
        )?;
        let mut native = cargo();
        native.args(["clippy", "--all-targets"]);
        core_args(&mut native)?;
        run("clippy plugin core crates (native)", native.args(["--", "-D", "warnings"]))
    });
    let mut counts = (0u64, 0u64, 0u64);
    ok &= timed("plugin core crates: cargo test (native)", &mut || {
        let mut cmd = cargo();
        cmd.arg("test");
        core_args(&mut cmd)?;
        let c = run_tests(&mut cmd)?;
        counts = (counts.0 + c.0, counts.1 + c.1, counts.2 + c.2);
        if c.1 > 0 {
            bail!("{} test(s) failed", c.1);
        }
        Ok(())
    });
    ok &= timed("cargo test", &mut || {
        let mut cmd = cargo();
        cmd.args(["test", "--workspace", "--no-fail-fast"]).args(extra);
        let c = run_tests(&mut cmd)?;
        counts = (counts.0 + c.0, counts.1 + c.1, counts.2 + c.2);
        if c.1 > 0 {
            bail!("{} test(s) failed", c.1);
        }
        Ok(())
    });
    // The live demo in check mode: ferrolb run against FRR in namespaces, one test.
    const DEMO: &str = "demo --check (ferrolb run + FRR)";
    if is_root() {
        let passed = timed(DEMO, &mut || demo::run(demo::Mode::Check));
        if passed {
            counts.0 += 1;
        } else {
            counts.1 += 1;
        }
        ok &= passed;
    } else {
        eprintln!("xtask: {DEMO}: SKIPPED: the live demo needs root (network namespaces, veth, FRR)");
        steps.push(Step { name: DEMO, took: Duration::ZERO, outcome: Outcome::Skipped });
        counts.2 += 1;
    }

    eprintln!();
    eprintln!("xtask test summary ({:.0?} in all):", started.elapsed());
    for s in &steps {
        let outcome = match s.outcome {
            Outcome::Ok => "ok",
            Outcome::Failed => "FAILED",
            Outcome::Skipped => "skipped (needs root)",
        };
        eprintln!("  {:<34} {:>8.1?}  {}", s.name, s.took, outcome);
    }
    println!("summary: {} passed, {} failed, {} skipped", counts.0, counts.1, counts.2);
    if !ok {
        bail!("some steps failed");
    }
    Ok(())
}

/// Run a `cargo test`, echoing its output and adding up its `test result:` lines.
fn run_tests(cmd: &mut Command) -> Result<(u64, u64, u64)> {
    eprintln!("xtask: tests: {cmd:?}");
    let mut child = cmd.stdout(Stdio::piped()).spawn().context("starting cargo test")?;
    let stdout = child.stdout.take().context("cargo test has no stdout")?;
    let (mut passed, mut failed, mut ignored) = (0, 0, 0);
    for line in BufReader::new(stdout).lines() {
        let line = line.context("reading cargo test output")?;
        println!("{line}");
        if let Some(rest) = line.strip_prefix("test result: ") {
            for part in rest.split([';', '.']) {
                let mut words = part.split_whitespace();
                if let (Some(n), Some(what)) = (words.next(), words.next()) {
                    let n: u64 = n.parse().unwrap_or(0);
                    match what {
                        "passed" => passed += n,
                        "failed" => failed += n,
                        "ignored" => ignored += n,
                        _ => {}
                    }
                }
            }
        }
    }
    let status = child.wait().context("waiting for cargo test")?;
    if !status.success() && failed == 0 {
        bail!("cargo test failed ({status}) before running every test (a build error?)");
    }
    Ok((passed, failed, ignored))
}

fn bench(extra: &[String]) -> Result<()> {
    ensure_wasm_target()?;
    run("bench", cargo().args(["bench", "--workspace"]).args(extra))
}
