//! Addresses as numbers: an [`Ip`] is a family plus a `u128` (IPv4 in the low 32 bits), so that
//! ranges, "next address" and ordering are integer arithmetic.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::types::Family;

/// An address of either family as an integer. Ordered by family (IPv4 first), then value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Ip {
    /// The family.
    pub fam: Family,
    /// The value (IPv4: 0..=u32::MAX).
    pub v: u128,
}

impl Ip {
    /// From a `core::net` address.
    pub fn from_addr(a: IpAddr) -> Ip {
        match a {
            IpAddr::V4(x) => Ip { fam: Family::Ipv4, v: u128::from(u32::from(x)) },
            IpAddr::V6(x) => Ip { fam: Family::Ipv6, v: u128::from(x) },
        }
    }

    /// Back to a `core::net` address.
    pub fn to_addr(self) -> IpAddr {
        match self.fam {
            Family::Ipv4 => IpAddr::V4(Ipv4Addr::from(u32::try_from(self.v).unwrap_or(u32::MAX))),
            Family::Ipv6 => IpAddr::V6(Ipv6Addr::from(self.v)),
        }
    }

    /// An IPv4 address ending in .0 or .255 (MetalLB's `ipConfusesBuggyFirmwares`).
    pub fn is_buggy(self) -> bool {
        self.fam == Family::Ipv4 && matches!(self.v & 0xff, 0 | 0xff)
    }
}

impl fmt::Display for Ip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.to_addr().fmt(f)
    }
}

/// The number of bits of a family's addresses.
pub(crate) fn bits(fam: Family) -> u8 {
    match fam {
        Family::Ipv4 => 32,
        Family::Ipv6 => 128,
    }
}

/// The host-bit mask of a prefix of length `len` (`len <= bits(fam)`).
pub(crate) fn host_mask(fam: Family, len: u8) -> u128 {
    let host = u32::from(bits(fam).saturating_sub(len));
    if host >= 128 { u128::MAX } else { (1u128 << host) - 1 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    fn ip(s: &str) -> Ip {
        Ip::from_addr(s.parse().expect("test address"))
    }

    #[test]
    fn round_trip_and_display() {
        for s in ["0.0.0.0", "192.0.2.1", "255.255.255.255", "::", "2001:db8::1", "ffff::"] {
            assert_eq!(ip(s).to_string(), s);
        }
    }

    #[test]
    fn order_is_family_then_value() {
        assert!(ip("255.255.255.255") < ip("::"));
        assert!(ip("10.0.0.1") < ip("10.0.0.2"));
    }

    #[test]
    fn buggy_addresses_are_ipv4_dot_zero_and_dot_255() {
        assert!(ip("192.0.2.0").is_buggy());
        assert!(ip("192.0.2.255").is_buggy());
        assert!(!ip("192.0.2.1").is_buggy());
        assert!(!ip("2001:db8::").is_buggy());
        assert!(!ip("2001:db8::ff").is_buggy());
    }

    #[test]
    fn masks() {
        assert_eq!(host_mask(Family::Ipv4, 24), 0xff);
        assert_eq!(host_mask(Family::Ipv4, 32), 0);
        assert_eq!(host_mask(Family::Ipv4, 0), 0xffff_ffff);
        assert_eq!(host_mask(Family::Ipv6, 0), u128::MAX);
        assert_eq!(host_mask(Family::Ipv6, 64), u128::from(u64::MAX));
    }
}
