//! `ferrolb show l2 [--json]`: which addresses this node announces, on which interfaces, since when.
//!
//! The JSON shape is [`L2Status`] serialized with serde (camelCase; times as milliseconds since the
//! Unix epoch and durations in milliseconds); [`render_l2`] is the table for people.

use std::fmt::Write as _;

use super::driver::L2Status;

/// The JSON of `ferrolb show l2 --json`.
pub fn l2_json(status: &L2Status) -> serde_json::Value {
    serde_json::to_value(status).unwrap_or(serde_json::Value::Null)
}

/// The text of `ferrolb show l2`.
///
/// ```text
/// fenced: no
/// ADDRESS       INTERFACE  MAC                SINCE (UTC)               FOR
/// 192.0.2.10    eth0       02:00:00:00:00:0a  2025-01-02T03:04:05.678Z  12.3s
/// 2001:db8::10  -          -                  -                         wanted on eth1: not up
/// ```
pub fn render_l2(status: &L2Status) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "fenced: {}", if status.fenced { "YES (no peer heard: announcing nothing)" } else { "no" });
    let mut rows: Vec<[String; 5]> = vec![["ADDRESS", "INTERFACE", "MAC", "SINCE (UTC)", "FOR"].map(String::from)];
    for a in &status.addresses {
        if a.announced_on.is_empty() {
            let why = if status.fenced {
                "fenced".to_string()
            } else if a.wanted_on.is_empty() {
                "no interface up".to_string()
            } else {
                format!("wanted on {}: not up", a.wanted_on.join(","))
            };
            rows.push([a.ip.to_string(), "-".into(), "-".into(), "-".into(), why]);
        }
        for on in &a.announced_on {
            rows.push([
                a.ip.to_string(),
                on.interface.clone(),
                on.mac.to_string(),
                rfc3339_ms(on.since_unix_ms),
                format!("{:.1}s", on.announced_for_ms as f64 / 1000.0),
            ]);
        }
    }
    if status.addresses.is_empty() {
        let _ = writeln!(out, "no addresses to announce");
    } else {
        let widths: Vec<usize> = (0..5).map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0)).collect();
        for r in &rows {
            let line: Vec<String> = r.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
            let _ = writeln!(out, "{}", line.join("  ").trim_end());
        }
    }
    let links: Vec<String> = status
        .interfaces
        .iter()
        .map(|l| format!("{}({}, {})", l.name, l.mac, if l.up { "up" } else { "down" }))
        .collect();
    let _ = writeln!(out, "interfaces: {}", if links.is_empty() { "none".to_string() } else { links.join(" ") });
    let c = &status.counters;
    let _ = writeln!(
        out,
        "arp: {} requests, {} replies, {} gratuitous; ndp: {} solicitations, {} advertisements, {} unsolicited",
        c.arp_requests_seen, c.arp_replies_sent, c.gratuitous_arp_sent, c.ns_seen, c.na_sent, c.unsolicited_na_sent
    );
    let _ = writeln!(
        out,
        "dropped: {} malformed, {} queue full; {} send errors; {} conflicts",
        c.malformed_total(),
        status.driver.queue_full,
        status.driver.send_errors,
        c.conflicts
    );
    if let Some(conflict) = &status.last_conflict {
        let _ = writeln!(out, "last conflict: {} claimed by {} on {}", conflict.ip, conflict.mac, conflict.interface);
    }
    out
}

/// `2025-01-02T03:04:05.678Z` from milliseconds since the Unix epoch (proleptic Gregorian, UTC).
pub fn rfc3339_ms(unix_ms: u64) -> String {
    let (secs, ms) = (unix_ms / 1000, unix_ms % 1000);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // Howard Hinnant's civil_from_days, for days since 1970-01-01 (non-negative here).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{d:02}T{h:02}:{m:02}:{s:02}.{ms:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::l2::driver::{AddressView, AnnouncedOn, DriverCounters, LinkStatus};
    use ferrolb_l2::MacAddr;
    use ferrolb_l2::announcer::Counters;

    #[test]
    fn rfc3339_matches_known_instants() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339_ms(1_735_787_045_678), "2025-01-02T03:04:05.678Z");
        assert_eq!(rfc3339_ms(4_107_542_399_999), "2100-02-28T23:59:59.999Z");
    }

    fn status(fenced: bool) -> L2Status {
        let mac = MacAddr([2, 0, 0, 0, 0, 0x0a]);
        L2Status {
            fenced,
            interfaces: vec![LinkStatus { name: "eth0".into(), index: 2, mac, up: true }],
            addresses: vec![
                AddressView {
                    ip: "192.0.2.10".parse().expect("ip"),
                    wanted_on: vec![],
                    announced_on: vec![AnnouncedOn {
                        interface: "eth0".into(),
                        mac,
                        since_unix_ms: 1_735_787_045_678,
                        announced_for_ms: 12_345,
                        gratuitous_pending: 0,
                    }],
                },
                AddressView {
                    ip: "2001:db8::10".parse().expect("ip"),
                    wanted_on: vec!["eth1".into()],
                    announced_on: vec![],
                },
            ],
            counters: Counters { arp_replies_sent: 3, ..Counters::default() },
            driver: DriverCounters::default(),
            last_conflict: None,
        }
    }

    #[test]
    fn text_names_address_interface_mac_and_since() {
        let text = render_l2(&status(false));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "fenced: no");
        assert!(lines[1].starts_with("ADDRESS       INTERFACE  MAC"), "{text}");
        assert_eq!(lines[2], "192.0.2.10    eth0       02:00:00:00:00:0a  2025-01-02T03:04:05.678Z  12.3s", "{text}");
        assert!(lines[3].starts_with("2001:db8::10  -") && lines[3].ends_with("wanted on eth1: not up"), "{text}");
        assert!(text.contains("interfaces: eth0(02:00:00:00:00:0a, up)"), "{text}");
        assert!(text.contains("3 replies"), "{text}");
        assert!(render_l2(&status(true)).starts_with("fenced: YES"));
    }

    #[test]
    fn json_shape_is_camel_case_with_epoch_milliseconds() {
        let json = l2_json(&status(false));
        let on = &json["addresses"][0]["announcedOn"][0];
        assert_eq!(json["addresses"][0]["ip"], "192.0.2.10");
        assert_eq!(on["interface"], "eth0");
        assert_eq!(on["mac"], "02:00:00:00:00:0a");
        assert_eq!(on["sinceUnixMs"], 1_735_787_045_678_u64);
        assert_eq!(on["announcedForMs"], 12_345);
        assert_eq!(json["addresses"][1]["wantedOn"][0], "eth1");
        assert_eq!(json["fenced"], false);
        assert_eq!(json["counters"]["arp_replies_sent"], 3);
    }
}
