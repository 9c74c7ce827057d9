//! Network namespaces as RAII guards, with veth pairs, bridges, addresses, routes and sysctls.
//!
//! Every namespace is named `flb-<tag>-<pid>-<n>` (pid and counter in base 36), so concurrent test
//! processes never collide and [`sweep_stale`] can tell which namespaces belong to a process that
//! no longer runs. Dropping the last clone of a [`Netns`] kills every process inside it and deletes
//! it; veth pairs and bridges live inside namespaces, so they disappear with them. Drop also runs
//! while a test panics (unwinding), so a failed test leaves nothing behind; a test process that is
//! killed outright leaves its namespaces for the next run's sweep.
//!
//! ```no_run
//! use ferrolb_lab::{Netns, wait_until};
//! use std::time::Duration;
//!
//! let a = Netns::new("a")?;
//! let b = Netns::new("b")?;
//! a.veth("eth0", &b, "eth0")?;
//! a.add_addr("eth0", "10.0.0.1/30")?;
//! b.add_addr("eth0", "10.0.0.2/30")?;
//! a.add_addr("eth0", "2001:db8::1/64")?; // IPv6 addresses get `nodad`
//! wait_until(Duration::from_secs(5), "ping a -> b", || {
//!     a.exec("ping", &["-c1", "-W1", "10.0.0.2"]).is_ok()
//! })?;
//! # Ok::<(), ferrolb_lab::LabError>(())
//! ```

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use crate::error::{LabError, Result, command, describe, run};

/// Prefix of every namespace the lab creates; [`sweep_stale`] only ever touches these.
pub const NAME_PREFIX: &str = "flb-";

static NS_COUNTER: AtomicU32 = AtomicU32::new(0);
static LINK_COUNTER: AtomicU32 = AtomicU32::new(0);
static SWEEP: Once = Once::new();

/// A network namespace; removed (with everything running in it) when the last clone drops.
///
/// Cloning is cheap (an `Arc`): FRR and BIRD guards hold a clone, so the namespace outlives them.
#[derive(Clone, Debug)]
pub struct Netns {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    name: String,
    /// Root-namespace ends of veth pairs (normally removed by the kernel with the namespace).
    root_links: Mutex<Vec<String>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let links = self.root_links.lock().map(|l| l.clone()).unwrap_or_default();
        for link in links {
            let _ = command("ip", &["link", "del", &link]).output();
        }
        if let Err(e) = remove_namespace(&self.name) {
            eprintln!("ferrolb-lab: cannot remove namespace {}: {e}", self.name);
        }
    }
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8_lossy(&out).into_owned()
}

fn process_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// The pids of every process in the named namespace.
fn namespace_pids(name: &str) -> Result<Vec<u32>> {
    let out = run(&mut command("ip", &["netns", "pids", name]))?;
    Ok(out.split_whitespace().filter_map(|p| p.parse().ok()).collect())
}

/// Kills everything inside the namespace (SIGKILL, waits up to 5 s for them to go) and deletes it.
fn remove_namespace(name: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let pids = namespace_pids(name).unwrap_or_default();
        if pids.is_empty() || Instant::now() > deadline {
            break;
        }
        let mut kill = Command::new("kill");
        kill.arg("-KILL").args(pids.iter().map(u32::to_string));
        let _ = kill.output();
        std::thread::sleep(Duration::from_millis(20));
    }
    run(&mut command("ip", &["netns", "del", name])).map(|_| ())
}

/// The namespaces that currently exist (`ip netns list`).
pub fn list_namespaces() -> Result<Vec<String>> {
    let out = run(&mut command::<&str>("ip", &["netns", "list"]))?;
    // Lines look like `name (id: 3)` or `name`.
    Ok(out.lines().filter_map(|l| l.split_whitespace().next()).map(str::to_owned).collect())
}

/// The pid encoded in a lab namespace name (`flb-<tag>-<pid36>-<n36>`).
fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(NAME_PREFIX)?;
    let mut parts = rest.rsplit('-');
    let _counter = parts.next()?;
    let pid = parts.next()?;
    let _tag = parts.next()?;
    u32::from_str_radix(pid, 36).ok()
}

/// Removes lab namespaces (`flb-*`) whose creating process is gone, killing what still runs in
/// them; the names removed. Namespaces of processes that still run (a concurrent test binary) are
/// left alone. Called once per process by the first [`Netns::new`].
pub fn sweep_stale() -> Result<Vec<String>> {
    let mut removed = Vec::new();
    for name in list_namespaces()? {
        let Some(pid) = owner_pid(&name) else { continue };
        if pid == std::process::id() || process_alive(pid) {
            continue;
        }
        remove_namespace(&name)?;
        removed.push(name);
    }
    Ok(removed)
}

/// True when the process runs with effective uid 0 (the lab needs root).
pub fn is_root() -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else { return false };
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1).map(|euid| euid == "0"))
        .unwrap_or(false)
}

/// True when the test must be skipped because the process is not root; prints why, loudly.
///
/// ```no_run
/// if ferrolb_lab::skip_unless_root("bgp_ipv4_session") {
///     return;
/// }
/// ```
pub fn skip_unless_root(test: &str) -> bool {
    if is_root() {
        return false;
    }
    eprintln!(
        "\n\
         ************************************************************\n\
         * SKIPPED {test}: lab tests need root (network namespaces,\n\
         * veth, FRR, BIRD). Run `cargo xtask test` as root (CI does).\n\
         ************************************************************\n"
    );
    true
}

impl Netns {
    /// Creates a namespace named `flb-<tag>-<pid>-<n>` with `lo` up.
    ///
    /// `tag` is reduced to at most 4 lowercase alphanumerics (it only helps humans reading
    /// `ip netns list`). The first call in a process sweeps stale namespaces ([`sweep_stale`]).
    pub fn new(tag: &str) -> Result<Netns> {
        SWEEP.call_once(|| match sweep_stale() {
            Ok(removed) if !removed.is_empty() => eprintln!("ferrolb-lab: removed stale namespaces {removed:?}"),
            Ok(_) => {}
            Err(e) => eprintln!("ferrolb-lab: sweeping stale namespaces failed: {e}"),
        });
        let mut tag: String =
            tag.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).take(4).collect();
        if tag.is_empty() {
            tag.push_str("ns");
        }
        let n = NS_COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{NAME_PREFIX}{tag}-{}-{}", base36(std::process::id().into()), base36(n.into()));
        // Two processes creating their first namespace at once can race on setting up
        // /run/netns; a retry settles it.
        let mut attempt = 0;
        while let Err(e) = run(&mut command("ip", &["netns", "add", &name])) {
            attempt += 1;
            if attempt == 3 {
                return Err(e);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let ns = Netns { inner: Arc::new(Inner { name, root_links: Mutex::new(Vec::new()) }) };
        ns.link_up("lo")?;
        Ok(ns)
    }

    /// The namespace's name (as `ip netns` knows it).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// A command that runs `program` inside the namespace (`ip netns exec NAME program`); add
    /// arguments and redirections, then run it or hand it to [`Netns::spawn`].
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", self.name()]).arg(program).stdin(Stdio::null());
        c
    }

    /// Runs `program args` inside the namespace to completion; its stdout, or an error carrying
    /// its exit status and output.
    pub fn exec(&self, program: &str, args: &[&str]) -> Result<String> {
        run(self.command(program).args(args))
    }

    /// Starts a command built by [`Netns::command`] in the background. The [`Process`] kills it
    /// when dropped; dropping the namespace kills it too.
    pub fn spawn(&self, mut cmd: Command) -> Result<Process> {
        let what = describe(&cmd);
        let child = cmd.spawn().map_err(|source| LabError::Spawn { cmd: what.clone(), source })?;
        Ok(Process { child, what, _ns: self.clone() })
    }

    /// Runs `ip -n NAME args...`; its stdout.
    pub fn ip(&self, args: &[&str]) -> Result<String> {
        let mut c = Command::new("ip");
        c.args(["-n", self.name()]).args(args);
        run(&mut c)
    }

    /// Sets a link up.
    pub fn link_up(&self, ifname: &str) -> Result<()> {
        self.ip(&["link", "set", ifname, "up"]).map(|_| ())
    }

    /// Adds an address (`10.0.0.1/30`, `2001:db8::1/64`) to an interface; IPv6 addresses are
    /// added with `nodad` so they are usable at once.
    pub fn add_addr(&self, ifname: &str, cidr: &str) -> Result<()> {
        if cidr.contains(':') {
            self.ip(&["addr", "add", cidr, "dev", ifname, "nodad"])
        } else {
            self.ip(&["addr", "add", cidr, "dev", ifname])
        }
        .map(|_| ())
    }

    /// Adds a route to `dst` (a prefix or `default`) via a gateway (`ip route add DST via VIA`;
    /// `ip` picks the family from the addresses).
    pub fn add_route(&self, dst: &str, via: &str) -> Result<()> {
        let family = if via.contains(':') { "-6" } else { "-4" };
        self.ip(&[family, "route", "add", dst, "via", via]).map(|_| ())
    }

    /// Sets a sysctl inside the namespace (`net.ipv4.ip_forward`, `1`).
    pub fn sysctl(&self, key: &str, value: &str) -> Result<()> {
        self.exec("sysctl", &["-qw", &format!("{key}={value}")]).map(|_| ())
    }

    /// Turns IPv4 and IPv6 forwarding on.
    pub fn enable_forwarding(&self) -> Result<()> {
        self.sysctl("net.ipv4.ip_forward", "1")?;
        self.sysctl("net.ipv6.conf.all.forwarding", "1")
    }

    /// Creates a veth pair, `ifname` here and `peer_ifname` in `peer`, both up. Interface names
    /// are per namespace, so every namespace may have its own `eth0`.
    pub fn veth(&self, ifname: &str, peer: &Netns, peer_ifname: &str) -> Result<()> {
        run(&mut command(
            "ip",
            &[
                "link",
                "add",
                ifname,
                "netns",
                self.name(),
                "type",
                "veth",
                "peer",
                "name",
                peer_ifname,
                "netns",
                peer.name(),
            ],
        ))?;
        self.link_up(ifname)?;
        peer.link_up(peer_ifname)
    }

    /// Creates a veth pair between this namespace (`ifname`) and the root namespace, both up; the
    /// root end's generated name (`flb<pid><n>`, at most 15 bytes), removed with the namespace.
    pub fn veth_to_root(&self, ifname: &str) -> Result<String> {
        let n = LINK_COUNTER.fetch_add(1, Ordering::Relaxed);
        let root = format!("flb{}v{}", base36(std::process::id().into()), base36(n.into()));
        run(&mut command("ip", &["link", "add", &root, "type", "veth", "peer", "name", ifname, "netns", self.name()]))?;
        if let Ok(mut links) = self.inner.root_links.lock() {
            links.push(root.clone());
        }
        run(&mut command("ip", &["link", "set", &root, "up"]))?;
        self.link_up(ifname)?;
        Ok(root)
    }

    /// Creates a bridge with the given existing interfaces as ports; bridge and ports up.
    ///
    /// A "switch" is a namespace holding a bridge whose ports are veth ends to the hosts:
    /// `sw.veth("p1", &h1, "eth0")`, ..., `sw.add_bridge("br0", &["p1", "p2", "p3"])`.
    pub fn add_bridge(&self, name: &str, ports: &[&str]) -> Result<()> {
        self.ip(&["link", "add", name, "type", "bridge"])?;
        self.link_up(name)?;
        for port in ports {
            self.ip(&["link", "set", port, "master", name])?;
            self.link_up(port)?;
        }
        Ok(())
    }

    /// Loads an nftables ruleset (the multi-line `nft -f` syntax) inside the namespace.
    ///
    /// ```no_run
    /// # let ns = ferrolb_lab::Netns::new("x")?;
    /// // Silently drop everything on eth0, e.g. to make a BFD or BGP hold timer expire.
    /// ns.nft("table inet blackhole {
    ///   chain in  { type filter hook input  priority -300; iifname \"eth0\" drop; }
    ///   chain out { type filter hook output priority -300; oifname \"eth0\" drop; }
    /// }")?;
    /// ns.nft("delete table inet blackhole")?;
    /// # Ok::<(), ferrolb_lab::LabError>(())
    /// ```
    pub fn nft(&self, ruleset: &str) -> Result<()> {
        use std::io::Write as _;
        let mut cmd = self.command("nft");
        cmd.args(["-f", "-"]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let what = describe(&cmd);
        let mut child = cmd.spawn().map_err(|source| LabError::Spawn { cmd: what.clone(), source })?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(ruleset.as_bytes()).map_err(|e| crate::error::io_err(format!("writing to `{what}`"), e))?;
        }
        let out = child.wait_with_output().map_err(|e| crate::error::io_err(format!("waiting for `{what}`"), e))?;
        if !out.status.success() {
            return Err(crate::error::failed(&cmd, &out));
        }
        Ok(())
    }

    /// The MAC address of an interface, as `ip` prints it (`0e:07:d5:84:5a:c5`).
    pub fn mac(&self, ifname: &str) -> Result<String> {
        let out = self.ip(&["-o", "link", "show", "dev", ifname])?;
        let mut words = out.split_whitespace();
        words
            .find(|w| *w == "link/ether")
            .and_then(|_| words.next())
            .map(str::to_owned)
            .ok_or_else(|| LabError::Parse { what: format!("`ip link show dev {ifname}`"), detail: out.clone() })
    }

    /// The pids of every process running inside the namespace.
    pub fn pids(&self) -> Result<Vec<u32>> {
        namespace_pids(self.name())
    }
}

/// A background process started by [`Netns::spawn`]; killed (SIGKILL) and reaped when dropped.
#[derive(Debug)]
pub struct Process {
    child: Child,
    what: String,
    _ns: Netns,
}

impl Process {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The command line it was started with.
    pub fn command_line(&self) -> &str {
        &self.what
    }

    /// Its exit status if it has exited, without blocking.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        self.child.try_wait().map_err(|e| crate::error::io_err(format!("waiting for `{}`", self.what), e))
    }

    /// Kills it (SIGKILL) and reaps it; its exit status.
    pub fn kill(&mut self) -> Result<ExitStatus> {
        let _ = self.child.kill();
        self.child.wait().map_err(|e| crate::error::io_err(format!("reaping `{}`", self.what), e))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_encode_the_owner_pid() {
        let name = format!("{NAME_PREFIX}r1-{}-{}", base36(4_194_304), base36(1300));
        assert_eq!(owner_pid(&name), Some(4_194_304));
        assert!(name.len() <= 20, "{name}");
        assert_eq!(owner_pid("flb-x-zz"), None, "a name without tag is not ours");
        assert_eq!(owner_pid("flbx-a-1-2"), None);
        assert_eq!(owner_pid("r1"), None);
        assert_eq!(base36(0), "0");
        assert_eq!(base36(35), "z");
        assert_eq!(base36(36), "10");
    }
}
