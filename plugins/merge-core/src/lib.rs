//! frr-k8s's merging of FRRConfigurations, as a plain `no_std` library.
//!
//! This crate is the whole logic of ferrolb's default merge policy. The WebAssembly component
//! (`plugins/merge`) only converts the WIT records of `ferrolb:policy/merge` to the types of
//! [`types`] and back; the host (or a native benchmark) can call [`merge`] or [`Merger`] directly.
//! It depends on nothing but `core` and `alloc`.
//!
//! ```
//! use ferrolb_merge_core::*;
//!
//! let ip = |s: &str| s.parse::<core::net::IpAddr>().unwrap();
//! let net = Prefix::new(ip("192.0.2.0"), 24);
//! let mut advertising = Neighbor::new(ip("172.30.0.3"), 4200000000);
//! advertising.to_advertise.prefixes = vec![net];
//! let mut receiving = Neighbor::new(ip("172.30.0.3"), 4200000000);
//! receiving.to_receive.mode = Some(FilterMode::All);
//! let source = |name: &str, n: Neighbor, prefixes: Vec<Prefix>| ConfigSource {
//!     origin: ObjectRef::new("frr-k8s-system", name),
//!     config: RouterConfig { routers: vec![Router { prefixes, neighbors: vec![n], ..Router::new(64512, "") }], bfd_profiles: vec![] },
//!     ..ConfigSource::default()
//! };
//! let input = MergeInput {
//!     node: Node { name: "worker-0".into(), labels: vec![] },
//!     sources: vec![source("a", advertising, vec![net]), source("b", receiving, vec![])],
//!     always_block: vec![],
//! };
//! let merged = merge(input).unwrap();
//! let n = &merged.config.routers[0].neighbors[0];
//! assert_eq!(n.to_advertise.prefixes, [net]);
//! assert_eq!(n.to_receive.mode, Some(FilterMode::All));
//! ```
//!
//! # The rules
//!
//! 1. **Selection and self-containment.** A configuration applies to the node when its
//!    `nodeSelector` matches the node's labels (empty: every node). Each applied configuration
//!    must be self-contained: the prefixes a neighbor advertises must be among its own router's
//!    `prefixes`; communities and local preferences may only be attached to prefixes that
//!    configuration advertises to that neighbor (with `mode: all`, its router's prefixes); a
//!    `bfdProfile` must be defined in its own `bfdProfiles`. A neighbor needs an address or an
//!    interface (not both), an `asn` or a `dynamicASN` (not both), not both `password` and
//!    `passwordSecret`; a router ID is IPv4; toReceive selectors satisfy
//!    `length <= ge <= le <= maximum`. A violation is a conflict naming that configuration alone.
//! 2. **Routers** are keyed by VRF: the ASN must agree; router IDs must agree when both are set
//!    (the set one is kept); `prefixes` and `imports` are unioned.
//! 3. **Neighbors** are keyed, within a router, by address (by interface for unnumbered ones):
//!    the remote AS (`asn` and `dynamicASN` together), `sourceaddress`, `password` and
//!    `passwordSecret` (together), `ebgpMultiHop`, `disableMP`, `port`, `holdTime`,
//!    `keepaliveTime` and `connectTime` must agree, and two different `bfdProfile`s conflict.
//!    Unset `port` / `holdTime` / `keepaliveTime` / `connectTime` count as 179 / 180 s / 60 s /
//!    60 s, unset flags as false; an unset `sourceaddress` or password means "none", which
//!    differs from any set value; an unset `bfdProfile` takes no position (the set one is kept).
//!    Where values agree, the merged neighbor keeps the explicit one (`port: 179` and an unset
//!    port merge to `port: 179`).
//! 4. **toAdvertise**: `allowed.prefixes` are unioned and `mode: all` wins; `withCommunity` and
//!    `withLocalPref` are unioned by value (one entry per community / local preference, with the
//!    union of its prefixes); one prefix with two different local preferences is a conflict.
//! 5. **toReceive**: the less restrictive filter wins: `mode: all` beats filtered, and the
//!    filtered selectors `(prefix, ge, le)` are unioned.
//! 6. **BFD profiles** with the same name must have the same values (unset compares as the
//!    documented default: receive/transmit 300 ms, multiplier 3, echo interval 50 ms, echo and
//!    passive off, minimum TTL 254). `alwaysBlock` is carried to the merged configuration
//!    (sorted, without duplicates), whatever any toReceive says: the receiving side enforces it.
//! 7. Every conflict is reported in one answer: each names the objects involved (the one that
//!    set the merged value first and the one that disagrees), the field path, and a reason with
//!    both values (a password is never shown).
//!
//! The merged configuration is deterministic: routers by VRF, neighbors by address (IPv4 before
//! IPv6) then interface, prefixes and selectors by value, communities standard before large,
//! local preferences ascending, imports and BFD profiles by name; `applied` keeps input order.
//!
//! # Where frr-k8s behaves differently (the rules above win)
//!
//! Read: frr-k8s `internal/controller/merge.go`, `api_to_config.go`, `internal/frr/config.go`.
//!
//! - *`mode: all` in toAdvertise*: frr-k8s turns `all` into the list of that configuration's own
//!   router prefixes before merging, so another configuration's prefixes are not advertised to
//!   the neighbor; here `all` wins on the merged router (every merged prefix).
//! - *Filter lists under `mode: all`* are kept (unioned) rather than dropped, so a single
//!   configuration merges to itself; `all` makes them irrelevant either way.
//! - *BFD profiles* are compared by effective value (unset = default); frr-k8s compares the raw
//!   fields, so an unset `receiveInterval` and `receiveInterval: 300` conflict there.
//! - *Timers and port that agree* keep the explicit value; frr-k8s clears values equal to the
//!   default after merging two entries (`cleanNeighborDefaults`), but not for a single entry.
//! - *`bfdProfile` set in one entry and unset in another*: frr-k8s refuses ("multiple bfd
//!   profiles"); the rules only refuse two different profiles, so the set one is kept (a
//!   configuration that only adds `toReceive` to a MetalLB peer need not repeat its BFD).
//! - *`enableGracefulRestart`* is not compared by frr-k8s (the first entry's value stays); here it
//!   is on when any entry sets it, so the result does not depend on the order.
//! - *Passwords*: frr-k8s resolves `passwordSecret` to the secret's content and compares
//!   passwords; the policy sees no secrets, so the pair (password, secret name) must agree.
//! - *Neighbor key*: frr-k8s keys by address (+ VRF), not by port; so does this crate: two entries
//!   for one address with different ports are a port conflict, not two neighbors.
//! - *Errors*: frr-k8s stops at the first error; this crate reports all of them.
#![no_std]

extern crate alloc;
#[cfg(test)]
extern crate std;

mod bytes;
mod merger;
mod report;
pub mod selector;
pub mod types;
mod validate;

#[cfg(test)]
mod tests;

pub use merger::{Merger, duration_text};
pub use types::*;

/// Merge every configuration of `input` that applies to its node.
///
/// Equivalent to feeding each source to a [`Merger`] in order. On error, every conflict found is
/// returned; the caller keeps its last valid merged configuration.
pub fn merge(input: MergeInput) -> Result<MergedConfig, MergeError> {
    let mut m = Merger::new(&input.node, input.always_block);
    for s in input.sources {
        m.add(s);
    }
    m.finish()
}
