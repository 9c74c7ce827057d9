//! MetalLB's speaker semantics — which routes go to which BGP peer, which node answers ARP/NDP
//! for which address — as a plain `no_std` library.
//!
//! This crate is the whole logic of ferrolb's default advertise policy. The WebAssembly
//! component (`plugins/advertise`) only converts the WIT records of `ferrolb:policy/advertise` to
//! the types of [`types`] and back and keeps an [`Advertiser`] in its `advertiser` resource; the
//! host can call [`Advertiser`] natively too. It depends on `core`, `alloc` and `sha2`.
//!
//! ```
//! use ferrolb_advertise_core::*;
//!
//! let config = Config {
//!     local_node: "worker-0".into(),
//!     nodes: vec![Node::new("worker-0", &[])],
//!     pools: vec![AddressPool { name: "doc-example".into(), ..Default::default() }],
//!     peers: vec![BgpPeer { name: "peer1".into(), my_asn: 64500, peer_asn: Some(64500), ..Default::default() }],
//!     bgp_advertisements: vec![BgpAdvertisement {
//!         id: ObjectRef::new("metallb-system", "adv"),
//!         local_pref: Some(100),
//!         communities: vec!["65535:65282".into()],
//!         ..Default::default()
//!     }],
//!     ..Default::default()
//! };
//! let adv = Advertiser::open(&config).unwrap();
//! let ip: std::net::IpAddr = "203.0.113.200".parse().unwrap();
//! let svc = Service {
//!     id: ObjectRef::new("default", "web"),
//!     pool: "doc-example".into(),
//!     ips: vec![ip],
//!     endpoints: vec![Endpoint::new("10.1.0.5".parse().unwrap(), "worker-0", true)],
//!     ..Default::default()
//! };
//! let ann = adv.announce(&svc);
//! assert_eq!(ann.bgp.len(), 1);
//! assert_eq!(ann.bgp[0].prefix.to_string(), "203.0.113.200/32");
//! assert_eq!(ann.bgp[0].local_pref, Some(100)); // iBGP: peerASN == myASN
//! assert_eq!(ann.bgp[0].communities, [Community::NO_ADVERTISE]);
//! ```
//!
//! # The rules (MetalLB's `speaker/bgp_controller.go`, `speaker/layer2_controller.go`,
//! `speaker/main.go`, `internal/config/config.go`)
//!
//! 1. **Pools per advertisement**: `ipAddressPools` by name plus `ipAddressPoolSelectors`
//!    (matchLabels / matchExpressions on the pool's labels); neither set → every pool. Several
//!    advertisements of one pool all apply (the reference's `/32` with NO_ADVERTISE plus `/30`
//!    with `8000:800` gives both routes). An advertisement's `serviceSelectors` (empty → every
//!    service) further restrict it to the services whose labels they match (any one selector).
//! 2. **Configuration checks at `open`** (every problem is listed, naming the objects):
//!    aggregation lengths at most 32 / 128; not shorter than the shortest CIDR of any block of a
//!    selected pool of that family (MetalLB's `validateBGPAdvPerPool`, a range counting as its
//!    CIDR summary); serviceSelectors only with /32 and /128; communities as below; two
//!    advertisements of a pool with different localPref that would send the same prefixes to the
//!    same peers from the same nodes are refused, naming both.
//! 3. **Communities**: `a:b` (16-bit parts), `large:a:b:c` (32-bit parts), or an alias name
//!    resolved through the Community objects (alias first, as MetalLB looks it up). Well-known
//!    values are written as numbers (NO_EXPORT `65535:65281`, NO_ADVERTISE `65535:65282`,
//!    NO_EXPORT_SUBCONFED `65535:65283`). An entry that is neither a community nor a defined alias,
//!    or a malformed value, is an error naming the BGPAdvertisement and the entry's index; an
//!    alias defined twice is an error naming both Community objects; an alias with a malformed
//!    value names its Community object. On a route, communities are sorted (MetalLB's order: a
//!    standard `v` ranks as large `v:0:0`) and deduplicated.
//! 4. **BGP, for the local node only**: nothing when the local node is not among the nodes, has
//!    `NetworkUnavailable`, or carries `node.kubernetes.io/exclude-from-external-load-balancers`
//!    (any value). An advertisement applies when its `nodeSelectors` (empty → every node) match
//!    the local node. It sends to the peers named in `peers` (empty → every peer) that have a
//!    session on this node (a BGPPeer's `nodeSelectors`, empty → every node). The route is the
//!    address masked to `aggregationLength` (default 32) / `aggregationLengthV6` (default 128),
//!    in the peer's VRF. LOCAL_PREF is carried only to iBGP peers (`peerASN == myASN`, or
//!    `dynamicASN: internal`); `localPref: 0` counts as unset, as MetalLB's zero value. Routes of
//!    one service to the same (peer, prefix) are merged: communities unioned, the LOCAL_PREF and
//!    the `advertisement` of the first advertisement in configuration order.
//! 5. **Endpoints**: with `externalTrafficPolicy: Cluster` BGP needs a ready endpoint anywhere,
//!    with `Local` one on the local node; without any ready endpoint nothing is announced at
//!    all (MetalLB withdraws). See module `endpoints` for the exact readiness rules (BGP per
//!    address with "unready wins", layer 2 per endpoint).
//! 6. **Layer 2**: every address of the service gets one announcing node, computed identically
//!    on every node. Candidates are the nodes selected by the `nodeSelectors` of any of the
//!    service's L2Advertisements, `live`, without `NetworkUnavailable`, without the exclusion
//!    label, and with `Local` holding a ready endpoint. The winner is the candidate with the
//!    smallest `sha256(node name + "#" + ip)` (bytes compared in order), where `ip` is the
//!    service's *first* address in Go's `net.IP.String()` form — MetalLB keys all the addresses
//!    of a dual-stack service with the first one, so they share a node. It answers on the union
//!    of the `interfaces` of those advertisements that select it (every interface when one of them
//!    lists none). No candidate → the addresses are listed with node `""` and a refusal.
//!    A service with `metallb.io/allow-shared-ip` whose L2Advertisements include one with
//!    `serviceSelectors` gets no L2 announcement (MetalLB PR #3032, issue #3025).
//! 7. **EgressService**: the host puts the `egress-service.k8s.ovn.org/<ns>-<name>` label on the
//!    node the egress policy chose; BGPAdvertisement `nodeSelectors` match it like any label.
//!
//! # Choices where MetalLB is unclear or where ferrolb deliberately differs
//!
//! - *localPref compatibility*: MetalLB's `advertisementsAreCompatible` only tells advertisements
//!   apart when *both* aggregation lengths differ, which would refuse its own documentation's
//!   `/32 localPref 100` + `/24` example; ferrolb compares the lengths of the families the pool
//!   has (as the host's configuration check does).
//! - *An alias defined twice with the same value* is refused too (MetalLB refuses any duplicate).
//! - *Routes to the same (peer, prefix) from several advertisements of one service* are merged
//!   here (the host merges across services).
//! - *Several L2Advertisements*: one announcement per address, with the merged interfaces and the
//!   first advertisement (configuration order) that selects the elected node.
//! - *Refusals* are given only for what the service does not get because of its own state or a
//!   rule (no ready endpoint, local node excluded/unavailable, the sharing-key rule, no eligible
//!   L2 node, an unknown pool, a pool no advertisement covers) — not when the configuration
//!   simply assigns the announcement to other nodes.
//! - *An unknown pool* on a service is a refusal, not an error, so one stale allocation does not
//!   fail the whole plan.
#![no_std]

extern crate alloc;
#[cfg(test)]
extern crate std;

mod addr;
pub mod advertiser;
mod bitset;
mod bytes;
mod community;
mod config;
mod endpoints;
mod nodes;
mod selector;
pub mod types;

#[cfg(test)]
mod tests;

pub use advertiser::Advertiser;
pub use nodes::EXCLUDE_LABEL;
pub use types::{
    AddressBlock, AddressPool, BgpAdvertisement, BgpPeer, BgpRoute, Community, CommunityAlias, Config, ConfigError,
    DynamicAsn, Endpoint, InvalidInput, L2Advertisement, L2Announcement, Label, LabelSelector, Node, ObjectRef,
    OpenError, Prefix, RouteGroup, SelectorOperator, SelectorRequirement, Service, ServiceAnnouncements, TrafficPolicy,
};
