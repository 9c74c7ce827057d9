//! One tokio task per neighbor owning its [`Session`], [`AdjRibOut`] and [`AdjRibIn`], plus the
//! listeners that hand accepted connections to neighbors by peer address.
//!
//! The task waits on three things: control messages from the handle, network events (connect
//! outcomes, accepted connections, bytes read, closes: a bounded channel, so a peer sending
//! faster than we process is slowed down by TCP), and the session's next timer. After each, it
//! carries out the session's actions and, when Established, sends what the Adj-RIB-Out has
//! pending: routes changed by several intents in a row go out as one packed plan.
//!
//! Each connection has a reader task (bytes → network events) and a writer task (an unbounded
//! queue of whole messages; `Close` flushes, shuts the socket down and ends), so a slow peer never
//! blocks the session's timers.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrolb_bgp::filter::ReceivePolicy;
use ferrolb_bgp::rib::{AdjRibIn, AdjRibOut, Family as RibFamily, InDelta, InUpdate, PeerInfo};
use ferrolb_bgp::session::{
    Action, ConnId, Direction, DownReason, GracefulRestartConfig, IdleHoldConfig, Input, Negotiated, PeerAs,
    ReceivedUpdate, Session, SessionConfig,
};
use ferrolb_bgp::wire::{AsPath, Community, Family, LargeCommunity, MpNextHop, Origin, PathAttributes, code};
use ipnet::IpNet;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::install::{RibMsg, RxAttrs};
use super::show::{MessageCounts, NeighborStatus, RouteDirection, RouteEntry};
use super::sock::{self, SocketOptions};
use super::{Control, PeerId, Shared, SpeakerOptions};
use crate::daemon::intent::{NeighborIntent, PeerAsIntent, RouteAttrs};

/// Network events of one neighbor.
#[derive(Debug)]
pub(crate) enum NetEvent {
    /// An accepted connection from the peer's address.
    Accepted(TcpStream),
    /// The outcome of connect attempt `attempt`.
    Connected { attempt: u64, result: io::Result<TcpStream> },
    /// Bytes read.
    Bytes { conn: ConnId, data: Vec<u8> },
    /// The connection was closed by the peer or failed.
    Closed { conn: ConnId },
}

/// Checks what the session core would refuse, before spawning anything.
pub(crate) fn validate(n: &NeighborIntent, opts: &SpeakerOptions) -> Result<(), String> {
    session_config(n, opts).and_then(|c| c.validate().map_err(|e| e.to_string()))
}

fn secs_u16(d: Duration) -> u16 {
    u16::try_from(d.as_secs()).unwrap_or(u16::MAX)
}

fn session_config(n: &NeighborIntent, opts: &SpeakerOptions) -> Result<SessionConfig, String> {
    let router_id = n
        .router_id
        .or(opts.router_id_fallback)
        .ok_or("no router id: neither the router nor the speaker options give one")?;
    let peer_asn = match n.peer_as {
        PeerAsIntent::Asn(a) => PeerAs::Number(a),
        PeerAsIntent::Internal => PeerAs::Internal,
        PeerAsIntent::External => PeerAs::External,
    };
    let mut c = SessionConfig::new(n.local_asn, peer_asn, router_id);
    c.hold_time = secs_u16(n.hold_time);
    c.keepalive_time = n.keepalive_time.map(secs_u16);
    c.connect_retry = n.connect_time;
    c.disable_mp = n.disable_mp;
    c.idle_hold = IdleHoldConfig { initial: opts.idle_hold, ..IdleHoldConfig::default() };
    if n.graceful_restart {
        let families = if n.disable_mp { vec![Family::IPV4_UNICAST] } else { c.families.clone() };
        c.graceful_restart = Some(GracefulRestartConfig {
            restart_time: opts.restart_time,
            restarting: opts.restarted,
            // Our kernel routes survive a restart (shutdown_for_restart keeps them).
            preserve_forwarding: if opts.restarted { families } else { Vec::new() },
            ..GracefulRestartConfig::default()
        });
    }
    Ok(c)
}

fn socket_options(n: &NeighborIntent) -> SocketOptions {
    let ebgp = match n.peer_as {
        PeerAsIntent::Asn(a) => a != n.local_asn,
        PeerAsIntent::External => true,
        PeerAsIntent::Internal => false,
    };
    SocketOptions {
        password: n.password.clone().filter(|p| !p.is_empty()),
        // GTSM (RFC 5082) sends every packet with TTL 255, so the receiver's check means "one hop".
        ttl: if ebgp && !n.ebgp_multihop && n.min_ttl.is_none() { 1 } else { 255 },
        min_ttl: n.min_ttl,
        vrf: (!n.key.vrf.is_empty()).then(|| n.key.vrf.clone()),
        source: n.source_address,
    }
}

fn rib_family(f: Family) -> Option<RibFamily> {
    if f == Family::IPV4_UNICAST {
        Some(RibFamily::Ipv4)
    } else if f == Family::IPV6_UNICAST {
        Some(RibFamily::Ipv6)
    } else {
        None
    }
}

// ---------------------------------------------------------------------------------- status

/// A neighbor's status with the instant its state last changed.
#[derive(Debug)]
pub(crate) struct LiveStatus {
    status: NeighborStatus,
    changed_at: Instant,
}

impl LiveStatus {
    pub(crate) fn new(n: &NeighborIntent) -> Self {
        LiveStatus {
            status: NeighborStatus {
                neighbor: n.key.to_string(),
                vrf: n.key.vrf.clone(),
                address: n.key.address,
                local_asn: n.local_asn,
                remote_asn: match n.peer_as {
                    PeerAsIntent::Asn(a) => a,
                    _ => 0,
                },
                router_id: n.router_id,
                remote_router_id: None,
                state: "Idle".into(),
                up_down_secs: 0,
                established_count: 0,
                dropped_count: 0,
                hold_time: None,
                keepalive_time: None,
                families: Vec::new(),
                ebgp: None,
                local: None,
                remote: None,
                sent: MessageCounts::default(),
                received: MessageCounts::default(),
                prefixes_received: 0,
                prefixes_stale: 0,
                prefixes_filtered: 0,
                prefixes_sent: 0,
                prefixes_desired: n.routes.len() as u64,
                last_error: None,
                bfd_down: false,
            },
            changed_at: Instant::now(),
        }
    }

    pub(crate) fn snapshot(&self) -> NeighborStatus {
        NeighborStatus { up_down_secs: self.changed_at.elapsed().as_secs(), ..self.status.clone() }
    }
}

/// Counts whole messages in a byte stream of any chunking (for the received counters).
#[derive(Debug, Default)]
struct FrameCounter {
    head: Vec<u8>,
    skip: usize,
    broken: bool,
}

impl FrameCounter {
    fn feed(&mut self, mut data: &[u8], counts: &mut MessageCounts) {
        while !data.is_empty() && !self.broken {
            if self.skip > 0 {
                let n = self.skip.min(data.len());
                self.skip -= n;
                data = &data[n..];
                continue;
            }
            let n = (19 - self.head.len()).min(data.len());
            self.head.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.head.len() == 19 {
                let len = usize::from(u16::from_be_bytes([self.head[16], self.head[17]]));
                counts.add(self.head[18]);
                self.head.clear();
                if len < 19 {
                    // A bad header: the session resets the connection; stop counting it.
                    self.broken = true;
                }
                self.skip = len.saturating_sub(19);
            }
        }
    }
}

/// Counts the whole messages of one `Send` action.
fn count_sent(mut bytes: &[u8], counts: &mut MessageCounts) {
    while bytes.len() >= 19 {
        let len = usize::from(u16::from_be_bytes([bytes[16], bytes[17]]));
        counts.add(bytes[18]);
        if len < 19 || len > bytes.len() {
            return;
        }
        bytes = &bytes[len..];
    }
}

// ---------------------------------------------------------------------------------- connections

enum WriteCmd {
    Data(Vec<u8>),
    Close,
}

struct Conn {
    writer: mpsc::UnboundedSender<WriteCmd>,
    reader: tokio::task::JoinHandle<()>,
    local: SocketAddr,
    remote: SocketAddr,
    counter: FrameCounter,
}

fn start_conn(stream: TcpStream, id: ConnId, net: mpsc::Sender<NetEvent>) -> io::Result<Conn> {
    let local = stream.local_addr()?;
    let remote = stream.peer_addr()?;
    let (mut rd, mut wr) = stream.into_split();
    let (writer, mut wq) = mpsc::unbounded_channel::<WriteCmd>();
    tokio::spawn(async move {
        while let Some(cmd) = wq.recv().await {
            match cmd {
                WriteCmd::Data(b) => {
                    if wr.write_all(&b).await.is_err() {
                        break;
                    }
                }
                WriteCmd::Close => {
                    let _ = wr.shutdown().await;
                    break;
                }
            }
        }
    });
    let reader = tokio::spawn(async move {
        let mut buf = vec![0u8; 65536];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => {
                    let _ = net.send(NetEvent::Closed { conn: id }).await;
                    return;
                }
                Ok(n) => {
                    if net.send(NetEvent::Bytes { conn: id, data: buf[..n].to_vec() }).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    Ok(Conn { writer, reader, local, remote, counter: FrameCounter::default() })
}

// ---------------------------------------------------------------------------------- listeners

/// The listening sockets of one VRF (IPv4 and IPv6).
pub(crate) struct Listeners {
    v4: Option<Arc<tokio::net::TcpListener>>,
    v6: Option<Arc<tokio::net::TcpListener>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Listeners {
    pub(crate) fn start(shared: &Arc<Shared>, vrf: &str) -> Listeners {
        let mut l = Listeners { v4: None, v6: None, tasks: Vec::new() };
        for v6 in [false, true] {
            let vrf_dev = (!vrf.is_empty()).then_some(vrf);
            let listener = sock::listen_socket(&shared.opts.netns, v6, shared.opts.listen_port, vrf_dev)
                .and_then(|s| tokio::net::TcpListener::from_std(std::net::TcpListener::from(s)));
            let listener = match listener {
                Ok(l) => Arc::new(l),
                Err(e) => {
                    tracing::warn!(vrf, v6, port = shared.opts.listen_port, error = %e, "BGP listener not opened");
                    continue;
                }
            };
            let task = tokio::spawn(accept_loop(listener.clone(), shared.clone(), vrf.to_owned()));
            l.tasks.push(task);
            if v6 {
                l.v6 = Some(listener);
            } else {
                l.v4 = Some(listener);
            }
        }
        l
    }

    /// Sets (or with an empty key removes) the TCP MD5 key for `peer` on the listener of its family.
    pub(crate) fn set_md5(&self, peer: IpAddr, key: &[u8]) -> io::Result<()> {
        let l = if peer.is_ipv4() { &self.v4 } else { &self.v6 };
        match l {
            Some(l) => {
                let s = socket2::SockRef::from(&**l);
                sock::set_md5(&s, peer, key)
            }
            None => Ok(()),
        }
    }

    pub(crate) fn stop(self) {
        for t in self.tasks {
            t.abort();
        }
    }
}

async fn accept_loop(listener: Arc<tokio::net::TcpListener>, shared: Arc<Shared>, vrf: String) {
    loop {
        let (stream, from) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let ip = match from.ip() {
            IpAddr::V6(a) => a.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(a)),
            a => a,
        };
        let tx = shared.peers.read().unwrap_or_else(|p| p.into_inner()).get(&(vrf.clone(), ip)).cloned();
        match tx {
            Some(tx) => {
                if tx.try_send(NetEvent::Accepted(stream)).is_err() {
                    tracing::debug!(%from, "neighbor busy, incoming connection dropped");
                }
            }
            None => tracing::debug!(%from, "connection from an unknown peer closed"),
        }
    }
}

// ---------------------------------------------------------------------------------- the task

struct Established {
    ebgp: bool,
    nh4: Option<Ipv4Addr>,
    nh6: Option<MpNextHop>,
    families: Vec<Family>,
}

struct Neighbor {
    shared: Arc<Shared>,
    id: PeerId,
    intent: NeighborIntent,
    peer: SocketAddr,
    session: Session,
    policy: ReceivePolicy,
    out: AdjRibOut<RouteAttrs>,
    rin: AdjRibIn<RxAttrs>,
    conns: HashMap<ConnId, Conn>,
    next_conn: ConnId,
    attempt: u64,
    connecting: Option<tokio::task::JoinHandle<()>>,
    net_tx: mpsc::Sender<NetEvent>,
    status: Arc<Mutex<LiveStatus>>,
    est: Option<Established>,
    bfd_down: bool,
    /// Registered with the installer (SetPeer sent).
    in_rib: bool,
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn spawn(
    shared: Arc<Shared>,
    id: PeerId,
    intent: NeighborIntent,
    policy: ReceivePolicy,
    status: Arc<Mutex<LiveStatus>>,
    ctl: mpsc::UnboundedReceiver<Control>,
    net_tx: mpsc::Sender<NetEvent>,
    net_rx: mpsc::Receiver<NetEvent>,
) -> Result<tokio::task::JoinHandle<()>, String> {
    let config = session_config(&intent, &shared.opts)?;
    let session = Session::new(config).map_err(|e| e.to_string())?;
    let address = intent.key.address.ok_or("unnumbered neighbors are not supported")?;
    let mut out = AdjRibOut::new();
    out.replace_desired(intent.routes.iter().map(|(p, a)| (*p, a.clone())));
    let n = Neighbor {
        shared,
        id,
        peer: SocketAddr::new(address, intent.port),
        intent,
        session,
        policy,
        out,
        rin: AdjRibIn::new(),
        conns: HashMap::new(),
        next_conn: 1,
        attempt: 0,
        connecting: None,
        net_tx,
        status,
        est: None,
        bfd_down: false,
        in_rib: false,
    };
    // Every event of this neighbor's task carries the peer (and VRF) in its span.
    let span = tracing::info_span!("bgp", peer = %n.intent.key);
    Ok(tokio::spawn(tracing::Instrument::instrument(n.run(ctl, net_rx), span)))
}

impl Neighbor {
    async fn run(mut self, mut ctl: mpsc::UnboundedReceiver<Control>, mut net: mpsc::Receiver<NetEvent>) {
        self.session.handle(Instant::now(), Input::Start);
        self.after();
        loop {
            let deadline = self.session.poll_timeout().map(tokio::time::Instant::from_std);
            tokio::select! {
                biased;
                c = ctl.recv() => {
                    let Some(c) = c else {
                        // The handle is gone: end quietly as for a restart.
                        self.stop(None).await;
                        return;
                    };
                    if let Some(done) = self.control(c).await {
                        let _ = done.send(());
                        return;
                    }
                }
                ev = net.recv() => {
                    if let Some(ev) = ev {
                        self.net(ev);
                    }
                }
                _ = async { if let Some(d) = deadline { tokio::time::sleep_until(d).await } }, if deadline.is_some() => {
                    self.session.handle_timeout(Instant::now());
                }
            }
            self.after();
        }
    }

    /// Carries out the session's actions, then sends what the Adj-RIB-Out has pending.
    fn after(&mut self) {
        self.drain();
        if self.est.is_some() && self.out.has_pending() {
            self.send_plan();
            self.drain();
        }
        self.publish();
    }

    fn publish(&self) {
        let mut s = self.status.lock().unwrap_or_else(|p| p.into_inner());
        let st = &mut s.status;
        st.prefixes_received = (self.rin.len(RibFamily::Ipv4) + self.rin.len(RibFamily::Ipv6)) as u64;
        st.prefixes_stale = (self.rin.stale_len(RibFamily::Ipv4) + self.rin.stale_len(RibFamily::Ipv6)) as u64;
        st.prefixes_sent = (self.out.sent_len(RibFamily::Ipv4) + self.out.sent_len(RibFamily::Ipv6)) as u64;
        st.prefixes_desired = (self.out.desired_len(RibFamily::Ipv4) + self.out.desired_len(RibFamily::Ipv6)) as u64;
        st.bfd_down = self.bfd_down;
    }

    fn with_status(&self, f: impl FnOnce(&mut LiveStatus)) {
        f(&mut self.status.lock().unwrap_or_else(|p| p.into_inner()));
    }

    async fn control(&mut self, c: Control) -> Option<tokio::sync::oneshot::Sender<()>> {
        let now = Instant::now();
        match c {
            Control::Update(intent, policy) => {
                if intent.routes != self.intent.routes {
                    self.out.replace_desired(intent.routes.iter().map(|(p, a)| (*p, a.clone())));
                }
                self.intent = *intent;
                self.set_policy(now, policy);
            }
            Control::Reset(intent, policy) => {
                self.session.handle(now, Input::Stop { subcode: code::cease::OTHER_CONFIGURATION_CHANGE });
                self.drain();
                if intent.routes != self.intent.routes {
                    self.out.replace_desired(intent.routes.iter().map(|(p, a)| (*p, a.clone())));
                }
                self.intent = *intent;
                self.policy = policy;
                match session_config(&self.intent, &self.shared.opts)
                    .and_then(|c| Session::new(c).map_err(|e| e.to_string()))
                {
                    Ok(s) => self.session = s,
                    Err(e) => tracing::error!(neighbor = %self.intent.key, error = %e, "reset refused"),
                }
                if let Some(addr) = self.intent.key.address {
                    self.peer = SocketAddr::new(addr, self.intent.port);
                }
                self.with_status(|s| {
                    s.status.router_id = self.intent.router_id.or(self.shared.opts.router_id_fallback);
                    s.status.local_asn = self.intent.local_asn;
                });
                if !self.bfd_down {
                    self.session.handle(now, Input::Start);
                }
            }
            Control::Stop { subcode, done } => {
                self.stop(subcode).await;
                return Some(done);
            }
            Control::Bfd { up } => {
                if !up && !self.bfd_down {
                    self.bfd_down = true;
                    tracing::info!(neighbor = %self.intent.key, "BFD down: session torn down");
                    self.session.handle(now, Input::Stop { subcode: code::cease::ADMINISTRATIVE_RESET });
                } else if up && self.bfd_down {
                    self.bfd_down = false;
                    self.session.handle(now, Input::Start);
                }
            }
            Control::Routes { direction, reply } => {
                let _ = reply.send(self.routes(direction));
            }
        }
        None
    }

    fn set_policy(&mut self, now: Instant, policy: ReceivePolicy) {
        if policy == self.policy {
            return;
        }
        self.policy = policy;
        let delta = self.rin.reapply_policy(&self.policy);
        self.to_rib(delta);
        // Routes refused before may be accepted now: ask for them again (RFC 2918).
        if let Some(est) = &self.est {
            for f in est.families.clone() {
                if let Err(e) = self.session.request_route_refresh(now, f) {
                    tracing::debug!(neighbor = %self.intent.key, error = %e, "no route refresh");
                }
            }
        }
    }

    /// Ends the neighbor: NOTIFICATION Cease `subcode` (or a silent close), routes removed from the
    /// Loc-RIB, writers flushed.
    async fn stop(&mut self, subcode: Option<u8>) {
        let now = Instant::now();
        match subcode {
            Some(subcode) => {
                self.session.handle(now, Input::Stop { subcode });
                self.drain();
            }
            None => {
                for (_, c) in self.conns.drain() {
                    let _ = c.writer.send(WriteCmd::Close);
                    c.reader.abort();
                }
            }
        }
        if let Some(t) = self.connecting.take() {
            t.abort();
        }
        if subcode.is_some() {
            let _ = self.shared.rib.send(RibMsg::RemovePeer(self.id));
        }
        // Give the writers a moment to flush the NOTIFICATION.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    fn net(&mut self, ev: NetEvent) {
        let now = Instant::now();
        match ev {
            NetEvent::Accepted(stream) => {
                if let Err(e) =
                    sock::accepted_options(&stream_std_ref(&stream), self.peer.ip(), &socket_options(&self.intent))
                {
                    tracing::debug!(error = %e, "options on an accepted connection");
                }
                let id = self.next_conn;
                self.next_conn += 1;
                match start_conn(stream, id, self.net_tx.clone()) {
                    Ok(c) => {
                        self.conns.insert(id, c);
                        self.session.handle(now, Input::Connected { conn: id, direction: Direction::Passive });
                    }
                    Err(e) => tracing::debug!(error = %e, "accepted connection unusable"),
                }
            }
            NetEvent::Connected { attempt, result } => {
                if attempt != self.attempt {
                    return;
                }
                self.connecting = None;
                match result.and_then(|s| {
                    let id = self.next_conn;
                    self.next_conn += 1;
                    start_conn(s, id, self.net_tx.clone()).map(|c| (id, c))
                }) {
                    Ok((id, c)) => {
                        self.conns.insert(id, c);
                        self.session.handle(now, Input::Connected { conn: id, direction: Direction::Active });
                    }
                    Err(e) => {
                        tracing::debug!(neighbor = %self.intent.key, error = %e, "connect failed");
                        self.session.handle(now, Input::ConnectFailed);
                    }
                }
            }
            NetEvent::Bytes { conn, data } => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    let mut st = self.status.lock().unwrap_or_else(|p| p.into_inner());
                    c.counter.feed(&data, &mut st.status.received);
                }
                self.session.handle(now, Input::Bytes { conn, data });
            }
            NetEvent::Closed { conn } => {
                if let Some(c) = self.conns.remove(&conn) {
                    let _ = c.writer.send(WriteCmd::Close);
                    self.session.handle(now, Input::Closed { conn });
                }
            }
        }
    }

    fn connect(&mut self) {
        if let Some(t) = self.connecting.take() {
            t.abort();
        }
        self.attempt += 1;
        let attempt = self.attempt;
        let ns = self.shared.opts.netns.clone();
        let peer = self.peer;
        let opts = socket_options(&self.intent);
        let tx = self.net_tx.clone();
        self.connecting = Some(tokio::spawn(async move {
            let result = async {
                let std = tokio::task::spawn_blocking(move || sock::connect_socket(&ns, peer.ip(), &opts))
                    .await
                    .map_err(io::Error::other)??;
                tokio::net::TcpSocket::from_std_stream(std).connect(peer).await
            }
            .await;
            let _ = tx.send(NetEvent::Connected { attempt, result }).await;
        }));
    }

    fn drain(&mut self) {
        while let Some(action) = self.session.poll_action() {
            self.action(action);
        }
    }

    fn action(&mut self, action: Action) {
        let now = Instant::now();
        match action {
            Action::Connect => self.connect(),
            Action::CancelConnect => {
                self.attempt += 1;
                if let Some(t) = self.connecting.take() {
                    t.abort();
                }
            }
            Action::Send { conn, bytes } => {
                if let Some(c) = self.conns.get(&conn) {
                    {
                        let mut st = self.status.lock().unwrap_or_else(|p| p.into_inner());
                        count_sent(&bytes, &mut st.status.sent);
                    }
                    let _ = c.writer.send(WriteCmd::Data(bytes));
                }
            }
            Action::Close { conn } => {
                if let Some(c) = self.conns.remove(&conn) {
                    let _ = c.writer.send(WriteCmd::Close);
                    c.reader.abort();
                }
            }
            Action::StateChanged { to, .. } => {
                self.with_status(|s| {
                    s.status.state = format!("{to:?}");
                });
            }
            Action::Established(neg) => self.on_established(now, &neg),
            Action::Down { reason, was_established, retained } => {
                if was_established {
                    tracing::info!(neighbor = %self.intent.key, ?reason, "session down");
                }
                self.est = None;
                self.out.session_down();
                let kept: Vec<RibFamily> = retained
                    .as_ref()
                    .map(|r| r.families.iter().filter_map(|f| rib_family(*f)).collect())
                    .unwrap_or_default();
                for f in RibFamily::ALL {
                    if kept.contains(&f) {
                        self.rin.mark_stale(f);
                    } else {
                        let d = self.rin.clear_family(f);
                        self.to_rib(d);
                    }
                }
                let text = describe_down(&reason);
                self.with_status(|s| {
                    if was_established {
                        s.status.dropped_count += 1;
                        s.changed_at = Instant::now();
                    }
                    s.status.last_error = Some(text);
                    s.status.hold_time = None;
                    s.status.keepalive_time = None;
                    s.status.local = None;
                    s.status.remote = None;
                });
            }
            Action::Update(rx) => self.on_update(now, *rx),
            Action::EndOfRib(f) => {
                if let Some(f) = rib_family(f) {
                    let d = self.rin.sweep_stale(f);
                    self.to_rib(d);
                }
            }
            Action::RouteRefresh(_) => {
                self.out.mark_all_for_resend();
            }
            Action::FlushStale(families) => {
                for f in families.into_iter().filter_map(rib_family) {
                    let d = self.rin.sweep_stale(f);
                    self.to_rib(d);
                }
            }
        }
    }

    fn on_established(&mut self, now: Instant, neg: &Negotiated) {
        let (local, remote) = match self.conns.get(&neg.conn) {
            Some(c) => (c.local, c.remote),
            None => return,
        };
        let (nh4, nh6) = next_hops(&self.shared.opts.netns, local.ip(), self.peer.ip(), self.intent.source_address);
        tracing::info!(neighbor = %self.intent.key, peer_as = neg.peer_asn, "session established");
        let est = Established { ebgp: neg.ebgp, nh4, nh6, families: neg.context.families.clone() };
        let table = if self.intent.key.vrf.is_empty() {
            Some(self.shared.opts.table)
        } else {
            self.shared.opts.vrf_tables.get(&self.intent.key.vrf).copied()
        };
        if let Some(table) = table {
            let info = PeerInfo { table, ebgp: neg.ebgp, router_id: neg.peer_id, address: self.peer.ip() };
            let _ = self.shared.rib.send(RibMsg::SetPeer(self.id, info));
            self.in_rib = true;
        }
        self.with_status(|s| {
            let st = &mut s.status;
            st.established_count += 1;
            st.remote_asn = neg.peer_asn;
            st.remote_router_id = Some(neg.peer_id);
            st.router_id = Some(self.session.config().router_id);
            st.hold_time = Some(neg.hold_time);
            st.keepalive_time = Some(neg.keepalive_time);
            st.families = neg.context.families.iter().map(|f| f.to_string()).collect();
            st.ebgp = Some(neg.ebgp);
            st.local = Some(local);
            st.remote = Some(remote);
            st.last_error = None;
            s.changed_at = Instant::now();
        });
        self.est = Some(est);
        // Our routes, then End-of-RIB per family (RFC 4724 §2).
        self.send_plan();
        if let Err(e) = self.session.send_end_of_rib_all(now) {
            tracing::warn!(neighbor = %self.intent.key, error = %e, "End-of-RIB not sent");
        }
    }

    fn path_attributes(&self, est: &Established, a: &RouteAttrs) -> PathAttributes {
        let local_asn = self.intent.local_asn;
        PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(if est.ebgp { AsPath::sequence(vec![local_asn]) } else { AsPath::default() }),
            next_hop: est.nh4,
            local_pref: if est.ebgp { None } else { Some(a.local_pref.unwrap_or(100)) },
            communities: a.communities.iter().map(|c| Community(*c)).collect(),
            large_communities: a
                .large_communities
                .iter()
                .map(|(g, l1, l2)| LargeCommunity { global: *g, local1: *l1, local2: *l2 })
                .collect(),
            ..PathAttributes::default()
        }
    }

    /// Sends the Adj-RIB-Out's pending changes, packed per attribute set.
    fn send_plan(&mut self) {
        let Some(est) = self.est.take() else { return };
        let now = Instant::now();
        let plan = self.out.take_plan();
        for (family, fp) in [(Family::IPV4_UNICAST, &plan.ipv4), (Family::IPV6_UNICAST, &plan.ipv6)] {
            if fp.is_empty() {
                continue;
            }
            if !est.families.contains(&family) {
                tracing::warn!(neighbor = %self.intent.key, %family, "routes of a family the session did not negotiate are not sent");
                continue;
            }
            let nh = if family == Family::IPV4_UNICAST { est.nh4.map(MpNextHop::V4) } else { est.nh6 };
            if !fp.withdrawn.is_empty() {
                let base = self.path_attributes(&est, &RouteAttrs::default());
                if let Err(e) = self.session.announce(now, &base, nh, &[], &fp.withdrawn) {
                    tracing::warn!(neighbor = %self.intent.key, error = %e, "withdrawals not sent");
                }
            }
            if nh.is_none() && !fp.announced.is_empty() {
                tracing::warn!(neighbor = %self.intent.key, %family, "no local address of the family for the next hop: routes not sent");
                continue;
            }
            for (attrs, prefixes) in &fp.announced {
                let pa = self.path_attributes(&est, attrs);
                if let Err(e) = self.session.announce(now, &pa, nh, prefixes, &[]) {
                    tracing::warn!(neighbor = %self.intent.key, error = %e, "routes not sent");
                }
            }
        }
        self.est = Some(est);
    }

    fn on_update(&mut self, now: Instant, rx: ReceivedUpdate) {
        if !rx.rfc7606.is_empty() {
            tracing::warn!(neighbor = %self.intent.key, outcomes = ?rx.rfc7606, "RFC 7606: malformed UPDATE handled");
        }
        let attrs = &rx.update.attributes;
        let as_path: Vec<u32> = attrs
            .as_path
            .as_ref()
            .map(|p| p.segments.iter().flat_map(|s| s.asns.iter().copied()).collect())
            .unwrap_or_default();
        let as_path_len = attrs.as_path.as_ref().map(|p| p.length() as u32).unwrap_or(0);
        let looped = as_path.contains(&self.intent.local_asn) && self.est.as_ref().is_some_and(|e| e.ebgp);
        let mut withdrawn = rx.withdrawn();
        let mut updates = Vec::new();
        for family in [Family::IPV4_UNICAST, Family::IPV6_UNICAST] {
            let prefixes: Vec<IpNet> = rx.announced().into_iter().filter(|p| Family::of(p) == family).collect();
            if prefixes.is_empty() {
                continue;
            }
            match rx.update.next_hop(family) {
                Some(nh) if !looped => {
                    let a = RxAttrs {
                        next_hop: nh,
                        origin: match attrs.origin {
                            Some(Origin::Egp) => 1,
                            Some(Origin::Incomplete) => 2,
                            _ => 0,
                        },
                        as_path: as_path.clone(),
                        as_path_len,
                        med: attrs.med,
                        local_pref: attrs.local_pref,
                        communities: attrs.communities.iter().map(|c| c.0).collect(),
                        large_communities: attrs
                            .large_communities
                            .iter()
                            .map(|l| (l.global, l.local1, l.local2))
                            .collect(),
                    };
                    updates.push(InUpdate::announce(a, prefixes));
                }
                // No usable next hop, or our own AS in the path (RFC 4271 §9.1.2): not accepted.
                _ => withdrawn.extend(prefixes),
            }
        }
        if !withdrawn.is_empty() {
            updates.insert(0, InUpdate::withdraw(withdrawn));
        }
        for u in updates {
            let outcome = self.rin.apply(u, &self.policy);
            if outcome.blocked + outcome.not_allowed > 0 {
                self.with_status(|s| s.status.prefixes_filtered += (outcome.blocked + outcome.not_allowed) as u64);
            }
            for ev in &outcome.limit_events {
                tracing::warn!(neighbor = %self.intent.key, "{ev}");
            }
            let cease = outcome.cease().is_some();
            self.to_rib(outcome.delta);
            if cease {
                self.session.handle(now, Input::Reset { subcode: code::cease::MAX_PREFIXES });
                return;
            }
        }
    }

    fn to_rib(&self, delta: InDelta<RxAttrs>) {
        if !delta.is_empty() && self.in_rib {
            let _ = self.shared.rib.send(RibMsg::Delta(self.id, delta));
        }
    }

    fn routes(&self, direction: RouteDirection) -> Vec<RouteEntry> {
        let neighbor = self.intent.key.to_string();
        let fmt_c = |c: &u32| format!("{}:{}", c >> 16, c & 0xffff);
        let fmt_l = |l: &(u32, u32, u32)| format!("{}:{}:{}", l.0, l.1, l.2);
        match direction {
            RouteDirection::Advertised => self
                .out
                .desired_routes()
                .into_iter()
                .map(|(p, a)| {
                    let sent = self.out.sent(&p).is_some();
                    let ebgp = self.est.as_ref().map(|e| e.ebgp);
                    let next_hop = self.est.as_ref().and_then(|e| match p {
                        IpNet::V4(_) => e.nh4.map(IpAddr::V4),
                        IpNet::V6(_) => e.nh6.map(|n| n.addr()),
                    });
                    RouteEntry {
                        neighbor: neighbor.clone(),
                        prefix: p,
                        next_hop,
                        as_path: if ebgp == Some(true) { vec![self.intent.local_asn] } else { Vec::new() },
                        local_pref: if ebgp == Some(true) { None } else { Some(a.local_pref.unwrap_or(100)) },
                        med: None,
                        communities: a.communities.iter().map(fmt_c).collect(),
                        large_communities: a.large_communities.iter().map(fmt_l).collect(),
                        stale: false,
                        sent,
                    }
                })
                .collect(),
            RouteDirection::Received => self
                .rin
                .routes()
                .into_iter()
                .map(|(p, a, stale)| RouteEntry {
                    neighbor: neighbor.clone(),
                    prefix: p,
                    next_hop: Some(a.next_hop),
                    as_path: a.as_path.clone(),
                    local_pref: a.local_pref,
                    med: a.med,
                    communities: a.communities.iter().map(fmt_c).collect(),
                    large_communities: a.large_communities.iter().map(fmt_l).collect(),
                    stale,
                    sent: false,
                })
                .collect(),
        }
    }
}

/// A socket2 view of a tokio stream (for setting options).
fn stream_std_ref(stream: &TcpStream) -> socket2::SockRef<'_> {
    socket2::SockRef::from(stream)
}

fn describe_down(reason: &DownReason) -> String {
    match reason {
        DownReason::NotificationSent(n) => format!("NOTIFICATION sent ({}/{})", n.code, n.subcode),
        DownReason::NotificationReceived(n) => format!("NOTIFICATION received ({}/{})", n.code, n.subcode),
        other => format!("{other:?}"),
    }
}

/// Our next hops towards `peer` from the local end of the connection: IPv4 NEXT_HOP, IPv6 global
/// and (when the peer is on-link) link-local, completed from the addresses of the interface that
/// reaches the peer when the connection is of the other family.
fn next_hops(
    ns: &ferrolb_netlink::Netns,
    local: IpAddr,
    peer: IpAddr,
    source: Option<IpAddr>,
) -> (Option<Ipv4Addr>, Option<MpNextHop>) {
    let addrs = ns.run(interface_addresses).unwrap_or_default();
    let onlink = addrs.iter().find(|(_, net)| net.contains(&peer)).map(|(i, _)| i.clone());
    let on_iface = |want_v6: bool, global: bool| {
        addrs.iter().filter(|(i, _)| Some(i) == onlink.as_ref()).map(|(_, n)| n.addr()).find(|a| match a {
            IpAddr::V4(_) => !want_v6,
            IpAddr::V6(v6) => want_v6 && (is_link_local(v6) != global),
        })
    };
    let nh4 = match (local, source) {
        (IpAddr::V4(a), _) => Some(a),
        (_, Some(IpAddr::V4(a))) => Some(a),
        _ => match on_iface(false, true) {
            Some(IpAddr::V4(a)) => Some(a),
            _ => None,
        },
    };
    let global = match (local, source) {
        (IpAddr::V6(a), _) if !is_link_local(&a) => Some(a),
        (_, Some(IpAddr::V6(a))) => Some(a),
        _ => match on_iface(true, true) {
            Some(IpAddr::V6(a)) => Some(a),
            _ => None,
        },
    };
    let link_local = match on_iface(true, false) {
        Some(IpAddr::V6(a)) => Some(a),
        _ => None,
    };
    let nh6 = global.map(|g| MpNextHop::V6 { global: g, link_local });
    (nh4, nh6)
}

fn is_link_local(a: &Ipv6Addr) -> bool {
    (a.segments()[0] & 0xffc0) == 0xfe80
}

/// (interface, address/prefix) of every address in the current namespace.
fn interface_addresses() -> Vec<(String, IpNet)> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else { return Vec::new() };
    let mut out = Vec::new();
    for ifa in addrs {
        let (Some(addr), Some(mask)) = (ifa.address, ifa.netmask) else { continue };
        let net = if let (Some(a), Some(m)) = (addr.as_sockaddr_in(), mask.as_sockaddr_in()) {
            IpNet::new(IpAddr::V4(a.ip()), u32::from(m.ip()).count_ones() as u8).ok()
        } else if let (Some(a), Some(m)) = (addr.as_sockaddr_in6(), mask.as_sockaddr_in6()) {
            IpNet::new(IpAddr::V6(a.ip()), u128::from(m.ip()).count_ones() as u8).ok()
        } else {
            None
        };
        if let Some(net) = net {
            out.push((ifa.interface_name, net));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_counter_counts_across_chunks() {
        let ka = [[0xffu8; 16].as_slice(), &[0, 19, 4]].concat();
        let mut upd = [[0xffu8; 16].as_slice(), &[0, 23, 2]].concat();
        upd.extend_from_slice(&[0, 0, 0, 0]);
        let stream = [ka.clone(), upd.clone(), ka.clone()].concat();
        for chunk in [1usize, 2, 7, 19, 23, 100] {
            let mut c = FrameCounter::default();
            let mut counts = MessageCounts::default();
            for part in stream.chunks(chunk) {
                c.feed(part, &mut counts);
            }
            assert_eq!((counts.keepalives, counts.updates), (2, 1), "chunk {chunk}");
        }
        let mut sent = MessageCounts::default();
        count_sent(&stream, &mut sent);
        assert_eq!((sent.keepalives, sent.updates), (2, 1));
    }
}
