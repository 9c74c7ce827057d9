//! Conversions between the WIT types and the host's `std::net` / `ipnet` types, with the checks
//! that make a plugin's answer trustworthy (a prefix length of 200 is refused here).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use super::types::{AddressBlock, IpAddress, IpPrefix};

/// A WIT address as a std address (every WIT address is valid).
pub fn ip_from_wit(a: &IpAddress) -> IpAddr {
    match *a {
        IpAddress::Ipv4((a, b, c, d)) => IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
        IpAddress::Ipv6((a, b, c, d, e, f, g, h)) => IpAddr::V6(Ipv6Addr::new(a, b, c, d, e, f, g, h)),
    }
}

/// A std address as a WIT address.
pub fn ip_to_wit(a: IpAddr) -> IpAddress {
    match a {
        IpAddr::V4(v) => {
            let [a, b, c, d] = v.octets();
            IpAddress::Ipv4((a, b, c, d))
        }
        IpAddr::V6(v) => {
            let [a, b, c, d, e, f, g, h] = v.segments();
            IpAddress::Ipv6((a, b, c, d, e, f, g, h))
        }
    }
}

/// A WIT prefix as an `IpNet`, refusing a length longer than the family allows.
pub fn prefix_from_wit(p: &IpPrefix) -> Result<IpNet, String> {
    let addr = ip_from_wit(&p.address);
    IpNet::new(addr, p.prefix_len).map_err(|_| {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        format!("prefix {addr}/{} has a length over {max}", p.prefix_len)
    })
}

/// An `IpNet` as a WIT prefix.
pub fn prefix_to_wit(n: IpNet) -> IpPrefix {
    IpPrefix { address: ip_to_wit(n.addr()), prefix_len: n.prefix_len() }
}

/// Whether `ip` lies in an address block of a pool.
pub fn block_contains(block: &AddressBlock, ip: IpAddr) -> bool {
    match block {
        AddressBlock::Cidr(p) => prefix_from_wit(p).map(|n| n.contains(&ip)).unwrap_or(false),
        AddressBlock::Range(r) => {
            let (first, last) = (ip_from_wit(&r.first), ip_from_wit(&r.last));
            match (first, last, ip) {
                (IpAddr::V4(f), IpAddr::V4(l), IpAddr::V4(i)) => f <= i && i <= l,
                (IpAddr::V6(f), IpAddr::V6(l), IpAddr::V6(i)) => f <= i && i <= l,
                _ => false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for s in ["192.0.2.1", "0.0.0.0", "255.255.255.255", "2001:db8::1", "::", "fe80::1:2:3:4"] {
            let ip: IpAddr = s.parse().expect("literal");
            assert_eq!(ip_from_wit(&ip_to_wit(ip)), ip);
        }
        let n: IpNet = "10.0.0.0/8".parse().expect("literal");
        assert_eq!(prefix_from_wit(&prefix_to_wit(n)), Ok(n));
    }

    #[test]
    fn refuses_long_prefixes() {
        let p = IpPrefix { address: IpAddress::Ipv4((10, 0, 0, 0)), prefix_len: 200 };
        assert_eq!(prefix_from_wit(&p), Err("prefix 10.0.0.0/200 has a length over 32".to_string()));
        let p6 = IpPrefix { address: IpAddress::Ipv6((0x2001, 0xdb8, 0, 0, 0, 0, 0, 0)), prefix_len: 129 };
        assert!(prefix_from_wit(&p6).is_err());
    }

    #[test]
    fn ranges() {
        use super::super::types::AddressRange;
        let r = AddressBlock::Range(AddressRange {
            first: IpAddress::Ipv4((192, 0, 2, 10)),
            last: IpAddress::Ipv4((192, 0, 2, 20)),
        });
        assert!(block_contains(&r, "192.0.2.10".parse().expect("literal")));
        assert!(block_contains(&r, "192.0.2.20".parse().expect("literal")));
        assert!(!block_contains(&r, "192.0.2.21".parse().expect("literal")));
        assert!(!block_contains(&r, "2001:db8::1".parse().expect("literal")));
    }
}
