//! ferrolb's BFD core (RFC 5880/5881/5883), sans-IO: control packet codec and session state machines.
//!
//! Nothing in this crate opens a socket, reads a clock or spawns a task. Time comes in as
//! [`std::time::Instant`] arguments, randomness (transmit jitter, discriminators) from a small
//! seeded PRNG ([`rng::Prng`]) that the owner seeds, so a recorded input log replays exactly.
//!
//! - [`wire`]: the RFC 5880 §4 control packet (zero-copy [`wire::Packet`] view and validated
//!   [`wire::Repr`]), its authentication section, and ferrolb's own echo packet format.
//! - [`session`]: one BFD session (state machine §6.2/§6.8.6, timers §6.8.2–§6.8.4, jitter
//!   §6.8.7, Poll/Final §6.5/§6.8.3, echo §6.8.9).
//! - [`profile`]: MetalLB `BFDProfile` semantics, defaults, ranges; single/multi-hop transport
//!   rules (ports, GTSM/TTL).
//! - [`manager`]: many sessions: demultiplexing, discriminators, aggregated timers, counters.
//!
//! Not implemented: Demand mode on our side (we never set D; a peer's Demand mode is honoured as
//! RFC 5880 §6.8.7 requires), the control-plane-independent bit (always 0), multipoint (M must be 0).

pub mod manager;
pub mod profile;
pub mod rng;
pub mod session;
pub mod wire;

pub use manager::{Counters, Manager, ManagerError, Output, PeerKey, RxMeta, SessionId};
pub use profile::{BfdProfile, HopMode, Profile, ProfileError};
pub use session::{Action, AuthKey, Input, Session, SessionError, SessionParams};
pub use wire::{Auth, Diag, EchoRepr, Packet, Repr, State, WireError};
