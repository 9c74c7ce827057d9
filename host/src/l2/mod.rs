//! Layer-2 announcement in the daemon: raw-socket drivers (AF_PACKET for ARP and NDP) and the
//! membership heartbeats around the sans-IO core (`ferrolb-l2`).
//!
//! - [`driver`]: [`L2Service::start`] → [`L2Handle`] (`set_announcements`, `set_fenced`, `status`).
//! - [`membership`]: [`MembershipService::start`] → [`MembershipHandle`] and a channel of
//!   [`MembershipEvent`]s (live-set changes for the advertise policy; fencing of the L2 service).
//! - [`show`]: `ferrolb show l2 [--json]` ([`render_l2`], [`l2_json`]).
//!
//! How the daemon wires them (one tokio runtime):
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use ferrolb::l2::{L2Options, L2Service, MembershipEvent, MembershipOptions, MembershipService};
//! use ferrolb_l2::membership::MembershipConfig;
//!
//! let l2 = L2Service::start(L2Options::default())?;
//! let options = MembershipOptions::new(MembershipConfig::new("cluster-uid", "node-a"), vec![/* peers */]);
//! let (_membership, mut events) = MembershipService::start(options, Some(l2.clone()))?;
//! while let Some(event) = events.recv().await {
//!     if let MembershipEvent::LiveChanged { live, .. } = event {
//!         // Set the nodes' `live` flags from `live`, call the advertise policy's update-nodes,
//!         // and hand this node's L2 announcements to `l2.set_announcements(...)`.
//!         let _ = live;
//!     }
//! }
//! # Ok(()) }
//! ```

pub mod driver;
pub mod membership;
pub mod show;

pub use driver::{L2Error, L2Handle, L2Options, L2Service, L2Status};
pub use membership::{MembershipError, MembershipEvent, MembershipHandle, MembershipOptions, MembershipService};
pub use show::{l2_json, render_l2};
