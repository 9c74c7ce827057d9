//! The test lab: network namespaces, veth pairs, FRR and BIRD peers, User-Mode Linux.
//! Used by tests and benchmarks only; everything it creates is removed when its guard drops.

pub mod uml;
