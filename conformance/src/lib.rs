//! The conformance kit's library: the kit lives in the host crate (`ferrolb::kit`) so that the
//! daemon can run its smoke cases before a hot swap; this crate re-exports it for the
//! `ferrolb-conformance` binary and its tests.

pub use ferrolb::kit::*;
