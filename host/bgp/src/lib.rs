//! ferrolb's BGP-4 speaker core, sans-IO: wire codec, session FSM and RIBs.
//!
//! Nothing in this crate opens a socket, reads a clock or depends on tokio; the driver in the
//! `ferrolb` crate (`host/src/bgp/`) feeds it bytes and time and carries out its actions.
