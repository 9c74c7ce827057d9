//! ferrolb's kernel programming: desired state (VRFs, addresses, routes, ip rules, SNAT) applied
//! through rtnetlink and nftables, touching only what ferrolb owns.
//!
//! - [`intent`]: the desired state as plain serializable values, validation, and the ownership marks.
//! - [`apply`]: [`Netlink`] reads the kernel, diffs, and sends only the differences (pipelined).
//! - [`nft`]: the SNAT table `inet ferrolb`, replaced atomically with one `nft -f -` transaction.
//! - [`netns`]: working inside a given network namespace.

pub mod apply;
pub mod intent;
pub mod netns;
pub mod nft;

pub use apply::{ApplyReport, Link, Netlink, NetlinkError, ObjectError, Observed, RouteOrigin};
pub use intent::{
    Address, DesiredState, IpFamily, NextHop, Route, RouteKey, Rule, SnatRule, ValidationError, ValidationErrors, Vrf,
};
pub use netns::Netns;
