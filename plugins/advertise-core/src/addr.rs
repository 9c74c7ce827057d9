//! Addresses as numbers (family + `u128`), prefixes, and the text form of an address that
//! MetalLB's layer-2 election hashes (Go's `net.IP.String()`).
//!
//! Comparing `Ipv6Addr`s directly may compile to `memcmp` (see `bytes`); integers never do.

use alloc::string::String;
use core::fmt::Write;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::types::{AddressBlock, InvalidInput, Prefix};

/// An address as a comparable integer: (0 for IPv4 / 1 for IPv6, value).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Ip {
    /// 0: IPv4, 1: IPv6.
    pub v6: bool,
    /// The value (IPv4 in the low 32 bits).
    pub v: u128,
}

impl Ip {
    /// From a `core::net` address.
    pub fn of(a: IpAddr) -> Ip {
        match a {
            IpAddr::V4(x) => Ip { v6: false, v: u128::from(x.to_bits()) },
            IpAddr::V6(x) => Ip { v6: true, v: x.to_bits() },
        }
    }

    /// Back to a `core::net` address.
    pub fn addr(self) -> IpAddr {
        if self.v6 {
            IpAddr::V6(Ipv6Addr::from_bits(self.v))
        } else {
            IpAddr::V4(Ipv4Addr::from_bits(u32::try_from(self.v & 0xFFFF_FFFF).unwrap_or(0)))
        }
    }

    /// The number of bits of the family.
    pub fn bits(self) -> u8 {
        if self.v6 { 128 } else { 32 }
    }

    /// The address with the bits after `len` cleared (`len` is capped at the family's width).
    pub fn masked(self, len: u8) -> Ip {
        Ip { v6: self.v6, v: self.v & !host_mask(self.bits(), len) }
    }
}

/// The host-bit mask of a prefix of length `len` in a `bits`-bit family.
pub(crate) fn host_mask(bits: u8, len: u8) -> u128 {
    let host = u32::from(bits.saturating_sub(len));
    if host >= 128 { u128::MAX } else { (1u128 << host) - 1 }
}

/// The route for `ip` at aggregation length `len`: the address masked to `len`.
pub(crate) fn route_prefix(ip: Ip, len: u8) -> Prefix {
    let len = len.min(ip.bits());
    Prefix { address: ip.masked(len).addr(), prefix_len: len }
}

/// The family (`true` for IPv6) and the shortest prefix length among the CIDRs that make up a
/// pool's address block (MetalLB's `lowestMask` over `ParseCIDR`'s summarisation of a range).
pub(crate) fn block_shortest_prefix(b: &AddressBlock) -> Result<(bool, u8), InvalidInput> {
    match *b {
        AddressBlock::Cidr(p) => {
            let ip = Ip::of(p.address);
            if p.prefix_len > ip.bits() {
                return Err(InvalidInput(alloc::format!("pool block {b}: the prefix length exceeds {}", ip.bits())));
            }
            Ok((ip.v6, p.prefix_len))
        }
        AddressBlock::Range { first, last } => {
            let (f, l) = (Ip::of(first), Ip::of(last));
            if f.v6 != l.v6 {
                return Err(InvalidInput(alloc::format!("pool block {b}: the two ends are of different families")));
            }
            if f.v > l.v {
                return Err(InvalidInput(alloc::format!("pool block {b}: the range ends before it starts")));
            }
            Ok((f.v6, range_shortest_prefix(f.v, l.v, f.bits())))
        }
    }
}

/// The shortest prefix length of the minimal CIDR cover of `[first, last]` in a `bits`-bit space
/// (greedy: at each start, the largest aligned block that fits).
fn range_shortest_prefix(first: u128, last: u128, bits: u8) -> u8 {
    let mut best: u8 = bits;
    let mut start = first;
    loop {
        // The largest k with start aligned to 2^k and start + 2^k - 1 <= last.
        let mut k = if start == 0 { u32::from(bits) } else { start.trailing_zeros().min(u32::from(bits)) };
        loop {
            let span = if k >= 128 { u128::MAX } else { (1u128 << k) - 1 };
            match start.checked_add(span) {
                Some(end) if end <= last => break,
                _ => k -= 1,
            }
        }
        let len = bits.saturating_sub(u8::try_from(k).unwrap_or(bits));
        best = best.min(len);
        let span = if k >= 128 { u128::MAX } else { (1u128 << k) - 1 };
        match start.checked_add(span) {
            Some(end) if end < last => start = end + 1,
            _ => return best,
        }
    }
}

/// The text Go's `net.IP.String()` gives for an address: dotted quad for IPv4 and for
/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d` prints as `a.b.c.d`), otherwise RFC 5952 — lower
/// case, no leading zeros, the first longest run of two or more zero groups as `::`.
pub(crate) fn go_string(a: IpAddr, out: &mut String) {
    out.clear();
    let v4 = match a {
        IpAddr::V4(x) => Some(x),
        IpAddr::V6(x) => x.to_ipv4_mapped(),
    };
    if let Some(x) = v4 {
        let [p, q, r, s] = x.octets();
        let _ = write!(out, "{p}.{q}.{r}.{s}");
        return;
    }
    let IpAddr::V6(x) = a else { return };
    let g = x.segments();
    // The first longest run of zero groups of length >= 2.
    let (mut zs, mut zl) = (usize::MAX, 0usize);
    let mut i = 0;
    while i < 8 {
        let mut j = i;
        while j < 8 && g[j] == 0 {
            j += 1;
        }
        if j - i >= 2 && j - i > zl {
            zs = i;
            zl = j - i;
        }
        i = if j > i { j } else { i + 1 };
    }
    let mut i = 0;
    while i < 8 {
        if i == zs {
            out.push_str("::");
            i += zl;
            continue;
        }
        if i > 0 && i != zs + zl {
            out.push(':');
        }
        let _ = write!(out, "{:x}", g[i]);
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    fn ip(s: &str) -> Ip {
        Ip::of(s.parse().expect("test address"))
    }

    fn go(s: &str) -> String {
        let mut out = String::new();
        go_string(s.parse().expect("test address"), &mut out);
        out
    }

    #[test]
    fn masks_to_the_aggregation_length() {
        assert_eq!(route_prefix(ip("203.0.113.201"), 30).to_string(), "203.0.113.200/30");
        assert_eq!(route_prefix(ip("203.0.113.201"), 32).to_string(), "203.0.113.201/32");
        assert_eq!(route_prefix(ip("203.0.113.201"), 0).to_string(), "0.0.0.0/0");
        assert_eq!(route_prefix(ip("2001:db8::1:5"), 120).to_string(), "2001:db8::1:0/120");
        assert_eq!(route_prefix(ip("2001:db8::1:5"), 0).to_string(), "::/0");
        assert_eq!(route_prefix(ip("2001:db8::1:5"), 128).to_string(), "2001:db8::1:5/128");
    }

    #[test]
    fn round_trips() {
        for s in ["0.0.0.0", "255.255.255.255", "::", "2001:db8::1", "ffff::"] {
            assert_eq!(ip(s).addr().to_string(), s);
        }
        assert!(ip("255.255.255.255") < ip("::"));
    }

    #[test]
    fn shortest_prefix_of_blocks() {
        let b = |s: &str| -> AddressBlock {
            if let Some((x, y)) = s.split_once('-') {
                AddressBlock::Range { first: x.parse().expect("a"), last: y.parse().expect("b") }
            } else {
                let (x, l) = s.split_once('/').expect("cidr");
                AddressBlock::Cidr(Prefix { address: x.parse().expect("a"), prefix_len: l.parse().expect("len") })
            }
        };
        assert_eq!(block_shortest_prefix(&b("203.0.113.200-203.0.113.203")), Ok((false, 30)));
        assert_eq!(block_shortest_prefix(&b("10.100.1.1-10.100.1.254")), Ok((false, 26)));
        assert_eq!(block_shortest_prefix(&b("10.0.0.0-10.0.0.0")), Ok((false, 32)));
        assert_eq!(block_shortest_prefix(&b("0.0.0.0-255.255.255.255")), Ok((false, 0)));
        assert_eq!(block_shortest_prefix(&b("::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")), Ok((true, 0)));
        assert_eq!(block_shortest_prefix(&b("2001:db8::1-2001:db8::ff")), Ok((true, 121)));
        assert_eq!(block_shortest_prefix(&b("192.168.10.0/24")), Ok((false, 24)));
        assert_eq!(block_shortest_prefix(&b("2001:db8:5::/124")), Ok((true, 124)));
        assert!(block_shortest_prefix(&b("192.168.10.0/33")).is_err());
        assert!(block_shortest_prefix(&b("10.0.0.2-10.0.0.1")).is_err());
        assert!(block_shortest_prefix(&b("10.0.0.1-::1")).is_err());
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(go("192.0.2.1"), "192.0.2.1");
        assert_eq!(go("::ffff:192.0.2.1"), "192.0.2.1");
        assert_eq!(go("::"), "::");
        assert_eq!(go("::1"), "::1");
        assert_eq!(go("1::"), "1::");
        assert_eq!(go("2001:db8::1"), "2001:db8::1");
        assert_eq!(go("2001:DB8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");
        assert_eq!(go("2001:db8:0:1:1:1:1:1"), "2001:db8:0:1:1:1:1:1");
        assert_eq!(go("2001:0:0:1:0:0:0:1"), "2001:0:0:1::1");
        assert_eq!(go("::192.0.2.1"), "::c000:201");
        assert_eq!(go("fe80::abcd:ef01"), "fe80::abcd:ef01");
    }
}
