//! The UDP driver around [`ferrolb_l2::membership::Membership`]: heartbeats between ferrolb nodes,
//! live-set changes for the daemon, self-fencing of the layer-2 service.
//!
//! One UDP socket bound to [`MembershipOptions::bind`] (by default `[::]:7947`, dual-stack: IPv4
//! peers are reached through IPv4-mapped addresses). One task owns the core: it feeds it every
//! datagram and its timers, sends the heartbeats it asks for without ever waiting on the socket
//! (a full send buffer drops a heartbeat, which the protocol tolerates, instead of delaying the
//! timers), and turns its actions into [`MembershipEvent`]s on an unbounded channel.
//!
//! **Fencing happens here, not in the daemon**: on `Isolated` the driver calls
//! [`L2Handle::set_fenced`]`(true)` before it reports the event, so the speaker stops answering
//! within the same loop turn, without waiting for the daemon to re-run the advertise policy. On
//! `Rejoined` it unfences *before* it reports the `LiveChanged` that precedes it, and unfencing
//! forgets the wanted set: the speaker announces nothing until the daemon's fresh decision for the
//! new live set arrives, never the stale one from before the isolation (other nodes own those
//! addresses by now).
//!
//! **Startup hold**: the first event, the initial live set, comes [`MembershipOptions::startup_hold`]
//! after start (by default `(rise + 1) × interval`, 300 ms), not at once. A restarted node counts
//! every peer alive from the start (the core's grace period) and would otherwise elect itself for
//! its addresses at once and answer beside the node that holds them, which still considers it dead
//! until it has heard `rise` heartbeats; held back, it announces only once the peers see it alive
//! and hand the addresses over. Changes during the hold are folded into that first report. The same
//! hold follows `Rejoined` (the peers are just as late to see an isolated node come back). Fencing
//! is never held back.
//!
//! Failure modes of the driver itself (the protocol's are in the core's docs): if the task stops
//! (runtime shut down, [`MembershipHandle::stop`]) the peers see this node die after one detection
//! time and take its addresses, but the L2 service of this node keeps announcing unless it is
//! stopped too — the daemon must stop both together (dropping the runtime does). A heartbeat that
//! cannot be sent (no route while the link is down) is counted in [`MembershipView::send_errors`].

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ferrolb_l2::membership::{Membership, MembershipAction, MembershipConfig, MembershipStatus, Peer};
use serde::Serialize;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::driver::L2Handle;

/// The default membership port.
pub const DEFAULT_PORT: u16 = 7947;

/// Errors of the membership driver.
#[derive(Debug, thiserror::Error)]
pub enum MembershipError {
    /// The UDP socket could not be opened.
    #[error("membership socket on {addr}: {source}")]
    Socket {
        /// The bind address.
        addr: SocketAddr,
        /// The system error.
        source: std::io::Error,
    },
    /// The core refused the configuration.
    #[error("membership configuration: {0}")]
    Config(#[from] ferrolb_l2::membership::MembershipConfigError),
    /// The task is gone.
    #[error("the membership service is not running")]
    Stopped,
    /// Started outside a tokio runtime.
    #[error("the membership service must be started inside a tokio runtime")]
    NoRuntime,
}

/// Settings of the membership driver.
#[derive(Debug, Clone)]
pub struct MembershipOptions {
    /// Timers, names, cluster id (all nodes must use the same timers).
    pub config: MembershipConfig,
    /// Where to listen (the port is the cluster's membership port).
    pub bind: SocketAddr,
    /// The other nodes and their addresses.
    pub peers: Vec<Peer>,
    /// This run's incarnation; `None`: the wall clock in milliseconds (a restart then always
    /// picks a larger one unless the clock went back, which the core tolerates for dead peers).
    pub incarnation: Option<u64>,
    /// How long after start (and after `Rejoined`) the live set is held back (see the module
    /// docs); by default `(rise + 1) × interval`, the time the peers need to see this node rise.
    pub startup_hold: Duration,
}

impl MembershipOptions {
    /// The core's defaults, listening on `[::]:`[`DEFAULT_PORT`].
    pub fn new(config: MembershipConfig, peers: Vec<Peer>) -> MembershipOptions {
        let startup_hold = config.interval * (u32::from(config.rise) + 1);
        MembershipOptions {
            config,
            bind: SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), DEFAULT_PORT),
            peers,
            incarnation: None,
            startup_hold,
        }
    }
}

/// What the daemon learns from the membership driver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum MembershipEvent {
    /// The live set changed (or, first, the initial one): set the nodes' `live` flags and re-run
    /// the advertise policy.
    LiveChanged {
        /// Every live node, this one included.
        live: BTreeSet<String>,
        /// Peers that came back.
        became_alive: Vec<String>,
        /// Peers that died.
        became_dead: Vec<String>,
    },
    /// This node hears nobody; the L2 service was fenced already.
    Isolated,
    /// This node hears a peer again; the L2 service was unfenced already.
    Rejoined,
}

/// The core's status with the driver's own counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MembershipView {
    /// The core's view: peers, liveness, counters.
    pub status: MembershipStatus,
    /// Heartbeats that could not be sent.
    pub send_errors: u64,
    /// Receive errors.
    pub receive_errors: u64,
}

enum Command {
    SetPeers(Vec<Peer>),
    Status(oneshot::Sender<MembershipView>),
}

/// A handle on the running membership driver; cheap to clone.
#[derive(Debug, Clone)]
pub struct MembershipHandle {
    tx: mpsc::UnboundedSender<Command>,
    task: Arc<JoinHandle<()>>,
    local: SocketAddr,
}

impl MembershipHandle {
    /// Replaces the peer list (new peers start dead and must rise).
    pub fn set_peers(&self, peers: Vec<Peer>) -> Result<(), MembershipError> {
        self.tx.send(Command::SetPeers(peers)).map_err(|_| MembershipError::Stopped)
    }

    /// Peers, liveness and counters.
    pub async fn status(&self) -> Result<MembershipView, MembershipError> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Command::Status(tx)).map_err(|_| MembershipError::Stopped)?;
        rx.await.map_err(|_| MembershipError::Stopped)
    }

    /// The address the socket is bound to (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Stops sending and listening at once.
    pub fn stop(&self) {
        self.task.abort();
    }
}

/// The membership driver.
#[derive(Debug)]
pub struct MembershipService;

impl MembershipService {
    /// Binds the socket and starts the driver on the current tokio runtime; `fence` is the L2
    /// service to fence on `Isolated`. The receiver gets the initial live set first.
    pub fn start(
        options: MembershipOptions,
        fence: Option<L2Handle>,
    ) -> Result<(MembershipHandle, mpsc::UnboundedReceiver<MembershipEvent>), MembershipError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| MembershipError::NoRuntime)?;
        let incarnation = options.incarnation.unwrap_or_else(|| {
            SystemTime::now().duration_since(UNIX_EPOCH).map_or(1, |d| u64::try_from(d.as_millis()).unwrap_or(1))
        });
        let core = Membership::new(options.config.clone(), incarnation, Instant::now(), options.peers.clone())?;
        let bind = options.bind;
        let socket = bind_socket(bind).map_err(|source| MembershipError::Socket { addr: bind, source })?;
        let local = socket.local_addr().map_err(|source| MembershipError::Socket { addr: bind, source })?;
        let socket = {
            let _guard = runtime.enter();
            UdpSocket::from_std(socket).map_err(|source| MembershipError::Socket { addr: bind, source })?
        };
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (tx, rx) = mpsc::unbounded_channel();
        let v6 = local.is_ipv6();
        let hold_until = Some(Instant::now() + options.startup_hold);
        let driver = Driver {
            core,
            socket,
            v6,
            fence,
            events: events_tx,
            hold_until,
            hold: options.startup_hold,
            send_errors: 0,
            receive_errors: 0,
        };
        let task = runtime.spawn(driver.run(rx));
        Ok((MembershipHandle { tx, task: Arc::new(task), local }, events_rx))
    }
}

fn bind_socket(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

struct Driver {
    core: Membership,
    socket: UdpSocket,
    v6: bool,
    fence: Option<L2Handle>,
    events: mpsc::UnboundedSender<MembershipEvent>,
    /// Until then, live-set changes are not reported (the first report is the whole live set).
    hold_until: Option<Instant>,
    /// The startup hold, applied again after `Rejoined`.
    hold: Duration,
    send_errors: u64,
    receive_errors: u64,
}

impl Driver {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut buf = vec![0u8; 2048];
        self.flush();
        loop {
            let deadline = self.core.poll_timeout().into_iter().chain(self.hold_until).min();
            tokio::select! {
                biased;
                cmd = commands.recv() => match cmd {
                    Some(Command::SetPeers(peers)) => self.core.set_peers(Instant::now(), peers),
                    Some(Command::Status(reply)) => {
                        let _ = reply.send(MembershipView {
                            status: self.core.status(Instant::now()),
                            send_errors: self.send_errors,
                            receive_errors: self.receive_errors,
                        });
                    }
                    None => break,
                },
                r = self.socket.recv_from(&mut buf) => match r {
                    Ok((n, from)) => self.core.handle_datagram(Instant::now(), from, &buf[..n]),
                    Err(_) => {
                        // ICMP errors (port unreachable from a dead peer) surface here; harmless.
                        self.receive_errors += 1;
                    }
                },
                _ = sleep_until(deadline) => {}
            }
            let now = Instant::now();
            if self.core.poll_timeout().is_some_and(|t| t <= now) {
                self.core.handle_timeout(now);
            }
            self.flush();
            if self.hold_until.is_some_and(|t| t <= now) {
                self.hold_until = None;
                let live = self.core.live();
                tracing::info!(?live, "membership: live set after the hold");
                let _ = self.events.send(MembershipEvent::LiveChanged {
                    live,
                    became_alive: Vec::new(),
                    became_dead: Vec::new(),
                });
            }
        }
    }

    fn flush(&mut self) {
        let actions: Vec<MembershipAction> = std::iter::from_fn(|| self.core.poll_action()).collect();
        // The core reports a rise before `Rejoined`; unfence before the daemon hears of the rise,
        // so its fresh decision (sent after it sees `LiveChanged`) lands after the unfence.
        if actions.contains(&MembershipAction::Rejoined) {
            if let Some(l2) = &self.fence {
                let _ = l2.set_fenced(false);
            }
            // As after a start: the peers must see this node rise before it claims addresses.
            self.hold_until = Some(Instant::now() + self.hold);
        }
        for action in actions {
            match action {
                MembershipAction::Send { to, payload } => {
                    let to = self.map(to);
                    if self.socket.try_send_to(&payload, to).is_err() {
                        self.send_errors += 1;
                    }
                }
                MembershipAction::LiveChanged { .. } if self.hold_until.is_some() => {}
                MembershipAction::LiveChanged { live, became_alive, became_dead } => {
                    tracing::info!(?live, ?became_alive, ?became_dead, "membership: live set changed");
                    let _ = self.events.send(MembershipEvent::LiveChanged { live, became_alive, became_dead });
                }
                MembershipAction::Isolated => {
                    tracing::warn!("membership: no peer heard; fencing the layer-2 service");
                    if let Some(l2) = &self.fence {
                        let _ = l2.set_fenced(true);
                    }
                    let _ = self.events.send(MembershipEvent::Isolated);
                }
                MembershipAction::Rejoined => {
                    tracing::info!("membership: a peer is heard again; the layer-2 service was unfenced");
                    let _ = self.events.send(MembershipEvent::Rejoined);
                }
            }
        }
    }

    /// IPv4 destinations on a dual-stack IPv6 socket go to their IPv4-mapped address.
    fn map(&self, to: SocketAddr) -> SocketAddr {
        match to {
            SocketAddr::V4(v4) if self.v6 => SocketAddr::new(IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port()),
            other => other,
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => tokio::time::sleep(Duration::from_secs(3600)).await,
    }
}
