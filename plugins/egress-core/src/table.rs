//! `spec.network`: a routing table id or a table name, resolved to the id the ip rules look up.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::types::{InvalidInput, ObjectRef, RouteTable};

/// The kernel's `local` table: routing egress traffic through it would deliver it locally.
pub const LOCAL_TABLE: u32 = 255;

/// Resolves `network` of service `svc`: all ASCII digits → a decimal table id (1..=4294967295
/// but not [`LOCAL_TABLE`]); anything else → the id of the table called `network` in `tables`.
///
/// A digit string is always an id, even when a table is *named* like it (as OVN-Kubernetes reads
/// a number first). Leading zeros are accepted ("002" is table 2).
pub(crate) fn resolve(svc: &ObjectRef, network: &str, tables: &[RouteTable]) -> Result<u32, InvalidInput> {
    let bad = |why: String| InvalidInput(format!("EgressService {svc}: spec.network \"{network}\" {why}"));
    if network.is_empty() {
        return Err(bad("is empty: give a routing table id (e.g. \"2\") or a routing table name".into()));
    }
    let id = if network.bytes().all(|b| b.is_ascii_digit()) {
        let Some(id) = parse_decimal(network) else {
            return Err(bad("is not a valid table id: ids go from 1 to 4294967295".into()));
        };
        id
    } else {
        let mut found = tables.iter().filter(|t| t.name == network);
        let Some(first) = found.next() else {
            let mut known: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
            known.sort_unstable();
            known.dedup();
            let known = if known.is_empty() { String::from("none") } else { known.join(", ") };
            return Err(bad(format!("is neither a table id nor a known routing table name (known names: {known})")));
        };
        if let Some(other) = found.find(|t| t.id != first.id) {
            return Err(bad(format!(
                "names two routing tables ({} and {}): give the table id instead",
                first.id, other.id
            )));
        }
        first.id
    };
    match id {
        0 => Err(bad("is table 0, which is not a routing table: ids go from 1 to 4294967295".into())),
        LOCAL_TABLE => Err(bad(
            "is table 255, the kernel's local table, which cannot route egress traffic: use another table".into(),
        )),
        id => Ok(id),
    }
}

/// A decimal `u32` from ASCII digits (`None` on overflow or an empty string).
fn parse_decimal(s: &str) -> Option<u32> {
    if s.is_empty() {
        return None;
    }
    s.bytes().try_fold(0u32, |acc, b| acc.checked_mul(10)?.checked_add(u32::from(b.wrapping_sub(b'0'))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn svc() -> ObjectRef {
        ObjectRef::new("default", "web")
    }

    #[test]
    fn decimal_parsing() {
        assert_eq!(parse_decimal("0"), Some(0));
        assert_eq!(parse_decimal("002"), Some(2));
        assert_eq!(parse_decimal("4294967295"), Some(u32::MAX));
        assert_eq!(parse_decimal("4294967296"), None);
        assert_eq!(parse_decimal("99999999999999999999"), None);
        assert_eq!(parse_decimal(""), None);
    }

    #[test]
    fn ids_and_names() {
        let tables = vec![RouteTable { name: "ens4vrf".into(), id: 2 }, RouteTable { name: "7".into(), id: 9 }];
        assert_eq!(resolve(&svc(), "2", &tables), Ok(2));
        assert_eq!(resolve(&svc(), "254", &tables), Ok(254));
        assert_eq!(resolve(&svc(), "4294967295", &tables), Ok(u32::MAX));
        assert_eq!(resolve(&svc(), "ens4vrf", &tables), Ok(2));
        // A digit string is an id, whatever the tables are called.
        assert_eq!(resolve(&svc(), "7", &tables), Ok(7));
    }

    #[test]
    fn refusals_name_the_service_and_the_value() {
        let tables = vec![
            RouteTable { name: "local".into(), id: 255 },
            RouteTable { name: "twice".into(), id: 3 },
            RouteTable { name: "twice".into(), id: 4 },
            RouteTable { name: "same".into(), id: 5 },
            RouteTable { name: "same".into(), id: 5 },
        ];
        for bad in ["0", "255", "4294967296", "", "ens5vrf", "-1", "+2", " 2", "2 ", "local", "twice"] {
            let e = resolve(&svc(), bad, &tables).expect_err("refused");
            assert!(e.0.contains("default/web"), "{e}");
            assert!(e.0.contains(&format!("\"{bad}\"")), "{e}");
        }
        assert_eq!(resolve(&svc(), "same", &tables), Ok(5));
        let e = resolve(&svc(), "nope", &tables).expect_err("unknown");
        assert!(e.0.contains("known names: local, same, twice"), "{e}");
    }
}
