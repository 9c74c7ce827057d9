//! The BFD driver's sockets, without `unsafe`: socket2 creates and configures them, nix's
//! `recvmsg` reads the control messages.
//!
//! - Listeners (UDP 3784 single hop, 4784 multi-hop, 3785 returned echoes), one per family and
//!   VRF: `SO_REUSEADDR` (so a VRF's listeners, bound to the VRF device with `SO_BINDTODEVICE`,
//!   coexist with the default ones), `IP_PKTINFO` + `IP_RECVTTL` / `IPV6_RECVPKTINFO` +
//!   `IPV6_RECVHOPLIMIT`, so every datagram carries its destination address, receiving
//!   interface and TTL / Hop Limit (RFC 5881 §5 GTSM, RFC 5883 minimum TTL).
//! - Senders: one UDP socket per session, bound to the session's local address and a source
//!   port of 49152–65535 unique on this system (RFC 5881 §4), TTL / Hop Limit 255, TOS / traffic
//!   class CS6 (network control), optionally bound to the session's interface or VRF device.
//! - Echo senders: a raw socket (`IPPROTO_RAW`, so the IP header is ours: `IP_HDRINCL` /
//!   `IPV6_HDRINCL` implied) per echo session. The packet's destination is *our own* address,
//!   but the kernel routes a header-included raw packet by the `sendto` address, which is the
//!   peer's: the packet leaves towards the peer, whose forwarding plane sends it back to us
//!   (RFC 5880 §6.4, RFC 5881 §4), where the 3785 listener takes it.

use std::collections::HashMap;
use std::io;
use std::io::IoSliceMut;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::os::fd::RawFd;
use std::time::Instant;

use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrStorage, recvmsg, setsockopt, sockopt};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use ferrolb_bfd::profile::{ECHO_PORT, SOURCE_PORTS, TX_TTL};

/// Largest datagram kept (a control packet with the longest authentication section is 52
/// bytes, an echo packet 16): longer ones are truncated and then refused by the codec.
pub(crate) const MAX_DATAGRAM: usize = 64;

/// DSCP CS6 (network control), as FRR's bfdd sends.
const TOS_CS6: u32 = 0xc0;

fn nix_io(e: nix::errno::Errno) -> io::Error {
    io::Error::from(e)
}

/// A UDP listener on `addr` (port 3784, 4784 or 3785), bound to `device` if given.
pub(crate) fn listener(addr: SocketAddr, device: Option<&str>) -> io::Result<std::net::UdpSocket> {
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
        setsockopt(&s, sockopt::Ipv6RecvPacketInfo, &true).map_err(nix_io)?;
        setsockopt(&s, sockopt::Ipv6RecvHopLimit, &true).map_err(nix_io)?;
    } else {
        setsockopt(&s, sockopt::Ipv4PacketInfo, &true).map_err(nix_io)?;
        setsockopt(&s, sockopt::Ipv4RecvTtl, &true).map_err(nix_io)?;
    }
    if let Some(dev) = device {
        s.bind_device(Some(dev.as_bytes()))?;
    }
    // One listener carries every session of its port: 1,000 sessions at 50 ms are 20,000
    // packets a second, more than the default buffer (net.core.rmem_default) absorbs while the
    // driver is descheduled. With CAP_NET_ADMIN the size is forced past net.core.rmem_max;
    // without it, the plain request is capped by the kernel (still better than the default).
    if setsockopt(&s, sockopt::RcvBufForce, &LISTENER_RCVBUF).is_err() {
        let _ = s.set_recv_buffer_size(LISTENER_RCVBUF);
    }
    s.set_nonblocking(true)?;
    s.bind(&SockAddr::from(addr))?;
    Ok(s.into())
}

/// Receive buffer of a listener (the kernel doubles it for bookkeeping).
const LISTENER_RCVBUF: usize = 4 << 20;

/// One received datagram with what the control messages said.
#[derive(Debug, Clone)]
pub(crate) struct Datagram {
    /// When it was read.
    pub at: Instant,
    /// Source address.
    pub src: IpAddr,
    /// Destination address (IP_PKTINFO / IPV6_PKTINFO).
    pub dst: Option<IpAddr>,
    /// Receiving interface index (0: unknown).
    pub ifindex: u32,
    /// Received TTL / Hop Limit.
    pub ttl: Option<u8>,
    /// Payload length (at most [`MAX_DATAGRAM`]).
    pub len: usize,
    /// Payload.
    pub buf: [u8; MAX_DATAGRAM],
}

impl Datagram {
    /// The payload.
    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

fn sockaddr_ip(a: &SockaddrStorage) -> Option<IpAddr> {
    if let Some(v4) = a.as_sockaddr_in() {
        return Some(IpAddr::V4(v4.ip()));
    }
    a.as_sockaddr_in6().map(|v6| {
        let ip = v6.ip();
        // A v6 socket is IPV6_V6ONLY, but be tolerant of mapped addresses anyway.
        ip.to_ipv4_mapped().map_or(IpAddr::V6(ip), IpAddr::V4)
    })
}

/// Reads one datagram (non-blocking: `WouldBlock` when the queue is empty).
pub(crate) fn recv_one(fd: RawFd, cmsg: &mut [u8]) -> io::Result<Datagram> {
    let mut buf = [0u8; MAX_DATAGRAM];
    let (bytes, src, truncated, dst, ifindex, ttl) = {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<SockaddrStorage>(fd, &mut iov, Some(cmsg), MsgFlags::MSG_DONTWAIT).map_err(nix_io)?;
        let mut dst = None;
        let mut ifindex = 0;
        let mut ttl = None;
        for c in msg.cmsgs().map_err(nix_io)? {
            match c {
                ControlMessageOwned::Ipv4PacketInfo(pi) => {
                    dst = Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(pi.ipi_addr.s_addr))));
                    ifindex = u32::try_from(pi.ipi_ifindex).unwrap_or(0);
                }
                ControlMessageOwned::Ipv6PacketInfo(pi) => {
                    dst = Some(IpAddr::V6(Ipv6Addr::from(pi.ipi6_addr.s6_addr)));
                    ifindex = pi.ipi6_ifindex;
                }
                ControlMessageOwned::Ipv4Ttl(t) | ControlMessageOwned::Ipv6HopLimit(t) => {
                    ttl = u8::try_from(t).ok();
                }
                _ => {}
            }
        }
        let src = msg.address.as_ref().and_then(sockaddr_ip);
        (msg.bytes, src, msg.flags.contains(MsgFlags::MSG_TRUNC), dst, ifindex, ttl)
    };
    let src = src.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "datagram without a source address"))?;
    let len = if truncated { MAX_DATAGRAM } else { bytes.min(MAX_DATAGRAM) };
    Ok(Datagram { at: Instant::now(), src, dst, ifindex, ttl, len, buf })
}

/// Interface index → name, cached (a miss costs one ioctl; names are re-read every minute).
#[derive(Debug, Default)]
pub(crate) struct IfNames {
    names: HashMap<u32, Option<String>>,
    read: Option<Instant>,
}

impl IfNames {
    /// The name of interface `index` (`None` for 0 or an unknown index).
    pub fn name(&mut self, index: u32) -> Option<String> {
        if index == 0 {
            return None;
        }
        let now = Instant::now();
        if self.read.is_none_or(|t| now.duration_since(t).as_secs() >= 60) {
            self.names.clear();
            self.read = Some(now);
        }
        self.names
            .entry(index)
            .or_insert_with(|| nix::net::if_::if_indextoname(index).ok().and_then(|c| c.into_string().ok()))
            .clone()
    }
}

/// The interface index of `name`.
pub(crate) fn if_index(name: &str) -> io::Result<u32> {
    nix::net::if_::if_nametoindex(name).map_err(nix_io)
}

/// A session's control packet sender.
#[derive(Debug)]
pub(crate) struct Sender {
    pub sock: std::net::UdpSocket,
    pub port: u16,
}

/// Opens the sender of a session: bound to `local` and the first free source port from `hint`
/// on (wrapping inside 49152–65535, skipping `taken`), TTL 255, bound to `device` if given.
/// `scope` is the interface index for a link-local IPv6 `local`.
pub(crate) fn sender(
    local: IpAddr,
    scope: u32,
    device: Option<&str>,
    hint: u16,
    taken: &dyn Fn(u16) -> bool,
) -> io::Result<Sender> {
    let (lo, hi) = (u32::from(*SOURCE_PORTS.start()), u32::from(*SOURCE_PORTS.end()));
    let span = hi - lo + 1;
    let start = u32::from(hint).clamp(lo, hi) - lo;
    for i in 0..span {
        let port = u16::try_from(lo + (start + i) % span).unwrap_or(*SOURCE_PORTS.start());
        if taken(port) {
            continue;
        }
        let addr = match local {
            IpAddr::V4(a) => SocketAddr::from((a, port)),
            IpAddr::V6(a) => SocketAddr::V6(SocketAddrV6::new(a, port, 0, scope)),
        };
        let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
        if local.is_ipv6() {
            s.set_only_v6(true)?;
            s.set_unicast_hops_v6(u32::from(TX_TTL))?;
            s.set_tclass_v6(TOS_CS6)?;
        } else {
            s.set_ttl_v4(u32::from(TX_TTL))?;
            s.set_tos_v4(TOS_CS6)?;
        }
        if let Some(dev) = device {
            s.bind_device(Some(dev.as_bytes()))?;
        }
        s.set_nonblocking(true)?;
        match s.bind(&SockAddr::from(addr)) {
            Ok(()) => return Ok(Sender { sock: s.into(), port }),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(io::ErrorKind::AddrInUse, "no free BFD source port in 49152-65535"))
}

/// A raw socket that sends our echo packets towards the peer.
pub(crate) fn echo_sender(v6: bool, device: Option<&str>) -> io::Result<Socket> {
    let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
    // IPPROTO_RAW: the IP header is included (raw(7), and IPv6 since Linux 4.5), and the
    // socket receives nothing.
    let s = Socket::new(domain, Type::RAW, Some(Protocol::from(255)))?;
    if let Some(dev) = device {
        s.bind_device(Some(dev.as_bytes()))?;
    }
    s.set_nonblocking(true)?;
    Ok(s)
}

/// The Internet checksum (RFC 1071) of `chunks` concatenated, with `initial` folded in.
fn checksum(initial: u32, chunks: &[&[u8]]) -> u16 {
    let mut sum = initial;
    let mut odd: Option<u8> = None;
    for c in chunks {
        for &b in *c {
            match odd.take() {
                Some(hi) => sum += u32::from(u16::from_be_bytes([hi, b])),
                None => odd = Some(b),
            }
        }
    }
    if let Some(hi) = odd {
        sum += u32::from(u16::from_be_bytes([hi, 0]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let c = !(sum as u16);
    // RFC 768: a computed zero is sent as all ones.
    if c == 0 { 0xffff } else { c }
}

/// An echo datagram as it leaves: IP header (source and destination both `addr`, TTL 255),
/// UDP header (`sport` → 3785, checksum over the pseudo-header), `payload`.
pub(crate) fn echo_datagram(addr: IpAddr, sport: u16, payload: &[u8]) -> Vec<u8> {
    let udp_len = 8 + payload.len();
    let udp_len16 = u16::try_from(udp_len).unwrap_or(u16::MAX);
    let mut udp = Vec::with_capacity(udp_len);
    udp.extend_from_slice(&sport.to_be_bytes());
    udp.extend_from_slice(&ECHO_PORT.to_be_bytes());
    udp.extend_from_slice(&udp_len16.to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    match addr {
        IpAddr::V4(a) => {
            let o = a.octets();
            let pseudo: [u8; 12] =
                [o[0], o[1], o[2], o[3], o[0], o[1], o[2], o[3], 0, 17, (udp_len16 >> 8) as u8, udp_len16 as u8];
            let c = checksum(0, &[&pseudo, &udp]);
            udp[6..8].copy_from_slice(&c.to_be_bytes());
            let total = u16::try_from(20 + udp_len).unwrap_or(u16::MAX);
            let mut ip = vec![0x45, 0xc0];
            ip.extend_from_slice(&total.to_be_bytes());
            // Identification 0 (filled in by the kernel), DF, TTL 255, UDP, checksum 0 (filled
            // in by the kernel).
            ip.extend_from_slice(&[0, 0, 0x40, 0, TX_TTL, 17, 0, 0]);
            ip.extend_from_slice(&o);
            ip.extend_from_slice(&o);
            ip.extend_from_slice(&udp);
            ip
        }
        IpAddr::V6(a) => {
            let o = a.octets();
            let mut pseudo = Vec::with_capacity(40);
            pseudo.extend_from_slice(&o);
            pseudo.extend_from_slice(&o);
            pseudo.extend_from_slice(&u32::try_from(udp_len).unwrap_or(0).to_be_bytes());
            pseudo.extend_from_slice(&[0, 0, 0, 17]);
            let c = checksum(0, &[&pseudo, &udp]);
            udp[6..8].copy_from_slice(&c.to_be_bytes());
            // Version 6, traffic class CS6, no flow label.
            let mut ip = vec![0x6c, 0x00, 0, 0];
            ip.extend_from_slice(&udp_len16.to_be_bytes());
            ip.extend_from_slice(&[17, TX_TTL]);
            ip.extend_from_slice(&o);
            ip.extend_from_slice(&o);
            ip.extend_from_slice(&udp);
            ip
        }
    }
}

/// Sends an echo datagram built by [`echo_datagram`] towards `peer` (the route to the peer,
/// not to the packet's own destination, decides where it goes).
pub(crate) fn send_echo(sock: &Socket, peer: IpAddr, scope: u32, datagram: &[u8]) -> io::Result<usize> {
    let to = match peer {
        IpAddr::V4(a) => SocketAddr::from((a, 0)),
        IpAddr::V6(a) => SocketAddr::V6(SocketAddrV6::new(a, 0, 0, scope)),
    };
    sock.send_to(datagram, &SockAddr::from(to))
}

/// Whether `addr` is an IPv6 link-local address (usable only with an interface scope).
pub(crate) fn is_link_local(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(_) => false,
        IpAddr::V6(a) => a.is_unicast_link_local(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_datagram_checksums_verify() {
        let payload = [0x46, 0x4c, 0x42, 0x45, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 1];
        let v4 = echo_datagram("10.0.0.2".parse().expect("ip"), 49152, &payload);
        assert_eq!(v4.len(), 20 + 8 + 16);
        assert_eq!(&v4[12..16], &[10, 0, 0, 2]);
        assert_eq!(&v4[16..20], &[10, 0, 0, 2]);
        assert_eq!(u16::from_be_bytes([v4[22], v4[23]]), 3785);
        // The one's-complement sum over pseudo-header + UDP, checksum included, is all ones.
        let udp = &v4[20..];
        let pseudo = [10, 0, 0, 2, 10, 0, 0, 2, 0, 17, 0, 24];
        assert_eq!(checksum(0, &[&pseudo, udp]), 0xffff, "a valid checksum sums to all ones");

        let v6 = echo_datagram("2001:db8::2".parse().expect("ip"), 50000, &payload);
        assert_eq!(v6.len(), 40 + 8 + 16);
        assert_eq!(v6[0] >> 4, 6);
        assert_eq!(v6[6], 17);
        assert_eq!(v6[7], 255);
        let mut pseudo6 = Vec::new();
        pseudo6.extend_from_slice(&v6[8..24]);
        pseudo6.extend_from_slice(&v6[24..40]);
        pseudo6.extend_from_slice(&[0, 0, 0, 24, 0, 0, 0, 17]);
        assert_eq!(checksum(0, &[&pseudo6, &v6[40..]]), 0xffff);
    }

    #[test]
    fn checksum_matches_rfc1071_example() {
        // RFC 1071 §3: the sum of 0001 f203 f4f5 f6f7 is ddf2 (before complement).
        assert_eq!(checksum(0, &[&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]]), !0xddf2);
    }
}
