//! `cargo xtask demo`: the live demo — ferrolb announcing Kubernetes services to a real router.
//!
//! As root it builds `ferrolb` (dev profile, the test suite's artifacts), then builds a small lab:
//!
//! ```text
//!   namespace flb-node-<pid>-0                      namespace flb-frr-<pid>-1
//!   ferrolb run --node worker-0   eth0 ══ veth ══ eth0   FRR bgpd + zebra
//!   AS 64512, 192.168.77.10/24, fd00:77::10/64            AS 64513, 192.168.77.1/24, fd00:77::1/64
//! ```
//!
//! ferrolb watches a temporary copy of `examples/demo/*.yaml` (pools, a Community alias, the
//! BGPPeer, a BGPAdvertisement with standard and large communities, the Node, two LoadBalancer
//! services with ready endpoints). The demo waits for the session and the routes, prints what FRR
//! sees (`show bgp summary`, `show bgp ipv4 unicast`, one prefix in detail with its communities)
//! and what ferrolb says through its admin socket (`ferrolb show ...`), then adds a service
//! (`examples/demo/later/api.yaml`) and removes it again while everything runs, and stops ferrolb
//! with SIGTERM (a Cease to FRR). Namespaces, daemons and temporary files are removed on success,
//! on error and on Ctrl-C (a guard that cleans up when dropped, and a signal handler that turns
//! SIGINT / SIGTERM / SIGHUP into a clean stop).
//!
//! `--check` runs the same thing without pausing at the end and fails unless FRR received exactly
//! the expected prefixes with the expected communities, the added service's route arrived and was
//! withdrawn, ferrolb exited cleanly and no namespace was left behind. `cargo xtask test` runs it.
//!
//! Not root: it says why the live demo needs root and shows the offline plan instead
//! (`ferrolb plan -f examples/quickstart.yaml --node worker-0`).

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::net::IpAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use ferrolb_lab::frr::{BgpPath, Daemon, Family, Frr};
use ferrolb_lab::{Netns, Process};
use ipnet::IpNet;

use crate::{cargo, ensure_debian_packages, ensure_wasm_target, root};

/// The node ferrolb runs as (`examples/demo/cluster.yaml`).
const NODE: &str = "worker-0";
/// The node's and the router's link addresses (`examples/demo`: Node and BGPPeer).
const NODE_V4: &str = "192.168.77.10";
const ROUTER_V4: &str = "192.168.77.1";
const NODE_V6: &str = "fd00:77::10";
const ROUTER_V6: &str = "fd00:77::1";
/// ferrolb's AS (BGPPeer `myASN`) and FRR's (`peerASN`).
const OUR_AS: u32 = 64512;
const ROUTER_AS: u32 = 64513;

/// What FRR must receive from the manifests in `examples/demo`: the pool `public` hands out
/// 198.51.100.10 onwards and 2001:db8:77:: onwards; `infra/dns` is dual stack, `shop/web` IPv4.
const EXPECTED_V4: &[&str] = &["198.51.100.10/32", "198.51.100.11/32"];
const EXPECTED_V6: &[&str] = &["2001:db8:77::/128"];
/// The address of `shop/api` (`examples/demo/later/api.yaml`), added while the demo runs.
const ADDED_V4: &str = "198.51.100.12/32";
/// The BGPAdvertisement's communities: the alias `from-cluster` (64512:100) and 64512:200.
const COMMUNITIES: &[&str] = &["64512:100", "64512:200"];
/// Its large community (`large:64512:1:2`).
const LARGE_COMMUNITIES: &[&str] = &["64512:1:2"];

/// How long the session, the first routes and a live change may take.
const SESSION_TIMEOUT: Duration = Duration::from_secs(30);
const ROUTES_TIMEOUT: Duration = Duration::from_secs(20);
const CHANGE_TIMEOUT: Duration = Duration::from_secs(15);

/// FRR's configuration: the upstream router, eBGP with ferrolb over IPv4, carrying IPv4 and IPv6
/// unicast (the BGPPeer has `dualStackAddressFamily: true`).
fn frr_config() -> String {
    format!(
        "router bgp {ROUTER_AS}\n\
         \x20bgp router-id {ROUTER_V4}\n\
         \x20no bgp ebgp-requires-policy\n\
         \x20neighbor {NODE_V4} remote-as {OUR_AS}\n\
         \x20neighbor {NODE_V4} description ferrolb on {NODE}\n\
         \x20neighbor {NODE_V4} timers 3 9\n\
         \x20neighbor {NODE_V4} timers connect 1\n\
         \x20address-family ipv6 unicast\n\
         \x20 neighbor {NODE_V4} activate\n\
         \x20exit-address-family\n"
    )
}

/// Set by the signal handler: stop and clean up.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// A demo is running: a signal stops it cleanly (otherwise a signal ends the process).
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// How the demo runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// For people: pause at the end (when on a terminal) so the lab can be explored.
    Interactive,
    /// For CI: never pause; every check must hold.
    Check,
}

/// `cargo xtask demo [--check]`.
pub fn main(args: &[String]) -> Result<()> {
    let mut mode = Mode::Interactive;
    for a in args {
        match a.as_str() {
            "--check" => mode = Mode::Check,
            "-h" | "--help" => {
                println!(
                    "usage: cargo xtask demo [--check]\n\n\
                     As root: ferrolb announces the services of examples/demo to FRR in network namespaces.\n\
                     --check  no pause; fail unless FRR got exactly the expected routes and the lab was removed.\n\
                     Not root: the offline plan of examples/quickstart.yaml."
                );
                return Ok(());
            }
            other => bail!("unknown argument {other:?}; usage: cargo xtask demo [--check]"),
        }
    }
    if !ferrolb_lab::is_root() {
        if mode == Mode::Check {
            bail!("demo --check needs root (network namespaces, veth, FRR)");
        }
        return offline();
    }
    run(mode)
}

/// Not root: say so, then show the offline plan (no namespaces needed).
fn offline() -> Result<()> {
    eprintln!(
        "xtask: the live demo needs root: it creates network namespaces and a veth pair and runs FRR in them.\n\
         \x20      As root:    cargo xtask demo\n\
         \x20      With sudo:  sudo -E env \"PATH=$PATH\" cargo xtask demo\n\
         \x20      Meanwhile, the same controller offline (no root needed):\n"
    );
    ensure_wasm_target()?;
    let ferrolb = build_ferrolb()?;
    let quickstart = root().join("examples/quickstart.yaml");
    println!("$ ferrolb plan -f examples/quickstart.yaml --node worker-0");
    let status = Command::new(&ferrolb)
        .arg("plan")
        .arg("-f")
        .arg(&quickstart)
        .args(["--node", "worker-0"])
        .status()
        .with_context(|| format!("running {}", ferrolb.display()))?;
    if !status.success() {
        bail!("ferrolb plan failed ({status})");
    }
    Ok(())
}

/// The live demo, as root. Also called by `cargo xtask test` (with [`Mode::Check`]).
pub fn run(mode: Mode) -> Result<()> {
    let started = Instant::now();
    install_signal_handler()?;
    ACTIVE.store(true, Ordering::SeqCst);
    INTERRUPTED.store(false, Ordering::SeqCst);
    let result = run_active(mode, started);
    ACTIVE.store(false, Ordering::SeqCst);
    match result {
        Err(e) if INTERRUPTED.load(Ordering::SeqCst) => {
            if e.to_string() != "interrupted" {
                eprintln!("xtask: after the interruption: {e:#}");
            }
            bail!("interrupted (ferrolb, FRR and the namespaces were removed)")
        }
        Err(e) => Err(e),
        Ok(()) => {
            println!("\nThe demo took {:.1} s.", started.elapsed().as_secs_f64());
            Ok(())
        }
    }
}

fn run_active(mode: Mode, started: Instant) -> Result<()> {
    ensure_wasm_target()?;
    ensure_debian_packages(&["frr", "iproute2"])?;
    check_interrupted()?;
    let ferrolb = build_ferrolb()?;
    check_interrupted()?;
    let built = started.elapsed();

    let mut lab = Lab::start(&ferrolb)?;
    let result = lab.show(mode, built);
    // Stop everything and remove the lab whatever happened, then check nothing is left behind.
    let names = lab.names.clone();
    let stop = match &result {
        Ok(()) => lab.stop_ferrolb(),
        Err(_) => Ok(()),
    };
    drop(lab);
    let left: Vec<String> = ferrolb_lab::list_namespaces()?.into_iter().filter(|n| names.contains(n)).collect();
    if !left.is_empty() {
        eprintln!("xtask: cleanup failed: the namespaces {left:?} are still there (`ip netns del` them)");
    }
    result?;
    stop?;
    if !left.is_empty() {
        bail!("cleanup failed: the namespaces {left:?} are still there");
    }
    heading("Cleaned up", "ip netns list");
    println!("The namespaces {} are gone, with FRR; the temporary directory too.", names.join(" and "));
    Ok(())
}

/// `cargo build --workspace --bin ferrolb`: the dev profile and the workspace's feature set, so
/// the binary is the one `cargo test --workspace` builds (no second build of the host).
fn build_ferrolb() -> Result<PathBuf> {
    eprintln!("xtask: building ferrolb (cargo build --workspace --bin ferrolb) ...");
    let mut cmd = cargo();
    cmd.args(["build", "--workspace", "--bin", "ferrolb", "--message-format=json-render-diagnostics"])
        .stdout(Stdio::piped());
    let mut child = cmd.spawn().with_context(|| format!("starting {cmd:?}"))?;
    let stdout = child.stdout.take().context("cargo build has no stdout")?;
    let mut exe = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.context("reading cargo's output")?;
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
        if msg["reason"] == "compiler-artifact"
            && msg["target"]["name"] == "ferrolb"
            && let Some(path) = msg["executable"].as_str()
        {
            exe = Some(PathBuf::from(path));
        }
    }
    let status = child.wait().context("waiting for cargo build")?;
    if !status.success() {
        bail!("building ferrolb failed ({status})");
    }
    exe.context("cargo build reported no ferrolb executable")
}

/// Installs (once) a handler that turns SIGINT, SIGTERM and SIGHUP into [`INTERRUPTED`] while a
/// demo runs; a second signal, or one while no demo runs, ends the process (status 130).
fn install_signal_handler() -> Result<()> {
    static INSTALLED: AtomicBool = AtomicBool::new(false);
    if INSTALLED.swap(true, Ordering::SeqCst) {
        return Ok(());
    }
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<std::io::Result<()>>();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            use tokio::signal::unix::{SignalKind, signal};
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(r) => r,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            runtime.block_on(async move {
                let (mut int, mut term, mut hup) = match (
                    signal(SignalKind::interrupt()),
                    signal(SignalKind::terminate()),
                    signal(SignalKind::hangup()),
                ) {
                    (Ok(i), Ok(t), Ok(h)) => (i, t, h),
                    (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                loop {
                    let name = tokio::select! {
                        _ = int.recv() => "SIGINT",
                        _ = term.recv() => "SIGTERM",
                        _ = hup.recv() => "SIGHUP",
                    };
                    if !ACTIVE.load(Ordering::SeqCst) || INTERRUPTED.swap(true, Ordering::SeqCst) {
                        eprintln!("\nxtask: {name}: exiting now (without waiting for the cleanup)");
                        std::process::exit(130);
                    }
                    eprintln!("\nxtask: {name}: stopping the demo and removing the lab ...");
                }
            });
        })
        .context("starting the signal thread")?;
    ready_rx.recv().context("the signal thread died")?.context("installing the signal handlers")
}

fn check_interrupted() -> Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) { Err(anyhow!("interrupted")) } else { Ok(()) }
}

/// Sleeps `d` in small steps, returning early (with an error) when interrupted.
fn sleep(d: Duration) -> Result<()> {
    let until = Instant::now() + d;
    while Instant::now() < until {
        check_interrupted()?;
        std::thread::sleep((until - Instant::now()).min(Duration::from_millis(50)));
    }
    check_interrupted()
}

fn heading(title: &str, command: &str) {
    if std::io::stdout().is_terminal() {
        println!("\n\x1b[1m== {title}\x1b[0m");
    } else {
        println!("\n== {title}");
    }
    if !command.is_empty() {
        println!("$ {command}");
    }
}

/// Everything the demo created; removed when dropped (ferrolb, FRR, namespaces, temp dir).
struct Lab {
    // Fields drop in this order: ferrolb first, then FRR, then the namespaces, then the files.
    ferrolb: Option<Process>,
    frr: Option<Frr>,
    node: Option<Netns>,
    router: Option<Netns>,
    dir: tempfile::TempDir,
    /// The namespaces' names (to check they are gone).
    names: Vec<String>,
    ferrolb_bin: PathBuf,
}

impl Lab {
    fn dir(&self) -> &Path {
        self.dir.path()
    }
    fn manifests(&self) -> PathBuf {
        self.dir().join("manifests")
    }
    fn socket(&self) -> PathBuf {
        self.dir().join("admin.sock")
    }
    fn log(&self) -> PathBuf {
        self.dir().join("ferrolb.log")
    }

    fn frr(&self) -> Result<&Frr> {
        self.frr.as_ref().context("FRR is not running")
    }

    /// Namespaces, veth, FRR, the manifests, ferrolb.
    fn start(ferrolb_bin: &Path) -> Result<Lab> {
        let dir = tempfile::Builder::new().prefix("flbdemo-").tempdir().context("creating a temporary directory")?;
        let mut lab = Lab {
            ferrolb: None,
            frr: None,
            node: None,
            router: None,
            dir,
            names: Vec::new(),
            ferrolb_bin: ferrolb_bin.to_path_buf(),
        };
        let node = Netns::new("node").context("creating the node's namespace")?;
        lab.names.push(node.name().to_owned());
        lab.node = Some(node.clone());
        let router = Netns::new("frr").context("creating the router's namespace")?;
        lab.names.push(router.name().to_owned());
        lab.router = Some(router.clone());
        node.veth("eth0", &router, "eth0").context("creating the veth pair")?;
        for (ns, v4, v6) in [(&node, NODE_V4, NODE_V6), (&router, ROUTER_V4, ROUTER_V6)] {
            ns.add_addr("eth0", &format!("{v4}/24"))?;
            ns.add_addr("eth0", &format!("{v6}/64"))?;
        }
        check_interrupted()?;
        lab.frr = Some(Frr::start(&router, &[Daemon::Zebra, Daemon::Bgpd], &frr_config()).context("starting FRR")?);
        check_interrupted()?;

        // ferrolb watches a copy of examples/demo/*.yaml: the demo edits the copy, never the repository.
        let manifests = lab.manifests();
        std::fs::create_dir(&manifests).with_context(|| format!("creating {}", manifests.display()))?;
        let examples = root().join("examples/demo");
        for entry in std::fs::read_dir(&examples).with_context(|| format!("reading {}", examples.display()))? {
            let path = entry.with_context(|| format!("reading {}", examples.display()))?.path();
            if path.is_file() && path.extension().is_some_and(|e| e == "yaml") {
                let to = manifests.join(path.file_name().unwrap_or_default());
                std::fs::copy(&path, &to).with_context(|| format!("copying {}", path.display()))?;
            }
        }
        let log = std::fs::File::create(lab.log()).context("creating ferrolb.log")?;
        let mut cmd = node.command(ferrolb_bin);
        cmd.args(["--log", "info", "run", "--node", NODE, "--poll-ms", "200", "-f"])
            .arg(&manifests)
            .arg("--state")
            .arg(lab.dir().join("state"))
            .arg("--socket")
            .arg(lab.socket())
            .env("NO_COLOR", "1")
            .stdout(Stdio::from(log.try_clone().context("ferrolb.log")?))
            .stderr(Stdio::from(log))
            // Its own process group: Ctrl-C reaches the demo, which stops ferrolb with SIGTERM.
            .process_group(0);
        lab.ferrolb = Some(node.spawn(cmd).context("starting ferrolb run")?);
        Ok(lab)
    }

    /// Fails (with the logs) if ferrolb has exited.
    fn check_ferrolb(&mut self) -> Result<()> {
        let Some(p) = self.ferrolb.as_mut() else { bail!("ferrolb is not running") };
        if let Some(status) = p.try_wait()? {
            bail!("ferrolb exited ({status}); its log:\n{}", self.log_text());
        }
        Ok(())
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_else(|e| format!("(cannot read {}: {e})", self.log().display()))
    }

    /// What to read when something did not happen: ferrolb's log and FRR's view.
    fn diagnostics(&self) -> String {
        let mut out = format!("----- ferrolb's log ({}) -----\n{}\n", self.log().display(), self.log_text().trim_end());
        if let Some(frr) = &self.frr {
            for c in ["show bgp summary", "show bgp neighbors", "show bgp ipv4 unicast", "show bgp ipv6 unicast"] {
                let text = frr.vtysh(c).unwrap_or_else(|e| e.to_string());
                out.push_str(&format!("----- FRR: {c} -----\n{}\n", text.trim_end()));
            }
            out.push_str(&frr.logs());
        }
        out
    }

    /// Polls `probe` until it answers, at most `timeout`; fails early if ferrolb exits or the
    /// demo is interrupted, and with ferrolb's log and FRR's state on time-out.
    fn wait<T>(
        &mut self,
        timeout: Duration,
        what: &str,
        mut probe: impl FnMut(&Lab) -> Result<T, String>,
    ) -> Result<T> {
        let start = Instant::now();
        loop {
            check_interrupted()?;
            self.check_ferrolb()?;
            let last = match probe(self) {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            if start.elapsed() >= timeout {
                bail!("timed out after {timeout:?} waiting for {what}; last seen: {last}\n{}", self.diagnostics());
            }
            sleep(Duration::from_millis(100))?;
        }
    }

    /// `ferrolb show WHAT --socket ...`: its output.
    fn ferrolb_show(&self, what: &[&str]) -> Result<String, String> {
        let out = Command::new(&self.ferrolb_bin)
            .arg("show")
            .args(what)
            .arg("--socket")
            .arg(self.socket())
            .output()
            .map_err(|e| format!("running ferrolb show: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
        }
    }

    fn vtysh_line(&self, command: &str) -> String {
        let dir = self.frr.as_ref().map(|f| f.dir().display().to_string()).unwrap_or_default();
        format!("vtysh --vty_socket {dir} -c '{command}'")
    }

    fn print_vtysh(&self, title: &str, command: &str) -> Result<()> {
        heading(title, &self.vtysh_line(command));
        print!("{}", self.frr()?.vtysh(command)?);
        Ok(())
    }

    /// The ferrolb binary as a reader would type it (relative to the repository).
    fn ferrolb_display(&self) -> String {
        let root = root();
        self.ferrolb_bin.strip_prefix(&root).unwrap_or(&self.ferrolb_bin).display().to_string()
    }

    fn print_ferrolb(&self, title: &str, what: &[&str]) -> Result<()> {
        heading(
            title,
            &format!("{} show {} --socket {}", self.ferrolb_display(), what.join(" "), self.socket().display()),
        );
        print!("{}", self.ferrolb_show(what).map_err(|e| anyhow!("ferrolb show {}: {e}", what.join(" ")))?);
        Ok(())
    }

    /// The demo proper, once the lab runs.
    fn show(&mut self, mode: Mode, built: Duration) -> Result<()> {
        let t0 = Instant::now();
        let name = |ns: &Option<Netns>| ns.as_ref().map(|n| n.name().to_owned()).unwrap_or_default();
        let (node, router) = (name(&self.node), name(&self.router));
        heading("The lab", "");
        println!("ferrolb built in {:.1} s. Two network namespaces joined by a veth pair:", built.as_secs_f64());
        println!("  {node:<16} the Kubernetes node {NODE}: ferrolb, AS {OUR_AS}, {NODE_V4}/24, {NODE_V6}/64");
        println!("  {router:<16} the upstream router: FRR, AS {ROUTER_AS}, {ROUTER_V4}/24, {ROUTER_V6}/64");
        println!("ferrolb runs `ferrolb run --node {NODE} -f {}`,", self.manifests().display());
        println!("a copy of examples/demo/*.yaml: an address pool, a BGPPeer (FRR), a BGPAdvertisement with");
        println!("communities (the alias from-cluster = 64512:100, 64512:200, large:64512:1:2), the Node and two");
        println!("LoadBalancer services with ready endpoints: shop/web (IPv4) and infra/dns (dual stack).");

        let frr_peer = NODE_V4.to_string();
        let established = self.wait(SESSION_TIMEOUT, "the BGP session between FRR and ferrolb", |lab| {
            let s = lab.frr().map_err(|e| e.to_string())?.bgp_summary()?;
            match s.peer(Family::Ipv4, &frr_peer) {
                Some(p) if p.is_established() => Ok(p.connections_established),
                Some(p) => Err(format!("FRR's session is {}", p.state)),
                None => Err(format!("FRR has no peer {frr_peer}")),
            }
        })?;
        let session_up = t0.elapsed();
        self.wait(ROUTES_TIMEOUT, "FRR to have exactly the services' routes", |lab| {
            expect_routes(lab.frr().map_err(|e| e.to_string())?, EXPECTED_V4, EXPECTED_V6)
        })?;
        println!(
            "\nThe session came up {:.1} s after ferrolb started; FRR had every route {:.1} s after it started.",
            session_up.as_secs_f64(),
            t0.elapsed().as_secs_f64()
        );

        if let Ok(plan) = self.ferrolb_show(&["plan"]) {
            heading(
                "The addresses ferrolb gave the services",
                &format!(
                    "{} show plan --socket {}  (its allocations)",
                    self.ferrolb_display(),
                    self.socket().display()
                ),
            );
            print!("{}", allocations(&plan));
        }
        self.print_vtysh("FRR, the upstream router: its session with ferrolb", "show bgp summary")?;
        self.print_vtysh("FRR: the routes it learned (one /32 per service address)", "show bgp ipv4 unicast")?;
        self.print_vtysh("FRR: the IPv6 route (infra/dns is dual stack)", "show bgp ipv6 unicast")?;
        self.print_vtysh(
            "FRR: one route in detail, with the communities and the large community",
            &format!("show bgp ipv4 unicast {}", EXPECTED_V4[1]),
        )?;
        if let Some(router) = &self.router {
            heading(
                "The router's kernel forwards the service addresses to the node",
                &format!("ip -n {} route show proto bgp", router.name()),
            );
            print!("{}", router.ip(&["route", "show", "proto", "bgp"])?);
        }
        self.print_ferrolb("ferrolb's own view, through its admin socket", &["bgp", "summary"])?;
        self.print_ferrolb("ferrolb: what it advertises", &["bgp", "routes", "advertised"])?;

        // A live change: one more service, then its removal; the session stays up.
        let added = self.manifests().join("api.yaml");
        let source = root().join("examples/demo/later/api.yaml");
        heading(
            "A live change: a new LoadBalancer service shop/api",
            &format!("cp examples/demo/later/api.yaml {}", self.manifests().display()),
        );
        let t = Instant::now();
        std::fs::copy(&source, &added).with_context(|| format!("copying {}", source.display()))?;
        let with_added: Vec<&str> = EXPECTED_V4.iter().copied().chain([ADDED_V4]).collect();
        self.wait(CHANGE_TIMEOUT, "FRR to receive the new service's route", |lab| {
            expect_routes(lab.frr().map_err(|e| e.to_string())?, &with_added, EXPECTED_V6)
        })?;
        println!("FRR had {ADDED_V4} {:.1} s after the file was written (no restart):", t.elapsed().as_secs_f64());
        self.print_vtysh("FRR: the new route", &format!("show bgp ipv4 unicast {ADDED_V4}"))?;

        heading("And removed again", &format!("rm {}", added.display()));
        let t = Instant::now();
        std::fs::remove_file(&added).with_context(|| format!("removing {}", added.display()))?;
        self.wait(CHANGE_TIMEOUT, "FRR to withdraw the removed service's route", |lab| {
            expect_routes(lab.frr().map_err(|e| e.to_string())?, EXPECTED_V4, EXPECTED_V6)
        })?;
        let summary = self.frr()?.bgp_summary()?;
        let peer = summary.peer(Family::Ipv4, NODE_V4).context("FRR lost its peer")?;
        if !peer.is_established() || peer.connections_established != established {
            bail!("the session was reset by a route change: {peer:?} (established {established} time(s) before)");
        }
        println!(
            "FRR withdrew {ADDED_V4} {:.1} s after the file was removed; the session stayed up throughout.",
            t.elapsed().as_secs_f64()
        );

        if mode == Mode::Interactive && std::io::stdin().is_terminal() {
            self.pause()?;
        }
        Ok(())
    }

    /// Keeps the lab up until Enter (or Ctrl-C), printing how to look around.
    fn pause(&mut self) -> Result<()> {
        heading("The lab is still up: look around (as root, in another terminal)", "");
        println!("  {}", self.vtysh_line("show bgp ipv4 unicast 198.51.100.10/32"));
        println!("  {} show bgp neighbors --socket {}", self.ferrolb_display(), self.socket().display());
        println!("  edit or add manifests in {}  (ferrolb applies them live)", self.manifests().display());
        println!("  less {}", self.log().display());
        print!("Press Enter to stop ferrolb and remove the lab. ");
        let _ = std::io::stdout().flush();
        let (tx, rx) = std::sync::mpsc::channel();
        // A thread reads the line so that Ctrl-C is noticed while waiting.
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
            let _ = tx.send(());
        });
        loop {
            check_interrupted()?;
            self.check_ferrolb()?;
            if rx.recv_timeout(Duration::from_millis(100)).is_ok() {
                return Ok(());
            }
        }
    }

    /// SIGTERM to ferrolb: it sends FRR a Cease and exits 0.
    fn stop_ferrolb(&mut self) -> Result<()> {
        let Some(pid) = self.ferrolb.as_ref().map(Process::pid) else { return Ok(()) };
        heading("Stopping ferrolb", &format!("kill -TERM {pid}"));
        let status = Command::new("kill").args(["-TERM", &pid.to_string()]).status().context("running kill")?;
        if !status.success() {
            bail!("kill -TERM {pid} failed ({status})");
        }
        let start = Instant::now();
        let exit = loop {
            let Some(p) = self.ferrolb.as_mut() else { bail!("ferrolb is not running") };
            if let Some(status) = p.try_wait()? {
                break status;
            }
            if start.elapsed() > Duration::from_secs(10) {
                bail!("ferrolb did not exit within 10 s of SIGTERM; its log:\n{}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        if !exit.success() {
            bail!("ferrolb exited with {exit} after SIGTERM; its log:\n{}", self.log_text());
        }
        let frr = self.frr()?;
        let reason = ferrolb_lab::wait_for(Duration::from_secs(10), "FRR to see the session end", || {
            let n = frr.bgp_neighbors()?;
            match n.iter().find(|n| n.address == NODE_V4) {
                Some(n) if n.state != "Established" => Ok(n.last_reset.clone()),
                other => Err(format!("{other:?}")),
            }
        })?;
        // FRR's own words, e.g. "Last reset 00:00:00,  Notification received (Cease/Administrative Shutdown)".
        let text = frr.vtysh(&format!("show bgp neighbors {NODE_V4}")).unwrap_or_default();
        let said = text.lines().map(str::trim).find(|l| l.starts_with("Last reset")).unwrap_or(&reason).to_owned();
        println!("ferrolb exited ({exit}); FRR closed the session:");
        println!("$ {} | grep 'Last reset'", self.vtysh_line(&format!("show bgp neighbors {NODE_V4}")));
        println!("  {said}");
        Ok(())
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut p) = self.ferrolb.take() {
            let _ = p.kill();
        }
        // Frr's and Netns's own Drop stop the daemons and delete the namespaces (killing
        // whatever still runs inside); the temporary directory goes last.
        self.frr.take();
        self.node.take();
        self.router.take();
    }
}

/// Checks that FRR has exactly `v4` and `v6` from ferrolb, each with the advertisement's
/// communities, AS path and ferrolb's next hop; the observation otherwise.
fn expect_routes(frr: &Frr, v4: &[&str], v6: &[&str]) -> Result<(), String> {
    for (family, want, next_hop) in [(Family::Ipv4, v4, NODE_V4), (Family::Ipv6, v6, NODE_V6)] {
        let want: BTreeSet<IpNet> =
            want.iter().map(|p| p.parse().map_err(|e| format!("{p}: {e}"))).collect::<Result<_, String>>()?;
        let have: BTreeSet<IpNet> = frr.bgp_table(family)?.into_iter().filter(|p| p.valid).map(|p| p.prefix).collect();
        if have != want {
            return Err(format!("{family:?}: FRR has {have:?}, expected {want:?}"));
        }
        let next_hop: IpAddr = next_hop.parse().map_err(|e| format!("{next_hop}: {e}"))?;
        for prefix in &want {
            let paths = frr.bgp_prefix(family, &prefix.to_string())?;
            let Some(path) = paths.iter().find(|p| p.valid && p.best) else {
                return Err(format!("{prefix}: no valid best path in {paths:?}"));
            };
            check_path(path, next_hop)?;
        }
    }
    Ok(())
}

fn check_path(p: &BgpPath, next_hop: IpAddr) -> Result<(), String> {
    let problem = if p.communities != COMMUNITIES {
        "communities"
    } else if p.large_communities != LARGE_COMMUNITIES {
        "large communities"
    } else if p.as_path != OUR_AS.to_string() {
        "AS path"
    } else if p.next_hops.first() != Some(&next_hop) {
        "next hop"
    } else {
        return Ok(());
    };
    Err(format!(
        "{}: wrong {problem}: expected communities {COMMUNITIES:?}, large {LARGE_COMMUNITIES:?}, AS path {OUR_AS}, \
         next hop {next_hop}; got {p:?}",
        p.prefix
    ))
}

/// The allocations of `ferrolb show plan` (JSON) as lines `service  addresses  pool`.
fn allocations(plan: &str) -> String {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(plan) else { return format!("{plan}\n") };
    let mut out = String::new();
    for a in v["allocations"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let ips: Vec<&str> =
            a["ips"].as_array().map(Vec::as_slice).unwrap_or_default().iter().filter_map(|i| i.as_str()).collect();
        out.push_str(&format!(
            "  {:<12} {:<32} pool {}\n",
            a["service"].as_str().unwrap_or("?"),
            ips.join(", "),
            a["pool"].as_str().unwrap_or("?")
        ));
    }
    out
}
