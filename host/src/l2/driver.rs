//! The tokio driver around [`ferrolb_l2::announcer::Announcer`]: AF_PACKET sockets, interface
//! facts, timers.
//!
//! # Sockets
//!
//! One AF_PACKET `SOCK_RAW` socket per interface an announcement may use, bound to that interface
//! with `ETH_P_ALL` and a classic BPF filter that keeps only what the announcer reads: ARP, and
//! IPv6 frames carrying an ICMPv6 Neighbor Solicitation (135) or Advertisement (136) right after the
//! fixed header, never our own outgoing frames (`PACKET_OUTGOING`). NDP goes out as whole Ethernet
//! frames on the same socket ([`NdpOutput::EthernetFrame`]), not through a raw ICMPv6 socket:
//!
//! - a raw ICMPv6 socket only sees packets the IPv6 stack delivers locally. A client's neighbour
//!   unreachability probes are *unicast* Neighbor Solicitations to the service address, which is
//!   not a local address: the stack drops (or, with forwarding on, routes) them before any raw
//!   socket sees them, so the client's `PROBE` state would fail and fall back to multicast
//!   resolution seconds later. A packet socket sees every frame addressed to our MAC. (Checked in
//!   namespaces: a Linux client's two unicast probes for a non-local target reached the node's
//!   interface, tcpdump showed them, and a raw ICMPv6 socket there received neither, while it did
//!   receive a multicast NS for one of the node's own addresses.)
//! - sending a Neighbor Advertisement from the service address (what ndisc6 needs, see
//!   [`ferrolb_l2::announcer::NaSource`]) needs no `IPV6_FREEBIND` when we write the IPv6 header.
//!
//! The solicited-node multicast groups the announcer asks for are joined with `IPV6_JOIN_GROUP` on
//! one UDP/IPv6 socket: that programs the NIC's multicast filter (so multicast NS reach the packet
//! socket) and sends the MLD report that snooping switches and bridges need.
//!
//! Each packet socket has a reader task that forwards frames over a bounded channel to the one
//! task owning the announcer; frames arriving faster than the announcer drains them are dropped and
//! counted (`queue_full`), never buffered without bound.
//!
//! # Interfaces
//!
//! Facts (index, MAC, `IFF_UP` and `IFF_RUNNING`) come from `getifaddrs(3)` (netlink under glibc),
//! re-read every [`L2Options::interface_poll`] and whenever a send fails; only Ethernet interfaces
//! (`ARPHRD_ETHER`) whose names do not start with one of [`L2Options::exclude_prefixes`] are used.
//! A VLAN sub-interface (`eth0.341`) is an Ethernet interface like any other: the kernel tags.
//! All sockets are created by the task that runs [`L2Service::start`]'s loop, in the network
//! namespace of the thread that called `start`.
//!
//! # Fencing
//!
//! [`L2Handle::set_fenced`] (the membership driver calls it on `Isolated`/`Rejoined`) hands the
//! announcer an empty set at once; decisions that arrive while fenced are kept but not applied, and
//! unfencing forgets them (see [`L2Handle::set_fenced`]).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::net::IpAddr;
use std::os::fd::AsRawFd as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ferrolb_l2::MacAddr;
use ferrolb_l2::announcer::{
    Action, Announcement, Announcer, AnnouncerConfig, Conflict, Counters, InterfaceFacts, NdpOutput,
};
use nix::net::if_::InterfaceFlags;
use nix::sys::socket::LinkAddr;
use serde::Serialize;
use socket2::{Domain, Protocol, SockFilter, Socket, Type};
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// `ETH_P_ALL` in network byte order, as `socket(2)` wants it.
const ETH_P_ALL_BE: i32 = 0x0003_u16.to_be() as i32;
/// `ARPHRD_ETHER`.
const ARPHRD_ETHER: u16 = 1;
/// Frames queued from the reader tasks to the announcer before new ones are dropped.
const FRAME_QUEUE: usize = 1024;

/// Errors of the layer-2 driver.
#[derive(Debug, thiserror::Error)]
pub enum L2Error {
    /// A socket could not be opened or set up (not root? no `CAP_NET_RAW`?).
    #[error("layer-2 socket: {what}: {source}")]
    Socket {
        /// What was being done.
        what: String,
        /// The system error.
        source: std::io::Error,
    },
    /// The announcer refused its configuration.
    #[error("layer-2 announcer configuration: {0}")]
    Config(#[from] ferrolb_l2::announcer::ConfigError),
    /// The service's task is gone (stopped, or its runtime shut down).
    #[error("the layer-2 service is not running")]
    Stopped,
    /// [`L2Service::start`] was called outside a tokio runtime.
    #[error("the layer-2 service must be started inside a tokio runtime")]
    NoRuntime,
}

/// Settings of the layer-2 service.
#[derive(Debug, Clone)]
pub struct L2Options {
    /// The announcer's settings (gratuitous schedule, GARP form, NA source). Its `ndp_output` is
    /// always [`NdpOutput::EthernetFrame`] here (see the module docs).
    pub announcer: AnnouncerConfig,
    /// Interfaces whose names start with one of these are never used (pod veths, tunnels).
    pub exclude_prefixes: Vec<String>,
    /// How often interface facts are re-read.
    pub interface_poll: Duration,
}

impl Default for L2Options {
    fn default() -> Self {
        L2Options {
            announcer: AnnouncerConfig::default(),
            exclude_prefixes: ["lo", "veth", "cali", "cilium", "lxc", "flannel", "cni", "docker", "kube-ipvs", "vxlan"]
                .into_iter()
                .map(String::from)
                .collect(),
            interface_poll: Duration::from_millis(200),
        }
    }
}

/// Counters of the driver itself (the announcer's are in [`L2Status::counters`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DriverCounters {
    /// Frames read from the packet sockets (after the BPF filter).
    pub frames_received: u64,
    /// Frames dropped because the announcer's queue was full.
    pub queue_full: u64,
    /// Frames written.
    pub frames_sent: u64,
    /// Writes that failed (interface gone or down, buffer full).
    pub send_errors: u64,
    /// Receive errors (`ENETDOWN` when an interface goes down, ...).
    pub receive_errors: u64,
    /// Packet sockets that could not be opened.
    pub socket_errors: u64,
    /// Solicited-node groups joined.
    pub groups_joined: u64,
    /// Group joins or leaves that failed.
    pub group_errors: u64,
}

/// One interface the service has a socket on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkStatus {
    /// Name.
    pub name: String,
    /// Kernel index.
    pub index: u32,
    /// MAC address.
    #[serde(serialize_with = "mac_text")]
    pub mac: MacAddr,
    /// `IFF_UP` and `IFF_RUNNING`.
    pub up: bool,
}

/// One interface an address is announced on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnnouncedOn {
    /// Interface name.
    pub interface: String,
    /// The MAC answered with.
    #[serde(serialize_with = "mac_text")]
    pub mac: MacAddr,
    /// Since when (wall clock, milliseconds since the Unix epoch).
    pub since_unix_ms: u64,
    /// For how long, in milliseconds.
    pub announced_for_ms: u64,
    /// Gratuitous announcements still to send.
    pub gratuitous_pending: usize,
}

/// One address this node should announce.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AddressView {
    /// The address.
    pub ip: IpAddr,
    /// Interfaces it may be announced on (empty: every interface).
    pub wanted_on: Vec<String>,
    /// Where it is announced now (empty: fenced, or no allowed interface is up).
    pub announced_on: Vec<AnnouncedOn>,
}

/// What `ferrolb show l2 --json` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct L2Status {
    /// This node hears no peer and announces nothing (see the membership driver).
    pub fenced: bool,
    /// Interfaces with a packet socket.
    pub interfaces: Vec<LinkStatus>,
    /// Every address the policy elected this node for, sorted.
    pub addresses: Vec<AddressView>,
    /// The announcer's counters (answers, gratuitous announcements, conflicts, malformed drops).
    pub counters: Counters,
    /// The driver's counters.
    pub driver: DriverCounters,
    /// The last time another machine claimed one of our addresses.
    pub last_conflict: Option<ConflictView>,
}

/// Another machine claiming one of our addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConflictView {
    /// The address.
    pub ip: IpAddr,
    /// The MAC that claimed it.
    #[serde(serialize_with = "mac_text")]
    pub mac: MacAddr,
    /// The interface it was heard on.
    pub interface: String,
}

/// MACs as `02:00:00:00:00:0a` in JSON, not as arrays of numbers.
fn mac_text<S: serde::Serializer>(mac: &MacAddr, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(mac)
}

enum Command {
    SetAnnouncements(Vec<Announcement>),
    SetFenced(bool),
    Status(oneshot::Sender<L2Status>),
}

/// A handle on a running layer-2 service; cheap to clone. The service stops when every handle
/// is dropped or [`L2Handle::stop`] is called.
#[derive(Debug, Clone)]
pub struct L2Handle {
    tx: mpsc::UnboundedSender<Command>,
    task: Arc<JoinHandle<()>>,
}

impl L2Handle {
    /// Replaces the set of addresses this node announces (the advertise policy's decision for
    /// this node). Takeovers send gratuitous announcements at once; removed addresses stop being
    /// answered at once.
    pub fn set_announcements(&self, list: Vec<Announcement>) -> Result<(), L2Error> {
        self.tx.send(Command::SetAnnouncements(list)).map_err(|_| L2Error::Stopped)
    }

    /// Fences (announce nothing, at once) or unfences. Unfencing forgets the wanted set: nothing is
    /// announced until the next [`L2Handle::set_announcements`] (a decision made before or during
    /// the isolation is stale).
    pub fn set_fenced(&self, fenced: bool) -> Result<(), L2Error> {
        self.tx.send(Command::SetFenced(fenced)).map_err(|_| L2Error::Stopped)
    }

    /// What is announced where and since when, and the counters.
    pub async fn status(&self) -> Result<L2Status, L2Error> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Command::Status(tx)).map_err(|_| L2Error::Stopped)?;
        rx.await.map_err(|_| L2Error::Stopped)
    }

    /// Stops the service at once: its task and reader tasks end, its sockets close; nothing is
    /// sent (ARP and NDP have no withdrawal).
    pub fn stop(&self) {
        self.task.abort();
    }

    /// Whether the service's task has ended.
    pub fn is_stopped(&self) -> bool {
        self.task.is_finished()
    }
}

/// The layer-2 speaker of one node.
#[derive(Debug)]
pub struct L2Service;

impl L2Service {
    /// Starts the service on the current tokio runtime, in the calling thread's network namespace.
    /// Fails at once when packet sockets cannot be opened (no `CAP_NET_RAW`).
    pub fn start(options: L2Options) -> Result<L2Handle, L2Error> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| L2Error::NoRuntime)?;
        let mut config = options.announcer.clone();
        config.ndp_output = NdpOutput::EthernetFrame;
        let announcer = Announcer::new(config)?;
        // Fail early and clearly without the privilege, rather than on the first announcement.
        drop(packet_socket()?);
        let groups = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP)).ok();
        let (tx, rx) = mpsc::unbounded_channel();
        let (frames_tx, frames_rx) = mpsc::channel(FRAME_QUEUE);
        let driver = Driver {
            options,
            announcer,
            wanted: Vec::new(),
            fenced: false,
            links: BTreeMap::new(),
            sockets: BTreeMap::new(),
            groups,
            frames_tx,
            shared: Arc::new(SharedCounters::default()),
            counters: DriverCounters::default(),
            links_suspect: false,
        };
        let task = runtime.spawn(driver.run(rx, frames_rx));
        Ok(L2Handle { tx, task: Arc::new(task) })
    }
}

#[derive(Debug, Default)]
struct SharedCounters {
    frames_received: AtomicU64,
    queue_full: AtomicU64,
    receive_errors: AtomicU64,
}

/// An interface as `getifaddrs` reports it.
#[derive(Debug, Clone)]
struct Link {
    name: String,
    index: u32,
    mac: MacAddr,
    up: bool,
    addr: LinkAddr,
}

struct PacketSocket {
    name: String,
    socket: Arc<AsyncFd<Socket>>,
    reader: JoinHandle<()>,
}

impl Drop for PacketSocket {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

struct Driver {
    options: L2Options,
    announcer: Announcer,
    /// The policy's decision, kept while fenced.
    wanted: Vec<Announcement>,
    fenced: bool,
    /// Eligible interfaces, by index.
    links: BTreeMap<u32, Link>,
    /// Open packet sockets, by interface index.
    sockets: BTreeMap<u32, PacketSocket>,
    groups: Option<Socket>,
    frames_tx: mpsc::Sender<(u32, Vec<u8>)>,
    shared: Arc<SharedCounters>,
    counters: DriverCounters,
    /// A send failed: re-read the interfaces before the next poll.
    links_suspect: bool,
}

impl Driver {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>, mut frames: mpsc::Receiver<(u32, Vec<u8>)>) {
        let mut poll = tokio::time::interval(self.options.interface_poll);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let deadline = self.announcer.poll_timeout();
            tokio::select! {
                biased;
                cmd = commands.recv() => match cmd {
                    Some(cmd) => self.command(cmd),
                    None => break,
                },
                Some((ifindex, frame)) = frames.recv() => {
                    self.announcer.handle_frame(Instant::now(), ifindex, &frame);
                }
                _ = sleep_until(deadline) => {}
                _ = poll.tick() => self.refresh(),
            }
            let now = Instant::now();
            if self.announcer.poll_timeout().is_some_and(|t| t <= now) {
                self.announcer.handle_timeout(now);
            }
            self.flush();
            if std::mem::take(&mut self.links_suspect) {
                self.refresh();
                self.flush();
            }
        }
    }

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::SetAnnouncements(list) => {
                self.wanted = list;
                self.apply();
            }
            Command::SetFenced(fenced) => {
                if fenced != self.fenced {
                    self.fenced = fenced;
                    if !fenced {
                        // The decision from before the isolation is stale: wait for a fresh one.
                        self.wanted.clear();
                    }
                    self.apply();
                }
            }
            Command::Status(reply) => {
                let _ = reply.send(self.status());
            }
        }
    }

    /// Hands the announcer what it must announce now, opening sockets where needed first.
    fn apply(&mut self) {
        let now = Instant::now();
        if self.fenced {
            self.announcer.set_announcements(now, Vec::new());
        } else {
            // Give-ups first (with the old interfaces), then sockets for new interfaces, then the
            // interface list that lets the new pairs start.
            self.announcer.set_announcements(now, self.wanted.clone());
            self.refresh();
        }
    }

    /// Re-reads interface facts, opens and closes sockets, updates the announcer.
    fn refresh(&mut self) {
        match scan_links(&self.options.exclude_prefixes) {
            Ok(links) => self.links = links,
            Err(e) => {
                tracing::warn!(error = %e, "l2: cannot read interfaces; keeping the last known ones");
                return;
            }
        }
        let every = self.wanted.iter().any(|a| a.interfaces.is_empty());
        let names: BTreeSet<&str> = self.wanted.iter().flat_map(|a| a.interfaces.iter().map(String::as_str)).collect();
        let needed: BTreeSet<u32> =
            self.links.values().filter(|l| every || names.contains(l.name.as_str())).map(|l| l.index).collect();
        self.sockets.retain(|index, _| needed.contains(index));
        for index in &needed {
            if self.sockets.contains_key(index) {
                continue;
            }
            let Some(link) = self.links.get(index) else { continue };
            match self.open(link) {
                Ok(s) => {
                    tracing::debug!(interface = %link.name, index, "l2: packet socket open");
                    self.sockets.insert(*index, s);
                }
                Err(e) => {
                    self.counters.socket_errors += 1;
                    tracing::warn!(interface = %link.name, error = %e, "l2: cannot open a packet socket");
                }
            }
        }
        let facts: Vec<InterfaceFacts> = self
            .sockets
            .keys()
            .filter_map(|i| self.links.get(i))
            .map(|l| InterfaceFacts {
                index: l.index,
                name: l.name.clone(),
                mac: l.mac,
                up: l.up,
                vlan: None,
                link_local: None,
            })
            .collect();
        self.announcer.set_interfaces(Instant::now(), facts);
    }

    fn open(&self, link: &Link) -> Result<PacketSocket, L2Error> {
        let socket = packet_socket()?;
        nix::sys::socket::bind(socket.as_raw_fd(), &link.addr)
            .map_err(|e| L2Error::Socket { what: format!("bind to {}", link.name), source: e.into() })?;
        // Frames from every interface may have queued between socket() and bind(): drop them.
        let mut buf = [0u8; 2048];
        while (&socket).read(&mut buf).is_ok() {}
        // `AsyncFd::new` is deprecated because a `T` could hand out another fd from `as_raw_fd`
        // later (tokio PR 8587); `socket2::Socket` owns one fd for its whole life and closes it
        // only on drop, after the registration, which is exactly the contract `register` states.
        #[allow(deprecated)]
        let registered = AsyncFd::new(socket);
        let socket =
            Arc::new(registered.map_err(|source| L2Error::Socket { what: "register with tokio".into(), source })?);
        let reader = tokio::spawn(read_frames(socket.clone(), link.index, self.frames_tx.clone(), self.shared.clone()));
        Ok(PacketSocket { name: link.name.clone(), socket, reader })
    }

    fn flush(&mut self) {
        let mut failed = false;
        while let Some(action) = self.announcer.poll_action() {
            match action {
                Action::SendFrame { ifindex, interface, kind, frame } => {
                    let sent = self.sockets.get(&ifindex).map(|s| s.socket.get_ref().send(&frame));
                    match sent {
                        Some(Ok(_)) => self.counters.frames_sent += 1,
                        Some(Err(e)) => {
                            self.counters.send_errors += 1;
                            failed = true;
                            tracing::debug!(%interface, ?kind, error = %e, "l2: send failed");
                        }
                        None => self.counters.send_errors += 1,
                    }
                }
                // Not produced with NdpOutput::EthernetFrame.
                Action::SendIcmpv6 { .. } => self.counters.send_errors += 1,
                Action::JoinGroup { ifindex, interface, group, .. } => {
                    match self.groups.as_ref().map(|s| s.join_multicast_v6(&group, ifindex)) {
                        Some(Ok(())) => self.counters.groups_joined += 1,
                        Some(Err(e)) if e.raw_os_error() == Some(nix::libc::EADDRINUSE) => {}
                        other => {
                            self.counters.group_errors += 1;
                            tracing::warn!(%interface, %group, error = ?other, "l2: cannot join solicited-node group");
                        }
                    }
                }
                Action::LeaveGroup { ifindex, group, .. } => {
                    // Fails harmlessly when the interface (and its memberships) is gone.
                    if let Some(Err(_)) = self.groups.as_ref().map(|s| s.leave_multicast_v6(&group, ifindex)) {
                        self.counters.group_errors += 1;
                    }
                }
            }
        }
        if failed {
            // A link went down or away under us: learn it now rather than at the next poll.
            self.links_suspect = true;
        }
    }

    fn status(&self) -> L2Status {
        let now = Instant::now();
        let wall = SystemTime::now();
        let core = self.announcer.status(now);
        let mut addresses: Vec<AddressView> = self
            .wanted
            .iter()
            .map(|a| {
                let announced_on = core
                    .addresses
                    .iter()
                    .filter(|s| s.ip == a.ip)
                    .flat_map(|s| s.announced_on.iter())
                    .map(|i| AnnouncedOn {
                        interface: i.interface.clone(),
                        mac: i.mac,
                        since_unix_ms: wall
                            .checked_sub(i.announced_for)
                            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                        announced_for_ms: u64::try_from(i.announced_for.as_millis()).unwrap_or(u64::MAX),
                        gratuitous_pending: i.gratuitous_pending,
                    })
                    .collect();
                AddressView { ip: a.ip, wanted_on: a.interfaces.clone(), announced_on }
            })
            .collect();
        addresses.sort_by_key(|a| a.ip);
        addresses.dedup_by_key(|a| a.ip);
        let mut counters = self.counters.clone();
        counters.frames_received = self.shared.frames_received.load(Ordering::Relaxed);
        counters.queue_full = self.shared.queue_full.load(Ordering::Relaxed);
        counters.receive_errors = self.shared.receive_errors.load(Ordering::Relaxed);
        L2Status {
            fenced: self.fenced,
            interfaces: self
                .sockets
                .iter()
                .map(|(index, s)| {
                    let link = self.links.get(index);
                    LinkStatus {
                        name: s.name.clone(),
                        index: *index,
                        mac: link.map_or(MacAddr::ZERO, |l| l.mac),
                        up: link.is_some_and(|l| l.up),
                    }
                })
                .collect(),
            addresses,
            counters: core.counters,
            driver: counters,
            last_conflict: core.last_conflict.map(|c: Conflict| ConflictView {
                ip: c.ip,
                mac: c.mac,
                interface: self.links.get(&c.ifindex).map_or_else(|| format!("#{}", c.ifindex), |l| l.name.clone()),
            }),
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

async fn read_frames(
    socket: Arc<AsyncFd<Socket>>,
    ifindex: u32,
    tx: mpsc::Sender<(u32, Vec<u8>)>,
    counters: Arc<SharedCounters>,
) {
    let mut buf = vec![0u8; 2048];
    loop {
        let Ok(mut guard) = socket.readable().await else {
            counters.receive_errors.fetch_add(1, Ordering::Relaxed);
            return;
        };
        match guard.try_io(|s| s.get_ref().read(&mut buf)) {
            Ok(Ok(n)) => {
                counters.frames_received.fetch_add(1, Ordering::Relaxed);
                match tx.try_send((ifindex, buf[..n].to_vec())) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        counters.queue_full.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => return,
                }
            }
            // ENETDOWN once when the link goes down; the socket works again when it comes up.
            Ok(Err(_)) => {
                counters.receive_errors.fetch_add(1, Ordering::Relaxed);
            }
            Err(_would_block) => {}
        }
    }
}

/// A non-blocking AF_PACKET socket receiving every protocol, filtered down to ARP and NS/NA.
fn packet_socket() -> Result<Socket, L2Error> {
    let err = |what: &str| {
        let what = what.to_string();
        move |source| L2Error::Socket { what, source }
    };
    let socket =
        Socket::new(Domain::PACKET, Type::RAW, Some(Protocol::from(ETH_P_ALL_BE))).map_err(err("AF_PACKET socket"))?;
    socket.attach_filter(&arp_ndp_filter()).map_err(err("attach BPF filter"))?;
    socket.set_nonblocking(true).map_err(err("set non-blocking"))?;
    Ok(socket)
}

/// Classic BPF: accept ARP and IPv6 + ICMPv6 type 135/136 (no extension headers: RFC 4861 NDP
/// has none in practice), drop our own outgoing frames and everything else.
fn arp_ndp_filter() -> [SockFilter; 12] {
    const LD_W_ABS: u16 = 0x20;
    const LD_H_ABS: u16 = 0x28;
    const LD_B_ABS: u16 = 0x30;
    const JEQ_K: u16 = 0x15;
    const RET_K: u16 = 0x06;
    // SKF_AD_OFF (-0x1000) + SKF_AD_PKTTYPE (4).
    const PKTTYPE: u32 = 0xffff_f004;
    const PACKET_OUTGOING: u32 = 4;
    [
        SockFilter::new(LD_W_ABS, 0, 0, PKTTYPE),      // 0: A = pkttype
        SockFilter::new(JEQ_K, 9, 0, PACKET_OUTGOING), // 1: outgoing -> drop (11)
        SockFilter::new(LD_H_ABS, 0, 0, 12),           // 2: A = ethertype
        SockFilter::new(JEQ_K, 6, 0, 0x0806),          // 3: ARP -> accept (10)
        SockFilter::new(JEQ_K, 0, 6, 0x86dd),          // 4: not IPv6 -> drop (11)
        SockFilter::new(LD_B_ABS, 0, 0, 14 + 6),       // 5: A = next header
        SockFilter::new(JEQ_K, 0, 4, 58),              // 6: not ICMPv6 -> drop (11)
        SockFilter::new(LD_B_ABS, 0, 0, 14 + 40),      // 7: A = ICMPv6 type
        SockFilter::new(JEQ_K, 1, 0, 135),             // 8: NS -> accept (10)
        SockFilter::new(JEQ_K, 0, 1, 136),             // 9: NA -> accept (10), else drop (11)
        SockFilter::new(RET_K, 0, 0, 0xffff),          // 10: accept
        SockFilter::new(RET_K, 0, 0, 0),               // 11: drop
    ]
}

/// The eligible interfaces of the calling thread's network namespace, by index.
fn scan_links(exclude: &[String]) -> Result<BTreeMap<u32, Link>, nix::Error> {
    let mut links = BTreeMap::new();
    for ifa in nix::ifaddrs::getifaddrs()? {
        let Some(addr) = ifa.address.as_ref().and_then(|a| a.as_link_addr()).copied() else { continue };
        if addr.hatype() != ARPHRD_ETHER || exclude.iter().any(|p| ifa.interface_name.starts_with(p.as_str())) {
            continue;
        }
        let (Some(mac), Ok(index)) = (addr.addr(), u32::try_from(addr.ifindex())) else { continue };
        let up = ifa.flags.contains(InterfaceFlags::IFF_UP) && ifa.flags.contains(InterfaceFlags::IFF_RUNNING);
        links.insert(index, Link { name: ifa.interface_name.clone(), index, mac: MacAddr(mac), up, addr });
    }
    Ok(links)
}
