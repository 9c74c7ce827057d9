//! BFD in the daemon: the UDP driver around the sans-IO core (`ferrolb-bfd`) and the
//! `ferrolb show bfd` views.
//!
//! - [`driver`]: [`BfdService::start`] → ([`BfdHandle`], events); sessions keyed by
//!   [`PeerKey`] with a resolved BFD [`Profile`].
//! - [`show`]: `show bfd peers [brief] [--json]` renderings of [`PeerStatus`].
//! - `sock`: the sockets (listeners with PKTINFO/TTL control messages, per-session senders,
//!   raw echo senders), all without `unsafe`.

pub mod driver;
pub mod show;
mod sock;

pub use driver::{
    BfdCounters, BfdError, BfdEvent, BfdHandle, BfdOptions, BfdService, LocalTimers, PeerStatus, RemoteTimers,
};
pub use ferrolb_bfd::manager::{Counters, PeerKey, SessionId};
pub use ferrolb_bfd::profile::{BfdProfile, HopMode, Profile};
pub use ferrolb_bfd::wire::{Diag, State};
pub use show::{PeerJson, peer_json, render_peers, render_peers_json};
