//! Parsers for the value syntaxes the manifests use, with the upstream rules: addresses and CIDRs
//! (Go's `net.ParseIP` / `net.ParseCIDR`), MetalLB address ranges, Go durations
//! (`time.ParseDuration`, which `metav1.Duration` uses), BGP communities (MetalLB's and frr-k8s'
//! `community.New`) and Kubernetes names and label syntax (`k8s.io/apimachinery` validation).

use crate::model::{AddressBlock, Community, IpFamily};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Go's `net.ParseIP` (an IPv4-mapped IPv6 address is read as IPv4, as Go's `To4` does).
pub(crate) fn parse_ip(s: &str) -> Option<IpAddr> {
    s.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

/// Go's `net.ParseCIDR`: the network (host bits cleared) and whether host bits were set.
pub(crate) fn parse_cidr(s: &str) -> Result<(IpNet, bool), String> {
    let (addr, len) = s.split_once('/').ok_or_else(|| format!("invalid CIDR \"{s}\": no prefix length"))?;
    let ip: IpAddr = addr.parse().map_err(|_| format!("invalid CIDR \"{s}\": \"{addr}\" is not an IP address"))?;
    let len: u8 = len
        .parse()
        .ok()
        .filter(|l| len.bytes().all(|c| c.is_ascii_digit()) && *l <= max_len(IpFamily::of(&ip)))
        .ok_or_else(|| {
            format!("invalid CIDR \"{s}\": prefix length \"{len}\" is not in 0..={}", max_len(IpFamily::of(&ip)))
        })?;
    let net = IpNet::new(ip, len).map_err(|e| format!("invalid CIDR \"{s}\": {e}"))?;
    let trunc = net.trunc();
    Ok((trunc, trunc != net))
}

/// The maximum prefix length of a family.
pub(crate) fn max_len(f: IpFamily) -> u8 {
    match f {
        IpFamily::Ipv4 => 32,
        IpFamily::Ipv6 => 128,
    }
}

/// One entry of an IPAddressPool's `addresses` (MetalLB's `ParseCIDR`): a CIDR, or a
/// `first-last` range. Returns the block and, for a CIDR with host bits set, the network MetalLB
/// actually uses (Go's `ParseCIDR` clears the host bits silently).
pub(crate) fn parse_address_block(s: &str) -> Result<(AddressBlock, Option<IpNet>), String> {
    if !s.contains('-') {
        let (net, host_bits) = parse_cidr(s)?;
        return Ok((AddressBlock::Cidr(net), host_bits.then_some(net)));
    }
    let (a, b) = s.split_once('-').unwrap_or((s, ""));
    let first = parse_ip(a.trim()).ok_or_else(|| format!("invalid IP range \"{s}\": invalid start IP \"{a}\""))?;
    let last = parse_ip(b.trim()).ok_or_else(|| format!("invalid IP range \"{s}\": invalid end IP \"{b}\""))?;
    if IpFamily::of(&first) != IpFamily::of(&last) {
        // MetalLB compares the 16-byte forms and summarizes nothing; refuse it explicitly.
        return Err(format!("invalid IP range \"{s}\": start and end IP are of different families"));
    }
    if first > last {
        return Err(format!("invalid IP range \"{s}\": start IP \"{first}\" is after the end IP \"{last}\""));
    }
    Ok((AddressBlock::Range { first, last }, None))
}

fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The address `v` of family `f`.
fn from_u128(v: u128, f: IpFamily) -> IpAddr {
    match f {
        IpFamily::Ipv4 => IpAddr::V4(Ipv4Addr::from(u32::try_from(v).unwrap_or(u32::MAX))),
        IpFamily::Ipv6 => IpAddr::V6(Ipv6Addr::from(v)),
    }
}

/// An address as a number (IPv4 in the low 32 bits), for interval arithmetic.
pub(crate) fn ip_value(ip: IpAddr) -> u128 {
    to_u128(ip)
}

/// The smallest list of CIDRs covering `first..=last` exactly (same family).
pub(crate) fn summarize(first: IpAddr, last: IpAddr) -> Vec<IpNet> {
    let fam = IpFamily::of(&first);
    let bits = u32::from(max_len(fam));
    let (mut lo, hi) = (to_u128(first), to_u128(last));
    if lo > hi {
        return Vec::new();
    }
    let mut out = Vec::new();
    loop {
        // The largest aligned block starting at `lo` that does not pass `hi`.
        let mut size_bits = if lo == 0 { bits } else { lo.trailing_zeros().min(bits) };
        let end = loop {
            let span = if size_bits >= 128 { u128::MAX } else { (1u128 << size_bits) - 1 };
            match lo.checked_add(span) {
                Some(end) if end <= hi => break end,
                _ => size_bits -= 1,
            }
        };
        let len = u8::try_from(bits - size_bits).unwrap_or(0);
        let net = match from_u128(lo, fam) {
            IpAddr::V4(v4) => Ipv4Net::new(v4, len).map(IpNet::V4),
            IpAddr::V6(v6) => Ipv6Net::new(v6, len).map(IpNet::V6),
        };
        if let Ok(net) = net {
            out.push(net);
        }
        if end >= hi {
            break;
        }
        lo = end + 1;
    }
    out
}

/// Go's `time.ParseDuration`, in nanoseconds.
pub(crate) fn parse_go_duration(s: &str) -> Result<i128, String> {
    let err = || format!("invalid duration \"{s}\" (expected e.g. \"90s\", \"1m30s\", \"500ms\")");
    let mut rest = s;
    let mut neg = false;
    if let Some(r) = rest.strip_prefix('-') {
        neg = true;
        rest = r;
    } else if let Some(r) = rest.strip_prefix('+') {
        rest = r;
    }
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(err());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let num = &rest[..num_end];
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(err());
        }
        let value: f64 = num.parse().map_err(|_| err())?;
        rest = &rest[num_end..];
        let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(err()),
        };
        total += value * scale;
        rest = &rest[unit_end..];
    }
    if total > 9.2e18 {
        return Err(format!("invalid duration \"{s}\": out of range"));
    }
    // The value is below 2^63 (checked above).
    #[allow(clippy::cast_possible_truncation)]
    let ns = total.round() as i128;
    Ok(if neg { -ns } else { ns })
}

/// Why a community string is not a community.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CommunityError {
    /// The right shape but a bad part (MetalLB's `ErrInvalidCommunityValue`).
    Value(String),
    /// Neither `a:b` nor `large:a:b:c` (MetalLB's `ErrInvalidCommunityFormat`): may be an alias.
    Format,
}

/// MetalLB's and frr-k8s' `community.New`: `a:b` (16-bit parts) or `large:a:b:c` (32-bit parts).
pub(crate) fn parse_community(s: &str) -> Result<Community, CommunityError> {
    let parts: Vec<&str> = s.split(':').collect();
    match parts.as_slice() {
        [a, b] => {
            let a = parse_uint_part::<u16>(a, s, "16")?;
            let b = parse_uint_part::<u16>(b, s, "16")?;
            Ok(Community::Standard((u32::from(a) << 16) | u32::from(b)))
        }
        [marker, a, b, c] => {
            if *marker != "large" {
                return Err(CommunityError::Value(format!(
                    "invalid community \"{s}\": a large community is written large:<uint32>:<uint32>:<uint32>"
                )));
            }
            Ok(Community::Large(
                parse_uint_part::<u32>(a, s, "32")?,
                parse_uint_part::<u32>(b, s, "32")?,
                parse_uint_part::<u32>(c, s, "32")?,
            ))
        }
        _ => Err(CommunityError::Format),
    }
}

fn parse_uint_part<T: std::str::FromStr>(part: &str, whole: &str, bits: &str) -> Result<T, CommunityError> {
    if part.is_empty() || !part.bytes().all(|c| c.is_ascii_digit()) {
        return Err(CommunityError::Value(format!(
            "invalid community \"{whole}\": \"{part}\" is not an unsigned {bits}-bit number"
        )));
    }
    part.parse::<T>().map_err(|_| {
        CommunityError::Value(format!("invalid community \"{whole}\": \"{part}\" does not fit in {bits} bits"))
    })
}

fn is_dns_label(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A DNS-1123 subdomain (the names of most objects).
pub(crate) fn check_dns_subdomain(s: &str) -> Result<(), String> {
    if s.len() <= 253 && s.split('.').all(|l| is_dns_label(l, 63)) {
        Ok(())
    } else {
        Err(format!(
            "\"{s}\" is not a valid name: a lowercase RFC 1123 subdomain (lowercase letters, digits, '-' and '.', \
             starting and ending with a letter or digit, at most 253 characters) is required"
        ))
    }
}

/// A DNS-1123 label (namespace names).
pub(crate) fn check_dns_label(s: &str) -> Result<(), String> {
    if is_dns_label(s, 63) {
        Ok(())
    } else {
        Err(format!(
            "\"{s}\" is not a valid name: a lowercase RFC 1123 label (lowercase letters, digits and '-', \
             starting and ending with a letter or digit, at most 63 characters) is required"
        ))
    }
}

/// A DNS-1035 label (Service names: must start with a letter).
pub(crate) fn check_dns1035_label(s: &str) -> Result<(), String> {
    if is_dns_label(s, 63) && s.starts_with(|c: char| c.is_ascii_lowercase()) {
        Ok(())
    } else {
        Err(format!(
            "\"{s}\" is not a valid Service name: a DNS-1035 label (lowercase letters, digits and '-', \
             starting with a letter, at most 63 characters) is required"
        ))
    }
}

fn is_qualified_name_part(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.')
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// A label key: `[prefix/]name` (a qualified name).
pub(crate) fn check_label_key(k: &str) -> Result<(), String> {
    let ok = match k.split_once('/') {
        Some((prefix, name)) => check_dns_subdomain(prefix).is_ok() && is_qualified_name_part(name),
        None => is_qualified_name_part(k),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid label key \"{k}\": a qualified name ([prefix/]name, the name at most 63 alphanumeric \
             characters, '-', '_' or '.', starting and ending with an alphanumeric) is required"
        ))
    }
}

/// A label value: empty, or a qualified name part.
pub(crate) fn check_label_value(v: &str) -> Result<(), String> {
    if v.is_empty() || is_qualified_name_part(v) {
        Ok(())
    } else {
        Err(format!(
            "invalid label value \"{v}\": at most 63 alphanumeric characters, '-', '_' or '.', starting and \
             ending with an alphanumeric"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_and_ranges() {
        let (b, fixed) = parse_address_block("192.168.1.5/24").expect("Go accepts host bits");
        assert_eq!(b.to_string(), "192.168.1.0/24");
        assert!(fixed.is_some());
        assert!(parse_address_block("10.0.0.0/33").is_err());
        let (r, _) = parse_address_block("10.0.0.1 - 10.0.0.10").expect("range");
        assert_eq!(r.bounds().1.to_string(), "10.0.0.10");
        assert!(parse_address_block("10.0.0.10-10.0.0.1").is_err());
        assert!(parse_address_block("10.0.0.1-::1").is_err());
        let (v6, _) = parse_address_block("2002:2:2::1-2002:2:2::100").expect("v6 range");
        assert_eq!(v6.family(), IpFamily::Ipv6);
    }

    #[test]
    fn summarize_ranges() {
        let s = |a: &str, b: &str| -> Vec<String> {
            summarize(a.parse().expect("ip"), b.parse().expect("ip")).iter().map(ToString::to_string).collect()
        };
        assert_eq!(s("192.168.10.0", "192.168.10.255"), vec!["192.168.10.0/24"]);
        assert_eq!(
            s("203.0.113.1", "203.0.113.10"),
            vec!["203.0.113.1/32", "203.0.113.2/31", "203.0.113.4/30", "203.0.113.8/31", "203.0.113.10/32"]
        );
        assert_eq!(s("0.0.0.0", "255.255.255.255"), vec!["0.0.0.0/0"]);
        assert_eq!(s("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), vec!["::/0"]);
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("10s"), Ok(10_000_000_000));
        assert_eq!(parse_go_duration("1m30s"), Ok(90_000_000_000));
        assert_eq!(parse_go_duration("5m30s"), Ok(330_000_000_000));
        assert_eq!(parse_go_duration("1.5h"), Ok(5_400_000_000_000));
        assert_eq!(parse_go_duration("300ms"), Ok(300_000_000));
        assert_eq!(parse_go_duration("0"), Ok(0));
        assert!(parse_go_duration("10").is_err());
        assert!(parse_go_duration("").is_err());
        assert!(parse_go_duration("10 s").is_err());
        assert!(parse_go_duration("1d").is_err());
    }

    #[test]
    fn communities() {
        assert_eq!(parse_community("65535:65282"), Ok(Community::Standard(0xFFFF_FF02)));
        assert_eq!(parse_community("large:1:2:3"), Ok(Community::Large(1, 2, 3)));
        assert!(matches!(parse_community("65536:1"), Err(CommunityError::Value(_))));
        assert!(matches!(parse_community("big:1:2:3"), Err(CommunityError::Value(_))));
        assert_eq!(parse_community("NO_ADVERTISE"), Err(CommunityError::Format));
        assert_eq!(Community::Standard(0xFFFF_FF02).to_string(), "65535:65282");
    }

    #[test]
    fn names_and_labels() {
        assert!(check_dns_subdomain("doc-example.bgp").is_ok());
        assert!(check_dns_subdomain("Doc").is_err());
        assert!(check_label_key("kubernetes.io/hostname").is_ok());
        assert!(check_label_key("egress-service.k8s.ovn.org/test-server1").is_ok());
        assert!(check_label_key("bad key").is_err());
        assert!(check_label_value("").is_ok());
        assert!(check_label_value("compute-1.example.com").is_ok());
        assert!(check_label_value("-x").is_err());
        assert!(check_dns1035_label("1abc").is_err());
    }
}
