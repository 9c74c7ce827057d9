//! The exposition text: exact names, labels and types of the frr-k8s / MetalLB families, peers
//! that disappear, histogram buckets, plugin and configuration families, and (when installed)
//! `promtool check metrics`.

#![allow(clippy::unwrap_used, missing_docs)]

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferrolb_metrics::{BfdPeerSample, BgpPeerSample, MessageCounts, Metrics, PoolSample, peer_label};

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// The frr-k8s collector test's neighbor (messageStats 1/2/3/4/5 each way, 3 prefixes sent).
fn bgp_peer() -> BgpPeerSample {
    let counts = MessageCounts { opens: 1, notifications: 2, updates: 3, keepalives: 4, route_refreshes: 5 };
    BgpPeerSample {
        peer: peer_label("172.18.0.4".parse().unwrap(), 179),
        vrf: String::new(),
        established: true,
        announced_prefixes: 3,
        received_prefixes: 13,
        sent: counts,
        received: counts,
    }
}

fn bfd_peer() -> BfdPeerSample {
    BfdPeerSample {
        peer: "172.31.0.3".into(),
        vrf: "red".into(),
        up: true,
        control_in: 21,
        control_out: 22,
        echo_in: 0,
        echo_out: 0,
        up_events: 1,
        down_events: 0,
        zebra_notifications: 0,
    }
}

fn pool() -> PoolSample {
    PoolSample {
        pool: "production".into(),
        ipv4_total: 256,
        ipv6_total: 0,
        ipv4_in_use: 3,
        ipv6_in_use: 0,
        services_allocated: 2,
    }
}

const GOLDEN: &str = r#"# HELP frrk8s_bgp_session_up BGP session state (1 is up, 0 is down)
# TYPE frrk8s_bgp_session_up gauge
frrk8s_bgp_session_up{peer="172.18.0.4:179",vrf="default"} 1
# HELP frrk8s_bgp_announced_prefixes_total Number of prefixes currently being advertised on the BGP session
# TYPE frrk8s_bgp_announced_prefixes_total gauge
frrk8s_bgp_announced_prefixes_total{peer="172.18.0.4:179",vrf="default"} 3
# HELP frrk8s_bgp_received_prefixes_total Number of prefixes currently being received on the BGP session
# TYPE frrk8s_bgp_received_prefixes_total gauge
frrk8s_bgp_received_prefixes_total{peer="172.18.0.4:179",vrf="default"} 13
# HELP frrk8s_bgp_opens_sent Number of BGP open messages sent
# TYPE frrk8s_bgp_opens_sent counter
frrk8s_bgp_opens_sent{peer="172.18.0.4:179",vrf="default"} 1
# HELP frrk8s_bgp_opens_received Number of BGP open messages received
# TYPE frrk8s_bgp_opens_received counter
frrk8s_bgp_opens_received{peer="172.18.0.4:179",vrf="default"} 1
# HELP frrk8s_bgp_notifications_sent Number of BGP notification messages sent
# TYPE frrk8s_bgp_notifications_sent counter
frrk8s_bgp_notifications_sent{peer="172.18.0.4:179",vrf="default"} 2
# HELP frrk8s_bgp_updates_total Number of BGP UPDATE messages sent
# TYPE frrk8s_bgp_updates_total counter
frrk8s_bgp_updates_total{peer="172.18.0.4:179",vrf="default"} 3
# HELP frrk8s_bgp_updates_total_received Number of BGP UPDATE messages received
# TYPE frrk8s_bgp_updates_total_received counter
frrk8s_bgp_updates_total_received{peer="172.18.0.4:179",vrf="default"} 3
# HELP frrk8s_bgp_keepalives_sent Number of BGP keepalive messages sent
# TYPE frrk8s_bgp_keepalives_sent counter
frrk8s_bgp_keepalives_sent{peer="172.18.0.4:179",vrf="default"} 4
# HELP frrk8s_bgp_keepalives_received Number of BGP keepalive messages received
# TYPE frrk8s_bgp_keepalives_received counter
frrk8s_bgp_keepalives_received{peer="172.18.0.4:179",vrf="default"} 4
# HELP frrk8s_bgp_route_refresh_sent Number of BGP route refresh messages sent
# TYPE frrk8s_bgp_route_refresh_sent counter
frrk8s_bgp_route_refresh_sent{peer="172.18.0.4:179",vrf="default"} 5
# HELP frrk8s_bgp_total_sent Number of total BGP messages sent
# TYPE frrk8s_bgp_total_sent counter
frrk8s_bgp_total_sent{peer="172.18.0.4:179",vrf="default"} 15
# HELP frrk8s_bgp_total_received Number of total BGP messages received
# TYPE frrk8s_bgp_total_received counter
frrk8s_bgp_total_received{peer="172.18.0.4:179",vrf="default"} 15
# HELP frrk8s_bfd_session_up BFD session state (1 is up, 0 is down)
# TYPE frrk8s_bfd_session_up gauge
frrk8s_bfd_session_up{peer="172.31.0.3",vrf="red"} 1
# HELP frrk8s_bfd_control_packet_input Number of received BFD control packets
# TYPE frrk8s_bfd_control_packet_input counter
frrk8s_bfd_control_packet_input{peer="172.31.0.3",vrf="red"} 21
# HELP frrk8s_bfd_control_packet_output Number of sent BFD control packets
# TYPE frrk8s_bfd_control_packet_output counter
frrk8s_bfd_control_packet_output{peer="172.31.0.3",vrf="red"} 22
# HELP frrk8s_bfd_echo_packet_input Number of received BFD echo packets
# TYPE frrk8s_bfd_echo_packet_input counter
frrk8s_bfd_echo_packet_input{peer="172.31.0.3",vrf="red"} 0
# HELP frrk8s_bfd_echo_packet_output Number of sent BFD echo packets
# TYPE frrk8s_bfd_echo_packet_output counter
frrk8s_bfd_echo_packet_output{peer="172.31.0.3",vrf="red"} 0
# HELP frrk8s_bfd_session_up_events Number of BFD session up events
# TYPE frrk8s_bfd_session_up_events counter
frrk8s_bfd_session_up_events{peer="172.31.0.3",vrf="red"} 1
# HELP frrk8s_bfd_session_down_events Number of BFD session down events
# TYPE frrk8s_bfd_session_down_events counter
frrk8s_bfd_session_down_events{peer="172.31.0.3",vrf="red"} 0
# HELP frrk8s_bfd_zebra_notifications Number of BFD zebra notifications (always 0: ferrolb has no zebra)
# TYPE frrk8s_bfd_zebra_notifications counter
frrk8s_bfd_zebra_notifications{peer="172.31.0.3",vrf="red"} 0
# HELP metallb_allocator_addresses_total Number of usable IP addresses, per pool
# TYPE metallb_allocator_addresses_total gauge
metallb_allocator_addresses_total{pool="production"} 256
# HELP metallb_allocator_addresses_in_use_total Number of IP addresses in use, per pool
# TYPE metallb_allocator_addresses_in_use_total gauge
metallb_allocator_addresses_in_use_total{pool="production"} 3
# HELP metallb_allocator_ipv4_addresses_total Number of usable IPV4 addresses, per pool
# TYPE metallb_allocator_ipv4_addresses_total gauge
metallb_allocator_ipv4_addresses_total{pool="production"} 256
# HELP metallb_allocator_ipv6_addresses_total Number of usable IPV6 addresses, per pool
# TYPE metallb_allocator_ipv6_addresses_total gauge
metallb_allocator_ipv6_addresses_total{pool="production"} 0
# HELP metallb_allocator_ipv4_addresses_in_use_total Number of IPV4 addresses in use, per pool
# TYPE metallb_allocator_ipv4_addresses_in_use_total gauge
metallb_allocator_ipv4_addresses_in_use_total{pool="production"} 3
# HELP metallb_allocator_ipv6_addresses_in_use_total Number of IPV6 addresses in use, per pool
# TYPE metallb_allocator_ipv6_addresses_in_use_total gauge
metallb_allocator_ipv6_addresses_in_use_total{pool="production"} 0
# HELP metallb_allocator_services_allocated_total Number of services allocated, per pool
# TYPE metallb_allocator_services_allocated_total gauge
metallb_allocator_services_allocated_total{pool="production"} 2
# HELP ferrolb_config_stale 1 when the latest manifests were refused and an older configuration (or none) is in force
# TYPE ferrolb_config_stale gauge
ferrolb_config_stale 0
# HELP ferrolb_config_stale_seconds Seconds since the configuration in force became stale (0 when current)
# TYPE ferrolb_config_stale_seconds gauge
ferrolb_config_stale_seconds 0
# HELP ferrolb_config_last_success_timestamp_seconds Unix time the manifests last loaded cleanly (0: never)
# TYPE ferrolb_config_last_success_timestamp_seconds gauge
ferrolb_config_last_success_timestamp_seconds 1.7e+09
# HELP ferrolb_config_loads_total Manifest sets loaded, by result
# TYPE ferrolb_config_loads_total counter
ferrolb_config_loads_total{result="success"} 1
ferrolb_config_loads_total{result="failure"} 0
# HELP ferrolb_metrics_refresh_timeouts_total Scrapes answered with the previous snapshots because refreshing them took too long
# TYPE ferrolb_metrics_refresh_timeouts_total counter
ferrolb_metrics_refresh_timeouts_total 0
"#;

#[test]
fn golden_text_uses_the_frr_k8s_and_metallb_names_and_labels() {
    let m = Metrics::new();
    m.set_bgp(vec![bgp_peer()]);
    m.set_bfd(vec![bfd_peer()]);
    m.set_pools(vec![pool()]);
    m.config_loaded_at(at(1_700_000_000));
    let text = m.encode_at(at(1_700_000_060));
    if text != GOLDEN {
        for (i, (got, want)) in text.lines().zip(GOLDEN.lines()).enumerate() {
            assert_eq!(got, want, "first difference at line {}", i + 1);
        }
        assert_eq!(text, GOLDEN);
    }
}

/// Every sample line of `family` (the family's own lines, not others sharing its prefix).
fn samples<'a>(text: &'a str, family: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.strip_prefix(family).is_some_and(|rest| rest.starts_with(['{', ' '])))
        .collect()
}

#[test]
fn peers_and_pools_that_disappear_disappear() {
    let m = Metrics::new();
    let mut other = bgp_peer();
    other.peer = peer_label("172.18.0.5".parse().unwrap(), 179);
    other.established = false;
    m.set_bgp(vec![bgp_peer(), other.clone()]);
    let mut bfd_other = bfd_peer();
    bfd_other.peer = "172.31.0.4".into();
    m.set_bfd(vec![bfd_peer(), bfd_other]);
    let mut pool_other = pool();
    pool_other.pool = "staging".into();
    m.set_pools(vec![pool(), pool_other]);
    let text = m.encode();
    assert_eq!(
        samples(&text, "frrk8s_bgp_session_up"),
        [
            r#"frrk8s_bgp_session_up{peer="172.18.0.4:179",vrf="default"} 1"#,
            r#"frrk8s_bgp_session_up{peer="172.18.0.5:179",vrf="default"} 0"#,
        ]
    );
    assert_eq!(samples(&text, "frrk8s_bfd_session_up").len(), 2);
    assert_eq!(samples(&text, "metallb_allocator_addresses_total").len(), 2);

    // One of each goes away.
    m.set_bgp(vec![other]);
    m.set_bfd(vec![bfd_peer()]);
    m.set_pools(vec![pool()]);
    let text = m.encode();
    assert!(!text.contains("172.18.0.4:179"), "{text}");
    assert_eq!(
        samples(&text, "frrk8s_bgp_total_sent"),
        [r#"frrk8s_bgp_total_sent{peer="172.18.0.5:179",vrf="default"} 15"#]
    );
    assert!(!text.contains("172.31.0.4"), "{text}");
    assert!(!text.contains("staging"), "{text}");

    // All go away: the families go too (as client_golang omits a family without samples).
    m.set_bgp(Vec::new());
    m.set_bfd(Vec::new());
    m.set_pools(Vec::new());
    let text = m.encode();
    for prefix in ["frrk8s_", "metallb_"] {
        assert!(!text.contains(prefix), "{text}");
    }
}

#[test]
fn samples_are_sorted_deduplicated_and_the_default_vrf_is_named() {
    let m = Metrics::new();
    let mut red = bgp_peer();
    red.vrf = "red".into();
    let mut named_default = bgp_peer();
    named_default.vrf = "default".into();
    named_default.established = false;
    // "" and "default" are the same VRF, so the same series: the first is kept.
    m.set_bgp(vec![red, bgp_peer(), named_default]);
    assert_eq!(
        samples(&m.encode(), "frrk8s_bgp_session_up"),
        [
            r#"frrk8s_bgp_session_up{peer="172.18.0.4:179",vrf="default"} 1"#,
            r#"frrk8s_bgp_session_up{peer="172.18.0.4:179",vrf="red"} 1"#,
        ]
    );
}

#[test]
fn call_duration_histogram_buckets() {
    let m = Metrics::new();
    m.init_world("merge");
    let obs = [
        Duration::from_nanos(500),    // below the first bound
        Duration::from_micros(1),     // on the first bound: le is inclusive
        Duration::from_micros(3),     // 5e-06
        Duration::from_micros(1_000), // on 0.001
        Duration::from_millis(40),    // 0.05
        Duration::from_secs(3),       // above 2 s: +Inf only
    ];
    for d in obs {
        m.plugin_call("allocator", "builtin:allocator@0.1.0", d, None);
    }
    let text = m.encode();
    let buckets = samples(&text, "ferrolb_plugin_call_duration_seconds_bucket");
    let allocator: Vec<&str> = buckets.iter().copied().filter(|l| l.contains("world=\"allocator\"")).collect();
    let want: Vec<String> = [
        ("1e-06", 2),
        ("2.5e-06", 2),
        ("5e-06", 3),
        ("1e-05", 3),
        ("2.5e-05", 3),
        ("5e-05", 3),
        ("0.0001", 3),
        ("0.00025", 3),
        ("0.0005", 3),
        ("0.001", 4),
        ("0.0025", 4),
        ("0.005", 4),
        ("0.01", 4),
        ("0.025", 4),
        ("0.05", 5),
        ("0.1", 5),
        ("0.25", 5),
        ("0.5", 5),
        ("1", 5),
        ("2", 5),
        ("+Inf", 6),
    ]
    .iter()
    .map(|(le, n)| format!("ferrolb_plugin_call_duration_seconds_bucket{{world=\"allocator\",le=\"{le}\"}} {n}"))
    .collect();
    assert_eq!(allocator, want);
    assert_eq!(
        samples(&text, "ferrolb_plugin_call_duration_seconds_count"),
        [
            r#"ferrolb_plugin_call_duration_seconds_count{world="allocator"} 6"#,
            r#"ferrolb_plugin_call_duration_seconds_count{world="merge"} 0"#,
        ]
    );
    let sum = samples(&text, "ferrolb_plugin_call_duration_seconds_sum")[0];
    let sum: f64 = sum.rsplit(' ').next().unwrap().parse().unwrap();
    assert!((sum - 3.041_004_5).abs() < 1e-9, "{sum}");
    // The initialised world has every bucket at 0.
    assert_eq!(buckets.iter().filter(|l| l.contains("world=\"merge\"") && l.ends_with(" 0")).count(), 21);
    assert!(text.contains("# TYPE ferrolb_plugin_call_duration_seconds histogram\n"));
}

#[test]
fn plugin_counters() {
    let m = Metrics::new();
    m.init_world("allocator");
    let text = m.encode();
    // Before anything happens: per-world counters at 0; per-plugin ones absent.
    for family in ["ferrolb_plugin_swaps_total", "ferrolb_plugin_rollbacks_total", "ferrolb_plugin_quarantines_total"] {
        assert_eq!(samples(&text, family), [format!("{family}{{world=\"allocator\"}} 0")]);
    }
    assert!(samples(&text, "ferrolb_plugin_calls_total").is_empty());

    let (a, b) = ("builtin:allocator@0.1.0", "/etc/ferrolb/my-allocator.wasm@1.2.0");
    m.plugin_call("allocator", a, Duration::from_micros(5), None);
    m.plugin_call("allocator", a, Duration::from_micros(5), Some("deadline"));
    m.plugin_call("allocator", b, Duration::from_micros(5), Some("trap"));
    m.plugin_call("allocator", b, Duration::from_micros(5), Some("trap"));
    m.plugin_failure("advertise", "bad.wasm", "forbidden-imports");
    m.plugin_swapped("allocator");
    m.plugin_rolled_back("allocator");
    m.plugin_quarantined("allocator");
    let text = m.encode();
    assert_eq!(
        samples(&text, "ferrolb_plugin_calls_total"),
        [
            r#"ferrolb_plugin_calls_total{world="allocator",plugin="/etc/ferrolb/my-allocator.wasm@1.2.0"} 2"#,
            r#"ferrolb_plugin_calls_total{world="allocator",plugin="builtin:allocator@0.1.0"} 2"#,
        ]
    );
    assert_eq!(
        samples(&text, "ferrolb_plugin_failures_total"),
        [
            r#"ferrolb_plugin_failures_total{world="advertise",plugin="bad.wasm",cause="forbidden-imports"} 1"#,
            r#"ferrolb_plugin_failures_total{world="allocator",plugin="/etc/ferrolb/my-allocator.wasm@1.2.0",cause="trap"} 2"#,
            r#"ferrolb_plugin_failures_total{world="allocator",plugin="builtin:allocator@0.1.0",cause="deadline"} 1"#,
        ]
    );
    // A rollback is a swap too.
    assert_eq!(samples(&text, "ferrolb_plugin_swaps_total"), [r#"ferrolb_plugin_swaps_total{world="allocator"} 2"#]);
    assert_eq!(
        samples(&text, "ferrolb_plugin_rollbacks_total"),
        [r#"ferrolb_plugin_rollbacks_total{world="allocator"} 1"#]
    );
    assert_eq!(
        samples(&text, "ferrolb_plugin_quarantines_total"),
        [r#"ferrolb_plugin_quarantines_total{world="allocator"} 1"#]
    );
    assert!(text.contains("# TYPE ferrolb_plugin_failures_total counter\n"));
}

#[test]
fn config_staleness_for_alerting() {
    let m = Metrics::new();
    let value = |text: &str, family: &str| samples(text, family)[0].rsplit(' ').next().unwrap().to_owned();

    // Never loaded: current until something is refused.
    let text = m.encode_at(at(1_000));
    assert_eq!(value(&text, "ferrolb_config_stale"), "0");
    assert_eq!(value(&text, "ferrolb_config_last_success_timestamp_seconds"), "0");

    // The first manifest set is refused: nothing good is in force.
    m.config_refused_at(at(1_000));
    let text = m.encode_at(at(1_090));
    assert_eq!(value(&text, "ferrolb_config_stale"), "1");
    assert_eq!(value(&text, "ferrolb_config_stale_seconds"), "90");

    // Loaded: current again.
    m.config_loaded_at(at(1_100));
    let text = m.encode_at(at(1_200));
    assert_eq!(value(&text, "ferrolb_config_stale"), "0");
    assert_eq!(value(&text, "ferrolb_config_stale_seconds"), "0");
    assert_eq!(value(&text, "ferrolb_config_last_success_timestamp_seconds"), "1100");

    // Refused twice: stale since the first refusal; the last good load is still 1100.
    m.config_refused_at(at(1_300));
    m.config_refused_at(at(1_400));
    let text = m.encode_at(at(1_450));
    assert_eq!(value(&text, "ferrolb_config_stale"), "1");
    assert_eq!(value(&text, "ferrolb_config_stale_seconds"), "150");
    assert_eq!(value(&text, "ferrolb_config_last_success_timestamp_seconds"), "1100");
    assert_eq!(
        samples(&text, "ferrolb_config_loads_total"),
        [r#"ferrolb_config_loads_total{result="success"} 1"#, r#"ferrolb_config_loads_total{result="failure"} 3"#]
    );

    // A clock stepped backwards does not give negative staleness.
    assert_eq!(value(&m.encode_at(at(10)), "ferrolb_config_stale_seconds"), "0");
}

/// Lint complaints promtool makes about names we keep on purpose: frr-k8s counters without
/// `_total`, and gauges with it (frr-k8s prefixes; every MetalLB allocator gauge, filtered below).
const INHERITED_NAMES: &[&str] = &[
    "frrk8s_bgp_opens_sent counter metrics should have \"_total\" suffix",
    "frrk8s_bgp_opens_received counter metrics should have \"_total\" suffix",
    "frrk8s_bgp_notifications_sent counter metrics should have \"_total\" suffix",
    "frrk8s_bgp_updates_total_received counter metrics should have \"_total\" suffix",
    "frrk8s_bgp_keepalives_sent counter metrics should have \"_total\" suffix",
    "frrk8s_bgp_keepalives_received counter metrics should have \"_total\" suffix",
    "frrk8s_bgp_route_refresh_sent counter metrics should have \"_total\" suffix",
    "frrk8s_bgp_total_sent counter metrics should have \"_total\" suffix",
    "frrk8s_bgp_total_received counter metrics should have \"_total\" suffix",
    "frrk8s_bgp_announced_prefixes_total non-counter metrics should not have \"_total\" suffix",
    "frrk8s_bgp_received_prefixes_total non-counter metrics should not have \"_total\" suffix",
    "frrk8s_bfd_control_packet_input counter metrics should have \"_total\" suffix",
    "frrk8s_bfd_control_packet_output counter metrics should have \"_total\" suffix",
    "frrk8s_bfd_echo_packet_input counter metrics should have \"_total\" suffix",
    "frrk8s_bfd_echo_packet_output counter metrics should have \"_total\" suffix",
    "frrk8s_bfd_session_up_events counter metrics should have \"_total\" suffix",
    "frrk8s_bfd_session_down_events counter metrics should have \"_total\" suffix",
    "frrk8s_bfd_zebra_notifications counter metrics should have \"_total\" suffix",
];

#[test]
fn promtool_check_metrics() {
    let m = Metrics::new();
    m.set_bgp(vec![bgp_peer()]);
    m.set_bfd(vec![bfd_peer()]);
    m.set_pools(vec![pool()]);
    m.init_world("allocator");
    m.plugin_call("allocator", "builtin:allocator@0.1.0", Duration::from_micros(7), Some("trap"));
    m.plugin_rolled_back("allocator");
    m.config_refused();
    let text = m.encode();

    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            println!("skipped: promtool is not runnable ({e}); `apt-get install prometheus` provides it");
            return;
        }
    };
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("promtool check metrics: {:?}\n{report}", out.status);
    // 0: clean; 3: lint problems only (1 would be a parse error).
    assert!(matches!(out.status.code(), Some(0 | 3)), "promtool: {:?}\n{report}\n{text}", out.status);
    let unexpected: Vec<&str> = report
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| !INHERITED_NAMES.contains(l))
        .filter(|l| {
            !(l.starts_with("metallb_allocator_")
                && l.ends_with("non-counter metrics should not have \"_total\" suffix"))
        })
        .collect();
    assert!(unexpected.is_empty(), "promtool complaints about our own names: {unexpected:#?}\n{text}");
}
