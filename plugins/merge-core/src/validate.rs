//! The checks on one configuration before it is merged (rule 1: "each configuration must be self
//! contained", and frr-k8s's per-configuration conversion errors). A problem is reported as a
//! conflict naming that configuration alone; a prefix longer than its family allows is a breach of
//! the contract (the host never sends one) and is reported as invalid input.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::report::{NeighborKey, Report, Src, neighbor_path, router_path};
use crate::types::{FilterMode, Neighbor, Prefix, Router, RouterConfig};

/// Check one configuration (merged as source `from`).
pub(crate) fn source(r: &mut Report, from: Src, config: &RouterConfig) {
    // A name defined twice with different values is caught by the profile merge (rule 6).
    let names: Vec<&str> = config.bfd_profiles.iter().map(|p| p.name.as_str()).collect();
    for router in &config.routers {
        check_router(r, from, router, &names);
    }
}

fn prefix_ok(r: &mut Report, from: Src, field: &dyn Fn() -> String, p: &Prefix) -> bool {
    if p.is_valid() {
        return true;
    }
    r.invalid.push(format!("{} in {}: prefix {p} has a length over {}", field(), r.name(from), p.max_len()));
    false
}

fn check_router(r: &mut Report, from: Src, router: &Router, bfd_names: &[&str]) {
    let base = || router_path(&router.vrf);
    if let Some(id) = router.id
        && !id.is_ipv4()
    {
        r.fault(from, format!("{}.id", base()), format!("router id {id} is not an IPv4 address"));
    }
    let mut own: Vec<Prefix> = Vec::with_capacity(router.prefixes.len());
    for p in &router.prefixes {
        if prefix_ok(r, from, &|| format!("{}.prefixes", base()), p) {
            own.push(*p);
        }
    }
    own.sort_unstable();
    for n in &router.neighbors {
        check_neighbor(r, from, &router.vrf, n, &own, bfd_names);
    }
}

fn check_neighbor(r: &mut Report, from: Src, vrf: &str, n: &Neighbor, own: &[Prefix], bfd_names: &[&str]) {
    let key = NeighborKey::of(n);
    let path = || neighbor_path(vrf, &key);
    let field = |name: &str| format!("{}.{name}", path());
    match (&n.address, &n.interface) {
        (None, None) => {
            r.fault(from, router_path(vrf) + ".neighbors", "a neighbor has neither address nor interface".into())
        }
        (Some(_), Some(i)) => {
            r.fault(from, field("interface"), format!("address and interface {i:?} are mutually exclusive"))
        }
        _ => {}
    }
    match (n.asn, n.dynamic_asn) {
        (Some(a), Some(d)) => {
            r.fault(from, field("asn"), format!("asn {a} and dynamicASN {d} are mutually exclusive"));
        }
        (None, None) => r.fault(from, field("asn"), "one of asn and dynamicASN is required".into()),
        _ => {}
    }
    if n.password.is_some() && n.password_secret.is_some() {
        r.fault(from, field("passwordSecret"), "password and passwordSecret are mutually exclusive".into());
    }
    if let Some(b) = &n.bfd_profile
        && !bfd_names.iter().any(|x| crate::bytes::eq(x, b))
    {
        r.fault(
            from,
            field("bfdProfile"),
            format!("BFD profile {b:?} is not defined in this configuration's bfdProfiles"),
        );
    }

    // toAdvertise: only the router's own prefixes; communities and local preferences only on
    // prefixes advertised to this neighbor.
    let adv = &n.to_advertise;
    for p in &adv.prefixes {
        if prefix_ok(r, from, &|| field("toAdvertise.allowed.prefixes"), p) && own.binary_search(p).is_err() {
            r.fault(
                from,
                field("toAdvertise.allowed.prefixes"),
                format!("{p} is not among the prefixes of this configuration's router (a configuration must be self-contained)"),
            );
        }
    }
    let mut allowed: Vec<Prefix> = Vec::new();
    if adv.mode != Some(FilterMode::All) && !(adv.with_community.is_empty() && adv.with_local_pref.is_empty()) {
        allowed.extend_from_slice(&adv.prefixes);
        allowed.sort_unstable();
    }
    let advertised: &[Prefix] = if adv.mode == Some(FilterMode::All) { own } else { &allowed };
    for c in &adv.with_community {
        for p in &c.prefixes {
            if prefix_ok(r, from, &|| field("toAdvertise.withCommunity"), p) && advertised.binary_search(p).is_err() {
                r.fault(
                    from,
                    field("toAdvertise.withCommunity"),
                    format!(
                        "community {} is attached to {p}, which this configuration does not advertise to the neighbor",
                        c.community
                    ),
                );
            }
        }
    }
    for lp in &adv.with_local_pref {
        for p in &lp.prefixes {
            if prefix_ok(r, from, &|| field("toAdvertise.withLocalPref"), p) && advertised.binary_search(p).is_err() {
                r.fault(
                    from,
                    field("toAdvertise.withLocalPref"),
                    format!(
                        "localPref {} is attached to {p}, which this configuration does not advertise to the neighbor",
                        lp.local_pref
                    ),
                );
            }
        }
    }

    for s in &n.to_receive.prefixes {
        if !prefix_ok(r, from, &|| field("toReceive.allowed.prefixes"), &s.prefix) {
            continue;
        }
        if let Some(problem) = s.problem() {
            r.fault(from, field("toReceive.allowed.prefixes"), problem);
        }
    }
}
