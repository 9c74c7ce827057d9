//! Endpoint readiness, with MetalLB's two slightly different rules.
//!
//! - **BGP** (`hasHealthyEndpoint` in `speaker/bgp_controller.go`): readiness is per *address*;
//!   an address listed by a ready endpoint and by an unready one is unready ("false takes
//!   precedence"). A service is healthy when at least one address is ready. With
//!   `externalTrafficPolicy: Local` only the endpoints whose `nodeName` is the local node count
//!   (an unknown node name never does).
//! - **Layer 2** (`activeEndpointExists`, `usableNodes` in `speaker/layer2_controller.go`):
//!   readiness is per *endpoint*; the service is announced at all when some endpoint is ready,
//!   and with `Local` the candidate nodes are those with a ready endpoint (named, known node).

use alloc::vec::Vec;

use crate::addr::Ip;
use crate::bitset::Bitset;
use crate::bytes::eq;
use crate::nodes::NodeState;
use crate::types::Endpoint;

/// BGP's rule: whether some address of the endpoints (those on `node`, if given) is ready and
/// listed by no unready endpoint (of the same filter).
pub(crate) fn bgp_healthy(endpoints: &[Endpoint], node: Option<&str>) -> bool {
    let on = |e: &&Endpoint| node.is_none_or(|n| !e.node.is_empty() && eq(&e.node, n));
    let mut unready: Vec<Ip> =
        endpoints.iter().filter(on).filter(|e| !e.ready).flat_map(|e| e.addresses.iter().map(|a| Ip::of(*a))).collect();
    unready.sort_unstable();
    endpoints
        .iter()
        .filter(on)
        .filter(|e| e.ready)
        .flat_map(|e| e.addresses.iter())
        .any(|a| unready.binary_search(&Ip::of(*a)).is_err())
}

/// Layer 2's rule: whether some endpoint is ready.
pub(crate) fn l2_active(endpoints: &[Endpoint]) -> bool {
    endpoints.iter().any(|e| e.ready)
}

/// Layer 2's rule: the known nodes that hold a ready endpoint.
pub(crate) fn l2_usable_nodes(endpoints: &[Endpoint], nodes: &NodeState) -> Bitset {
    let mut set = Bitset::new(nodes.len());
    for e in endpoints.iter().filter(|e| e.ready && !e.node.is_empty()) {
        if let Some(i) = nodes.index(&e.node) {
            set.insert(i);
        }
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Endpoint;
    use alloc::vec;

    fn ep(a: &str, node: &str, ready: bool) -> Endpoint {
        Endpoint::new(a.parse().expect("address"), node, ready)
    }

    #[test]
    fn bgp_readiness_is_per_address_and_unready_wins() {
        assert!(!bgp_healthy(&[], None));
        assert!(bgp_healthy(&[ep("10.1.0.1", "w0", true)], None));
        assert!(!bgp_healthy(&[ep("10.1.0.1", "w0", false)], None));
        // The same address ready in one slice and unready in another is unready.
        assert!(!bgp_healthy(&[ep("10.1.0.1", "w0", true), ep("10.1.0.1", "w0", false)], None));
        assert!(bgp_healthy(&[ep("10.1.0.1", "w0", true), ep("10.1.0.2", "w0", false)], None));
        // A ready endpoint without addresses does not count.
        assert!(!bgp_healthy(&[Endpoint { addresses: vec![], node: "w0".into(), ready: true }], None));
    }

    #[test]
    fn bgp_local_filter() {
        let eps = [ep("10.1.0.1", "w1", true), ep("10.1.0.2", "", true)];
        assert!(bgp_healthy(&eps, None));
        assert!(!bgp_healthy(&eps, Some("w0")));
        assert!(bgp_healthy(&eps, Some("w1")));
        assert!(!bgp_healthy(&eps, Some("")));
    }

    #[test]
    fn l2_readiness_is_per_endpoint() {
        assert!(l2_active(&[Endpoint { addresses: vec![], node: "".into(), ready: true }]));
        assert!(!l2_active(&[ep("10.1.0.1", "w0", false)]));
    }
}
