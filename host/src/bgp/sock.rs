//! TCP sockets for BGP: created inside the speaker's network namespace, with TCP MD5 signatures
//! (RFC 2385, `TCP_MD5SIG`), the TTL rules of eBGP (1, or 255 for multi-hop), GTSM (`IP_MINTTL`,
//! RFC 5082) and VRF binding (`SO_BINDTODEVICE`).
//!
//! Neither nix nor socket2 exposes `TCP_MD5SIG` or `IP_MINTTL`; nix's exported `sockopt_impl!`
//! macro defines them here with nix's own setter (`SetStruct`), which hands the kernel a pointer to
//! a whole, initialised Rust value and its exact size, so the call is memory-safe whatever the
//! layout: a wrong layout could only make the kernel answer `EINVAL`. The layout below follows
//! `struct tcp_md5sig` of `linux/tcp.h` (216 octets) and is checked by a unit test.

use std::io;
use std::net::{IpAddr, SocketAddr};

use ferrolb_netlink::Netns;
use nix::sys::socket::setsockopt;
// The macro expands to further `sockopt_impl!` / `setsockopt_impl!` calls by bare name.
use nix::{setsockopt_impl, sockopt_impl};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// `TCP_MD5SIG_MAXKEYLEN` of `linux/tcp.h`.
pub const MD5_MAX_KEY_LEN: usize = 80;

/// `struct tcp_md5sig` (linux/tcp.h): the peer address as a `sockaddr_storage`, flags, prefix
/// length, key length, interface index, key.
#[repr(C, align(8))]
#[derive(Debug, Clone, Copy)]
pub struct TcpMd5Sig {
    addr: [u8; 128],
    flags: u8,
    prefix_len: u8,
    key_len: u16,
    ifindex: u32,
    key: [u8; MD5_MAX_KEY_LEN],
}

impl TcpMd5Sig {
    /// The key for connections with `peer` (an empty key removes it).
    pub fn new(peer: IpAddr, key: &[u8]) -> io::Result<TcpMd5Sig> {
        if key.len() > MD5_MAX_KEY_LEN {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "TCP MD5 password longer than 80 octets"));
        }
        let mut addr = [0u8; 128];
        match peer {
            IpAddr::V4(a) => {
                // struct sockaddr_in: family (host order), port, address.
                addr[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
                addr[4..8].copy_from_slice(&a.octets());
            }
            IpAddr::V6(a) => {
                // struct sockaddr_in6: family, port, flow info, address, scope id.
                addr[..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
                addr[8..24].copy_from_slice(&a.octets());
            }
        }
        let mut k = [0u8; MD5_MAX_KEY_LEN];
        k[..key.len()].copy_from_slice(key);
        Ok(TcpMd5Sig { addr, flags: 0, prefix_len: 0, key_len: key.len() as u16, ifindex: 0, key: k })
    }
}

sockopt_impl!(
    /// `TCP_MD5SIG`: the RFC 2385 key for one peer address.
    Md5Sig,
    SetOnly,
    libc::IPPROTO_TCP,
    libc::TCP_MD5SIG,
    TcpMd5Sig
);

sockopt_impl!(
    /// `IP_MINTTL`: drop IPv4 packets whose TTL is below the value (GTSM, RFC 5082).
    MinTtl,
    SetOnly,
    libc::IPPROTO_IP,
    libc::IP_MINTTL,
    libc::c_int
);

/// Sets (or with an empty key removes) the MD5 key for `peer` on a socket.
pub fn set_md5(socket: &Socket, peer: IpAddr, key: &[u8]) -> io::Result<()> {
    // A v4 peer on an AF_INET6 socket would have to be v4-mapped; our sockets match the peer's family.
    setsockopt(socket, Md5Sig, &TcpMd5Sig::new(peer, key)?).map_err(io::Error::from)
}

/// How one BGP connection's socket is set up.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SocketOptions {
    /// TCP MD5 password.
    pub password: Option<String>,
    /// Outgoing TTL / hop limit (1 for single-hop eBGP, 255 otherwise).
    pub ttl: u32,
    /// GTSM: the minimum TTL accepted (IPv4 only here).
    pub min_ttl: Option<u8>,
    /// VRF device to bind to.
    pub vrf: Option<String>,
    /// Local address to bind (port 0).
    pub source: Option<IpAddr>,
}

fn apply_common(socket: &Socket, peer: IpAddr, o: &SocketOptions) -> io::Result<()> {
    if let Some(vrf) = &o.vrf {
        socket.bind_device(Some(vrf.as_bytes()))?;
    }
    if let Some(pw) = &o.password {
        set_md5(socket, peer, pw.as_bytes())?;
    }
    match peer {
        IpAddr::V4(_) => {
            socket.set_ttl_v4(o.ttl)?;
            if let Some(min) = o.min_ttl {
                setsockopt(socket, MinTtl, &libc::c_int::from(min)).map_err(io::Error::from)?;
            }
        }
        IpAddr::V6(_) => socket.set_unicast_hops_v6(o.ttl)?,
    }
    socket.set_tcp_nodelay(true)?;
    Ok(())
}

/// A TCP socket for connecting to `peer`, created inside `ns`, options applied, not yet connected.
pub fn connect_socket(ns: &Netns, peer: IpAddr, o: &SocketOptions) -> io::Result<std::net::TcpStream> {
    ns.run(|| {
        let domain = if peer.is_ipv4() { Domain::IPV4 } else { Domain::IPV6 };
        let socket = Socket::new(domain, Type::STREAM.nonblocking(), Some(Protocol::TCP))?;
        apply_common(&socket, peer, o)?;
        if let Some(src) = o.source {
            socket.set_reuse_address(true)?;
            socket.bind(&SockAddr::from(SocketAddr::new(src, 0)))?;
        }
        Ok(std::net::TcpStream::from(socket))
    })?
}

/// A listening socket on `port` for one address family (IPv6 sockets are IPv6-only), inside `ns`,
/// bound to `vrf` when given.
pub fn listen_socket(ns: &Netns, v6: bool, port: u16, vrf: Option<&str>) -> io::Result<Socket> {
    ns.run(|| {
        let (domain, addr) = if v6 {
            (Domain::IPV6, SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, port)))
        } else {
            (Domain::IPV4, SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, port)))
        };
        let socket = Socket::new(domain, Type::STREAM.nonblocking(), Some(Protocol::TCP))?;
        if v6 {
            socket.set_only_v6(true)?;
        }
        socket.set_reuse_address(true)?;
        if let Some(vrf) = vrf {
            socket.bind_device(Some(vrf.as_bytes()))?;
        }
        socket.bind(&SockAddr::from(addr))?;
        socket.listen(64)?;
        Ok(socket)
    })?
}

/// Applies the per-connection options (TTL, GTSM) to an accepted connection.
pub fn accepted_options(socket: &Socket, peer: IpAddr, o: &SocketOptions) -> io::Result<()> {
    match peer {
        IpAddr::V4(_) => {
            socket.set_ttl_v4(o.ttl)?;
            if let Some(min) = o.min_ttl {
                setsockopt(socket, MinTtl, &libc::c_int::from(min)).map_err(io::Error::from)?;
            }
        }
        IpAddr::V6(_) => socket.set_unicast_hops_v6(o.ttl)?,
    }
    socket.set_tcp_nodelay(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5sig_layout_matches_linux() {
        // linux/tcp.h: sockaddr_storage (128) + flags, prefixlen, keylen (2), ifindex (4) + key (80).
        assert_eq!(std::mem::size_of::<TcpMd5Sig>(), 216);
        assert_eq!(std::mem::offset_of!(TcpMd5Sig, key_len), 130);
        assert_eq!(std::mem::offset_of!(TcpMd5Sig, ifindex), 132);
        assert_eq!(std::mem::offset_of!(TcpMd5Sig, key), 136);
        assert!(TcpMd5Sig::new("10.0.0.1".parse().expect("ip"), &[b'x'; 81]).is_err());
    }

    #[test]
    fn md5_key_is_accepted_by_the_kernel() {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).expect("socket");
        set_md5(&socket, "127.0.0.2".parse().expect("ip"), b"secret").expect("TCP_MD5SIG set");
        let socket6 = Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP)).expect("socket");
        set_md5(&socket6, "::2".parse().expect("ip"), b"secret").expect("TCP_MD5SIG set (v6)");
        setsockopt(&socket, MinTtl, &254).expect("IP_MINTTL");
    }
}
