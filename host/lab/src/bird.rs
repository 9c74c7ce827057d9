//! BIRD 2 inside a namespace, driven through `birdc`, and the static-route injector config.
//!
//! [`Bird::start`] runs `bird -f -c CONF -s SOCK -P PID` in the namespace as a child of the test
//! (killed on drop; its output is printed if the test panics). [`StaticInjector`] generates the
//! benchmark injector: N IPv4 prefixes as `protocol static` blackhole routes exported over one
//! eBGP session (BIRD loads 1M of them in about a second).
//!
//! ```no_run
//! use ferrolb_lab::bird::{Bird, StaticInjector};
//! use ferrolb_lab::{Netns, wait_until};
//! use std::time::Duration;
//!
//! let ns = Netns::new("inj")?;
//! let inj = StaticInjector::new("10.0.0.1".parse()?, 65010, "10.0.0.2".parse()?, 65001, 1000);
//! let bird = Bird::start(&ns, &inj.config()?)?;
//! wait_until(Duration::from_secs(30), "injector established", || {
//!     bird.protocol("peer").ok().flatten().is_some_and(|p| p.is_established())
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net};

use crate::error::{LabError, Result, io_err, run, write_file};
use crate::frr::{collect_logs, private_dir};
use crate::netns::{Netns, Process};

/// How long BIRD may take to open its control socket (a 1M-route config parses in ~1 s).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running BIRD in one namespace.
#[derive(Debug)]
pub struct Bird {
    ns: Netns,
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
    socket: PathBuf,
    process: Process,
}

impl Bird {
    /// Writes `config` to a private directory and starts BIRD on it inside `ns`; returns once
    /// `birdc` answers. Fails with BIRD's output if it refuses the config or exits.
    pub fn start(ns: &Netns, config: &str) -> Result<Bird> {
        let dir = private_dir("flb-bird-", None)?;
        let path = dir.path().to_path_buf();
        let conf = path.join("bird.conf");
        write_file(&conf, config)?;
        let socket = path.join("bird.ctl");
        let out = std::fs::File::create(path.join("bird.out")).map_err(|e| io_err("creating bird.out", e))?;
        let err = out.try_clone().map_err(|e| io_err("dup log file", e))?;
        let mut cmd = ns.command("bird");
        cmd.arg("-f")
            .arg("-c")
            .arg(&conf)
            .arg("-s")
            .arg(&socket)
            .arg("-P")
            .arg(path.join("bird.pid"))
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        let process = ns.spawn(cmd)?;
        let mut bird = Bird { ns: ns.clone(), dir: Some(dir), path, socket, process };
        let started = std::time::Instant::now();
        loop {
            bird.check_running()?;
            let last = if bird.socket.exists() {
                match bird.birdc("show status") {
                    Ok(_) => break,
                    Err(e) => e.to_string(),
                }
            } else {
                "no control socket yet".to_owned()
            };
            if started.elapsed() > START_TIMEOUT {
                return Err(LabError::Timeout {
                    what: "BIRD to answer on its control socket".into(),
                    elapsed: started.elapsed(),
                    last: format!("{last}\n{}", bird.logs()),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bird.check_running()?;
        Ok(bird)
    }

    /// Fails with BIRD's output if it has exited.
    pub fn check_running(&mut self) -> Result<()> {
        if let Some(status) = self.process.try_wait()? {
            return Err(LabError::DaemonDied { daemon: "bird".into(), status: status.to_string(), logs: self.logs() });
        }
        Ok(())
    }

    /// The namespace BIRD runs in.
    pub fn netns(&self) -> &Netns {
        &self.ns
    }

    /// The private directory (`bird.conf`, `bird.ctl`, `bird.out`).
    pub fn dir(&self) -> &Path {
        &self.path
    }

    /// BIRD's own output, for failure messages.
    pub fn logs(&self) -> String {
        collect_logs(&self.path)
    }

    /// Runs one `birdc` command; its answer without the `BIRD x.y ready.` banner. birdc's
    /// failures (`syntax error`, `Network not found`) are errors.
    pub fn birdc(&self, command: &str) -> Result<String> {
        let mut cmd = Command::new("birdc");
        cmd.arg("-s").arg(&self.socket).args(command.split_whitespace());
        let out = run(&mut cmd)?;
        Ok(out.lines().filter(|l| !(l.starts_with("BIRD ") && l.ends_with(" ready."))).collect::<Vec<_>>().join("\n"))
    }

    /// Replaces the configuration and asks BIRD to reload it (`birdc configure`).
    pub fn configure(&self, config: &str) -> Result<()> {
        write_file(&self.path.join("bird.conf"), config)?;
        let out = self.birdc("configure")?;
        // `Reading configuration from F` then `Reconfigured`, or a parse error instead.
        if out.contains("Reconfigured") || out.contains("Reconfiguration in progress") {
            Ok(())
        } else {
            Err(LabError::Command { cmd: "birdc configure".into(), status: "refused".into(), output: out })
        }
    }

    /// `show protocols`.
    pub fn protocols(&self) -> Result<Vec<BirdProtocol>> {
        Ok(parse_protocols(&self.birdc("show protocols")?))
    }

    /// The protocol called `name`, if it exists.
    pub fn protocol(&self, name: &str) -> Result<Option<BirdProtocol>> {
        Ok(self.protocols()?.into_iter().find(|p| p.name == name))
    }

    /// `show route count`.
    pub fn route_count(&self) -> Result<BirdRouteCount> {
        let out = self.birdc("show route count")?;
        parse_route_count(&out).map_err(|detail| LabError::Parse { what: "`show route count`".into(), detail })
    }

    /// `show route PREFIX all`: every route for exactly that prefix (empty if none).
    pub fn routes(&self, prefix: &str) -> Result<Vec<BirdRoute>> {
        let mut cmd = Command::new("birdc");
        cmd.arg("-s").arg(&self.socket).args(["show", "route", prefix, "all"]);
        let out = crate::error::output(&mut cmd)?;
        let text = String::from_utf8_lossy(&out.stdout);
        if text.contains("Network not found") {
            return Ok(Vec::new());
        }
        if !out.status.success() {
            return Err(crate::error::failed(&cmd, &out));
        }
        parse_routes(&text).map_err(|detail| LabError::Parse { what: format!("`show route {prefix} all`"), detail })
    }
}

impl Drop for Bird {
    fn drop(&mut self) {
        let panicking = std::thread::panicking();
        if panicking {
            eprintln!(
                "===== BIRD output ({}, namespace {}) =====\n{}",
                self.path.display(),
                self.ns.name(),
                self.logs()
            );
        }
        let _ = self.process.kill();
        if panicking && let Some(dir) = self.dir.take() {
            eprintln!("ferrolb-lab: kept {} for inspection", dir.keep().display());
        }
    }
}

/// One line of `show protocols`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BirdProtocol {
    /// Protocol instance name.
    pub name: String,
    /// Protocol type (`BGP`, `Static`, `Device`, ...).
    pub proto: String,
    /// Table (`master4`, `---`).
    pub table: String,
    /// `up`, `down`, `start`.
    pub state: String,
    /// The rest of the line (`Established`, `Active  Socket: Connection refused`, ...).
    pub info: String,
}

impl BirdProtocol {
    /// True for a BGP protocol whose session is Established.
    pub fn is_established(&self) -> bool {
        self.state == "up" && self.info.starts_with("Established")
    }
}

/// Parses `show protocols` (the banner already removed or not).
pub fn parse_protocols(out: &str) -> Vec<BirdProtocol> {
    out.lines()
        .filter(|l| !l.starts_with("Name ") && !l.starts_with("BIRD "))
        .filter_map(|l| {
            // Name Proto Table State Since(time, maybe "date time") Info...
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 5 {
                return None;
            }
            // `Since` is one field (`07:24:55.482`) or two (`2024-01-01 07:24:55`).
            let info_at = if f.len() > 5 && f[5].contains(':') && f[4].contains('-') { 6 } else { 5 };
            Some(BirdProtocol {
                name: f[0].into(),
                proto: f[1].into(),
                table: f[2].into(),
                state: f[3].into(),
                info: f.get(info_at..).map(|r| r.join(" ")).unwrap_or_default(),
            })
        })
        .collect()
}

/// `show route count`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BirdRouteCount {
    /// Per table: (name, routes, networks).
    pub tables: Vec<(String, u64, u64)>,
    /// Routes over all tables.
    pub routes: u64,
    /// Networks over all tables.
    pub networks: u64,
}

impl BirdRouteCount {
    /// Routes in one table (`master4`), 0 if absent.
    pub fn table_routes(&self, table: &str) -> u64 {
        self.tables.iter().find(|t| t.0 == table).map_or(0, |t| t.1)
    }
}

/// Parses `show route count`: lines `X of Y routes for Z networks in table T` and a `Total:` line.
pub fn parse_route_count(out: &str) -> Result<BirdRouteCount, String> {
    let mut count = BirdRouteCount::default();
    let mut total = None;
    for line in out.lines() {
        let (is_total, rest) = match line.strip_prefix("Total: ") {
            Some(r) => (true, r),
            None => (false, line),
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        // [X, of, Y, routes, for, Z, networks, in, table, T] or [... in, N, tables]
        if f.len() < 7 || f[1] != "of" || f[3] != "routes" || f[4] != "for" {
            continue;
        }
        let num = |s: &str| s.parse::<u64>().map_err(|e| format!("bad count {s:?} in {line:?}: {e}"));
        let routes = num(f[2])?;
        let networks = num(f[5])?;
        if is_total {
            total = Some((routes, networks));
        } else if let Some(table) = f.get(9) {
            count.tables.push(((*table).to_owned(), routes, networks));
        }
    }
    let (routes, networks) =
        total.unwrap_or_else(|| (count.tables.iter().map(|t| t.1).sum(), count.tables.iter().map(|t| t.2).sum()));
    count.routes = routes;
    count.networks = networks;
    if count.tables.is_empty() && total.is_none() {
        return Err(format!("no counts in {out:?}"));
    }
    Ok(count)
}

/// One route of `show route PREFIX all`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BirdRoute {
    /// The prefix.
    pub prefix: IpNet,
    /// Kind (`unicast`, `blackhole`, `unreachable`).
    pub kind: String,
    /// The protocol that supplied it.
    pub protocol: String,
    /// Selected as best (`*`).
    pub best: bool,
    /// Gateway from `via X on IF`.
    pub via: Option<IpAddr>,
    /// Interface from `via X on IF` / `dev IF`.
    pub interface: Option<String>,
    /// `BGP.as_path`, if present.
    pub as_path: Option<String>,
    /// `BGP.next_hop` addresses.
    pub bgp_next_hop: Vec<IpAddr>,
    /// `BGP.local_pref`.
    pub local_pref: Option<u32>,
    /// `BGP.med`.
    pub med: Option<u32>,
    /// `BGP.community` as `AS:VAL` (BIRD prints `(AS,VAL)`).
    pub communities: Vec<String>,
    /// `BGP.large_community` as `GA:LD1:LD2`.
    pub large_communities: Vec<String>,
    /// Every `key: value` attribute line, as printed.
    pub attributes: Vec<(String, String)>,
}

/// `(65002,7) (65002,8)` / `(65002, 3, 4)` → `65002:7`, `65002:8` / `65002:3:4`.
fn communities(v: &str) -> Vec<String> {
    v.split(')')
        .filter_map(|c| {
            let inner = c.trim().strip_prefix('(')?;
            Some(inner.split(',').map(str::trim).collect::<Vec<_>>().join(":"))
        })
        .collect()
}

/// Parses `show route ... all`.
pub fn parse_routes(out: &str) -> Result<Vec<BirdRoute>, String> {
    let mut routes: Vec<BirdRoute> = Vec::new();
    let mut last_prefix: Option<IpNet> = None;
    for line in out.lines() {
        if line.trim().is_empty() || line.starts_with("BIRD ") || line.starts_with("Table ") {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        // A route line: `198.18.0.0/24  blackhole [inj 07:24:55.482] * (200)`, or for a further
        // route of the same prefix the same without the prefix: `   unicast [p2 07:25:04] (100)`.
        let prefix = f.first().and_then(|s| s.parse::<IpNet>().ok());
        let continues = prefix.is_none() && f.get(1).is_some_and(|s| s.starts_with('['));
        if prefix.is_none() && !continues {
            let Some(r) = routes.last_mut() else { continue };
            let t = line.trim();
            if let Some(rest) = t.strip_prefix("via ") {
                let mut f = rest.split_whitespace();
                r.via = f.next().and_then(|a| a.parse().ok());
                if f.next() == Some("on") {
                    r.interface = f.next().map(str::to_owned);
                }
            } else if let Some(rest) = t.strip_prefix("dev ") {
                r.interface = rest.split_whitespace().next().map(str::to_owned);
            } else if let Some((k, v)) = t.split_once(": ") {
                let v = v.trim();
                match k {
                    "BGP.as_path" => r.as_path = Some(v.to_owned()),
                    "BGP.next_hop" => r.bgp_next_hop = v.split_whitespace().filter_map(|a| a.parse().ok()).collect(),
                    "BGP.local_pref" => r.local_pref = v.parse().ok(),
                    "BGP.med" => r.med = v.parse().ok(),
                    "BGP.community" => r.communities = communities(v),
                    "BGP.large_community" => r.large_communities = communities(v),
                    _ => {}
                }
                r.attributes.push((k.to_owned(), v.to_owned()));
            }
            continue;
        }
        let (prefix, rest) = match prefix {
            Some(p) => (p, &f[1..]),
            None => match last_prefix {
                Some(p) => (p, &f[..]),
                None => return Err(format!("route line without prefix: {line:?}")),
            },
        };
        last_prefix = Some(prefix);
        let kind = rest.first().copied().unwrap_or_default().to_owned();
        let protocol = rest.get(1).map(|s| s.trim_start_matches('[').to_owned()).unwrap_or_default();
        routes.push(BirdRoute {
            prefix,
            kind,
            protocol,
            best: rest.contains(&"*"),
            via: None,
            interface: None,
            as_path: None,
            bgp_next_hop: Vec::new(),
            local_pref: None,
            med: None,
            communities: Vec::new(),
            large_communities: Vec::new(),
            attributes: Vec::new(),
        });
    }
    Ok(routes)
}

/// A BIRD configuration that injects `count` IPv4 prefixes over one eBGP session: the prefixes
/// are blackhole routes of a `protocol static` named `inject`, exported to the BGP protocol named
/// `peer` (import none); nothing is exported to the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaticInjector {
    /// BIRD's router id.
    pub router_id: Ipv4Addr,
    /// The local address of the session (BIRD's `local` address).
    pub local: IpAddr,
    /// BIRD's AS.
    pub local_as: u32,
    /// The neighbor to inject into.
    pub neighbor: IpAddr,
    /// Its AS.
    pub neighbor_as: u32,
    /// How many prefixes.
    pub count: u32,
    /// The first prefix's address; the following ones are consecutive blocks of `prefix_len`.
    pub first: Ipv4Addr,
    /// The prefix length of every injected prefix.
    pub prefix_len: u8,
}

impl StaticInjector {
    /// `count` /24s from 100.0.0.0 (1M fit below 116.0.0.0), router id = `local` when IPv4.
    pub fn new(local: IpAddr, local_as: u32, neighbor: IpAddr, neighbor_as: u32, count: u32) -> StaticInjector {
        let router_id = match local {
            IpAddr::V4(a) => a,
            IpAddr::V6(_) => Ipv4Addr::new(10, 255, 255, 1),
        };
        StaticInjector {
            router_id,
            local,
            local_as,
            neighbor,
            neighbor_as,
            count,
            first: Ipv4Addr::new(100, 0, 0, 0),
            prefix_len: 24,
        }
    }

    /// The injected prefixes, in order.
    pub fn prefixes(&self) -> Result<impl Iterator<Item = Ipv4Net> + use<>> {
        if self.prefix_len == 0 || self.prefix_len > 32 {
            return Err(LabError::Invalid(format!("prefix length {} (want 1..=32)", self.prefix_len)));
        }
        let step = 1u64 << (32 - u32::from(self.prefix_len));
        let first = u64::from(u32::from(self.first));
        if first % step != 0 {
            return Err(LabError::Invalid(format!("{} is not a /{} boundary", self.first, self.prefix_len)));
        }
        if first + step * u64::from(self.count) > 1u64 << 32 {
            return Err(LabError::Invalid(format!(
                "{} /{} prefixes from {} overflow the IPv4 space",
                self.count, self.prefix_len, self.first
            )));
        }
        let len = self.prefix_len;
        Ok((0..u64::from(self.count)).filter_map(move |i| {
            let addr = u32::try_from(first + i * step).ok()?;
            Ipv4Net::new(Ipv4Addr::from(addr), len).ok()
        }))
    }

    /// The BIRD configuration text.
    pub fn config(&self) -> Result<String> {
        let mut c = String::with_capacity(64 + self.count as usize * 36);
        let _ = writeln!(c, "router id {};", self.router_id);
        c.push_str("protocol device {}\n");
        c.push_str("protocol static inject {\n  ipv4 { import all; };\n");
        // Hand-rolled formatting: `writeln!` of an `Ipv4Net` takes seconds for 1M routes in a
        // debug build; this takes a fraction of one.
        let octets: Vec<String> = (0..=255u8).map(|o| o.to_string()).collect();
        let len = format!("/{} blackhole;\n", self.prefix_len);
        for p in self.prefixes()? {
            c.push_str("  route ");
            for (i, o) in p.addr().octets().iter().enumerate() {
                if i > 0 {
                    c.push('.');
                }
                c.push_str(&octets[usize::from(*o)]);
            }
            c.push_str(&len);
        }
        c.push_str("}\n");
        let _ = writeln!(c, "protocol bgp peer {{\n  local {} as {};", self.local, self.local_as);
        let _ = writeln!(c, "  neighbor {} as {};", self.neighbor, self.neighbor_as);
        c.push_str("  ipv4 { import none; export all; };\n}\n");
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_protocols() {
        let out = "BIRD 2.0.12 ready.\nName       Proto      Table      State  Since         Info\n\
                   device1    Device     ---        up     07:24:55.482  \n\
                   inj        Static     master4    up     07:24:55.482  \n\
                   peer1      BGP        ---        up     07:24:56.478  Established   \n\
                   peer2      BGP        ---        start  07:24:56.478  Active        Socket: Connection refused\n";
        let p = parse_protocols(out);
        assert_eq!(p.len(), 4);
        assert_eq!(p[0].info, "");
        assert!(p[2].is_established());
        assert_eq!(p[3].info, "Active Socket: Connection refused");
        assert!(!p[3].is_established());
        assert_eq!(p[1].table, "master4");
    }

    #[test]
    fn parses_route_count() {
        let out = "2 of 2 routes for 2 networks in table master4\n0 of 0 routes for 0 networks in table master6\n\
                   Total: 2 of 2 routes for 2 networks in 2 tables\n";
        let c = parse_route_count(out).expect("counts");
        assert_eq!(c.routes, 2);
        assert_eq!(c.networks, 2);
        assert_eq!(c.table_routes("master4"), 2);
        assert_eq!(c.table_routes("master6"), 0);
        assert!(parse_route_count("nonsense").is_err());
    }

    #[test]
    fn parses_route_all() {
        let out = "Table master4:\n203.0.113.0/24       unicast [peer1 07:25:04.664] * (100) [AS65002i]\n\
                   \tvia 10.0.12.2 on eth0\n\tType: BGP univ\n\tBGP.origin: IGP\n\tBGP.as_path: 65002\n\
                   \tBGP.next_hop: 10.0.12.2\n\tBGP.med: 0\n\tBGP.local_pref: 100\n\
                   \tBGP.community: (65002,7) (65002,8)\n\tBGP.large_community: (65002, 3, 4)\n\
                   \x20                    unicast [peer2 07:25:04.664] (100) [AS65003i]\n\
                   \tvia 10.0.13.2 on eth1\n";
        let r = parse_routes(out).expect("routes");
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].prefix, "203.0.113.0/24".parse::<IpNet>().expect("prefix"));
        assert!(r[0].best);
        assert_eq!(r[0].protocol, "peer1");
        assert_eq!(r[0].via, Some("10.0.12.2".parse().expect("ip")));
        assert_eq!(r[0].interface.as_deref(), Some("eth0"));
        assert_eq!(r[0].local_pref, Some(100));
        assert_eq!(r[0].communities, ["65002:7", "65002:8"]);
        assert_eq!(r[0].large_communities, ["65002:3:4"]);
        assert_eq!(r[0].as_path.as_deref(), Some("65002"));
        // A second route for the same prefix; its lines are indented too, but start with a kind.
        assert_eq!(r.len(), 2, "{r:?}");
    }

    #[test]
    fn injector_prefixes_and_config() {
        let inj =
            StaticInjector::new("10.0.0.1".parse().expect("ip"), 65010, "10.0.0.2".parse().expect("ip"), 65001, 3);
        let p: Vec<_> = inj.prefixes().expect("prefixes").collect();
        assert_eq!(p.len(), 3);
        assert_eq!(p[2].to_string(), "100.0.2.0/24");
        let c = inj.config().expect("config");
        assert!(c.contains("route 100.0.1.0/24 blackhole;"));
        assert!(c.contains("neighbor 10.0.0.2 as 65001;"));
        let mut big = inj.clone();
        big.count = 1 << 20;
        assert_eq!(big.prefixes().expect("1M fit").last().map(|p| p.to_string()).as_deref(), Some("115.255.255.0/24"));
        big.count = u32::MAX;
        assert!(big.prefixes().is_err());
        big.first = "100.0.0.1".parse().expect("ip");
        assert!(big.prefixes().is_err());
    }
}
