//! OVN-Kubernetes EgressService semantics — which node a service's egress leaves from, with which
//! source address and through which routing table — as a plain `no_std` library.
//!
//! This crate is the whole logic of ferrolb's default egress policy. The WebAssembly component
//! (`plugins/egress`) only converts the WIT records of `ferrolb:policy/egress` to the types of
//! [`types`] and back and keeps a [`Planner`] in its `egress-planner` resource; the host can call
//! [`Planner`] natively too. It depends on `core`, `alloc` and `sha2`.
//!
//! ```
//! use ferrolb_egress_core::*;
//!
//! let config = Config {
//!     local_node: "worker-0".into(),
//!     nodes: vec![Node::new("worker-0", &[("vrf", "true")]), Node::new("worker-1", &[])],
//!     tables: vec![RouteTable { name: "ens4vrf".into(), id: 2 }],
//! };
//! let planner = Planner::open(config).unwrap();
//! let svc = Service {
//!     id: ObjectRef::new("default", "web"),
//!     node_selector: LabelSelector::labels(&[("vrf", "true")]),
//!     network: Some("ens4vrf".into()),
//!     load_balancer_ips: vec!["192.0.2.10".parse().unwrap()],
//!     endpoints: vec![Endpoint::new("10.1.0.5".parse().unwrap(), "worker-1", true)],
//!     ..Default::default()
//! };
//! let d = planner.decide(&svc).unwrap();
//! assert_eq!(d.node, "worker-0"); // the only node matching the nodeSelector
//! assert_eq!(d.table, Some(2));
//! assert_eq!(d.rules[0].from.to_string(), "10.1.0.5/32");
//! assert_eq!(d.snat[0].to.to_string(), "192.0.2.10");
//! ```
//!
//! # The rules
//!
//! 1. **`sourceIPBy: LoadBalancerIP`** — one node handles the service's egress. A node is
//!    *eligible* when the service's `nodeSelector` matches its labels (`matchLabels` plus
//!    `matchExpressions` `In`, `NotIn`, `Exists`, `DoesNotExist`; the empty selector matches every
//!    node), it is `live`, `Ready`, not `NetworkUnavailable`, and — with
//!    `externalTrafficPolicy: Local` — it hosts a ready endpoint of the service. The
//!    `current-node` the host hands back is kept while it is eligible (sticky); otherwise the
//!    eligible node with the smallest `SHA-256("<node>#<namespace>/<name>")` (UTF-8, digests
//!    compared bytewise, ties by name) is chosen ([`choice_hash`]). The decision names the node
//!    and the label `egress-service.k8s.ovn.org/<namespace>-<name>` = `""` the host puts on it.
//!    On the chosen node only, every ready endpoint address (of every endpoint, wherever it runs)
//!    gets SNAT `from <endpoint> to <the service's first load-balancer address of the same family>`
//!    and, when `network` is set, an ip rule. Other nodes get the node and label but no rules or
//!    SNAT. No eligible node → node `""`, no label, no rules, no SNAT and a refusal counting why
//!    the nodes were turned down. No load-balancer address → node `""`, no label, no rules, no
//!    SNAT and a refusal saying none is allocated yet.
//! 2. **`sourceIPBy: Network`** — node `""`, no label, no source address, no SNAT; ip rules only
//!    for the ready endpoints hosted on the local node. The `nodeSelector` plays no part (the API
//!    documents it for `LoadBalancerIP` only).
//! 3. **`network`** — a decimal table id (1..=4294967295 except 255, the kernel's local table;
//!    254 is main) or a table name looked up in the configuration's tables. When set, `table` is
//!    that id and each address the node must route gets `priority 5000, from <address>/32 or /128,
//!    lookup <id>`. Unset: `table` is `None` and there are no ip rules (SNAT still applies). An
//!    unknown name or malformed id is [`InvalidInput`] naming the service and the value.
//! 4. **Output** — rules sorted by (priority, from, table) and SNAT by (from, to), both
//!    deduplicated, so equal inputs give equal answers. Unready endpoints are ignored.
//! 5. **Malformed input** is [`InvalidInput`], never a panic: an empty namespace or name, a node
//!    set with an unnamed or repeated node (at `open`; after `update_nodes` every `decide` answers
//!    the error until a good set arrives), a malformed `network`, a `nodeSelector` requirement
//!    Kubernetes would reject (`In`/`NotIn` without values, `Exists`/`DoesNotExist` with values).
//!
//! # Choices where the rules leave room (documented so the conformance cases can be reconciled)
//!
//! - *`source-ip`* is the service's **first** load-balancer address (in the service's order: its
//!   primary family first). It is reported on every node whenever a node is chosen (like the node
//!   and the label, it describes the service, not this node's work); it is `None` when no node is
//!   chosen, when no address is allocated, and in network mode.
//! - *SNAT target*: with several load-balancer addresses of one family, the first of that family.
//! - *An endpoint address with no load-balancer address of its family* gets neither SNAT **nor
//!   an ip rule** (steering it into the table without the service's source address would break
//!   the symmetry the egress service exists for) and one refusal per address. That refusal is
//!   given on every node once a node is chosen (it is a fact about the service), not only on the
//!   chosen node.
//! - *`table`* is reported whenever `network` is set and valid, even when nothing else is done
//!   (no node chosen, no address allocated, no local endpoint): it is the resolution of the
//!   service's `network`, and an invalid `network` is an error in every case.
//! - *No load-balancer address and no eligible node at once*: only the load-balancer refusal (the
//!   node choice is not attempted).
//! - *`current-node`* that is unknown, empty or no longer eligible is ignored (a fresh choice).
//! - *A digit string* is always a table id, even if a table is *named* like that (OVN-Kubernetes
//!   reads a number first); leading zeros are accepted (`"002"` is table 2); anything with another
//!   character (`"+2"`, `" 2"`, `"-1"`) is a name. A name that two tables with different ids carry
//!   is refused as ambiguous; a name resolving to table 0 or 255 is refused.
//! - *An empty `local-node`* is accepted: no node is local, so no rules and no SNAT.
//! - *Refusals* are in a fixed order: the node-choice refusal, then per endpoint address in
//!   address order.
#![no_std]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod planner;
mod selector;
mod table;
pub mod types;

#[cfg(test)]
mod tests;

pub use planner::{NODE_LABEL_PREFIX, Planner, RULE_PRIORITY, choice_hash, node_label_key};
pub use table::LOCAL_TABLE;
pub use types::{
    Config, Decision, Endpoint, InvalidInput, IpRule, Label, LabelSelector, Node, ObjectRef, Prefix, RouteTable,
    SelectorOperator, SelectorRequirement, Service, SnatRule, SourceIpBy, TrafficPolicy,
};
