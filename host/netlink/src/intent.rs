//! The desired kernel state, as plain serializable values, and the marks by which ferrolb recognises
//! what it owns in the kernel.
//!
//! Ownership (ferrolb never changes or deletes anything without its mark):
//!
//! | object | mark |
//! |---|---|
//! | routes from intents (egress, NodeNetworkConfigurationPolicy) | route protocol [`ROUTE_PROTOCOL`] (`0xf0`, 240) |
//! | routes learned by the BGP daemon | route protocol [`BGP_ROUTE_PROTOCOL`] (`0xf1`, 241) |
//! | ip rules | `FRA_PROTOCOL` = [`RULE_PROTOCOL`] (`0xf0`), priority in [`EGRESS_PRIORITY_BAND`] or [`POLICY_PRIORITY_BAND`] |
//! | addresses | `IFA_PROTO` = [`ADDRESS_PROTOCOL`] (`0xf0`; kernels ≥ 5.18) |
//! | VRF devices | ifalias [`LINK_ALIAS`] on a device of kind `vrf` |
//! | SNAT | the nftables table `inet` [`NFT_TABLE`], replaced as a whole |
//!
//! Protocol numbers 240 and 241 are unassigned in iproute2's `rt_protos` (which names 0–4, 8–18, 42, 99,
//! 186–192) and unused by FRR (186–196), BIRD (12) and systemd-networkd.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;
use std::ops::RangeInclusive;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// Route protocol (`rtm_protocol`) of routes ferrolb installs from intents.
pub const ROUTE_PROTOCOL: u8 = 0xf0;
/// Route protocol of routes the BGP daemon installs through the incremental path.
pub const BGP_ROUTE_PROTOCOL: u8 = 0xf1;
/// `FRA_PROTOCOL` of ip rules ferrolb owns.
pub const RULE_PROTOCOL: u8 = 0xf0;
/// `IFA_PROTO` of addresses ferrolb owns.
pub const ADDRESS_PROTOCOL: u8 = 0xf0;
/// ifalias of the links (VRF devices) ferrolb created.
pub const LINK_ALIAS: &str = "ferrolb";
/// Name of the nftables table (family `inet`) holding ferrolb's SNAT rules.
pub const NFT_TABLE: &str = "ferrolb";
/// Priority of the egress rules `from <endpoint> lookup <vrf table>` unless told otherwise.
pub const EGRESS_PRIORITY: u32 = 5000;
/// Priorities of egress rules.
pub const EGRESS_PRIORITY_BAND: RangeInclusive<u32> = 5000..=5999;
/// Priorities of policy rules (NodeNetworkConfigurationPolicy `route-rules`; the reference uses 998).
/// Kept below the kernel's `main` (32766) and `default` (32767) rules and above its `local` rule (0).
pub const POLICY_PRIORITY_BAND: RangeInclusive<u32> = 100..=4999;

/// The whole desired state ferrolb keeps in one network namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct DesiredState {
    /// VRF devices.
    pub vrfs: Vec<Vrf>,
    /// Addresses on interfaces.
    pub addresses: Vec<Address>,
    /// Routes (protocol [`ROUTE_PROTOCOL`]).
    pub routes: Vec<Route>,
    /// ip rules.
    pub rules: Vec<Rule>,
    /// SNAT rules (nftables table `inet ferrolb`).
    pub snat: Vec<SnatRule>,
}

/// A VRF device (`ip link add NAME type vrf table TABLE`) and the ports enslaved to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Vrf {
    /// Device name, e.g. `ens4vrf`.
    pub name: String,
    /// Routing table of the VRF, e.g. 2.
    pub table: u32,
    /// Interfaces enslaved to the VRF, e.g. `ens4`.
    #[serde(default)]
    pub ports: Vec<String>,
}

/// An address on an interface (`ip addr add ADDRESS/LEN dev INTERFACE`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Address {
    /// Interface name.
    pub interface: String,
    /// Address with prefix length, host bits kept (`192.168.130.130/24`).
    pub address: IpNet,
}

/// Where a route sends its traffic.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind", deny_unknown_fields)]
pub enum NextHop {
    /// `via GATEWAY [dev INTERFACE]`.
    Gateway {
        /// Next-hop address, same family as the destination.
        address: IpAddr,
        /// Outgoing interface; the kernel resolves it from the gateway when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        interface: Option<String>,
    },
    /// `dev INTERFACE` (directly connected, scope link).
    Interface {
        /// Outgoing interface.
        interface: String,
    },
    /// `blackhole`: silently drop.
    Blackhole,
}

impl NextHop {
    /// The interface this next hop names, if any.
    pub fn interface(&self) -> Option<&str> {
        match self {
            NextHop::Gateway { interface, .. } => interface.as_deref(),
            NextHop::Interface { interface } => Some(interface),
            NextHop::Blackhole => None,
        }
    }
}

/// A route in a routing table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Route {
    /// Destination prefix (host bits zero); `0.0.0.0/0` is the default route.
    pub dst: IpNet,
    /// Routing table (254 = main).
    #[serde(default = "main_table")]
    pub table: u32,
    /// Next hop.
    pub next_hop: NextHop,
    /// Metric (`RTA_PRIORITY`).
    #[serde(default)]
    pub metric: u32,
}

fn main_table() -> u32 {
    MAIN_TABLE
}

/// The kernel's main routing table.
pub const MAIN_TABLE: u32 = 254;

impl Route {
    /// The identity of the route in the kernel (what `ip route del` needs).
    pub fn key(&self) -> RouteKey {
        RouteKey { table: self.table, dst: self.dst, metric: self.metric }
    }
}

/// What identifies a route in the kernel: table, destination and metric (ECMP is not modelled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteKey {
    /// Routing table.
    pub table: u32,
    /// Destination prefix.
    pub dst: IpNet,
    /// Metric.
    pub metric: u32,
}

impl fmt::Display for RouteKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "route {} table {} metric {}", self.dst, self.table, self.metric)
    }
}

/// Address family of a rule without addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IpFamily {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl IpFamily {
    /// The family of an address.
    pub fn of(addr: IpAddr) -> Self {
        if addr.is_ipv4() { IpFamily::V4 } else { IpFamily::V6 }
    }
}

/// An ip rule: `priority P [from PREFIX] [to PREFIX] [iif DEV] lookup TABLE`. NodeNetworkConfigurationPolicy
/// `route-rules` map as `ip-from` → `from`, `ip-to` → `to`, `iif`, `priority`, `route-table` → `table`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rule {
    /// Priority, inside [`EGRESS_PRIORITY_BAND`] or [`POLICY_PRIORITY_BAND`].
    pub priority: u32,
    /// Source prefix (NNCP `ip-from`).
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "ip-from")]
    pub from: Option<IpNet>,
    /// Destination prefix (NNCP `ip-to`).
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "ip-to")]
    pub to: Option<IpNet>,
    /// Input interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iif: Option<String>,
    /// Table to look up (NNCP `route-table`).
    #[serde(alias = "route-table")]
    pub table: u32,
    /// Family; needed only when neither `from` nor `to` is given (default IPv4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<IpFamily>,
}

impl Rule {
    /// The egress rule of an endpoint: `priority 5000 from ENDPOINT/32 (or /128) lookup TABLE`, which
    /// sends the endpoint's traffic through the VRF's table (EgressService `network: "2"`).
    pub fn egress(endpoint: IpAddr, table: u32) -> Rule {
        Rule {
            priority: EGRESS_PRIORITY,
            from: Some(IpNet::from(endpoint)),
            to: None,
            iif: None,
            table,
            family: Some(IpFamily::of(endpoint)),
        }
    }

    /// The rule's address family.
    pub fn ip_family(&self) -> IpFamily {
        match (self.from, self.to, self.family) {
            (Some(p), _, _) | (None, Some(p), _) => IpFamily::of(p.addr()),
            (None, None, Some(f)) => f,
            (None, None, None) => IpFamily::V4,
        }
    }

    /// The rule with prefixes normalised (host bits cleared) and the family made explicit, the
    /// form in which it is compared with the kernel's rules.
    pub fn normalized(&self) -> Rule {
        Rule {
            priority: self.priority,
            from: self.from.map(|p| p.trunc()),
            to: self.to.map(|p| p.trunc()),
            iif: self.iif.clone(),
            table: self.table,
            family: Some(self.ip_family()),
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rule priority {}", self.priority)?;
        if let Some(p) = self.from {
            write!(f, " from {p}")?;
        }
        if let Some(p) = self.to {
            write!(f, " to {p}")?;
        }
        if let Some(i) = &self.iif {
            write!(f, " iif {i}")?;
        }
        write!(f, " lookup {}", self.table)
    }
}

/// Source NAT: packets from `from` (an endpoint) leave with source `to` (the load-balancer address),
/// optionally only through interface `oif`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SnatRule {
    /// Original source address.
    pub from: IpAddr,
    /// Translated source address.
    pub to: IpAddr,
    /// Output interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oif: Option<String>,
}

impl fmt::Display for SnatRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "snat from {} to {}", self.from, self.to)?;
        if let Some(o) = &self.oif {
            write!(f, " oif {o}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Vrf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "vrf {}", self.name)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "address {} dev {}", self.address, self.interface)
    }
}

/// One problem in a desired state: which object, which field, why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{object}: {field}: {reason}")]
pub struct ValidationError {
    /// The object, e.g. `route 10.0.0.0/8 table 2 metric 0`.
    pub object: String,
    /// The field, e.g. `nextHop.address`.
    pub field: &'static str,
    /// What is wrong.
    pub reason: String,
}

/// Every problem found in a desired state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid desired state: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
pub struct ValidationErrors(pub Vec<ValidationError>);

/// Whether `name` is a legal Linux interface name (1–15 bytes, no `/`, `:`, whitespace or quotes).
pub fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && name.bytes().all(|b| b.is_ascii_graphic() && !matches!(b, b'/' | b':' | b'"' | b'\'' | b'\\'))
}

struct Checker {
    errors: Vec<ValidationError>,
}

impl Checker {
    fn push(&mut self, object: &dyn fmt::Display, field: &'static str, reason: impl Into<String>) {
        self.errors.push(ValidationError { object: object.to_string(), field, reason: reason.into() });
    }

    fn ifname(&mut self, object: &dyn fmt::Display, field: &'static str, name: &str) {
        if !valid_ifname(name) {
            self.push(
                object,
                field,
                format!("{name:?} is not a valid interface name (1-15 bytes, no / : quotes or spaces)"),
            );
        }
    }

    fn table(&mut self, object: &dyn fmt::Display, field: &'static str, table: u32) {
        match table {
            0 => self.push(object, field, "table 0 (unspec) is not a routing table"),
            255 => self.push(object, field, "table 255 (local) belongs to the kernel"),
            _ => {}
        }
    }
}

impl Route {
    /// Checks one route on its own.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut c = Checker { errors: Vec::new() };
        self.check(&mut c);
        if c.errors.is_empty() { Ok(()) } else { Err(ValidationErrors(c.errors)) }
    }

    fn check(&self, c: &mut Checker) {
        let key = self.key();
        if self.dst != self.dst.trunc() {
            c.push(&key, "dst", format!("has host bits set (did you mean {}?)", self.dst.trunc()));
        }
        c.table(&key, "table", self.table);
        match &self.next_hop {
            NextHop::Gateway { address, interface } => {
                if IpFamily::of(*address) != IpFamily::of(self.dst.addr()) {
                    c.push(&key, "nextHop.address", format!("{address} is not of the destination's family"));
                }
                if address.is_unspecified() || address.is_multicast() {
                    c.push(&key, "nextHop.address", format!("{address} cannot be a gateway"));
                }
                if let Some(i) = interface {
                    c.ifname(&key, "nextHop.interface", i);
                }
            }
            NextHop::Interface { interface } => c.ifname(&key, "nextHop.interface", interface),
            NextHop::Blackhole => {}
        }
    }
}

impl DesiredState {
    /// Checks the whole state; every problem is reported, each naming its object and field.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut c = Checker { errors: Vec::new() };

        let mut vrf_names = BTreeSet::new();
        let mut vrf_tables = BTreeMap::new();
        let mut port_owner: BTreeMap<&str, &str> = BTreeMap::new();
        for v in &self.vrfs {
            c.ifname(v, "name", &v.name);
            if !vrf_names.insert(v.name.as_str()) {
                c.push(v, "name", "declared twice");
            }
            match v.table {
                0 | 253..=255 => {
                    c.push(v, "table", format!("table {} is reserved (unspec/default/main/local)", v.table))
                }
                t => {
                    if let Some(other) = vrf_tables.insert(t, v.name.as_str()) {
                        c.push(v, "table", format!("table {t} is already used by vrf {other}"));
                    }
                }
            }
            for p in &v.ports {
                c.ifname(v, "ports", p);
                if p == &v.name {
                    c.push(v, "ports", "a VRF cannot be its own port");
                }
                if let Some(other) = port_owner.insert(p.as_str(), v.name.as_str()) {
                    c.push(v, "ports", format!("{p} is already a port of vrf {other}"));
                }
            }
        }

        let mut addrs = BTreeSet::new();
        for a in &self.addresses {
            c.ifname(a, "interface", &a.interface);
            let ip = a.address.addr();
            if ip.is_unspecified() || ip.is_multicast() {
                c.push(a, "address", format!("{ip} cannot be an interface address"));
            }
            if !addrs.insert((a.interface.as_str(), ip)) {
                c.push(a, "address", "declared twice");
            }
        }

        let mut keys = BTreeSet::new();
        for r in &self.routes {
            r.check(&mut c);
            if !keys.insert(r.key()) {
                c.push(&r.key(), "dst", "declared twice (same table, destination and metric; ECMP is not supported)");
            }
        }

        let mut rules = BTreeSet::new();
        for r in &self.rules {
            if !EGRESS_PRIORITY_BAND.contains(&r.priority) && !POLICY_PRIORITY_BAND.contains(&r.priority) {
                c.push(
                    r,
                    "priority",
                    format!(
                        "{} is outside ferrolb's bands {}..={} (policy) and {}..={} (egress)",
                        r.priority,
                        POLICY_PRIORITY_BAND.start(),
                        POLICY_PRIORITY_BAND.end(),
                        EGRESS_PRIORITY_BAND.start(),
                        EGRESS_PRIORITY_BAND.end()
                    ),
                );
            }
            c.table(r, "table", r.table);
            if let (Some(f), Some(t)) = (r.from, r.to)
                && IpFamily::of(f.addr()) != IpFamily::of(t.addr())
            {
                c.push(r, "to", "from and to are of different families");
            }
            if let Some(fam) = r.family
                && let Some(p) = r.from.or(r.to)
                && IpFamily::of(p.addr()) != fam
            {
                c.push(r, "family", "does not match the family of from/to");
            }
            if let Some(i) = &r.iif {
                c.ifname(r, "iif", i);
            }
            if !rules.insert(r.normalized()) {
                c.push(r, "priority", "declared twice");
            }
        }

        let mut snats = BTreeSet::new();
        for s in &self.snat {
            if IpFamily::of(s.from) != IpFamily::of(s.to) {
                c.push(s, "to", "from and to are of different families");
            }
            if s.to.is_unspecified() || s.to.is_multicast() {
                c.push(s, "to", format!("{} cannot be a source address", s.to));
            }
            if let Some(o) = &s.oif {
                c.ifname(s, "oif", o);
            }
            if !snats.insert((s.from, s.oif.as_deref())) {
                c.push(s, "from", "declared twice for the same output interface");
            }
        }

        if c.errors.is_empty() { Ok(()) } else { Err(ValidationErrors(c.errors)) }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn reference() -> DesiredState {
        let json = r#"{
          "vrfs": [{"name": "ens4vrf", "table": 2, "ports": ["ens4"]}],
          "addresses": [{"interface": "ens4", "address": "192.168.130.130/24"}],
          "routes": [{"dst": "0.0.0.0/0", "table": 2, "metric": 150,
                      "nextHop": {"kind": "gateway", "address": "192.168.130.1", "interface": "ens4"}}],
          "rules": [{"priority": 998, "to": "172.30.0.0/16", "table": 254},
                    {"priority": 998, "to": "10.132.0.0/14", "table": 254},
                    {"priority": 998, "to": "169.254.0.0/17", "table": 254},
                    {"priority": 5000, "from": "10.128.2.15/32", "table": 2}],
          "snat": [{"from": "10.128.2.15", "to": "192.169.10.0"}]
        }"#;
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn reference_example_parses_and_validates() {
        let s = reference();
        s.validate().unwrap();
        assert_eq!(s.routes[0].key().to_string(), "route 0.0.0.0/0 table 2 metric 150");
        assert_eq!(s.rules[3].to_string(), "rule priority 5000 from 10.128.2.15/32 lookup 2");
        let back: DesiredState = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn errors_name_object_and_field() {
        let mut s = reference();
        s.routes.push(Route {
            dst: "10.0.0.1/8".parse().unwrap(),
            table: 2,
            next_hop: NextHop::Gateway { address: "2001:db8::1".parse().unwrap(), interface: None },
            metric: 0,
        });
        s.rules.push(Rule {
            priority: 32766,
            from: None,
            to: None,
            iif: Some("bad/name".into()),
            table: 0,
            family: None,
        });
        s.vrfs.push(Vrf { name: "other".into(), table: 2, ports: vec!["ens4".into()] });
        s.snat.push(SnatRule { from: "10.0.0.1".parse().unwrap(), to: "2001:db8::1".parse().unwrap(), oif: None });
        let errs = s.validate().unwrap_err().0;
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        let has = |needle: &str| assert!(text.iter().any(|t| t.contains(needle)), "{needle:?} not in {text:#?}");
        has("route 10.0.0.1/8 table 2 metric 0: dst: has host bits set (did you mean 10.0.0.0/8?)");
        has("route 10.0.0.1/8 table 2 metric 0: nextHop.address: 2001:db8::1 is not of the destination's family");
        has("rule priority 32766 iif bad/name lookup 0: priority: 32766 is outside");
        has("rule priority 32766 iif bad/name lookup 0: table: table 0");
        has("rule priority 32766 iif bad/name lookup 0: iif:");
        has("vrf other: table: table 2 is already used by vrf ens4vrf");
        has("vrf other: ports: ens4 is already a port of vrf ens4vrf");
        has("snat from 10.0.0.1 to 2001:db8::1: to: from and to are of different families");
        assert_eq!(errs.len(), 8, "{text:#?}");
    }

    #[test]
    fn duplicates_are_refused() {
        let mut s = reference();
        s.routes.push(s.routes[0].clone());
        s.rules.push(Rule { to: Some("172.30.1.1/16".parse().unwrap()), ..s.rules[0].clone() });
        let errs = s.validate().unwrap_err().0;
        assert_eq!(errs.len(), 2, "{errs:#?}");
        assert!(errs[0].to_string().contains("declared twice"));
        assert!(errs[1].to_string().contains("declared twice"));
    }

    #[test]
    fn egress_rule_shape() {
        let r = Rule::egress("10.128.2.15".parse().unwrap(), 2);
        assert_eq!(r.to_string(), "rule priority 5000 from 10.128.2.15/32 lookup 2");
        let r6 = Rule::egress("2001:db8::15".parse().unwrap(), 2);
        assert_eq!(r6.from, Some("2001:db8::15/128".parse().unwrap()));
        DesiredState { rules: vec![r, r6], ..Default::default() }.validate().unwrap();
    }

    #[test]
    fn nncp_route_rules_deserialize_directly() {
        let r: Rule =
            serde_json::from_str(r#"{"ip-to": "172.30.0.0/16", "priority": 998, "route-table": 254}"#).unwrap();
        assert_eq!(r.to_string(), "rule priority 998 to 172.30.0.0/16 lookup 254");
        let r: Rule =
            serde_json::from_str(r#"{"ip-from": "10.128.2.15/32", "priority": 5000, "route-table": 2}"#).unwrap();
        assert_eq!(r.from, Some("10.128.2.15/32".parse().unwrap()));
    }

    #[test]
    fn rule_family_defaults_and_normalises() {
        let r = Rule { priority: 5000, from: None, to: None, iif: Some("ens4".into()), table: 2, family: None };
        assert_eq!(r.ip_family(), IpFamily::V4);
        let r6 = Rule { from: Some("2001:db8::5/64".parse().unwrap()), ..r.clone() };
        assert_eq!(r6.normalized().from, Some("2001:db8::/64".parse().unwrap()));
        assert_eq!(r6.normalized().family, Some(IpFamily::V6));
        assert!(valid_ifname("ens4vrf") && !valid_ifname("a-name-that-is-too-long") && !valid_ifname("a b"));
    }
}
