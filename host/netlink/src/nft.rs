//! SNAT through nftables: ferrolb owns the table `inet ferrolb` and replaces it as a whole with one
//! `nft -f -` transaction (create-if-missing, delete, recreate with the full content), so there is no
//! moment without rules. `nft -j list table` is read back first: an unchanged table costs no write.

use std::io::Write;
use std::net::IpAddr;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::intent::{NFT_TABLE, SnatRule};

/// Name of the chain holding the SNAT rules.
pub const NFT_CHAIN: &str = "postrouting";

/// Errors running `nft`.
#[derive(Debug, thiserror::Error)]
pub enum NftError {
    /// `nft` could not be started or waited for.
    #[error("running nft: {0}")]
    Spawn(#[from] std::io::Error),
    /// `nft` refused the script.
    #[error("nft {what} failed: {stderr}")]
    Failed {
        /// What was being done.
        what: &'static str,
        /// nft's error output.
        stderr: String,
    },
    /// `nft -j` printed something that is not JSON.
    #[error("nft -j output is not JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// The script that makes the table hold exactly `rules` (or removes it when `rules` is empty).
pub fn render(rules: &[SnatRule]) -> String {
    let mut s = format!("table inet {NFT_TABLE} {{\n}}\ndelete table inet {NFT_TABLE}\n");
    if rules.is_empty() {
        return s;
    }
    s.push_str(&format!(
        "table inet {NFT_TABLE} {{\n  chain {NFT_CHAIN} {{\n    type nat hook postrouting priority srcnat; policy accept;\n"
    ));
    for r in rules {
        s.push_str("    ");
        match r.from {
            IpAddr::V4(a) => s.push_str(&format!("ip saddr {a}")),
            IpAddr::V6(a) => s.push_str(&format!("ip6 saddr {a}")),
        }
        if let Some(o) = &r.oif {
            s.push_str(&format!(" oifname \"{o}\""));
        }
        match r.to {
            IpAddr::V4(a) => s.push_str(&format!(" snat ip to {a}\n")),
            IpAddr::V6(a) => s.push_str(&format!(" snat ip6 to {a}\n")),
        }
    }
    s.push_str("  }\n}\n");
    s
}

/// What `nft -j list table inet ferrolb` showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Current {
    /// The table does not exist.
    Absent,
    /// The table exists with exactly ferrolb's chain, holding these rules (in order).
    Rules(Vec<SnatRule>),
    /// The table exists but holds something ferrolb would not have written.
    Foreign,
}

/// Parses `nft -j list table inet ferrolb`.
pub fn parse(json: &str) -> Result<Current, NftError> {
    let v: Value = serde_json::from_str(json)?;
    let Some(items) = v.get("nftables").and_then(Value::as_array) else { return Ok(Current::Foreign) };
    let mut chains = 0;
    let mut rules = Vec::new();
    for item in items {
        if let Some(c) = item.get("chain") {
            chains += 1;
            let ok = c.get("name").and_then(Value::as_str) == Some(NFT_CHAIN)
                && c.get("type").and_then(Value::as_str) == Some("nat")
                && c.get("hook").and_then(Value::as_str) == Some("postrouting")
                && c.get("prio").and_then(Value::as_i64) == Some(100)
                && c.get("policy").and_then(Value::as_str) == Some("accept");
            if !ok {
                return Ok(Current::Foreign);
            }
        } else if let Some(r) = item.get("rule") {
            match parse_rule(r) {
                Some(rule) => rules.push(rule),
                None => return Ok(Current::Foreign),
            }
        } else if item.get("table").is_none() && item.get("metainfo").is_none() {
            return Ok(Current::Foreign); // sets, maps, flowtables ...
        }
    }
    if chains != 1 { Ok(Current::Foreign) } else { Ok(Current::Rules(rules)) }
}

fn parse_rule(r: &Value) -> Option<SnatRule> {
    let (mut from, mut to, mut oif) = (None, None, None);
    for e in r.get("expr")?.as_array()? {
        if let Some(m) = e.get("match") {
            if m.get("op")?.as_str()? != "==" {
                return None;
            }
            let left = m.get("left")?;
            let right = m.get("right")?.as_str()?;
            if let Some(p) = left.get("payload") {
                let proto = p.get("protocol")?.as_str()?;
                if p.get("field")?.as_str()? != "saddr" || from.is_some() {
                    return None;
                }
                let a: IpAddr = right.parse().ok()?;
                if (proto == "ip") != a.is_ipv4() {
                    return None;
                }
                from = Some(a);
            } else if left.get("meta")?.get("key")?.as_str()? == "oifname" && oif.is_none() {
                oif = Some(right.to_string());
            } else {
                return None;
            }
        } else if let Some(s) = e.get("snat") {
            if to.is_some() || s.as_object()?.keys().any(|k| k != "family" && k != "addr") {
                return None;
            }
            to = Some(s.get("addr")?.as_str()?.parse().ok()?);
        } else {
            return None;
        }
    }
    Some(SnatRule { from: from?, to: to?, oif })
}

/// Reads the current table (call inside the target namespace).
pub fn read() -> Result<Current, NftError> {
    let out = match Command::new("nft").args(["-j", "list", "table", "inet", NFT_TABLE]).stdin(Stdio::null()).output() {
        Ok(out) => out,
        // Without nft there can be no table ferrolb wrote; writing one will report the problem.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Current::Absent),
        Err(e) => return Err(e.into()),
    };
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        if stderr.contains("No such file or directory") {
            return Ok(Current::Absent);
        }
        return Err(NftError::Failed { what: "list table", stderr: stderr.trim().to_string() });
    }
    parse(&String::from_utf8_lossy(&out.stdout))
}

/// Runs a script with `nft -f -` (call inside the target namespace).
pub fn run_script(script: &str) -> Result<(), NftError> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(script.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(NftError::Failed {
            what: "-f (replace table)",
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

/// Whether the kernel's table already is what `desired` renders to.
pub fn up_to_date(current: &Current, desired: &[SnatRule]) -> bool {
    match current {
        Current::Absent => desired.is_empty(),
        Current::Rules(r) => !desired.is_empty() && r == desired,
        Current::Foreign => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const LISTED: &str = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "inet", "name": "ferrolb", "handle": 2}}, {"chain": {"family": "inet", "table": "ferrolb", "name": "postrouting", "handle": 1, "type": "nat", "hook": "postrouting", "prio": 100, "policy": "accept"}}, {"rule": {"family": "inet", "table": "ferrolb", "chain": "postrouting", "handle": 2, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "10.1.0.5"}}, {"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "eth0"}}, {"snat": {"family": "ip", "addr": "192.0.2.10"}}]}}, {"rule": {"family": "inet", "table": "ferrolb", "chain": "postrouting", "handle": 3, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip6", "field": "saddr"}}, "right": "2001:db8::5"}}, {"snat": {"family": "ip6", "addr": "2001:db8::10"}}]}}]}"#;

    fn rules() -> Vec<SnatRule> {
        vec![
            SnatRule { from: "10.1.0.5".parse().unwrap(), to: "192.0.2.10".parse().unwrap(), oif: Some("eth0".into()) },
            SnatRule { from: "2001:db8::5".parse().unwrap(), to: "2001:db8::10".parse().unwrap(), oif: None },
        ]
    }

    #[test]
    fn render_is_one_atomic_replacement() {
        let s = render(&rules());
        assert!(s.starts_with("table inet ferrolb {\n}\ndelete table inet ferrolb\ntable inet ferrolb {\n"));
        assert!(s.contains("    ip saddr 10.1.0.5 oifname \"eth0\" snat ip to 192.0.2.10\n"));
        assert!(s.contains("    ip6 saddr 2001:db8::5 snat ip6 to 2001:db8::10\n"));
        assert_eq!(render(&[]), "table inet ferrolb {\n}\ndelete table inet ferrolb\n");
    }

    #[test]
    fn parse_reads_back_what_render_wrote() {
        let cur = parse(LISTED).unwrap();
        assert_eq!(cur, Current::Rules(rules()));
        assert!(up_to_date(&cur, &rules()));
        assert!(!up_to_date(&cur, &rules()[..1]));
        assert!(up_to_date(&Current::Absent, &[]));
        assert!(!up_to_date(&Current::Absent, &rules()));
    }

    #[test]
    fn anything_else_is_foreign() {
        let tampered = LISTED.replace(r#"{"snat": {"family": "ip", "addr": "192.0.2.10"}}"#, r#"{"accept": null}"#);
        assert_eq!(parse(&tampered).unwrap(), Current::Foreign);
        let other_chain = LISTED.replace(r#""prio": 100"#, r#""prio": 0"#);
        assert_eq!(parse(&other_chain).unwrap(), Current::Foreign);
        assert!(parse("not json").is_err());
    }
}
