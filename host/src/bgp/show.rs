//! `ferrolb show bgp summary | neighbors [ADDR] | routes [advertised|received]`: the status
//! structs of the speaker (serde for `--json`) and pure text renderers shaped like vtysh's.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// Messages of each type, one direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageCounts {
    /// OPEN.
    pub opens: u64,
    /// UPDATE (End-of-RIB markers included).
    pub updates: u64,
    /// KEEPALIVE.
    pub keepalives: u64,
    /// NOTIFICATION.
    pub notifications: u64,
    /// ROUTE-REFRESH.
    pub route_refreshes: u64,
}

impl MessageCounts {
    /// Counts one message of BGP type `kind`.
    pub fn add(&mut self, kind: u8) {
        match kind {
            1 => self.opens += 1,
            2 => self.updates += 1,
            3 => self.notifications += 1,
            4 => self.keepalives += 1,
            5 => self.route_refreshes += 1,
            _ => {}
        }
    }

    /// All messages.
    pub fn total(&self) -> u64 {
        self.opens + self.updates + self.keepalives + self.notifications + self.route_refreshes
    }
}

/// One neighbor, as `show bgp neighbors` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NeighborStatus {
    /// The neighbor's address (or interface).
    pub neighbor: String,
    /// Its VRF ("" = default).
    pub vrf: String,
    /// Its address.
    pub address: Option<IpAddr>,
    /// Our AS.
    pub local_asn: u32,
    /// Its AS: negotiated, or configured (0 for a dynamic AS not yet known).
    pub remote_asn: u32,
    /// Our router id.
    pub router_id: Option<Ipv4Addr>,
    /// Its router id, once known.
    pub remote_router_id: Option<Ipv4Addr>,
    /// FSM state (`Idle`, `Connect`, `Active`, `OpenSent`, `OpenConfirm`, `Established`).
    pub state: String,
    /// Seconds since the session came up (Established) or went down.
    pub up_down_secs: u64,
    /// Times it reached Established.
    pub established_count: u64,
    /// Times it dropped from Established.
    pub dropped_count: u64,
    /// Negotiated hold time / keepalive, seconds.
    pub hold_time: Option<u16>,
    /// Negotiated keepalive interval, seconds.
    pub keepalive_time: Option<u16>,
    /// Negotiated families.
    pub families: Vec<String>,
    /// Whether the session is eBGP (known once negotiated).
    pub ebgp: Option<bool>,
    /// Local and remote TCP endpoints of the session.
    pub local: Option<SocketAddr>,
    /// The remote TCP endpoint.
    pub remote: Option<SocketAddr>,
    /// Messages sent.
    pub sent: MessageCounts,
    /// Messages received.
    pub received: MessageCounts,
    /// Accepted prefixes in the Adj-RIB-In.
    pub prefixes_received: u64,
    /// Of those, stale (graceful restart).
    pub prefixes_stale: u64,
    /// Announced prefixes refused by the receive filter (cumulative).
    pub prefixes_filtered: u64,
    /// Prefixes the neighbor has from us.
    pub prefixes_sent: u64,
    /// Prefixes we want it to have.
    pub prefixes_desired: u64,
    /// Why it last went down.
    pub last_error: Option<String>,
    /// Held down by BFD.
    pub bfd_down: bool,
}

/// `show bgp summary`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BgpSummary {
    /// Our router id (the first neighbor's).
    pub router_id: Option<Ipv4Addr>,
    /// Our AS (the first neighbor's).
    pub local_asn: Option<u32>,
    /// Prefixes with a best path in the Loc-RIB, all tables.
    pub rib_routes: u64,
    /// Routes the speaker has in the kernel.
    pub kernel_routes: u64,
    /// Kernel route operations that failed.
    pub kernel_errors: u64,
    /// One per neighbor.
    pub neighbors: Vec<NeighborStatus>,
}

/// Which side of a neighbor's routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteDirection {
    /// What we announce (Adj-RIB-Out, as sent).
    Advertised,
    /// What we accepted (Adj-RIB-In, post-policy).
    Received,
}

/// One route of `show bgp routes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteEntry {
    /// The neighbor.
    pub neighbor: String,
    /// The prefix.
    pub prefix: IpNet,
    /// The next hop (advertised: ours on the current session, if any).
    pub next_hop: Option<IpAddr>,
    /// AS_PATH, flattened.
    pub as_path: Vec<u32>,
    /// LOCAL_PREF.
    pub local_pref: Option<u32>,
    /// MED.
    pub med: Option<u32>,
    /// Standard communities, `AS:VAL`.
    pub communities: Vec<String>,
    /// Large communities, `GA:L1:L2`.
    pub large_communities: Vec<String>,
    /// Kept stale for a restarting peer.
    pub stale: bool,
    /// Advertised: actually sent (false: desired, waiting for the session).
    pub sent: bool,
}

/// `hh:mm:ss` under a day, `XdYYhZZm` under a week, `XwYdZZh` beyond (as FRR prints Up/Down).
pub fn up_down(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d == 0 {
        format!("{h:02}:{m:02}:{s:02}")
    } else if d < 7 {
        format!("{d}d{h:02}h{m:02}m")
    } else {
        format!("{}w{}d{h:02}h", d / 7, d % 7)
    }
}

/// `show bgp summary` as text: vtysh's columns (Neighbor, V, AS, MsgRcvd, MsgSent, Up/Down,
/// State/PfxRcd, PfxSnt).
pub fn summary_text(s: &BgpSummary) -> String {
    let mut out = String::new();
    let id = s.router_id.map(|r| r.to_string()).unwrap_or_else(|| "-".into());
    let asn = s.local_asn.map(|a| a.to_string()).unwrap_or_else(|| "-".into());
    let _ = writeln!(out, "BGP router identifier {id}, local AS number {asn}");
    let _ = writeln!(
        out,
        "RIB entries {}, kernel routes {}{}",
        s.rib_routes,
        s.kernel_routes,
        if s.kernel_errors > 0 { format!(" ({} kernel errors)", s.kernel_errors) } else { String::new() }
    );
    let _ = writeln!(out, "Peers {}", s.neighbors.len());
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<25} {:>1} {:>10} {:>9} {:>9} {:>8} {:>12} {:>8}",
        "Neighbor", "V", "AS", "MsgRcvd", "MsgSent", "Up/Down", "State/PfxRcd", "PfxSnt"
    );
    for n in &s.neighbors {
        let state = if n.state == "Established" {
            n.prefixes_received.to_string()
        } else if n.bfd_down {
            "Idle (BFD)".into()
        } else {
            n.state.clone()
        };
        let updown = if n.established_count == 0 && n.state != "Established" {
            "never".to_string()
        } else {
            up_down(n.up_down_secs)
        };
        let _ = writeln!(
            out,
            "{:<25} {:>1} {:>10} {:>9} {:>9} {:>8} {:>12} {:>8}",
            n.neighbor,
            4,
            n.remote_asn,
            n.received.total(),
            n.sent.total(),
            updown,
            state,
            n.prefixes_sent
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "Total number of neighbors {}", s.neighbors.len());
    out
}

fn counts_line(out: &mut String, name: &str, sent: u64, rcvd: u64) {
    let _ = writeln!(out, "    {name:<16}{sent:>10} {rcvd:>10}");
}

/// `show bgp neighbors [ADDR]` as text, vtysh-like.
pub fn neighbors_text(neighbors: &[NeighborStatus]) -> String {
    let mut out = String::new();
    for n in neighbors {
        let kind = match n.ebgp {
            Some(true) => "external link",
            Some(false) => "internal link",
            None => "link",
        };
        let _ = writeln!(
            out,
            "BGP neighbor is {}, remote AS {}, local AS {}, {kind}",
            n.neighbor, n.remote_asn, n.local_asn
        );
        if !n.vrf.is_empty() {
            let _ = writeln!(out, "  VRF {}", n.vrf);
        }
        let rid = n.remote_router_id.map(|r| r.to_string()).unwrap_or_else(|| "0.0.0.0".into());
        let lid = n.router_id.map(|r| r.to_string()).unwrap_or_else(|| "0.0.0.0".into());
        let _ = writeln!(out, "  BGP version 4, remote router ID {rid}, local router ID {lid}");
        let since = if n.state == "Established" { "up for" } else { "down for" };
        let _ = writeln!(out, "  BGP state = {}, {since} {}", n.state, up_down(n.up_down_secs));
        if let (Some(h), Some(k)) = (n.hold_time, n.keepalive_time) {
            let _ = writeln!(out, "  Hold time is {h} seconds, keepalive interval is {k} seconds");
        }
        if !n.families.is_empty() {
            let _ = writeln!(out, "  Address families: {}", n.families.join(", "));
        }
        let _ = writeln!(out, "  Message statistics:");
        let _ = writeln!(out, "    {:<16}{:>10} {:>10}", "", "Sent", "Rcvd");
        counts_line(&mut out, "Opens:", n.sent.opens, n.received.opens);
        counts_line(&mut out, "Notifications:", n.sent.notifications, n.received.notifications);
        counts_line(&mut out, "Updates:", n.sent.updates, n.received.updates);
        counts_line(&mut out, "Keepalives:", n.sent.keepalives, n.received.keepalives);
        counts_line(&mut out, "Route Refresh:", n.sent.route_refreshes, n.received.route_refreshes);
        counts_line(&mut out, "Total:", n.sent.total(), n.received.total());
        let _ = writeln!(
            out,
            "  Prefixes: {} accepted ({} stale, {} filtered), {} advertised of {} desired",
            n.prefixes_received, n.prefixes_stale, n.prefixes_filtered, n.prefixes_sent, n.prefixes_desired
        );
        let _ = writeln!(out, "  Connections established {}; dropped {}", n.established_count, n.dropped_count);
        if let Some(e) = &n.last_error {
            let _ = writeln!(out, "  Last reset: {e}");
        }
        if n.bfd_down {
            let _ = writeln!(out, "  Held down: BFD reports the path down");
        }
        if let (Some(l), Some(r)) = (n.local, n.remote) {
            let _ = writeln!(out, "  Local host: {}, Local port: {}", l.ip(), l.port());
            let _ = writeln!(out, "  Foreign host: {}, Foreign port: {}", r.ip(), r.port());
        }
        let _ = writeln!(out);
    }
    out
}

/// `show bgp routes [advertised|received]` as text, like `show bgp ipv4 unicast`.
pub fn routes_text(direction: RouteDirection, routes: &[RouteEntry]) -> String {
    let mut out = String::new();
    let what = match direction {
        RouteDirection::Advertised => "advertised",
        RouteDirection::Received => "received (accepted)",
    };
    let _ = writeln!(out, "Routes {what}; status codes: * valid, > sent, S stale");
    let _ = writeln!(
        out,
        "   {:<20} {:<25} {:<20} {:>7} {:>7}  {:<20} Communities",
        "Neighbor", "Network", "Next Hop", "Metric", "LocPrf", "Path"
    );
    for r in routes {
        let code = match (direction, r.stale, r.sent) {
            (RouteDirection::Received, true, _) => "S ",
            (RouteDirection::Received, false, _) => "*>",
            (RouteDirection::Advertised, _, true) => "*>",
            (RouteDirection::Advertised, _, false) => "* ",
        };
        let nh = r.next_hop.map(|a| a.to_string()).unwrap_or_else(|| "-".into());
        let med = r.med.map(|m| m.to_string()).unwrap_or_default();
        let lp = r.local_pref.map(|m| m.to_string()).unwrap_or_default();
        let path: Vec<String> = r.as_path.iter().map(u32::to_string).collect();
        let mut comms = r.communities.clone();
        comms.extend(r.large_communities.iter().cloned());
        let _ = writeln!(
            out,
            "{code} {:<20} {:<25} {:<20} {med:>7} {lp:>7}  {:<20} {}",
            r.neighbor,
            r.prefix.to_string(),
            nh,
            format!("{} i", path.join(" ")).trim_start(),
            comms.join(" ")
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "Displayed {} routes", routes.len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn neighbor(state: &str, rcvd: u64) -> NeighborStatus {
        NeighborStatus {
            neighbor: "192.0.2.2".into(),
            vrf: String::new(),
            address: Some("192.0.2.2".parse().expect("ip")),
            local_asn: 65001,
            remote_asn: 4_200_000_002,
            router_id: Some(Ipv4Addr::new(10, 0, 0, 1)),
            remote_router_id: Some(Ipv4Addr::new(10, 0, 0, 2)),
            state: state.into(),
            up_down_secs: 3723,
            established_count: 1,
            dropped_count: 0,
            hold_time: Some(90),
            keepalive_time: Some(30),
            families: vec!["ipv4-unicast".into()],
            ebgp: Some(true),
            local: None,
            remote: None,
            sent: MessageCounts { opens: 1, updates: 3, keepalives: 5, ..MessageCounts::default() },
            received: MessageCounts { opens: 1, updates: 2, keepalives: 4, ..MessageCounts::default() },
            prefixes_received: rcvd,
            prefixes_stale: 0,
            prefixes_filtered: 0,
            prefixes_sent: 2,
            prefixes_desired: 2,
            last_error: None,
            bfd_down: false,
        }
    }

    #[test]
    fn up_down_formats_like_frr() {
        assert_eq!(up_down(0), "00:00:00");
        assert_eq!(up_down(3723), "01:02:03");
        assert_eq!(up_down(86400 + 3600 * 2 + 60 * 3), "1d02h03m");
        assert_eq!(up_down(86400 * 9 + 3600 * 5), "1w2d05h");
    }

    #[test]
    fn summary_has_vtysh_columns_and_prefix_count_when_established() {
        let s = BgpSummary {
            router_id: Some(Ipv4Addr::new(10, 0, 0, 1)),
            local_asn: Some(65001),
            rib_routes: 7,
            kernel_routes: 7,
            kernel_errors: 0,
            neighbors: vec![neighbor("Established", 7)],
        };
        let t = summary_text(&s);
        let header = t.lines().find(|l| l.starts_with("Neighbor")).expect("header");
        for col in ["V", "AS", "MsgRcvd", "MsgSent", "Up/Down", "State/PfxRcd", "PfxSnt"] {
            assert!(header.split_whitespace().any(|w| w == col), "{col} in {header}");
        }
        let line = t.lines().find(|l| l.starts_with("192.0.2.2")).expect("peer line");
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words, ["192.0.2.2", "4", "4200000002", "7", "9", "01:02:03", "7", "2"]);
        let mut s2 = s.clone();
        s2.neighbors[0] = NeighborStatus { established_count: 0, ..neighbor("Active", 0) };
        let t2 = summary_text(&s2);
        assert!(t2.lines().any(|l| l.contains("never") && l.contains("Active")), "{t2}");
        let json = serde_json::to_value(&s).expect("json");
        assert_eq!(json["neighbors"][0]["prefixesReceived"], 7);
        assert_eq!(json["neighbors"][0]["sent"]["updates"], 3);
    }

    #[test]
    fn neighbors_and_routes_text() {
        let t = neighbors_text(&[neighbor("Established", 1)]);
        assert!(t.contains("BGP neighbor is 192.0.2.2, remote AS 4200000002, local AS 65001, external link"));
        assert!(t.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["Updates:", "3", "2"]), "{t}");
        let r = RouteEntry {
            neighbor: "192.0.2.2".into(),
            prefix: "198.51.100.0/24".parse().expect("net"),
            next_hop: Some("192.0.2.1".parse().expect("ip")),
            as_path: vec![65001],
            local_pref: None,
            med: None,
            communities: vec!["65001:100".into()],
            large_communities: vec!["65001:1:2".into()],
            stale: false,
            sent: true,
        };
        let t = routes_text(RouteDirection::Advertised, &[r]);
        let line = t.lines().find(|l| l.starts_with("*>")).expect("route line");
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words, ["*>", "192.0.2.2", "198.51.100.0/24", "192.0.2.1", "65001", "i", "65001:100", "65001:1:2"]);
    }
}
