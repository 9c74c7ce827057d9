//! User-Mode Linux runner for kernel features this machine lacks (VRF, VLAN, dummy devices).
//!
//! Boots Debian's `linux.uml` (package `user-mode-linux`, a 6.1 kernel with `vrf`, `8021q`, `dummy`,
//! `veth`, `bridge` modules) as an ordinary process, ~2 s. The host's `/` is its root file system
//! through hostfs, read-only, so any host program — in particular the *current test executable* —
//! runs inside unchanged. A fresh host directory is mounted read-write at [`GUEST_OUT`] for results.
//!
//! UML always exits 0, so the generated init script records the exit status of the command it ran
//! in `verdict` and its output in `log.txt`; [`UmlOutcome`] carries both back.
//!
//! Two things this machine needs, both handled here:
//! - **AMX hosts.** UML 6.1 saves a guest's FP state with `PTRACE_{GET,SET}REGSET NT_X86_XSTATE` into a
//!   fixed-size buffer; on a host with AMX the kernel insists on the full (~11 KiB) XSAVE size and answers
//!   `EFAULT`, and UML dies at once with "ptrace set fp regs failed, errno = 14". UML falls back to
//!   `PTRACE_GETFPREGS` (FXSAVE: x87 + SSE) when the XSTATE regset is unavailable, so the runner starts
//!   UML under a seccomp filter that makes exactly those two ptrace requests fail with `EIO`. Guest
//!   processes then must not rely on AVX state across UML context switches between threads of one
//!   process: the init script sets `GLIBC_TUNABLES` so glibc picks its SSE routines (Rust code is built
//!   for the x86-64 baseline anyway).
//! - **No kmod on the host.** `modprobe` does not exist here, so the guest side loads modules itself:
//!   [`guest_setup`] (call it first thing in the re-invoked test) loads the modules the runner was
//!   configured with, dependencies first, through `finit_module(2)`.
//!
//! Typical use, from a test that re-invokes itself inside UML:
//!
//! ```no_run
//! # fn inner() {}
//! if std::env::var_os("FERROLB_IN_UML").is_some() {
//!     ferrolb_lab::uml::guest_setup().expect("modules load");
//!     return inner(); // we are inside UML: do the real work
//! }
//! let exe = std::env::current_exe().expect("test executable");
//! let out = ferrolb_lab::uml::Uml::new()
//!     .run_test(&exe, "my_test", &[("FERROLB_IN_UML", "1")])
//!     .expect("UML boots");
//! assert_eq!(out.verdict, Some(0), "{}", out.log);
//! ```

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Where the read-write host directory appears inside UML.
pub const GUEST_OUT: &str = "/run/lab-out";
/// Modules [`guest_setup`] loads, unless changed with [`Uml::modules`].
pub const DEFAULT_MODULES: &[&str] = &["vrf", "veth", "8021q", "dummy", "bridge", "nf_tables"];
/// Environment variable naming the modules for [`guest_setup`] (comma-separated).
pub const MODULES_ENV: &str = "FERROLB_UML_MODULES";
/// glibc tunables for guest programs: no AVX/AVX-512 code paths (see the module docs).
pub const GLIBC_TUNABLES: &str =
    "glibc.cpu.hwcaps=-AVX,-AVX2,-AVX512F,-AVX512VL,-AVX512BW,-AVX512DQ,-AVX512CD,-AVX_Fast_Unaligned_Load";

static RUNS: AtomicU32 = AtomicU32::new(0);

/// Errors starting or waiting for UML.
#[derive(Debug, thiserror::Error)]
pub enum UmlError {
    /// `linux.uml` or the UML modules are not installed.
    #[error("User-Mode Linux is not available: {0} (apt-get install user-mode-linux)")]
    Unavailable(String),
    /// Host-side I/O failed (temporary directory, spawning, reading results).
    #[error("uml: {0}")]
    Io(#[from] std::io::Error),
    /// UML did not power off in time (it was killed).
    #[error("uml: no poweroff within {0:?}; log so far:\n{1}")]
    Timeout(Duration, String),
}

/// What a UML run left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UmlOutcome {
    /// Exit status of the command, as the init script recorded it; `None` if it never got that far.
    pub verdict: Option<i32>,
    /// The command's stdout and stderr (plus the init script's own messages).
    pub log: String,
    /// UML's console (kernel messages), useful when `verdict` is `None`.
    pub console: String,
    /// How long the whole boot–run–poweroff took.
    pub elapsed: Duration,
}

/// A User-Mode Linux configuration.
#[derive(Debug, Clone)]
pub struct Uml {
    kernel: PathBuf,
    mem: String,
    timeout: Duration,
    modules: Vec<String>,
}

impl Default for Uml {
    fn default() -> Self {
        Self::new()
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

impl Uml {
    /// `linux.uml` from `PATH`, 512 MiB, 300 s timeout, [`DEFAULT_MODULES`].
    pub fn new() -> Self {
        Uml {
            kernel: PathBuf::from("linux.uml"),
            mem: "512M".into(),
            timeout: Duration::from_secs(300),
            modules: DEFAULT_MODULES.iter().map(|m| m.to_string()).collect(),
        }
    }

    /// Memory size (UML syntax, e.g. `1G`).
    pub fn mem(mut self, mem: &str) -> Self {
        self.mem = mem.into();
        self
    }

    /// Kill UML when the run takes longer.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Modules [`guest_setup`] loads inside UML.
    pub fn modules(mut self, modules: &[&str]) -> Self {
        self.modules = modules.iter().map(|m| m.to_string()).collect();
        self
    }

    /// Whether `linux.uml` and its modules are installed.
    pub fn check(&self) -> Result<(), UmlError> {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {}", shell_quote(&self.kernel.to_string_lossy()))])
            .stdout(Stdio::null())
            .status()?
            .success();
        if !found {
            return Err(UmlError::Unavailable(format!("{} not found", self.kernel.display())));
        }
        if !Path::new("/usr/lib/uml/modules").is_dir() {
            return Err(UmlError::Unavailable("/usr/lib/uml/modules missing".into()));
        }
        Ok(())
    }

    /// Runs one test of a (cargo-built, libtest) test executable inside UML:
    /// `EXE --exact NAME --nocapture --test-threads=1` with `env` set.
    pub fn run_test(&self, exe: &Path, name: &str, env: &[(&str, &str)]) -> Result<UmlOutcome, UmlError> {
        let mut cmd = String::new();
        for (k, v) in env {
            let _ = write!(cmd, "{k}={} ", shell_quote(v));
        }
        let _ = write!(
            cmd,
            "RUST_BACKTRACE=1 {} --exact {} --nocapture --test-threads=1",
            shell_quote(&exe.to_string_lossy()),
            shell_quote(name)
        );
        self.run_shell(&cmd)
    }

    /// Runs a shell command line inside UML (after the mounts; [`MODULES_ENV`] is exported for
    /// [`guest_setup`]) and returns its outcome.
    pub fn run_shell(&self, command: &str) -> Result<UmlOutcome, UmlError> {
        self.check()?;
        let out = std::env::temp_dir().join(format!(
            "ferrolb-uml-{}-{}",
            std::process::id(),
            RUNS.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&out);
        fs::create_dir_all(&out)?;
        let result = self.boot(&out, command);
        let _ = fs::remove_dir_all(&out);
        result
    }

    fn boot(&self, out: &Path, command: &str) -> Result<UmlOutcome, UmlError> {
        let init = out.join("init.sh");
        let modules = shell_quote(&self.modules.join(","));
        let tunables = shell_quote(GLIBC_TUNABLES);
        let script = format!(
            r#"#!/bin/sh
# Generated by ferrolb_lab::uml. PID 1 inside User-Mode Linux; host / is hostfs, read-only.
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t tmpfs tmp /run
mount -t tmpfs tmp /tmp
mount -t tmpfs tmp /var/tmp 2>/dev/null
mount --bind /usr/lib/uml/modules /lib/modules 2>/dev/null
mkdir -p /run/netns {GUEST_OUT}
mount -t hostfs -o {out} none {GUEST_OUT}
exec >{GUEST_OUT}/log.txt 2>&1
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp TMPDIR=/tmp
export {MODULES_ENV}={modules} GLIBC_TUNABLES={tunables}
echo "uml: kernel $(uname -r)"
ip link set lo up
( {command} )
echo $? >{GUEST_OUT}/verdict.tmp && mv {GUEST_OUT}/verdict.tmp {GUEST_OUT}/verdict
sync
poweroff -f
"#,
            out = shell_quote(&out.to_string_lossy()),
        );
        fs::write(&init, script)?;
        let mut perms = fs::metadata(&init)?.permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        fs::set_permissions(&init, perms)?;

        let console = fs::File::create(out.join("console.txt"))?;
        let started = Instant::now();
        let mut command = Command::new(&self.kernel);
        command
            .arg(format!("mem={}", self.mem))
            .args(["root=/dev/root", "rootfstype=hostfs", "rootflags=/", "ro"])
            .arg(format!("init={}", init.display()))
            .args(["con0=fd:0,fd:1", "con=null"])
            .stdin(Stdio::null())
            .stdout(console.try_clone()?)
            .stderr(console);
        let mut child = spawn_without_xstate(command)?;
        let read = |name: &str| fs::read_to_string(out.join(name)).unwrap_or_default();
        loop {
            if child.try_wait()?.is_some() {
                break;
            }
            if started.elapsed() > self.timeout {
                let _ = child.kill();
                let _ = child.wait();
                return Err(UmlError::Timeout(self.timeout, read("log.txt")));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(UmlOutcome {
            verdict: read("verdict").trim().parse().ok(),
            log: read("log.txt"),
            console: read("console.txt"),
            elapsed: started.elapsed(),
        })
    }
}

/// Spawns `command` from a helper thread that first installs the seccomp filter described in the
/// module docs; the child inherits the thread's filter, the rest of the process is unaffected.
fn spawn_without_xstate(mut command: Command) -> Result<std::process::Child, UmlError> {
    let filter = xstate_filter()?;
    std::thread::spawn(move || -> Result<std::process::Child, UmlError> {
        if let Some(f) = &filter {
            seccompiler::apply_filter(f).map_err(|e| std::io::Error::other(format!("seccomp: {e}")))?;
        }
        Ok(command.spawn()?)
    })
    .join()
    .map_err(|_| std::io::Error::other("UML spawn thread panicked"))?
}

#[cfg(target_arch = "x86_64")]
fn xstate_filter() -> Result<Option<seccompiler::BpfProgram>, UmlError> {
    use seccompiler::{SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule};
    const SYS_PTRACE: i64 = 101;
    const PTRACE_GETREGSET: u64 = 0x4204;
    const PTRACE_SETREGSET: u64 = 0x4205;
    const NT_X86_XSTATE: u64 = 0x202;
    const EIO: u32 = 5;
    let err = |e: seccompiler::BackendError| UmlError::Io(std::io::Error::other(format!("seccomp filter: {e}")));
    let rule = |request: u64| -> Result<SeccompRule, UmlError> {
        SeccompRule::new(vec![
            SeccompCondition::new(0, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, request).map_err(err)?,
            SeccompCondition::new(2, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, NT_X86_XSTATE).map_err(err)?,
        ])
        .map_err(err)
    };
    let rules = [(SYS_PTRACE, vec![rule(PTRACE_GETREGSET)?, rule(PTRACE_SETREGSET)?])].into_iter().collect();
    let filter =
        SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(EIO), seccompiler::TargetArch::x86_64)
            .map_err(err)?;
    let program: seccompiler::BpfProgram = filter.try_into().map_err(err)?;
    Ok(Some(program))
}

#[cfg(not(target_arch = "x86_64"))]
fn xstate_filter() -> Result<Option<seccompiler::BpfProgram>, UmlError> {
    Ok(None)
}

/// Inside UML: loads the modules named by [`MODULES_ENV`] (all of [`DEFAULT_MODULES`] when unset),
/// each after its dependencies (from `modules.dep`), with `finit_module(2)`; already loaded or
/// built-in modules are fine. Returns the module files loaded.
pub fn guest_setup() -> Result<Vec<String>, UmlError> {
    let wanted: Vec<String> = match std::env::var(MODULES_ENV) {
        Ok(v) => v.split(',').filter(|m| !m.is_empty()).map(str::to_string).collect(),
        Err(_) => DEFAULT_MODULES.iter().map(|m| m.to_string()).collect(),
    };
    let release = fs::read_to_string("/proc/sys/kernel/osrelease")?;
    // Debian's UML modules live in /usr/lib/uml/modules; /lib/modules may not even exist on the
    // (read-only) host root, so it cannot always be bind-mounted over.
    let base = ["/lib/modules", "/usr/lib/uml/modules"]
        .iter()
        .map(|d| Path::new(d).join(release.trim()))
        .find(|p| p.join("modules.dep").is_file())
        .ok_or_else(|| UmlError::Io(std::io::Error::other(format!("no modules.dep for {}", release.trim()))))?;
    let builtin = fs::read_to_string(base.join("modules.builtin")).unwrap_or_default();
    let deps_text = fs::read_to_string(base.join("modules.dep"))?;
    // "kernel/drivers/net/vrf.ko: kernel/net/...ko ..." → module name → (path, deps)
    let mut deps: std::collections::HashMap<String, (String, Vec<String>)> = std::collections::HashMap::new();
    for line in deps_text.lines() {
        let Some((path, rest)) = line.split_once(':') else { continue };
        deps.insert(module_name(path), (path.to_string(), rest.split_whitespace().map(str::to_string).collect()));
    }
    let mut order: Vec<String> = Vec::new();
    for m in &wanted {
        let name = m.replace('-', "_");
        if builtin.lines().any(|l| module_name(l) == name) {
            continue;
        }
        let (path, d) = deps
            .get(&name)
            .ok_or_else(|| UmlError::Io(std::io::Error::other(format!("module {m} not in {}", base.display()))))?;
        // modules.dep lists dependencies so that loading them last-to-first works.
        for p in d.iter().rev().chain(std::iter::once(path)) {
            if !order.contains(p) {
                order.push(p.clone());
            }
        }
    }
    for p in &order {
        let file = fs::File::open(base.join(p))?;
        match nix::kmod::finit_module(&file, c"", nix::kmod::ModuleInitFlags::empty()) {
            Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
            Err(e) => return Err(UmlError::Io(std::io::Error::other(format!("loading {p}: {e}")))),
        }
    }
    Ok(order)
}

fn module_name(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    let stem = file.split(".ko").next().unwrap_or(file);
    stem.replace('-', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting_survives_quotes() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn module_names_from_paths() {
        assert_eq!(module_name("kernel/drivers/net/vrf.ko"), "vrf");
        assert_eq!(module_name("kernel/net/8021q/8021q.ko.xz"), "8021q");
        assert_eq!(module_name("kernel/net/bridge/br-netfilter.ko"), "br_netfilter");
    }

    /// Re-invokes this very test inside UML, where it loads modules and builds a VRF with a port.
    #[test]
    fn uml_runs_this_test_inside_with_vrf() {
        if std::env::var_os("FERROLB_LAB_IN_UML").is_some() {
            let loaded = guest_setup().expect("modules load");
            println!("loaded: {loaded:?}");
            let sh = |c: &str| {
                let out = Command::new("sh").args(["-c", c]).output().expect("sh runs");
                assert!(out.status.success(), "{c}: {}", String::from_utf8_lossy(&out.stderr));
                String::from_utf8_lossy(&out.stdout).to_string()
            };
            sh("ip link add v1 type vrf table 7 && ip link add d0 type dummy && ip link set d0 master v1");
            let shown = sh("ip -d link show d0");
            assert!(shown.contains("master v1") && shown.contains("vrf_slave table 7"), "{shown}");
            return;
        }
        let exe = std::env::current_exe().expect("test executable");
        let out = Uml::new()
            .modules(&["vrf", "dummy"])
            .run_test(&exe, "uml::tests::uml_runs_this_test_inside_with_vrf", &[("FERROLB_LAB_IN_UML", "1")])
            .expect("UML runs");
        assert_eq!(out.verdict, Some(0), "log:\n{}\nconsole tail:\n{}", out.log, tail(&out.console));
        assert!(out.log.contains("test result: ok. 1 passed"), "{}", out.log);
    }

    #[test]
    fn shell_exit_status_is_the_verdict() {
        let out = Uml::new().run_shell("echo hello from uml; exit 3").expect("UML runs");
        assert_eq!(out.verdict, Some(3), "log:\n{}\nconsole tail:\n{}", out.log, tail(&out.console));
        assert!(out.log.contains("hello from uml"));
    }

    fn tail(s: &str) -> &str {
        &s[s.len().saturating_sub(3000)..]
    }
}
