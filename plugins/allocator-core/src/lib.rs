//! MetalLB's address allocation for LoadBalancer services, as a plain `no_std` library.
//!
//! This crate is the whole logic of ferrolb's default allocator policy. The WebAssembly component
//! (`plugins/allocator`) only converts the WIT records of `ferrolb:policy/allocator` to the types
//! of [`types`] and back; the host can call [`Allocator`] natively too (the benchmark runs both).
//! It depends on nothing but `core` and `alloc`.
//!
//! ```
//! use ferrolb_allocator_core::{AddressBlock, AddressPool, Allocator, Config, Service};
//!
//! let pool = AddressPool::new("gold", vec![AddressBlock::Cidr { address: "192.0.2.0".parse().unwrap(), prefix_len: 30 }]);
//! let (mut alloc, _) = Allocator::open(&Config { pools: vec![pool], namespaces: vec![] }, &[]).unwrap();
//! let a = alloc.assign(&Service::new("default", "web")).unwrap();
//! assert_eq!(a.ips, ["192.0.2.0".parse::<std::net::IpAddr>().unwrap()]);
//! assert_eq!(a.pool, "gold");
//! ```
//!
//! # The rules (MetalLB's `controller/service.go` and `internal/allocator/allocator.go`)
//!
//! `assign` first looks at what the service holds — the allocator's record, or, when it has
//! none (a restart without a store), the service's `status.loadBalancer.ingress` (`current_ips`)
//! — and keeps it when it still satisfies the request: one pool contains every address (and, with
//! `avoidBuggyIPs`, none is a .0/.255), that pool's serviceAllocation admits the service, the
//! family policy is met, the requested pool (if any, and existing) is that pool, the requested
//! addresses (if any) are exactly these, and sharing is still compatible. A PreferDualStack
//! service holding one family then gains the other family from the same pool when one is free.
//! Otherwise the old allocation is dropped and a new one made:
//!
//! 1. **Requested addresses** (`metallb.io/loadBalancerIPs`, or the deprecated
//!    `spec.loadBalancerIP`; both set is refused). They must match the service's families, lie in
//!    one pool (even an `autoAssign: false` one), in the requested pool if
//!    `metallb.io/address-pool` names an existing one, be admitted by that pool's
//!    serviceAllocation, and be free or shareable.
//! 2. **Requested pool**: any address of it, autoAssign notwithstanding, if its serviceAllocation
//!    admits the service. A pool name that does not exist falls back to rule 3, as the reference
//!    documentation says ("If the address pool that you specify does not exist, MetalLB attempts
//!    to assign an IP address from any pool that permits automatic assignment"; MetalLB's code
//!    refuses instead) — the refusal, if any, says so.
//! 3. **Automatic**: the `autoAssign` pools whose serviceAllocation selects namespaces or services
//!    and admits the service, by priority ascending (unset after every number), ties by name
//!    (byte order); then the `autoAssign` pools without serviceAllocation, by name. The first
//!    candidate with a free address of the needed family or families wins (for PreferDualStack,
//!    see below).
//! 4. **Inside a pool**: blocks in manifest order, the lowest free address of a block first;
//!    CIDR blocks include their network and broadcast addresses (MetalLB does);
//!    `avoidBuggyIPs` skips IPv4 x.x.x.0 and x.x.x.255. With a sharing key, "free" also means
//!    "used only by services with the same sharing key (and backend key) and no common
//!    (protocol, port)": the first address in that order that either is free or can be shared
//!    is taken (MetalLB's `getIPFromCIDR`).
//! 5. **Sharing** (`metallb.io/allow-shared-ip`): equal sharing keys, equal backend keys (with
//!    `externalTrafficPolicy: Local` the pod selectors must be identical; with `Cluster` they need
//!    not), and no (protocol, port) in common. The sole user of an address may change its key in
//!    place.
//! 6. **Families**: the primary family is `spec.ipFamilies[0]`, else the family of the first
//!    requested address, else IPv4; at most one address per family; the primary family's
//!    address comes first. SingleStack takes one address of the primary family;
//!    RequireDualStack one of each or nothing; PreferDualStack, within each tier of rule 3, the
//!    first pool with both, else the first with the primary family, else the first with the
//!    other (MetalLB's `findBestPoolForService`), and later gains the missing family from the
//!    same pool.
//! 7. **Configuration changes** (`reconfigure`, and `open` with the host's allocations): an
//!    allocation stays when one pool contains all its addresses (re-homed to that pool's name)
//!    and that pool still admits the service; otherwise it is released and reported (pool
//!    shrunk, removed, split across two pools, `avoidBuggyIPs` enabled, serviceAllocation
//!    narrowed). Request and annotation changes take effect on the next `assign`, as above.
//! 8. **Stability**: no randomness, no hash iteration, every list sorted; the same sequence of
//!    calls always gives the same answers. `release` frees the addresses at once.
//!
//! # Choices where MetalLB is unclear or where ferrolb deliberately differs
//!
//! - *Priority `0`*: MetalLB's `priority` is a Go `int` whose zero value means "unset", so an
//!   explicit `0` ranks with the unset pools (after every non-zero number). Negative numbers rank
//!   before positive ones (MetalLB's comparison is inconsistent for them).
//! - *Equal priorities and the fallback tier* are ordered by pool name (MetalLB iterates a Go
//!   map: unspecified order).
//! - *A serviceAllocation with neither namespaces, namespaceSelectors nor serviceSelectors* (only
//!   a priority) admits every service that requests the pool or one of its addresses, but its
//!   pool is never used for automatic assignment — MetalLB's `pinnedPoolsForService` finds pools
//!   only through their namespaces or service selectors, and its fallback excludes every pool
//!   with a serviceAllocation. Rule 3's first tier is therefore "autoAssign pools whose
//!   serviceAllocation selects namespaces or services and admits the service".
//! - *namespaceSelectors* match only namespaces the configuration lists (MetalLB matches them
//!   against the Namespace objects that exist, `config.go` `addressPoolServiceAllocationsFromCR`),
//!   with their labels plus `kubernetes.io/metadata.name: <name>`, which Kubernetes puts on every
//!   namespace. Selectors that match no namespace admit none through them (MetalLB's resolved
//!   namespace set is then empty, which its `isPoolCompatibleWithService` reads as "any
//!   namespace" for requested addresses — an accident of the representation).
//! - *Requested addresses and families*: a service is dual-stack when it is RequireDualStack, or
//!   PreferDualStack with both families in `spec.ipFamilies`; a dual-stack service must request
//!   one address of each family, a single-stack one exactly one of its family (MetalLB's
//!   "requested loadBalancer IP(s) does not match the ipFamily of the service"). With empty
//!   `spec.ipFamilies` the request defines the families. A service that requests addresses gets
//!   exactly those (MetalLB would add a second family to a single requested address of a
//!   PreferDualStack service, then drop it again on the next pass).
//! - *PreferDualStack with one family in `spec.ipFamilies`* still takes both families when a
//!   pool has both (MetalLB's allocator does the same; the WIT contract defines the policy as
//!   "one address of each family where possible").
//! - *A refusal drops what the service held* (MetalLB clears the service's status before
//!   trying again), so `allocations` never lists a service whose last `assign` was refused.
//! - *Restored allocations* (`open`'s `existing`) carry no sharing key nor ports: several services
//!   holding the same address are trusted to share it, and each learns its key and ports on its
//!   next `assign` (checked against the users already known). Until every user of such an
//!   address has been assigned again, no new service may join it (the refusal says why), rather
//!   than risk a port clash with a service whose ports are unknown. Their labels are unknown
//!   too: a reconfiguration checks only the namespace part of serviceAllocation for them.
//! - *Refusal texts* name the pool, address or rule: "pool gold is full (no free IPv4
//!   address)", "192.0.2.9 is not in pool silver", "no pool admits default/web", "both
//!   spec.loadBalancerIP and metallb.io/loadBalancerIPs are set", "192.0.2.5 is already in use by
//!   default/other (sharing key differs)".
//!
//! # Complexity
//!
//! See [`allocator`]: no operation scans the allocations. Free addresses are per-block interval
//! sets (module `freeset`), blocks with free addresses are an ordered set per pool and family, used
//! addresses and services are B-trees, records live in a dense slot vector, and shareable
//! addresses are indexed per sharing key. Measured on the 2-vCPU development machine with 100k
//! services over 20 pools (IPv4 and IPv6, a fifth of them sharing): natively 1.7 µs mean and
//! 4 µs p99 per `assign`; through the host runtime (wasmtime, release build) 4.5 µs mean and
//! 11 µs p99, 0.45–0.6 s in total, with 25–32 MiB of linear memory at 100k services.
//!
//! # String comparisons
//!
//! A `no_std` component has no libc, and Rust lowers `str` comparisons to the C `memcmp`.
//! `ferrolb-guest` now supplies one (a byte loop); the allocator nevertheless compares strings
//! only through the private `bytes` module (the keys of its maps included), which compares eight
//! bytes at a time and keeps this crate free of any assumption about what the component links.
#![no_std]

extern crate alloc;
#[cfg(test)]
extern crate std;

mod addr;
pub mod allocator;
mod bytes;
mod freeset;
mod pools;
mod selector;
pub mod types;

#[cfg(test)]
mod tests;

pub use allocator::Allocator;
pub use types::{
    AddressBlock, AddressPool, Allocation, Config, Family, InvalidInput, IpFamilyPolicy, Label, LabelSelector,
    NamespaceInfo, Protocol, ReconfigureOutcome, Refusal, SelectorOperator, SelectorRequirement, Service,
    ServiceAllocation, ServiceId, ServicePort, TrafficPolicy,
};
