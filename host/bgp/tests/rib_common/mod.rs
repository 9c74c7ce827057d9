//! Shared helpers of the RIB integration tests: a small attribute type and a seeded PRNG.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::Ipv4Addr;

use ferrolb_bgp::rib::BestPathInputs;
use ipnet::IpNet;

/// Test path attributes, ordered and hashable like the real ones must be.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Attrs {
    pub local_pref: u32,
    pub as_path: Vec<u32>,
    pub origin: u8,
    pub med: Option<u32>,
    pub next_hop: Ipv4Addr,
    pub communities: Vec<u32>,
}

impl Attrs {
    /// Attributes distinguished by a community tag.
    pub fn tag(tag: u32) -> Self {
        Attrs { communities: vec![tag], ..Attrs::default() }
    }
}

impl Default for Attrs {
    fn default() -> Self {
        Attrs {
            local_pref: 100,
            as_path: vec![65001],
            origin: 0,
            med: None,
            next_hop: Ipv4Addr::new(192, 0, 2, 1),
            communities: Vec::new(),
        }
    }
}

impl BestPathInputs for Attrs {
    fn local_pref(&self) -> u32 {
        self.local_pref
    }
    fn as_path_len(&self) -> u32 {
        self.as_path.len() as u32
    }
    fn origin(&self) -> u8 {
        self.origin
    }
    fn med(&self) -> u32 {
        self.med.unwrap_or(0)
    }
    fn neighbor_as(&self) -> Option<u32> {
        self.as_path.first().copied()
    }
}

/// Parses a prefix.
pub fn n(s: &str) -> IpNet {
    s.parse().unwrap()
}

/// Parses prefixes.
pub fn ns(v: &[&str]) -> Vec<IpNet> {
    v.iter().map(|s| n(s)).collect()
}

/// SplitMix64: a tiny seeded PRNG, so property tests replay exactly.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
