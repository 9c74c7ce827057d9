//! `ferrolb show bfd peers [brief] [--json]`: pure renderings of [`PeerStatus`] shaped like
//! FRR's `show bfd peers`, `show bfd peers brief` and `show bfd peers json` (same field names
//! and strings, so tools written for FRR's JSON read ours), plus what FRR does not show: the
//! negotiated transmit interval, the detection time in use, the source port and the counters.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Duration;

use serde::Serialize;

use ferrolb_bfd::manager::Counters;
use ferrolb_bfd::profile::HopMode;
use ferrolb_bfd::wire::{Diag, State};

use super::driver::PeerStatus;

/// FRR's name of a state (`show bfd peers` "Status").
pub fn state_str(s: State) -> &'static str {
    match s {
        State::AdminDown => "shutdown",
        State::Down => "down",
        State::Init => "init",
        State::Up => "up",
    }
}

/// FRR's text of a diagnostic code.
pub fn diag_str(d: Diag) -> &'static str {
    match d {
        Diag::NoDiagnostic => "ok",
        Diag::ControlDetectionTimeExpired => "control detection time expired",
        Diag::EchoFunctionFailed => "echo function failed",
        Diag::NeighborSignaledSessionDown => "neighbor signaled session down",
        Diag::ForwardingPlaneReset => "forwarding plane reset",
        Diag::PathDown => "path down",
        Diag::ConcatenatedPathDown => "concatenated path down",
        Diag::AdministrativelyDown => "administratively down",
        Diag::ReverseConcatenatedPathDown => "reverse concatenated path down",
        Diag::Reserved(_) => "unknown",
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `1 day(s), 2 hour(s), 3 minute(s), 4 second(s)`, leading zero units left out.
pub fn duration_str(d: Duration) -> String {
    let s = d.as_secs();
    let parts = [(s / 86400, "day"), (s / 3600 % 24, "hour"), (s / 60 % 60, "minute"), (s % 60, "second")];
    let first = parts.iter().position(|(v, _)| *v != 0).unwrap_or(3);
    parts[first..].iter().map(|(v, unit)| format!("{v} {unit}(s)")).collect::<Vec<_>>().join(", ")
}

fn interval_str(d: Duration) -> String {
    if d.is_zero() { "disabled".to_owned() } else { format!("{}ms", ms(d)) }
}

fn vrf_name(p: &PeerStatus) -> &str {
    p.key.vrf.as_deref().unwrap_or("default")
}

/// The text of `show bfd peers` (`brief`: `show bfd peers brief`).
pub fn render_peers(peers: &[PeerStatus], brief: bool) -> String {
    let mut out = String::new();
    if brief {
        let _ = writeln!(out, "Session count: {}", peers.len());
        let _ = writeln!(out, "{:<10} {:<40} {:<40} {:<15}", "SessionId", "LocalAddress", "PeerAddress", "Status");
        let _ = writeln!(out, "{:<10} {:<40} {:<40} {:<15}", "=========", "============", "===========", "======");
        for p in peers {
            let _ = writeln!(
                out,
                "{:<10} {:<40} {:<40} {:<15}",
                p.id,
                p.key.local.to_string(),
                p.key.peer.to_string(),
                state_str(p.state)
            );
        }
        return out;
    }
    out.push_str("BFD Peers:\n");
    for p in peers {
        let _ = write!(out, "\tpeer {}", p.key.peer);
        if p.key.hop == HopMode::MultiHop {
            out.push_str(" multihop");
        }
        let _ = write!(out, " local-address {}", p.key.local);
        let _ = write!(out, " vrf {}", vrf_name(p));
        if let Some(i) = &p.key.interface {
            let _ = write!(out, " interface {i}");
        }
        out.push('\n');
        let _ = writeln!(out, "\t\tID: {}", p.id);
        let _ = writeln!(out, "\t\tRemote ID: {}", p.remote_id);
        let _ = writeln!(out, "\t\t{} mode", if p.passive { "Passive" } else { "Active" });
        if p.key.hop == HopMode::MultiHop {
            let _ = writeln!(out, "\t\tMinimum TTL: {}", p.minimum_ttl);
        }
        let _ = writeln!(out, "\t\tStatus: {}", state_str(p.state));
        let label = if p.state == State::Up { "Uptime" } else { "Downtime" };
        let _ = writeln!(out, "\t\t{label}: {}", duration_str(p.since));
        let _ = writeln!(out, "\t\tDiagnostics: {}", diag_str(p.diag));
        let _ = writeln!(out, "\t\tRemote diagnostics: {}", diag_str(p.remote_diag));
        let _ = writeln!(out, "\t\tPeer Type: configured");
        let _ = writeln!(out, "\t\tSource port: {}", p.source_port);
        out.push_str("\t\tLocal timers:\n");
        let _ = writeln!(out, "\t\t\tDetect-multiplier: {}", p.local.detect_multiplier);
        let _ = writeln!(out, "\t\t\tReceive interval: {}ms", ms(p.local.receive_interval));
        let _ = writeln!(out, "\t\t\tTransmission interval: {}ms", ms(p.local.transmit_interval));
        let _ = writeln!(out, "\t\t\tEcho receive interval: {}", interval_str(p.local.echo_receive_interval));
        let _ = writeln!(out, "\t\t\tEcho transmission interval: {}", interval_str(p.local.echo_transmit_interval));
        out.push_str("\t\tRemote timers:\n");
        let _ = writeln!(out, "\t\t\tDetect-multiplier: {}", p.remote.detect_multiplier);
        let _ = writeln!(out, "\t\t\tReceive interval: {}ms", ms(p.remote.receive_interval));
        let _ = writeln!(out, "\t\t\tTransmission interval: {}ms", ms(p.remote.transmit_interval));
        let _ = writeln!(out, "\t\t\tEcho receive interval: {}", interval_str(p.remote.echo_receive_interval));
        out.push_str("\t\tNegotiated:\n");
        let _ = writeln!(out, "\t\t\tTransmission interval: {}ms", ms(p.transmit_interval));
        match p.detection_time {
            Some(d) => {
                let _ = writeln!(out, "\t\t\tDetection time: {}ms", ms(d));
            }
            None => out.push_str("\t\t\tDetection time: -\n"),
        }
        match p.echo_interval {
            Some(d) => {
                let _ = writeln!(out, "\t\t\tEcho transmission interval: {}ms", ms(d));
            }
            None => out.push_str("\t\t\tEcho: inactive\n"),
        }
        out.push_str("\t\tCounters:\n");
        let c = &p.counters;
        let _ = writeln!(out, "\t\t\tControl packet input: {} packets", c.control_in);
        let _ = writeln!(out, "\t\t\tControl packet output: {} packets", c.control_out);
        let _ = writeln!(out, "\t\t\tEcho packet input: {} packets", c.echo_in);
        let _ = writeln!(out, "\t\t\tEcho packet output: {} packets", c.echo_out);
        let _ = writeln!(out, "\t\t\tSession up events: {}", c.up_events);
        let _ = writeln!(out, "\t\t\tSession down events: {}", c.down_events);
        out.push('\n');
    }
    out
}

/// One peer of `show bfd peers --json`: FRR's `show bfd peers json` object (same keys,
/// intervals in ms, up/downtime in seconds) with ferrolb's additions after FRR's keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct PeerJson {
    /// Multi-hop session.
    pub multihop: bool,
    /// Peer address.
    pub peer: IpAddr,
    /// Local address.
    pub local: IpAddr,
    /// VRF (`default`).
    pub vrf: String,
    /// Interface, when bound.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// Local discriminator.
    pub id: u32,
    /// Remote discriminator.
    pub remote_id: u32,
    /// Passive mode.
    pub passive_mode: bool,
    /// Minimum TTL (multi-hop).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum_ttl: Option<u8>,
    /// `up`, `down`, `init`, `shutdown`.
    pub status: &'static str,
    /// Seconds Up (when Up).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uptime: Option<u64>,
    /// Seconds not Up (otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub downtime: Option<u64>,
    /// Our diagnostic.
    pub diagnostic: &'static str,
    /// The peer's diagnostic.
    pub remote_diagnostic: &'static str,
    /// Configured receive interval (ms).
    pub receive_interval: u64,
    /// Configured transmit interval (ms).
    pub transmit_interval: u64,
    /// Echo receive interval we advertise (ms, 0: disabled).
    pub echo_receive_interval: u64,
    /// Our echo transmit interval (ms, 0: disabled).
    pub echo_transmit_interval: u64,
    /// Our detect multiplier.
    pub detect_multiplier: u8,
    /// The peer's receive interval (ms).
    pub remote_receive_interval: u64,
    /// The peer's transmit interval (ms).
    pub remote_transmit_interval: u64,
    /// The peer's echo receive interval (ms).
    pub remote_echo_receive_interval: u64,
    /// The peer's detect multiplier.
    pub remote_detect_multiplier: u8,
    /// ferrolb: transmit interval in use, before jitter (ms).
    pub negotiated_transmit_interval: u64,
    /// ferrolb: detection time in use (ms; absent until the peer is heard).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detection_time: Option<u64>,
    /// ferrolb: UDP source port.
    pub source_port: u16,
    /// ferrolb: counters.
    pub counters: Counters,
}

/// The JSON object of one peer.
pub fn peer_json(p: &PeerStatus) -> PeerJson {
    let up = p.state == State::Up;
    PeerJson {
        multihop: p.key.hop == HopMode::MultiHop,
        peer: p.key.peer,
        local: p.key.local,
        vrf: vrf_name(p).to_owned(),
        interface: p.key.interface.clone(),
        id: p.id,
        remote_id: p.remote_id,
        passive_mode: p.passive,
        minimum_ttl: (p.key.hop == HopMode::MultiHop).then_some(p.minimum_ttl),
        status: state_str(p.state),
        uptime: up.then_some(p.since.as_secs()),
        downtime: (!up).then_some(p.since.as_secs()),
        diagnostic: diag_str(p.diag),
        remote_diagnostic: diag_str(p.remote_diag),
        receive_interval: ms(p.local.receive_interval),
        transmit_interval: ms(p.local.transmit_interval),
        echo_receive_interval: ms(p.local.echo_receive_interval),
        echo_transmit_interval: ms(p.local.echo_transmit_interval),
        detect_multiplier: p.local.detect_multiplier,
        remote_receive_interval: ms(p.remote.receive_interval),
        remote_transmit_interval: ms(p.remote.transmit_interval),
        remote_echo_receive_interval: ms(p.remote.echo_receive_interval),
        remote_detect_multiplier: p.remote.detect_multiplier,
        negotiated_transmit_interval: ms(p.transmit_interval),
        detection_time: p.detection_time.map(ms),
        source_port: p.source_port,
        counters: p.counters,
    }
}

/// `show bfd peers --json` (`brief` keeps FRR's brief columns only: id, addresses, status).
pub fn render_peers_json(peers: &[PeerStatus], brief: bool) -> serde_json::Value {
    if brief {
        return serde_json::Value::Array(
            peers
                .iter()
                .map(|p| {
                    serde_json::json!({
                        "id": p.id,
                        "local": p.key.local,
                        "peer": p.key.peer,
                        "status": state_str(p.state),
                    })
                })
                .collect(),
        );
    }
    serde_json::to_value(peers.iter().map(peer_json).collect::<Vec<_>>()).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bfd::driver::{LocalTimers, RemoteTimers};
    use ferrolb_bfd::manager::PeerKey;

    fn status(state: State, hop: HopMode) -> PeerStatus {
        PeerStatus {
            id: 1683424524,
            remote_id: 42,
            key: PeerKey {
                peer: "10.9.0.2".parse().expect("ip"),
                local: "10.9.0.1".parse().expect("ip"),
                interface: None,
                vrf: None,
                hop,
            },
            passive: false,
            state,
            since: Duration::from_secs(3725),
            diag: Diag::NoDiagnostic,
            remote_state: State::Up,
            remote_diag: Diag::NoDiagnostic,
            local: LocalTimers {
                detect_multiplier: 3,
                receive_interval: Duration::from_millis(200),
                transmit_interval: Duration::from_millis(100),
                echo_receive_interval: Duration::ZERO,
                echo_transmit_interval: Duration::ZERO,
            },
            remote: RemoteTimers {
                detect_multiplier: 5,
                receive_interval: Duration::from_millis(300),
                transmit_interval: Duration::from_millis(250),
                echo_receive_interval: Duration::from_millis(50),
            },
            transmit_interval: Duration::from_millis(300),
            detection_time: Some(Duration::from_millis(1250)),
            echo_interval: None,
            minimum_ttl: 254,
            source_port: 49152,
            counters: Counters { control_in: 7, control_out: 9, up_events: 1, session_up: 1, ..Default::default() },
        }
    }

    #[test]
    fn durations_like_frr() {
        assert_eq!(duration_str(Duration::ZERO), "0 second(s)");
        assert_eq!(duration_str(Duration::from_secs(59)), "59 second(s)");
        assert_eq!(duration_str(Duration::from_secs(3725)), "1 hour(s), 2 minute(s), 5 second(s)");
        assert_eq!(duration_str(Duration::from_secs(86400 + 5)), "1 day(s), 0 hour(s), 0 minute(s), 5 second(s)");
    }

    #[test]
    fn text_matches_frr_layout() {
        let up = status(State::Up, HopMode::SingleHop);
        let text = render_peers(std::slice::from_ref(&up), false);
        let expected_head = "BFD Peers:\n\tpeer 10.9.0.2 local-address 10.9.0.1 vrf default\n\t\tID: 1683424524\n\
                             \t\tRemote ID: 42\n\t\tActive mode\n\t\tStatus: up\n\
                             \t\tUptime: 1 hour(s), 2 minute(s), 5 second(s)\n\t\tDiagnostics: ok\n\
                             \t\tRemote diagnostics: ok\n";
        assert!(text.starts_with(expected_head), "{text}");
        for line in [
            "\t\tLocal timers:\n\t\t\tDetect-multiplier: 3\n\t\t\tReceive interval: 200ms\n\t\t\tTransmission interval: 100ms\n\t\t\tEcho receive interval: disabled\n",
            "\t\tRemote timers:\n\t\t\tDetect-multiplier: 5\n\t\t\tReceive interval: 300ms\n\t\t\tTransmission interval: 250ms\n\t\t\tEcho receive interval: 50ms\n",
            "\t\t\tTransmission interval: 300ms\n\t\t\tDetection time: 1250ms\n",
            "\t\t\tControl packet input: 7 packets\n\t\t\tControl packet output: 9 packets\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        let mut down = status(State::Down, HopMode::MultiHop);
        down.diag = Diag::ControlDetectionTimeExpired;
        let text = render_peers(&[down], false);
        assert!(text.contains("\tpeer 10.9.0.2 multihop local-address 10.9.0.1 vrf default\n"), "{text}");
        assert!(
            text.contains("\t\tDowntime: 1 hour(s)") && text.contains("Diagnostics: control detection time expired")
        );
        assert!(text.contains("\t\tMinimum TTL: 254\n"));
    }

    #[test]
    fn brief_columns_like_frr() {
        let text = render_peers(&[status(State::Up, HopMode::SingleHop)], true);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Session count: 1");
        assert_eq!(&lines[1][..24], "SessionId  LocalAddress ");
        assert_eq!(lines[1].find("PeerAddress"), Some(52));
        assert_eq!(lines[3].find("10.9.0.1"), Some(11));
        assert_eq!(lines[3].find("10.9.0.2"), Some(52));
        assert_eq!(lines[3].find("up"), Some(93));
        assert_eq!(lines[3].len(), 108, "FRR pads the status column to 15");
    }

    #[test]
    fn json_uses_frr_keys() {
        let v = render_peers_json(&[status(State::Up, HopMode::SingleHop)], false);
        let p = &v[0];
        assert_eq!(p["peer"], "10.9.0.2");
        assert_eq!(p["local"], "10.9.0.1");
        assert_eq!(p["vrf"], "default");
        assert_eq!(p["id"], 1683424524u32);
        assert_eq!(p["remote-id"], 42);
        assert_eq!(p["status"], "up");
        assert_eq!(p["uptime"], 3725);
        assert!(p.get("downtime").is_none() && p.get("interface").is_none());
        assert_eq!(p["diagnostic"], "ok");
        assert_eq!(p["receive-interval"], 200);
        assert_eq!(p["transmit-interval"], 100);
        assert_eq!(p["detect-multiplier"], 3);
        assert_eq!(p["remote-receive-interval"], 300);
        assert_eq!(p["remote-transmit-interval"], 250);
        assert_eq!(p["remote-echo-receive-interval"], 50);
        assert_eq!(p["remote-detect-multiplier"], 5);
        assert_eq!(p["negotiated-transmit-interval"], 300);
        assert_eq!(p["detection-time"], 1250);
        assert_eq!(p["counters"]["control_in"], 7);
        let b = render_peers_json(&[status(State::Init, HopMode::SingleHop)], true);
        assert_eq!(
            b,
            serde_json::json!([{"id": 1683424524u32, "local": "10.9.0.1", "peer": "10.9.0.2", "status": "init"}])
        );
        for (d, s) in
            [(Diag::EchoFunctionFailed, "echo function failed"), (Diag::AdministrativelyDown, "administratively down")]
        {
            assert_eq!(diag_str(d), s);
        }
        assert_eq!(state_str(State::AdminDown), "shutdown");
    }
}
