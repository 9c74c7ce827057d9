//! The test lab: network namespaces, veth pairs, FRR and BIRD peers, User-Mode Linux.
//! Used by tests, benchmarks and `cargo xtask demo` only; everything it creates is removed when its guard drops.
//!
//! - [`Netns`] (module [`netns`]): a uniquely named namespace (`flb-<tag>-<pid>-<n>`) with veth
//!   pairs, bridges, addresses, routes and sysctls; dropping it kills what runs inside and deletes
//!   it, also while a test panics. The first namespace of a process sweeps namespaces left behind
//!   by killed runs ([`sweep_stale`]).
//! - [`frr::Frr`]: zebra / bgpd / bfdd / staticd in a namespace with a private directory, `vtysh`
//!   and typed summaries of its JSON (`show bgp summary`, BGP tables, neighbors, BFD peers, RIB).
//! - [`bird::Bird`]: BIRD 2 in a namespace, `birdc` and parsers; [`bird::StaticInjector`] generates
//!   the benchmark injector (N static prefixes exported over eBGP).
//! - [`wait_until`] / [`wait_for`]: polling with a failure message that says what never happened.
//! - [`skip_unless_root`]: lab tests skip (loudly) only when not root.
//!
//! ```no_run
//! use std::time::Duration;
//! use ferrolb_lab::frr::{Daemon, Family, Frr};
//! use ferrolb_lab::{Netns, skip_unless_root, wait_for};
//!
//! if skip_unless_root("example") {
//!     return Ok(());
//! }
//! let (r1, r2) = (Netns::new("r1")?, Netns::new("r2")?);
//! r1.veth("eth0", &r2, "eth0")?;
//! r1.add_addr("eth0", "10.0.12.1/30")?;
//! r2.add_addr("eth0", "10.0.12.2/30")?;
//! let conf = |asn, peer, peer_as| {
//!     format!("router bgp {asn}\n no bgp ebgp-requires-policy\n neighbor {peer} remote-as {peer_as}\n")
//! };
//! let f1 = Frr::start(&r1, &[Daemon::Zebra, Daemon::Bgpd], &conf(65001, "10.0.12.2", 65002))?;
//! let _f2 = Frr::start(&r2, &[Daemon::Zebra, Daemon::Bgpd], &conf(65002, "10.0.12.1", 65001))?;
//! wait_for(Duration::from_secs(30), "r1's session to r2", || {
//!     let s = f1.bgp_summary()?;
//!     match s.peer(Family::Ipv4, "10.0.12.2") {
//!         Some(p) if p.is_established() => Ok(()),
//!         other => Err(format!("{other:?}")),
//!     }
//! })?;
//! // Dropping f1, _f2, r1 and r2 stops the daemons and deletes the namespaces.
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod bird;
mod error;
pub mod frr;
pub mod netns;
pub mod uml;

pub use error::{LabError, Result, wait_for, wait_until};
pub use netns::{NAME_PREFIX, Netns, Process, is_root, list_namespaces, skip_unless_root, sweep_stale};
