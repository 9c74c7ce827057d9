//! Comparisons without `memcmp`: strings, and addresses as integers.
//!
//! A `no_std` WebAssembly component has no libc. Rust lowers `==` and `Ord` on `str`/`[u8]` (and
//! possibly on `Ipv6Addr`, an array of bytes) to the C function `memcmp`, which then becomes an
//! *import* of the component — and ferrolb's default plugins import nothing. The merge therefore
//! compares strings only through [`cmp`] / [`eq`] (eight bytes at a time, as big-endian integers,
//! which orders exactly like `memcmp`), keys its maps with [`Key`], and compares addresses as
//! `(family, u128)` ([`ip_key`]).

use alloc::string::String;
use core::cmp::Ordering;
use core::net::IpAddr;

/// `a.cmp(b)` for strings (byte-wise, like `str::cmp`).
pub(crate) fn cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    while let (Some((x, ra)), Some((y, rb))) = (a.split_first_chunk::<8>(), b.split_first_chunk::<8>()) {
        let (x, y) = (u64::from_be_bytes(*x), u64::from_be_bytes(*y));
        if x != y {
            return x.cmp(&y);
        }
        a = ra;
        b = rb;
    }
    for (x, y) in a.iter().zip(b) {
        if x != y {
            return x.cmp(y);
        }
    }
    a.len().cmp(&b.len())
}

/// `a == b` for strings.
pub(crate) fn eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && cmp(a, b) == Ordering::Equal
}

/// `a == b` for optional strings.
pub(crate) fn opt_eq(a: &Option<String>, b: &Option<String>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => eq(a, b),
        (None, None) => true,
        _ => false,
    }
}

/// An address as a comparable integer: (0 for IPv4 / 1 for IPv6, value). Orders like `IpAddr`.
pub(crate) fn ip_key(a: IpAddr) -> (u8, u128) {
    match a {
        IpAddr::V4(x) => (0, u128::from(x.to_bits())),
        IpAddr::V6(x) => (1, x.to_bits()),
    }
}

/// `a == b` for optional addresses.
pub(crate) fn opt_ip_eq(a: &Option<IpAddr>, b: &Option<IpAddr>) -> bool {
    a.map(ip_key) == b.map(ip_key)
}

/// An owned string ordered with [`cmp`]: the key of the merge's maps.
#[derive(Clone, Debug)]
pub(crate) struct Key(pub String);

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        eq(&self.0, &other.0)
    }
}

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Key) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Key) -> Ordering {
        cmp(&self.0, &other.0)
    }
}

#[cfg(test)]
mod tests {
    //! The comparisons agree with the standard ones.

    use super::*;
    use alloc::string::ToString;

    #[test]
    fn orders_like_str() {
        let words = ["", "a", "ab", "abcdefgh", "abcdefghi", "abcdefgi", "b", "ba", "\u{e9}", "zzzzzzzzzzzzzzzzz"];
        for x in words {
            for y in words {
                assert_eq!(cmp(x, y), x.cmp(y), "{x:?} {y:?}");
                assert_eq!(eq(x, y), x == y);
                assert_eq!(Key(x.to_string()).cmp(&Key(y.to_string())), x.cmp(y));
            }
        }
        assert!(opt_eq(&None, &None));
        assert!(!opt_eq(&Some("a".to_string()), &None));
        assert!(opt_eq(&Some("a".to_string()), &Some("a".to_string())));
    }

    #[test]
    fn addresses_order_like_ipaddr() {
        let addrs: [IpAddr; 5] = [
            "0.0.0.0".parse().expect("literal"),
            "10.0.0.1".parse().expect("literal"),
            "255.255.255.255".parse().expect("literal"),
            "::".parse().expect("literal"),
            "2001:db8::1".parse().expect("literal"),
        ];
        for x in addrs {
            for y in addrs {
                assert_eq!(ip_key(x).cmp(&ip_key(y)), x.cmp(&y));
                assert_eq!(opt_ip_eq(&Some(x), &Some(y)), x == y);
            }
        }
    }
}
