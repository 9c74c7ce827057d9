//! ferrolb's kernel programming: desired state (VRFs, addresses, routes, ip rules, SNAT) applied
//! through rtnetlink and nftables, touching only what ferrolb owns.
//!
//! - [`intent`]: the desired state as plain serializable values, validation, and the ownership marks.
//! - [`apply`]: [`Netlink`] reads the kernel, diffs, and sends only the differences (pipelined).
//! - [`nft`]: the SNAT table `inet ferrolb`, replaced atomically with one `nft -f -` transaction.
//! - [`netns`]: working inside a given network namespace.
//!
//! ```no_run
//! use ferrolb_netlink::{DesiredState, Netlink, Netns, NextHop, Route, RouteOrigin, Rule, SnatRule, Vrf};
//! # async fn demo() -> Result<(), ferrolb_netlink::NetlinkError> {
//! let nl = Netlink::connect(Netns::Current).await?;
//! let endpoint = "10.128.2.15".parse().expect("address");
//! let desired = DesiredState {
//!     vrfs: vec![Vrf { name: "ens4vrf".into(), table: 2, ports: vec!["ens4".into()] }],
//!     routes: vec![Route {
//!         dst: "0.0.0.0/0".parse().expect("prefix"),
//!         table: 2,
//!         next_hop: NextHop::Gateway { address: "192.168.130.1".parse().expect("gw"), interface: Some("ens4".into()) },
//!         metric: 150,
//!     }],
//!     rules: vec![Rule::egress(endpoint, 2)],
//!     snat: vec![SnatRule { from: endpoint, to: "192.169.10.0".parse().expect("lb"), oif: None }],
//!     ..Default::default()
//! };
//! let report = nl.apply(&desired).await?; // report.errors name each object the kernel refused
//! assert_eq!(nl.apply(&desired).await?.requests, 0); // unchanged: no change request at all
//!
//! // The BGP daemon's incremental path (its own route protocol, never touched by `apply`):
//! let learned: Vec<Route> = Vec::new();
//! nl.install_routes(RouteOrigin::Bgp, &learned).await;
//! nl.remove_routes(RouteOrigin::Bgp, &learned.iter().map(Route::key).collect::<Vec<_>>()).await;
//! # let _ = report; Ok(()) }
//! ```

pub mod apply;
pub mod intent;
pub mod netns;
pub mod nft;

pub use apply::{ApplyReport, Link, Netlink, NetlinkError, ObjectError, Observed, RouteOrigin};
pub use intent::{
    Address, DesiredState, IpFamily, NextHop, Route, RouteKey, Rule, SnatRule, ValidationError, ValidationErrors, Vrf,
};
pub use netns::Netns;
