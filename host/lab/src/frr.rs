//! FRR daemons (zebra, bgpd, bfdd, staticd) inside a namespace, driven through `vtysh`.
//!
//! Each [`Frr`] has a private directory (config, vty sockets, zserv socket, bfdd control socket,
//! pid and log files), so several instances run side by side, one per namespace. The daemons run
//! in the foreground as children of the test (dropping privileges to user `frr`), are killed when
//! the guard drops, and print their logs to stderr if that happens while the test panics (the
//! directory is then kept for inspection).
//!
//! The JSON answers of `vtysh` are turned into small typed summaries for asserts.
//!
//! ```no_run
//! use ferrolb_lab::frr::{Daemon, Frr, Family};
//! use ferrolb_lab::{Netns, wait_for};
//! use std::time::Duration;
//!
//! let ns = Netns::new("r1")?;
//! let frr = Frr::start(&ns, &[Daemon::Zebra, Daemon::Bgpd], "router bgp 65001\n neighbor 10.0.0.2 remote-as 65002\n")?;
//! let peer = wait_for(Duration::from_secs(30), "session up", || {
//!     let s = frr.bgp_summary()?;
//!     s.peer(Family::Ipv4, "10.0.0.2").filter(|p| p.is_established()).cloned()
//!         .ok_or_else(|| format!("{s:?}"))
//! })?;
//! assert_eq!(peer.remote_as, 65002);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use ipnet::IpNet;
use serde_json::Value;

use crate::error::{LabError, Result, io_err, run, write_file};
use crate::netns::{Netns, Process};

/// Where Debian installs the FRR daemons; `FERROLB_FRR_DIR` overrides it.
pub const DEFAULT_FRR_DIR: &str = "/usr/lib/frr";

/// How long a daemon may take to open its vty socket.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// An FRR daemon the lab knows how to start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Daemon {
    /// The RIB manager; needed for kernel routes, `network` statements over static routes, and
    /// BGP ↔ BFD integration. Always started first.
    Zebra,
    /// BGP.
    Bgpd,
    /// BFD.
    Bfdd,
    /// Static routes (`ip route ... blackhole` in the config).
    Staticd,
}

impl Daemon {
    /// All four, in start order.
    pub const ALL: &'static [Daemon] = &[Daemon::Zebra, Daemon::Bgpd, Daemon::Bfdd, Daemon::Staticd];

    /// The binary's name.
    pub fn name(self) -> &'static str {
        match self {
            Daemon::Zebra => "zebra",
            Daemon::Bgpd => "bgpd",
            Daemon::Bfdd => "bfdd",
            Daemon::Staticd => "staticd",
        }
    }
}

/// An address family of BGP unicast / the RIB.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// IPv4 unicast.
    Ipv4,
    /// IPv6 unicast.
    Ipv6,
}

impl Family {
    /// The key FRR uses in JSON (`ipv4Unicast`).
    pub fn json_key(self) -> &'static str {
        match self {
            Family::Ipv4 => "ipv4Unicast",
            Family::Ipv6 => "ipv6Unicast",
        }
    }

    /// The words FRR uses in commands (`ipv4 unicast`).
    pub fn words(self) -> &'static str {
        match self {
            Family::Ipv4 => "ipv4 unicast",
            Family::Ipv6 => "ipv6 unicast",
        }
    }
}

/// A running set of FRR daemons in one namespace.
#[derive(Debug)]
pub struct Frr {
    ns: Netns,
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
    daemons: Vec<(Daemon, Process)>,
}

fn frr_dir() -> PathBuf {
    std::env::var_os("FERROLB_FRR_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(DEFAULT_FRR_DIR))
}

/// A private directory under the system temp dir, traversable by user `frr`.
pub(crate) fn private_dir(prefix: &str, owner: Option<&str>) -> Result<tempfile::TempDir> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new().prefix(prefix).tempdir().map_err(|e| io_err("creating a temp dir", e))?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o775))
        .map_err(|e| io_err(format!("chmod {}", dir.path().display()), e))?;
    if let Some(owner) = owner {
        let path = dir.path().to_string_lossy().into_owned();
        run(Command::new("chown").args([owner, &path]))?;
    }
    Ok(dir)
}

/// The contents of every `*.log` / `*.out` file in `dir`, each under a header.
pub(crate) fn collect_logs(dir: &Path) -> String {
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(dir).map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default();
    files.retain(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("log" | "out")));
    files.sort();
    let mut out = String::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        if text.trim().is_empty() {
            continue;
        }
        out.push_str(&format!("----- {} -----\n{}\n", f.display(), text.trim_end()));
    }
    out
}

impl Frr {
    /// Starts `daemons` (zebra first, whatever the order given) inside `ns`, waits until each has
    /// opened its vty socket, then applies `config` (integrated `frr.conf` syntax) with vtysh.
    ///
    /// With bgpd, `bgp route-map delay-timer 0` is applied before `config` (FRR's default of 5 s
    /// holds every peer for that long after a config with a route-map); `config` may set another.
    ///
    /// Fails with the daemons' logs if one exits or the configuration is refused.
    pub fn start(ns: &Netns, daemons: &[Daemon], config: &str) -> Result<Frr> {
        let dir = private_dir("flb-frr-", Some("frr:frr"))?;
        let path = dir.path().to_path_buf();
        let mut frr = Frr { ns: ns.clone(), dir: Some(dir), path, daemons: Vec::new() };
        let mut order: Vec<Daemon> = Vec::new();
        for d in daemons {
            if !order.contains(d) {
                order.push(*d);
            }
        }
        order.sort_by_key(|d| *d != Daemon::Zebra);
        let bgp = order.contains(&Daemon::Bgpd);
        for d in order {
            frr.start_daemon(d)?;
        }
        if bgp {
            // bgpd holds its peers until route-map changes settle: 5 s by default whenever the
            // config has a route-map. A lab wants its sessions now.
            frr.apply(&format!("bgp route-map delay-timer 0\n{config}"))?;
        } else {
            frr.apply(config)?;
        }
        Ok(frr)
    }

    fn start_daemon(&mut self, d: Daemon) -> Result<()> {
        let dir = self.path.to_string_lossy().into_owned();
        let name = d.name();
        let out = std::fs::File::create(self.path.join(format!("{name}.out")))
            .map_err(|e| io_err(format!("creating {name}.out"), e))?;
        let err = out.try_clone().map_err(|e| io_err("dup log file", e))?;
        let mut cmd = self.ns.command(frr_dir().join(name));
        cmd.args(["-u", "frr", "-g", "frr", "--vty_socket", &dir])
            .args(["-i", &format!("{dir}/{name}.pid"), "-z", &format!("{dir}/zserv.api")])
            .args(["-f", "/dev/null", "-P", "0", "--log", &format!("file:{dir}/{name}.log")])
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        match d {
            // Netlink receive buffer large enough for a full table dump.
            Daemon::Zebra => {
                cmd.args(["-s", "90000000"]);
            }
            // Otherwise every bfdd shares /var/run/frr/bfdd.sock.
            Daemon::Bfdd => {
                cmd.args(["--bfdctl", &format!("{dir}/bfdd.sock")]);
            }
            Daemon::Bgpd | Daemon::Staticd => {}
        }
        let proc = self.ns.spawn(cmd)?;
        self.daemons.push((d, proc));
        let mut sockets = vec![self.path.join(format!("{name}.vty"))];
        if d == Daemon::Zebra {
            // Clients that find no zserv socket retry only every 10 s: wait for it.
            sockets.push(self.path.join("zserv.api"));
        }
        let started = std::time::Instant::now();
        loop {
            self.check_running()?;
            if sockets.iter().all(|s| s.exists()) {
                return Ok(());
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(LabError::Timeout {
                    what: format!("{name} to open {}", sockets[0].display()),
                    elapsed: started.elapsed(),
                    last: self.logs(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Fails with the logs if any daemon has exited (a crash, or a refused command line).
    pub fn check_running(&mut self) -> Result<()> {
        for (d, p) in &mut self.daemons {
            if let Some(status) = p.try_wait()? {
                let daemon = d.name().to_owned();
                return Err(LabError::DaemonDied {
                    daemon,
                    status: status.to_string(),
                    logs: collect_logs(&self.path),
                });
            }
        }
        Ok(())
    }

    /// Kills one daemon outright (SIGKILL), as a crash would: its peers see the session die by
    /// hold timer or BFD, not by a NOTIFICATION. Fails if the daemon was not started.
    pub fn kill_daemon(&mut self, daemon: Daemon) -> Result<()> {
        let Some(i) = self.daemons.iter().position(|(d, _)| *d == daemon) else {
            return Err(LabError::Invalid(format!("{} is not running", daemon.name())));
        };
        let (_, mut p) = self.daemons.remove(i);
        p.kill().map(|_| ())
    }

    /// The namespace the daemons run in.
    pub fn netns(&self) -> &Netns {
        &self.ns
    }

    /// The private directory (sockets, logs, `frr.conf`).
    pub fn dir(&self) -> &Path {
        &self.path
    }

    /// Every daemon log, for failure messages.
    pub fn logs(&self) -> String {
        collect_logs(&self.path)
    }

    /// Applies configuration (integrated `frr.conf` syntax) to the running daemons with
    /// `vtysh -f`; fails with vtysh's complaint if any line is refused.
    pub fn apply(&self, config: &str) -> Result<()> {
        let file = self.path.join("frr.conf");
        write_file(&file, config)?;
        let mut cmd = self.vtysh_command();
        cmd.arg("-f").arg(&file);
        let out = crate::error::output(&mut cmd)?;
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        // A refused line makes vtysh exit non-zero (`line 2: % Unknown command: ...`, status 2).
        if !out.status.success() {
            return Err(LabError::Command {
                cmd: crate::error::describe(&cmd),
                status: out.status.to_string(),
                output: format!("{}\nconfig was:\n{config}", text.trim()),
            });
        }
        if !text.trim().is_empty() {
            eprintln!("ferrolb-lab: vtysh said, applying config in {}:\n{}", self.ns.name(), text.trim());
        }
        Ok(())
    }

    fn vtysh_command(&self) -> Command {
        let mut cmd = Command::new("vtysh");
        cmd.arg("--vty_socket").arg(&self.path);
        cmd
    }

    /// Runs one vtysh command (`show bgp summary`); its output. A `% ...` answer (unknown
    /// command, not ready) is an error.
    pub fn vtysh(&self, command: &str) -> Result<String> {
        let mut cmd = self.vtysh_command();
        cmd.args(["-c", command]);
        let out = run(&mut cmd)?;
        if out.trim_start().starts_with('%') {
            return Err(LabError::Command {
                cmd: crate::error::describe(&cmd),
                status: "refused".into(),
                output: out.trim().to_owned(),
            });
        }
        Ok(out)
    }

    /// Runs a vtysh command whose output is JSON (`show bfd peers json`); the parsed value.
    pub fn vtysh_json(&self, command: &str) -> Result<Value> {
        let out = self.vtysh(command)?;
        serde_json::from_str(&out)
            .map_err(|e| LabError::Parse { what: format!("`{command}`"), detail: format!("{e}: {out}") })
    }

    /// `show bgp summary json`: every peer of every address family.
    pub fn bgp_summary(&self) -> Result<BgpSummary> {
        let cmd = "show bgp summary json";
        Ok(parse_bgp_summary(&self.vtysh_json(cmd)?))
    }

    /// `show bgp <family> unicast json`: every path of every prefix in the BGP table. The table
    /// listing carries no communities: use [`Frr::bgp_prefix`] for those.
    pub fn bgp_table(&self, family: Family) -> Result<Vec<BgpPath>> {
        let cmd = format!("show bgp {} json", family.words());
        parse_bgp_table(&self.vtysh_json(&cmd)?).map_err(|detail| LabError::Parse { what: cmd, detail })
    }

    /// `show bgp <family> unicast PREFIX json`: every path of one prefix with communities, large
    /// communities, local preference and MED; empty if the prefix is not in the table.
    pub fn bgp_prefix(&self, family: Family, prefix: &str) -> Result<Vec<BgpPath>> {
        let cmd = format!("show bgp {} {prefix} json", family.words());
        parse_bgp_prefix(&self.vtysh_json(&cmd)?).map_err(|detail| LabError::Parse { what: cmd, detail })
    }

    /// `show bgp neighbors json`.
    pub fn bgp_neighbors(&self) -> Result<Vec<BgpNeighbor>> {
        Ok(parse_bgp_neighbors(&self.vtysh_json("show bgp neighbors json")?))
    }

    /// `show bfd peers json`.
    pub fn bfd_peers(&self) -> Result<Vec<BfdPeer>> {
        let cmd = "show bfd peers json";
        parse_bfd_peers(&self.vtysh_json(cmd)?).map_err(|detail| LabError::Parse { what: cmd.into(), detail })
    }

    /// `show ip route json` / `show ipv6 route json`: zebra's RIB.
    pub fn rib(&self, family: Family) -> Result<Vec<RibRoute>> {
        let cmd = match family {
            Family::Ipv4 => "show ip route json",
            Family::Ipv6 => "show ipv6 route json",
        };
        parse_rib(&self.vtysh_json(cmd)?).map_err(|detail| LabError::Parse { what: cmd.into(), detail })
    }
}

impl Drop for Frr {
    fn drop(&mut self) {
        let panicking = std::thread::panicking();
        if panicking {
            eprintln!("===== FRR logs ({}, namespace {}) =====\n{}", self.path.display(), self.ns.name(), self.logs());
        }
        for (_, p) in &mut self.daemons {
            let _ = p.kill();
        }
        if panicking && let Some(dir) = self.dir.take() {
            eprintln!("ferrolb-lab: kept {} for inspection", dir.keep().display());
        }
    }
}

/// One peer line of `show bgp summary json`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BgpPeer {
    /// The address family the line belongs to.
    pub family: Family,
    /// The peer's address (or interface name for unnumbered peers).
    pub address: String,
    /// Its AS number.
    pub remote_as: u32,
    /// The FSM state (`Established`, `Active`, `Idle`, ...).
    pub state: String,
    /// Prefixes accepted from the peer (`pfxRcd`).
    pub prefixes_received: u64,
    /// Prefixes sent to the peer (`pfxSnt`).
    pub prefixes_sent: u64,
    /// How many times the session reached Established.
    pub connections_established: u64,
    /// How many times it dropped.
    pub connections_dropped: u64,
}

impl BgpPeer {
    /// True when the session is Established.
    pub fn is_established(&self) -> bool {
        self.state == "Established"
    }
}

/// `show bgp summary json`, flattened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BgpSummary {
    /// One entry per (family, peer).
    pub peers: Vec<BgpPeer>,
}

impl BgpSummary {
    /// The peer line for `address` in `family`.
    pub fn peer(&self, family: Family, address: &str) -> Option<&BgpPeer> {
        self.peers.iter().find(|p| p.family == family && p.address == address)
    }

    /// Prefixes received from `address` in `family` (0 when the peer is absent).
    pub fn prefixes_received(&self, family: Family, address: &str) -> u64 {
        self.peer(family, address).map_or(0, |p| p.prefixes_received)
    }
}

fn u64_of(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

fn str_of(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or_default().to_owned()
}

fn u32_opt(v: &Value, key: &str) -> Option<u32> {
    v.get(key).and_then(Value::as_u64).and_then(|n| u32::try_from(n).ok())
}

/// Parses `show bgp summary json`.
pub fn parse_bgp_summary(v: &Value) -> BgpSummary {
    let mut peers = Vec::new();
    for family in [Family::Ipv4, Family::Ipv6] {
        let Some(map) = v.get(family.json_key()).and_then(|f| f.get("peers")).and_then(Value::as_object) else {
            continue;
        };
        for (address, p) in map {
            peers.push(BgpPeer {
                family,
                address: address.clone(),
                remote_as: u32_opt(p, "remoteAs").unwrap_or(0),
                state: str_of(p, "state"),
                prefixes_received: u64_of(p, "pfxRcd"),
                prefixes_sent: u64_of(p, "pfxSnt"),
                connections_established: u64_of(p, "connectionsEstablished"),
                connections_dropped: u64_of(p, "connectionsDropped"),
            });
        }
    }
    BgpSummary { peers }
}

/// One path of a prefix in the BGP table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BgpPath {
    /// The prefix.
    pub prefix: IpNet,
    /// Chosen as best path.
    pub best: bool,
    /// Valid (next hop reachable, not filtered).
    pub valid: bool,
    /// The AS path as FRR prints it (`65002 65010`; empty for local routes).
    pub as_path: String,
    /// `IGP`, `EGP` or `incomplete`.
    pub origin: String,
    /// The next hops, in FRR's order (global address first for IPv6).
    pub next_hops: Vec<IpAddr>,
    /// LOCAL_PREF if present.
    pub local_pref: Option<u32>,
    /// MED if present.
    pub med: Option<u32>,
    /// Standard communities as `AS:VAL` (only from [`Frr::bgp_prefix`]).
    pub communities: Vec<String>,
    /// Large communities as `GA:LD1:LD2` (only from [`Frr::bgp_prefix`]).
    pub large_communities: Vec<String>,
    /// The peer it came from (`peerId`), empty for local routes.
    pub peer: String,
}

fn next_hops(p: &Value) -> Vec<IpAddr> {
    p.get("nexthops")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|n| n.get("ip")?.as_str()?.parse().ok()).collect())
        .unwrap_or_default()
}

fn string_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(|c| c.get("list"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

fn parse_prefix(s: &str) -> Result<IpNet, String> {
    s.parse().map_err(|e| format!("bad prefix {s:?}: {e}"))
}

/// Parses `show bgp <family> unicast json`.
pub fn parse_bgp_table(v: &Value) -> Result<Vec<BgpPath>, String> {
    let mut out = Vec::new();
    let Some(routes) = v.get("routes").and_then(Value::as_object) else { return Ok(out) };
    for (prefix, paths) in routes {
        let prefix = parse_prefix(prefix)?;
        for p in paths.as_array().map(Vec::as_slice).unwrap_or_default() {
            out.push(BgpPath {
                prefix,
                best: p.get("bestpath").and_then(Value::as_bool).unwrap_or(false),
                valid: p.get("valid").and_then(Value::as_bool).unwrap_or(false),
                as_path: str_of(p, "path"),
                origin: str_of(p, "origin"),
                next_hops: next_hops(p),
                local_pref: u32_opt(p, "locPrf"),
                med: u32_opt(p, "metric"),
                communities: Vec::new(),
                large_communities: Vec::new(),
                peer: str_of(p, "peerId").replace("(unspec)", ""),
            });
        }
    }
    Ok(out)
}

/// Parses `show bgp <family> unicast PREFIX json`.
pub fn parse_bgp_prefix(v: &Value) -> Result<Vec<BgpPath>, String> {
    let Some(prefix) = v.get("prefix").and_then(Value::as_str) else { return Ok(Vec::new()) };
    let prefix = parse_prefix(prefix)?;
    let paths = v.get("paths").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    Ok(paths
        .iter()
        .map(|p| BgpPath {
            prefix,
            best: p.get("bestpath").and_then(|b| b.get("overall")).and_then(Value::as_bool).unwrap_or(false),
            valid: p.get("valid").and_then(Value::as_bool).unwrap_or(false),
            as_path: p.get("aspath").map(|a| str_of(a, "string")).unwrap_or_default(),
            origin: str_of(p, "origin"),
            next_hops: next_hops(p),
            local_pref: u32_opt(p, "locPrf"),
            med: u32_opt(p, "metric"),
            communities: string_list(p.get("community")),
            large_communities: string_list(p.get("largeCommunity")),
            peer: p.get("peer").map(|x| str_of(x, "peerId")).unwrap_or_default().replace("(unspec)", ""),
        })
        .collect())
}

/// One neighbor of `show bgp neighbors json`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BgpNeighbor {
    /// The neighbor's address (or interface).
    pub address: String,
    /// Its AS.
    pub remote_as: u32,
    /// Its router id, once known.
    pub remote_router_id: String,
    /// The FSM state.
    pub state: String,
    /// Negotiated hold time in ms.
    pub hold_time_ms: u64,
    /// Negotiated keepalive interval in ms.
    pub keepalive_ms: u64,
    /// Times the session reached Established.
    pub connections_established: u64,
    /// Times it dropped.
    pub connections_dropped: u64,
    /// Why the last reset happened (`lastResetDueTo`), if any.
    pub last_reset: String,
    /// Accepted prefixes per family (`ipv4Unicast` → count).
    pub accepted_prefixes: Vec<(String, u64)>,
    /// The BFD status of the session (`Up`, `Down`, ...), when BFD is configured.
    pub bfd_status: Option<String>,
}

/// Parses `show bgp neighbors json`.
pub fn parse_bgp_neighbors(v: &Value) -> Vec<BgpNeighbor> {
    let Some(map) = v.as_object() else { return Vec::new() };
    map.iter()
        .filter(|(_, n)| n.is_object())
        .map(|(address, n)| BgpNeighbor {
            address: address.clone(),
            remote_as: u32_opt(n, "remoteAs").unwrap_or(0),
            remote_router_id: str_of(n, "remoteRouterId"),
            state: str_of(n, "bgpState"),
            hold_time_ms: u64_of(n, "bgpTimerHoldTimeMsecs"),
            keepalive_ms: u64_of(n, "bgpTimerKeepAliveIntervalMsecs"),
            connections_established: u64_of(n, "connectionsEstablished"),
            connections_dropped: u64_of(n, "connectionsDropped"),
            last_reset: str_of(n, "lastResetDueTo"),
            accepted_prefixes: n
                .get("addressFamilyInfo")
                .and_then(Value::as_object)
                .map(|afs| afs.iter().map(|(k, a)| (k.clone(), u64_of(a, "acceptedPrefixCounter"))).collect())
                .unwrap_or_default(),
            bfd_status: n.get("peerBfdInfo").and_then(|b| b.get("status")).and_then(Value::as_str).map(str::to_owned),
        })
        .collect()
}

/// One session of `show bfd peers json`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BfdPeer {
    /// The peer's address.
    pub peer: IpAddr,
    /// The local address, if bound.
    pub local: Option<IpAddr>,
    /// The interface, if bound.
    pub interface: Option<String>,
    /// Multi-hop session.
    pub multihop: bool,
    /// `up`, `down`, `init`, `shutdown`.
    pub status: String,
    /// Local diagnostic (`ok`, `control detection time expired`, ...).
    pub diagnostic: String,
    /// Configured receive interval (ms).
    pub receive_interval_ms: u64,
    /// Configured transmit interval (ms).
    pub transmit_interval_ms: u64,
    /// Local detect multiplier.
    pub detect_multiplier: u64,
    /// The peer's receive interval (ms).
    pub remote_receive_interval_ms: u64,
    /// The peer's transmit interval (ms).
    pub remote_transmit_interval_ms: u64,
    /// The peer's detect multiplier.
    pub remote_detect_multiplier: u64,
}

impl BfdPeer {
    /// True when the session is Up.
    pub fn is_up(&self) -> bool {
        self.status == "up"
    }
}

/// Parses `show bfd peers json`.
pub fn parse_bfd_peers(v: &Value) -> Result<Vec<BfdPeer>, String> {
    let list = v.as_array().map(Vec::as_slice).unwrap_or_default();
    list.iter()
        .map(|p| {
            let peer = str_of(p, "peer");
            Ok(BfdPeer {
                peer: peer.parse().map_err(|e| format!("bad BFD peer {peer:?}: {e}"))?,
                local: p.get("local").and_then(Value::as_str).and_then(|s| s.parse().ok()),
                interface: p.get("interface").and_then(Value::as_str).map(str::to_owned),
                multihop: p.get("multihop").and_then(Value::as_bool).unwrap_or(false),
                status: str_of(p, "status"),
                diagnostic: str_of(p, "diagnostic"),
                receive_interval_ms: u64_of(p, "receive-interval"),
                transmit_interval_ms: u64_of(p, "transmit-interval"),
                detect_multiplier: u64_of(p, "detect-multiplier"),
                remote_receive_interval_ms: u64_of(p, "remote-receive-interval"),
                remote_transmit_interval_ms: u64_of(p, "remote-transmit-interval"),
                remote_detect_multiplier: u64_of(p, "remote-detect-multiplier"),
            })
        })
        .collect()
}

/// One route of zebra's RIB (`show ip route json`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RibRoute {
    /// The prefix.
    pub prefix: IpNet,
    /// Source protocol (`bgp`, `connected`, `static`, `kernel`).
    pub protocol: String,
    /// Selected as best for the prefix.
    pub selected: bool,
    /// Installed in the kernel FIB.
    pub installed: bool,
    /// Administrative distance.
    pub distance: u32,
    /// Metric.
    pub metric: u32,
    /// Next hops.
    pub next_hops: Vec<RibNextHop>,
}

/// A next hop of a [`RibRoute`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RibNextHop {
    /// Gateway address, if any (none for connected / blackhole).
    pub ip: Option<IpAddr>,
    /// Outgoing interface, if any.
    pub interface: Option<String>,
    /// Active.
    pub active: bool,
    /// In the FIB.
    pub fib: bool,
    /// A blackhole next hop.
    pub blackhole: bool,
}

/// Parses `show ip route json` / `show ipv6 route json`.
pub fn parse_rib(v: &Value) -> Result<Vec<RibRoute>, String> {
    let mut out = Vec::new();
    let Some(map) = v.as_object() else { return Ok(out) };
    for (prefix, routes) in map {
        let prefix = parse_prefix(prefix)?;
        for r in routes.as_array().map(Vec::as_slice).unwrap_or_default() {
            let flag = |n: &Value, k: &str| n.get(k).and_then(Value::as_bool).unwrap_or(false);
            out.push(RibRoute {
                prefix,
                protocol: str_of(r, "protocol"),
                selected: flag(r, "selected"),
                installed: flag(r, "installed"),
                distance: u32_opt(r, "distance").unwrap_or(0),
                metric: u32_opt(r, "metric").unwrap_or(0),
                next_hops: r
                    .get("nexthops")
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .map(|n| RibNextHop {
                        ip: n.get("ip").and_then(Value::as_str).and_then(|s| s.parse().ok()),
                        interface: n.get("interfaceName").and_then(Value::as_str).map(str::to_owned),
                        active: flag(n, "active"),
                        fib: flag(n, "fib"),
                        blackhole: flag(n, "blackhole"),
                    })
                    .collect(),
            });
        }
    }
    Ok(out)
}
