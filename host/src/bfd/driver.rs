//! The BFD driver: a tokio task that owns a [`Manager`] (the sans-IO core) and its sockets.
//!
//! ```text
//!  reader tasks (one per listener:          driver task
//!  3784/4784/3785 × IPv4/IPv6 × VRF)  ──►   drain commands and datagrams
//!  recvmsg + PKTINFO/TTL, timestamped       Manager::handle_control / handle_echo
//!                                           Manager::handle_timeout(now)
//!  BfdHandle (commands) ──────────────►     Manager::poll_action → send / events
//!                                           sleep until Manager::poll_timeout
//! ```
//!
//! [`BfdService::start`] opens the default VRF's listeners (failing if a port is taken) and
//! spawns the tasks on the current tokio runtime; a VRF's listeners (bound to the VRF device)
//! open with its first session and close with its last. Each session gets its own sending
//! socket: a unique source port in 49152–65535, TTL 255, bound to the session's interface or
//! VRF device (RFC 5881 §4–5, RFC 5883 §5). Received datagrams carry their arrival time, so
//! queueing inside the process does not shift the detection timers.
//!
//! Events ([`BfdEvent`]) are sent on transitions into and out of Up. A Down caused by the peer
//! taking the session administratively down carries `remote_admin_down`: RFC 5882 §3.2 says
//! the client (BGP) SHOULD NOT tear its session down for it ([`BfdEvent::tears_down_client`]).
//!
//! Echo (RFC 5880 §6.4, RFC 5881 §4): with [`BfdOptions::echo`], a session whose profile
//! enables it sends echo packets through a raw socket (header included, needs `CAP_NET_RAW`):
//! source and destination are our own address, the kernel routes the packet to the peer by the
//! `sendto` address, the peer's forwarding plane returns it, the 3785 listener hands it to the
//! core. This needs, on the peer, IP forwarding, and on our side
//! `net.ipv4.conf.<if>.accept_local=1` (the returning packet's source is one of our addresses,
//! which Linux otherwise drops as a martian). The peer's echo packets are looped back by our
//! kernel's forwarding (`ip_forward`), not by this driver.
//!
//! Dropping every [`BfdHandle`] (or [`BfdHandle::shutdown`]) takes every session
//! administratively down (one AdminDown packet each, so peers do not wait for a detection
//! timeout) and stops the tasks.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::os::fd::AsRawFd as _;
use std::time::{Duration, Instant};

use serde::Serialize;
use thiserror::Error;
use tokio::io::Interest;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use ferrolb_bfd::manager::{Counters, Manager, ManagerError, Output, PeerKey, RxMeta, SessionId};
use ferrolb_bfd::profile::{CONTROL_PORT, ECHO_PORT, HopMode, MULTIHOP_CONTROL_PORT, Profile};
use ferrolb_bfd::session::Action;
use ferrolb_bfd::wire::{Diag, Packet, State};

use super::sock::{self, Datagram, IfNames, Sender};

/// How the service starts.
#[derive(Debug, Clone)]
pub struct BfdOptions {
    /// Seed of discriminators and jitter (`None`: from the clock and the process id).
    pub seed: Option<u64>,
    /// Listen for IPv4 sessions.
    pub ipv4: bool,
    /// Listen for IPv6 sessions.
    pub ipv6: bool,
    /// Run the echo function for profiles that ask for it (listener on 3785, raw sockets).
    /// Without it, `echoMode` profiles run without echo (their control packets still flow).
    pub echo: bool,
    /// The first source port tried for a new session (49152–65535; later sessions take the
    /// next free one).
    pub first_source_port: u16,
}

impl Default for BfdOptions {
    fn default() -> Self {
        BfdOptions { seed: None, ipv4: true, ipv6: true, echo: true, first_source_port: 49152 }
    }
}

/// What went wrong.
#[derive(Debug, Error)]
pub enum BfdError {
    /// A socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: io::Error,
    },
    /// The core refused (e.g. a session already exists for this key).
    #[error(transparent)]
    Manager(#[from] ManagerError),
    /// No session for this key.
    #[error("no BFD session for peer {0}")]
    NotFound(IpAddr),
    /// The key cannot work (mixed families, link-local without interface, family not enabled).
    #[error("invalid BFD peer: {0}")]
    InvalidKey(String),
    /// The driver task has stopped.
    #[error("the BFD driver has stopped")]
    Stopped,
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> BfdError {
    let what = what.into();
    move |source| BfdError::Io { what, source }
}

/// A session state change that matters to a client protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum BfdEvent {
    /// The session came Up.
    Up {
        /// The session.
        peer: PeerKey,
        /// When the driver saw it.
        #[serde(skip)]
        at: Instant,
    },
    /// The session left Up.
    Down {
        /// The session.
        peer: PeerKey,
        /// Our diagnostic (1: detection time expired, 2: echo failed, 3: neighbor signaled
        /// down, 7: we took it down).
        diag: Diag,
        /// The peer said AdminDown: RFC 5882 §3.2, the client SHOULD NOT tear its session down.
        remote_admin_down: bool,
        /// Time since the last control packet accepted for this session (for a detection
        /// timeout: the detection time as it actually ran).
        silent_for: Option<Duration>,
        /// When the driver saw it.
        #[serde(skip)]
        at: Instant,
    },
}

impl BfdEvent {
    /// The session's key.
    pub fn peer(&self) -> &PeerKey {
        match self {
            BfdEvent::Up { peer, .. } | BfdEvent::Down { peer, .. } => peer,
        }
    }

    /// Whether the client (BGP) must reset its session now: a Down that is not the peer's
    /// AdminDown (RFC 5882 §3.2).
    pub fn tears_down_client(&self) -> bool {
        matches!(self, BfdEvent::Down { remote_admin_down: false, .. })
    }
}

/// Our side's timers as configured (FRR's "Local timers").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LocalTimers {
    /// Detect multiplier.
    pub detect_multiplier: u8,
    /// Required Min RX (`receiveInterval`).
    pub receive_interval: Duration,
    /// Desired Min TX (`transmitInterval`).
    pub transmit_interval: Duration,
    /// Required Min Echo RX we advertise (zero: echo disabled).
    pub echo_receive_interval: Duration,
    /// Our echo transmit interval (zero: echo disabled).
    pub echo_transmit_interval: Duration,
}

/// The peer's timers from its last control packet (FRR's "Remote timers").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RemoteTimers {
    /// Detect multiplier.
    pub detect_multiplier: u8,
    /// Required Min RX.
    pub receive_interval: Duration,
    /// Desired Min TX.
    pub transmit_interval: Duration,
    /// Required Min Echo RX.
    pub echo_receive_interval: Duration,
}

/// One session as `show bfd peers` presents it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeerStatus {
    /// Local discriminator.
    pub id: u32,
    /// Remote discriminator (0: not known).
    pub remote_id: u32,
    /// Addressing.
    pub key: PeerKey,
    /// Passive mode.
    pub passive: bool,
    /// State.
    pub state: State,
    /// Time in the current state (uptime when Up, downtime otherwise).
    pub since: Duration,
    /// Our diagnostic.
    pub diag: Diag,
    /// The peer's state as last heard.
    pub remote_state: State,
    /// The peer's diagnostic as last heard.
    pub remote_diag: Diag,
    /// Our configured timers.
    pub local: LocalTimers,
    /// The peer's timers as last heard (zeros: never heard).
    pub remote: RemoteTimers,
    /// Transmit interval in use, before jitter (§6.8.2).
    pub transmit_interval: Duration,
    /// Detection time in use (§6.8.4), once the peer has been heard.
    pub detection_time: Option<Duration>,
    /// Echo transmit interval while the echo function runs.
    pub echo_interval: Option<Duration>,
    /// Minimum accepted TTL (multi-hop).
    pub minimum_ttl: u8,
    /// UDP source port of our control packets.
    pub source_port: u16,
    /// Packet and event counters.
    pub counters: Counters,
}

/// Totals over all sessions, for the metrics endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BfdCounters {
    /// The core's totals (packets in/out, echo in/out, up/down events, sessions up).
    pub bfd: Counters,
    /// Sessions configured.
    pub sessions: u64,
    /// Datagrams that could not be sent (socket errors, full send buffers).
    pub send_errors: u64,
    /// Datagrams received without destination or TTL information (never seen on Linux).
    pub rx_incomplete: u64,
}

impl BfdCounters {
    /// The values under the frr-k8s BFD metric names (totals over all peers).
    pub fn metrics(&self) -> [(&'static str, u64); 7] {
        [
            ("frrk8s_bfd_control_packet_input", self.bfd.control_in),
            ("frrk8s_bfd_control_packet_output", self.bfd.control_out),
            ("frrk8s_bfd_echo_packet_input", self.bfd.echo_in),
            ("frrk8s_bfd_echo_packet_output", self.bfd.echo_out),
            ("frrk8s_bfd_session_up_events", self.bfd.up_events),
            ("frrk8s_bfd_session_down_events", self.bfd.down_events),
            ("frrk8s_bfd_session_up", self.bfd.session_up),
        ]
    }
}

enum Command {
    Add { key: PeerKey, profile: Profile, reply: oneshot::Sender<Result<SessionId, BfdError>> },
    Remove { key: PeerKey, reply: oneshot::Sender<Result<(), BfdError>> },
    SetProfile { key: PeerKey, profile: Profile, reply: oneshot::Sender<Result<(), BfdError>> },
    Peers { reply: oneshot::Sender<Vec<PeerStatus>> },
    Counters { reply: oneshot::Sender<BfdCounters> },
    Shutdown { reply: oneshot::Sender<()> },
}

/// The service's control side; cheap to clone. Dropping the last one shuts the service down.
#[derive(Debug, Clone)]
pub struct BfdHandle {
    tx: mpsc::UnboundedSender<Command>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Command::Add { .. } => "Add",
            Command::Remove { .. } => "Remove",
            Command::SetProfile { .. } => "SetProfile",
            Command::Peers { .. } => "Peers",
            Command::Counters { .. } => "Counters",
            Command::Shutdown { .. } => "Shutdown",
        })
    }
}

impl BfdHandle {
    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, BfdError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(make(reply)).map_err(|_| BfdError::Stopped)?;
        rx.await.map_err(|_| BfdError::Stopped)
    }

    /// Starts a session to `key.peer` with `profile` (its passive mode, echo mode and minimum
    /// TTL included). An active session sends its first packet at once.
    pub async fn add_peer(&self, key: PeerKey, profile: Profile) -> Result<SessionId, BfdError> {
        self.ask(|reply| Command::Add { key, profile, reply }).await?
    }

    /// Stops a session; if the peer had been heard, it gets one AdminDown packet (diag 7), so
    /// its clients do not react as to a failure (RFC 5882 §3.2).
    pub async fn remove_peer(&self, key: &PeerKey) -> Result<(), BfdError> {
        self.ask(|reply| Command::Remove { key: key.clone(), reply }).await?
    }

    /// Changes a session's profile; interval changes while Up go through a Poll Sequence.
    /// The minimum TTL applies to packets received from now on.
    pub async fn set_profile(&self, key: &PeerKey, profile: Profile) -> Result<(), BfdError> {
        self.ask(|reply| Command::SetProfile { key: key.clone(), profile, reply }).await?
    }

    /// Every session, in discriminator order.
    pub async fn peers(&self) -> Result<Vec<PeerStatus>, BfdError> {
        self.ask(|reply| Command::Peers { reply }).await
    }

    /// Totals for the metrics.
    pub async fn counters(&self) -> Result<BfdCounters, BfdError> {
        self.ask(|reply| Command::Counters { reply }).await
    }

    /// Takes every session administratively down (one AdminDown packet each) and stops.
    pub async fn shutdown(&self) -> Result<(), BfdError> {
        self.ask(|reply| Command::Shutdown { reply }).await
    }
}

/// The BFD service.
#[derive(Debug)]
pub struct BfdService;

impl BfdService {
    /// Opens the default VRF's listeners and spawns the driver on the current tokio runtime
    /// (panics outside one, like `tokio::spawn`).
    pub fn start(options: BfdOptions) -> Result<(BfdHandle, mpsc::UnboundedReceiver<BfdEvent>), BfdError> {
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let (dg_tx, dg_rx) = mpsc::unbounded_channel();
        let seed = options.seed.unwrap_or_else(|| {
            let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            (t.as_nanos() as u64) ^ (u64::from(std::process::id()) << 32)
        });
        let mut driver = Driver {
            mgr: Manager::new(seed),
            next_port: options.first_source_port,
            options,
            sessions: HashMap::new(),
            ports: HashSet::new(),
            vrfs: HashMap::new(),
            default_listeners: Vec::new(),
            dg_tx,
            events: ev_tx,
            send_errors: 0,
            rx_incomplete: 0,
            last_now: Instant::now(),
        };
        driver.default_listeners = driver.open_listeners(None)?;
        tokio::spawn(driver.run(cmd_rx, dg_rx));
        Ok((BfdHandle { tx: cmd_tx }, ev_rx))
    }
}

/// What a listener receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Port {
    Control(HopMode),
    Echo,
}

#[derive(Debug)]
struct Received {
    port: Port,
    vrf: Option<String>,
    interface: Option<String>,
    dg: Datagram,
}

#[derive(Debug)]
struct SessionIo {
    sender: Sender,
    dest: SocketAddr,
    scope: u32,
    device: Option<String>,
    vrf: Option<String>,
    echo: Option<socket2::Socket>,
    profile: Profile,
    changed: Instant,
    last_rx: Option<Instant>,
    remote: RemoteTimers,
    remote_diag: Diag,
}

#[derive(Debug)]
struct VrfListeners {
    tasks: Vec<JoinHandle<()>>,
    sessions: usize,
}

struct Driver {
    mgr: Manager,
    options: BfdOptions,
    sessions: HashMap<SessionId, SessionIo>,
    ports: HashSet<u16>,
    next_port: u16,
    vrfs: HashMap<String, VrfListeners>,
    default_listeners: Vec<JoinHandle<()>>,
    dg_tx: mpsc::UnboundedSender<Vec<Received>>,
    events: mpsc::UnboundedSender<BfdEvent>,
    send_errors: u64,
    rx_incomplete: u64,
    last_now: Instant,
}

fn us(v: u32) -> Duration {
    Duration::from_micros(u64::from(v))
}

impl Driver {
    fn open_listeners(&self, vrf: Option<&str>) -> Result<Vec<JoinHandle<()>>, BfdError> {
        let mut ports = vec![(Port::Control(HopMode::SingleHop), CONTROL_PORT)];
        ports.push((Port::Control(HopMode::MultiHop), MULTIHOP_CONTROL_PORT));
        if self.options.echo {
            ports.push((Port::Echo, ECHO_PORT));
        }
        let mut families: Vec<IpAddr> = Vec::new();
        if self.options.ipv4 {
            families.push(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        }
        if self.options.ipv6 {
            families.push(IpAddr::V6(Ipv6Addr::UNSPECIFIED));
        }
        let mut tasks = Vec::new();
        for ip in families {
            for (kind, port) in &ports {
                let addr = SocketAddr::new(ip, *port);
                let std_sock = sock::listener(addr, vrf).map_err(io_err(format!(
                    "opening the BFD listener {addr}{}",
                    vrf.map(|v| format!(" in VRF {v}")).unwrap_or_default()
                )));
                let std_sock = match std_sock {
                    Ok(s) => s,
                    Err(e) => {
                        for t in &tasks {
                            JoinHandle::abort(t);
                        }
                        return Err(e);
                    }
                };
                let s = tokio::net::UdpSocket::from_std(std_sock).map_err(io_err(format!("registering {addr}")))?;
                tasks.push(tokio::spawn(reader(s, *kind, vrf.map(str::to_owned), self.dg_tx.clone())));
            }
        }
        Ok(tasks)
    }

    async fn run(
        mut self,
        mut cmds: mpsc::UnboundedReceiver<Command>,
        mut dgs: mpsc::UnboundedReceiver<Vec<Received>>,
    ) {
        let mut shutdown_reply = None;
        'main: loop {
            let deadline = self.mgr.poll_timeout();
            let sleep = async {
                match deadline {
                    Some(t) => tokio::time::sleep_until(tokio::time::Instant::from_std(t)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                batch = dgs.recv() => {
                    if let Some(batch) = batch {
                        self.input(batch);
                    }
                }
                cmd = cmds.recv() => match cmd {
                    Some(Command::Shutdown { reply }) => {
                        shutdown_reply = Some(reply);
                        break 'main;
                    }
                    Some(c) => self.command(c),
                    None => break 'main,
                },
                () = sleep => {}
            }
            // Drain whatever else is queued, then run the timers and flush.
            while let Ok(batch) = dgs.try_recv() {
                self.input(batch);
            }
            loop {
                match cmds.try_recv() {
                    Ok(Command::Shutdown { reply }) => {
                        shutdown_reply = Some(reply);
                        break 'main;
                    }
                    Ok(c) => self.command(c),
                    Err(_) => break,
                }
            }
            let now = self.now();
            self.mgr.handle_timeout(now);
            self.flush();
        }
        self.flush();
        let ids: Vec<SessionId> = self.sessions.keys().copied().collect();
        for id in ids {
            self.remove(id);
        }
        for t in self.default_listeners.drain(..) {
            t.abort();
        }
        for (_, v) in self.vrfs.drain() {
            for t in v.tasks {
                t.abort();
            }
        }
        if let Some(r) = shutdown_reply {
            let _ = r.send(());
        }
    }

    /// A monotonic `now` (datagram timestamps may be slightly older than the last timer run).
    fn now(&mut self) -> Instant {
        self.last_now = self.last_now.max(Instant::now());
        self.last_now
    }

    fn input(&mut self, batch: Vec<Received>) {
        for r in batch {
            let at = r.dg.at.max(self.last_now);
            match r.port {
                Port::Echo => {
                    if let Err(e) = self.mgr.handle_echo(at, r.dg.bytes()) {
                        tracing::debug!(src = %r.dg.src, error = %e, "BFD echo refused");
                    }
                }
                Port::Control(hop) => {
                    let (Some(dst), Some(ttl)) = (r.dg.dst, r.dg.ttl) else {
                        self.rx_incomplete += 1;
                        continue;
                    };
                    let meta = RxMeta { src: r.dg.src, dst, interface: r.interface, vrf: r.vrf, ttl, hop };
                    match self.mgr.handle_control(at, &meta, r.dg.bytes()) {
                        Ok(id) => {
                            if let Some(io) = self.sessions.get_mut(&id) {
                                io.last_rx = Some(at);
                                let p = Packet::new_unchecked(r.dg.bytes());
                                io.remote = RemoteTimers {
                                    detect_multiplier: p.detect_mult(),
                                    receive_interval: us(p.required_min_rx()),
                                    transmit_interval: us(p.desired_min_tx()),
                                    echo_receive_interval: us(p.required_min_echo_rx()),
                                };
                                io.remote_diag = p.diag();
                            }
                        }
                        Err(e) => tracing::debug!(src = %meta.src, error = %e, "BFD control packet refused"),
                    }
                }
            }
        }
    }

    fn flush(&mut self) {
        while let Some(o) = self.mgr.poll_action() {
            self.act(o);
        }
    }

    fn act(&mut self, o: Output) {
        let Some(io) = self.sessions.get_mut(&o.id) else { return };
        match o.action {
            Action::Transmit(repr) => {
                let mut buf = [0u8; sock::MAX_DATAGRAM];
                let len = repr.buffer_len().min(buf.len());
                repr.emit(&mut Packet::new_unchecked(&mut buf[..len]));
                if let Err(e) = io.sender.sock.send_to(&buf[..len], io.dest) {
                    self.send_errors += 1;
                    tracing::debug!(peer = %o.key.peer, error = %e, "BFD control packet not sent");
                }
            }
            Action::TransmitEcho(echo) => {
                if io.echo.is_none() {
                    match sock::echo_sender(o.key.peer.is_ipv6(), io.device.as_deref()) {
                        Ok(s) => io.echo = Some(s),
                        Err(e) => {
                            self.send_errors += 1;
                            tracing::warn!(peer = %o.key.peer, error = %e, "BFD echo socket");
                            return;
                        }
                    }
                }
                let dg = sock::echo_datagram(o.key.local, io.sender.port, &echo.to_bytes());
                if let Some(s) = &io.echo
                    && let Err(e) = sock::send_echo(s, o.key.peer, io.scope, &dg)
                {
                    self.send_errors += 1;
                    tracing::debug!(peer = %o.key.peer, error = %e, "BFD echo packet not sent");
                }
            }
            Action::StateChanged { from, to, diag, remote } => {
                let at = Instant::now();
                io.changed = at;
                tracing::info!(peer = %o.key.peer, local = %o.key.local, ?from, ?to, ?diag, "BFD session state");
                let ev = if to == State::Up {
                    Some(BfdEvent::Up { peer: o.key, at })
                } else if from == State::Up {
                    Some(BfdEvent::Down {
                        peer: o.key,
                        diag,
                        remote_admin_down: remote == State::AdminDown,
                        silent_for: io.last_rx.map(|t| at.saturating_duration_since(t)),
                        at,
                    })
                } else {
                    None
                };
                if let Some(ev) = ev {
                    // The receiver may be gone (nobody listening): the session runs on.
                    let _ = self.events.send(ev);
                }
            }
        }
    }

    fn command(&mut self, c: Command) {
        match c {
            Command::Add { key, profile, reply } => {
                let r = self.add(key, profile);
                let _ = reply.send(r);
            }
            Command::Remove { key, reply } => {
                let r = match self.mgr.find(&key) {
                    Some(id) => {
                        self.remove(id);
                        Ok(())
                    }
                    None => Err(BfdError::NotFound(key.peer)),
                };
                let _ = reply.send(r);
            }
            Command::SetProfile { key, profile, reply } => {
                let r = self.set_profile(&key, profile);
                let _ = reply.send(r);
            }
            Command::Peers { reply } => {
                let _ = reply.send(self.peers());
            }
            Command::Counters { reply } => {
                let _ = reply.send(BfdCounters {
                    bfd: self.mgr.totals(),
                    sessions: self.sessions.len() as u64,
                    send_errors: self.send_errors,
                    rx_incomplete: self.rx_incomplete,
                });
            }
            Command::Shutdown { .. } => {}
        }
    }

    fn check_key(&self, key: &PeerKey) -> Result<u32, BfdError> {
        if key.peer.is_ipv4() != key.local.is_ipv4() {
            return Err(BfdError::InvalidKey(format!("peer {} and local {} differ in family", key.peer, key.local)));
        }
        if (key.peer.is_ipv4() && !self.options.ipv4) || (key.peer.is_ipv6() && !self.options.ipv6) {
            return Err(BfdError::InvalidKey(format!("the {} family is not enabled", key.peer)));
        }
        if key.hop == HopMode::MultiHop && sock::is_link_local(key.peer) {
            return Err(BfdError::InvalidKey(format!("multi-hop session to link-local {}", key.peer)));
        }
        let needs_scope = sock::is_link_local(key.peer) || sock::is_link_local(key.local);
        match (&key.interface, needs_scope) {
            (Some(i), true) => sock::if_index(i).map_err(io_err(format!("interface {i}"))),
            (None, true) => {
                Err(BfdError::InvalidKey(format!("link-local session to {} without an interface", key.peer)))
            }
            (_, false) => Ok(0),
        }
    }

    fn add(&mut self, key: PeerKey, profile: Profile) -> Result<SessionId, BfdError> {
        if let Some(id) = self.mgr.find(&key) {
            return Err(ManagerError::Duplicate(id).into());
        }
        let scope = self.check_key(&key)?;
        if let Some(vrf) = &key.vrf
            && !self.vrfs.contains_key(vrf)
        {
            let tasks = self.open_listeners(Some(vrf))?;
            self.vrfs.insert(vrf.clone(), VrfListeners { tasks, sessions: 0 });
        }
        // The session's interface (single hop) pins its packets to the link; otherwise its VRF.
        let device = match key.hop {
            HopMode::SingleHop => key.interface.clone().or_else(|| key.vrf.clone()),
            HopMode::MultiHop => key.vrf.clone(),
        };
        let ports = &self.ports;
        let sender = sock::sender(key.local, scope, device.as_deref(), self.next_port, &|p| ports.contains(&p))
            .map_err(io_err(format!("opening the BFD sender from {}", key.local)));
        let sender = match sender {
            Ok(s) => s,
            Err(e) => {
                self.release_vrf(key.vrf.as_deref());
                return Err(e);
            }
        };
        self.next_port = sender.port.checked_add(1).unwrap_or(49152);
        self.ports.insert(sender.port);
        let dest = match key.peer {
            IpAddr::V4(a) => SocketAddr::from((a, key.hop.control_port())),
            IpAddr::V6(a) => SocketAddr::V6(SocketAddrV6::new(a, key.hop.control_port(), 0, scope)),
        };
        let mut params = profile.session_params(key.hop);
        if !self.options.echo {
            params.echo_interval = None;
        }
        let now = self.now();
        let id = match self.mgr.add_session(now, key.clone(), params, profile.minimum_ttl, None) {
            Ok(id) => id,
            Err(e) => {
                self.ports.remove(&sender.port);
                self.release_vrf(key.vrf.as_deref());
                return Err(e.into());
            }
        };
        if let Some(vrf) = &key.vrf
            && let Some(v) = self.vrfs.get_mut(vrf)
        {
            v.sessions += 1;
        }
        self.sessions.insert(
            id,
            SessionIo {
                sender,
                dest,
                scope,
                device,
                vrf: key.vrf.clone(),
                echo: None,
                profile,
                changed: now,
                last_rx: None,
                remote: RemoteTimers::default(),
                remote_diag: Diag::NoDiagnostic,
            },
        );
        self.flush();
        Ok(id)
    }

    fn release_vrf(&mut self, vrf: Option<&str>) {
        let Some(vrf) = vrf else { return };
        if self.vrfs.get(vrf).is_some_and(|v| v.sessions == 0)
            && let Some(v) = self.vrfs.remove(vrf)
        {
            for t in v.tasks {
                t.abort();
            }
        }
    }

    fn remove(&mut self, id: SessionId) {
        let now = self.now();
        // Earlier actions of this session (a queued transmit) go out first.
        self.flush();
        let last = self.mgr.remove_session(now, id);
        if let Some(out) = last {
            self.act(out);
        }
        if let Some(io) = self.sessions.remove(&id) {
            self.ports.remove(&io.sender.port);
            if let Some(vrf) = io.vrf {
                if let Some(v) = self.vrfs.get_mut(&vrf) {
                    v.sessions = v.sessions.saturating_sub(1);
                }
                self.release_vrf(Some(&vrf));
            }
        }
    }

    fn set_profile(&mut self, key: &PeerKey, profile: Profile) -> Result<(), BfdError> {
        let id = self.mgr.find(key).ok_or(BfdError::NotFound(key.peer))?;
        let mut params = profile.session_params(key.hop);
        if !self.options.echo {
            params.echo_interval = None;
        }
        let now = self.now();
        self.mgr.set_params(now, id, params);
        if self.sessions.get(&id).is_some_and(|io| io.profile.minimum_ttl != profile.minimum_ttl) {
            tracing::warn!(peer = %key.peer, "BFD minimumTtl change takes effect when the session is re-created");
        }
        if let Some(io) = self.sessions.get_mut(&id) {
            io.profile = profile;
        }
        self.flush();
        Ok(())
    }

    fn peers(&self) -> Vec<PeerStatus> {
        let now = Instant::now();
        self.mgr
            .ids()
            .filter_map(|id| {
                let s = self.mgr.session(id)?;
                let key = self.mgr.key(id)?.clone();
                let io = self.sessions.get(&id)?;
                let p = s.params();
                let echo = p.echo_interval.unwrap_or_default();
                Some(PeerStatus {
                    id: id.discriminator(),
                    remote_id: s.remote_discriminator(),
                    passive: p.passive,
                    state: s.state(),
                    since: now.saturating_duration_since(io.changed),
                    diag: s.local_diag(),
                    remote_state: s.remote_state(),
                    remote_diag: io.remote_diag,
                    local: LocalTimers {
                        detect_multiplier: p.detect_mult,
                        receive_interval: p.required_min_rx,
                        transmit_interval: p.desired_min_tx,
                        echo_receive_interval: echo,
                        echo_transmit_interval: echo,
                    },
                    remote: io.remote,
                    transmit_interval: s.tx_interval(),
                    detection_time: s.detection_time(),
                    echo_interval: s.echo_interval(),
                    minimum_ttl: io.profile.minimum_ttl,
                    source_port: io.sender.port,
                    counters: self.mgr.counters(id).unwrap_or_default(),
                    key,
                })
            })
            .collect()
    }
}

/// Reads datagrams from one listener and hands them to the driver in batches.
async fn reader(
    sock: tokio::net::UdpSocket,
    port: Port,
    vrf: Option<String>,
    out: mpsc::UnboundedSender<Vec<Received>>,
) {
    let fd = sock.as_raw_fd();
    let mut cmsg = vec![0u8; 256];
    let mut names = IfNames::default();
    loop {
        if let Err(e) = sock.readable().await {
            tracing::warn!(error = %e, "BFD listener failed");
            return;
        }
        let mut batch = Vec::new();
        while batch.len() < 256 {
            match sock.try_io(Interest::READABLE, || sock::recv_one(fd, &mut cmsg)) {
                Ok(dg) => {
                    let interface = names.name(dg.ifindex);
                    batch.push(Received { port, vrf: vrf.clone(), interface, dg });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    tracing::debug!(error = %e, "BFD listener receive");
                    break;
                }
            }
        }
        if !batch.is_empty() && out.send(batch).is_err() {
            return;
        }
    }
}
