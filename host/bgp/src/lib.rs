//! ferrolb's BGP-4 speaker core, sans-IO: wire codec, session FSM and RIBs.
//!
//! Nothing in this crate opens a socket, reads a clock or depends on tokio; the driver in the
//! `ferrolb` crate (`host/src/bgp/`) feeds it bytes and time and carries out its actions.
//!
//! - [`wire`]: owned message structs with `encode`/`decode`, RFC 7606 outcomes, UPDATE packing.
//! - [`session`]: one neighbor's session ([`session::Session`]): `handle(now, input)`,
//!   `handle_timeout(now)`, `poll_action()`, `poll_timeout()`.
//! - [`fsm`]: the RFC 4271 §8 state machine driving a session.
//! - [`rib`], [`filter`]: routing information bases and receive policy.

pub mod filter;
pub mod fsm;
pub mod rib;
pub mod session;
pub mod wire;
