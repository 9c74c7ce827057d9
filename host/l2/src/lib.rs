//! ferrolb's layer-2 announcement core, sans-IO: ARP and NDP codecs and the announcer state.
//!
//! - [`wire`]: Ethernet, ARP, IPv6 and NDP codecs (zero-copy checked views + validated reprs).
//! - [`announcer`]: the speaker's state machine: answers ARP/NS for the addresses this node owns,
//!   sends gratuitous ARP / unsolicited NA on takeover.
//! - [`membership`]: liveness between ferrolb nodes (UDP heartbeats), with self-fencing.
//!
//! Nothing here opens a socket or reads a clock: time comes in as [`std::time::Instant`], frames
//! come in as bytes, and what to send goes out as actions for a driver.

pub mod announcer;
pub mod membership;
pub mod wire;

pub use wire::{MacAddr, WireError};
