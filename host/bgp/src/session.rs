//! One BGP neighbor's session, sans-IO (the quinn-proto model).
//!
//! The owner (a tokio driver in production, a test harness here) feeds [`Input`]s with
//! [`Session::handle`], calls [`Session::handle_timeout`] when [`Session::poll_timeout`] is
//! reached, and carries out the [`Action`]s it drains with [`Session::poll_action`]:
//!
//! - `Connect` / `CancelConnect`: open (or abandon) the outgoing TCP connection to the peer;
//!   report the outcome with `Input::Connected { direction: Active }` or `Input::ConnectFailed`.
//!   Accepted incoming connections for this peer are reported as `Direction::Passive`.
//!   Connection ids are chosen by the owner and must be unique per session.
//! - `Send` / `Close`: write bytes to / close a connection (after `Close`, the owner must not
//!   report `Closed` for it, though doing so is harmless).
//! - `Established`, `Down`, `Update`, `EndOfRib`, `RouteRefresh`, `FlushStale`: what the RIBs
//!   must do.
//!
//! ```
//! use std::net::Ipv4Addr;
//! use std::time::{Duration, Instant};
//! use ferrolb_bgp::session::{Action, Direction, Input, PeerAs, Session, SessionConfig};
//!
//! let config = SessionConfig::new(65001, PeerAs::Number(65002), Ipv4Addr::new(10, 0, 0, 1));
//! let mut session = Session::new(config)?;
//! let t0 = Instant::now(); // the driver's clock; the session never reads one
//! session.handle(t0, Input::Start);
//! assert_eq!(session.poll_action(), Some(Action::Connect)); // driver: connect to the peer
//! # while session.poll_action().is_some() {}
//! session.handle(t0, Input::Connected { conn: 1, direction: Direction::Active });
//! while let Some(action) = session.poll_action() {
//!     match action {
//!         Action::Send { conn, bytes } => { /* write `bytes` to connection `conn` */ }
//!         other => { /* Close, Established, Update, ... */ }
//!     }
//! }
//! // No OPEN from the peer: the 4-minute OpenSent hold timer is the next deadline.
//! assert_eq!(session.poll_timeout(), Some(t0 + Duration::from_secs(240)));
//! # Ok::<(), ferrolb_bgp::session::ConfigError>(())
//! ```
//!
//! Outbound routes: once Established, the owner sends its Adj-RIB-Out with
//! [`Session::announce`] (or [`Session::send_update`]) and then [`Session::send_end_of_rib`]
//! for each negotiated family ([`Session::send_end_of_rib_all`]); on [`Action::RouteRefresh`]
//! it re-sends that family's Adj-RIB-Out.
//!
//! Graceful restart, helper side (RFC 4724): when a session with a GR-capable peer is lost by
//! TCP failure, hold timer expiry or a new connection from the peer while Established
//! (`DownReason::PeerRestarted`), `Down { retained: Some(..) }` tells the owner to keep the
//! peer's routes of those families, marked stale. The session then runs the restart timer:
//! `FlushStale` when it expires, or when the peer comes back without preserving a family;
//! after re-establishment, `EndOfRib(family)` means "delete what is still stale in that family",
//! and `FlushStale` follows if End-of-RIB does not arrive within the stale-path time.
//!
//! Restarting side: set `GracefulRestartConfig::restarting` (R bit) and `preserve_forwarding`
//! (F bits) in the configuration of the first session after a restart; the owner defers its
//! own route selection until the peers' End-of-RIB, and sends its End-of-RIB after its routes.
//!
//! Timers are exact unless `SessionConfig::jitter_seed` is set (RFC 4271 §10 jitter on
//! ConnectRetry and Keepalive, from that seed). Nothing here reads a clock: `now` comes in.
//!
//! Connection collisions (RFC 4271 §6.8): a second connection while OpenSent/OpenConfirm is
//! sent an OPEN too; as soon as the peer's BGP Identifier is known, the connection initiated by
//! the side with the higher identifier survives and the other is closed with Cease /
//! Connection Collision Resolution. A new connection while Established is closed the same way.

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::fsm::{Event, State, Timer, Timers};
use crate::wire::{
    AS_TRANS, BGP_VERSION, Capability, Context, DecodeError, EncodeError, Family, GracefulRestartCap,
    GracefulRestartFamily, HEADER_LEN, Header, Message, MpNextHop, Notification, Open, PathAttributes, Rfc7606Action,
    RouteRefresh, Update, code, pack_updates,
};

/// A connection id, chosen by the owner.
pub type ConnId = u64;

/// Who opened a TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Direction {
    /// We connected to the peer.
    Active,
    /// The peer connected to us.
    Passive,
}

/// The AS the peer must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PeerAs {
    /// Exactly this AS.
    Number(u32),
    /// Any AS equal to ours (dynamic iBGP).
    Internal,
    /// Any AS other than ours (dynamic eBGP).
    External,
}

/// Graceful restart (RFC 4724) settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GracefulRestartConfig {
    /// Restart time advertised to the peer, seconds (at most 4095).
    pub restart_time: u16,
    /// Set the R bit: we have just restarted (the daemon knows this from its state store).
    pub restarting: bool,
    /// Families for which we preserved forwarding state across our restart (F bit).
    pub preserve_forwarding: Vec<Family>,
    /// Helper mode: how long stale routes wait for the peer's End-of-RIB after it comes back.
    pub stale_path_time: Duration,
}

impl Default for GracefulRestartConfig {
    fn default() -> Self {
        GracefulRestartConfig {
            restart_time: 120,
            restarting: false,
            preserve_forwarding: Vec::new(),
            stale_path_time: Duration::from_secs(360),
        }
    }
}

/// IdleHoldTimer back-off (RFC 4271 DampPeerOscillations).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdleHoldConfig {
    /// First automatic restart delay.
    pub initial: Duration,
    /// The delay doubles after each failure up to this cap.
    pub max: Duration,
    /// A session Established at least this long resets the delay to `initial` when it drops.
    pub stable: Duration,
}

impl Default for IdleHoldConfig {
    fn default() -> Self {
        IdleHoldConfig {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(120),
            stable: Duration::from_secs(60),
        }
    }
}

/// One neighbor's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionConfig {
    /// Our AS.
    pub local_asn: u32,
    /// The peer's AS.
    pub peer_asn: PeerAs,
    /// Our BGP Identifier.
    pub router_id: Ipv4Addr,
    /// Proposed hold time, seconds (0, or at least 3). Default 90.
    pub hold_time: u16,
    /// Keepalive interval, seconds; `None` = a third of the negotiated hold time (it never
    /// exceeds that third).
    pub keepalive_time: Option<u16>,
    /// ConnectRetryTimer (`connectTime`). Default 120 s.
    pub connect_retry: Duration,
    /// HoldTimer while waiting for the peer's OPEN. Default 4 minutes.
    pub open_hold_time: Duration,
    /// Never connect; only accept the peer's connection.
    pub passive: bool,
    /// Advertise no Multiprotocol capability: plain IPv4 NLRI only.
    pub disable_mp: bool,
    /// Families to negotiate (Multiprotocol capability per family).
    pub families: Vec<Family>,
    /// Advertise the 4-octet AS capability (false only emulates an old 2-octet speaker).
    pub four_octet_as: bool,
    /// Advertise Route Refresh.
    pub route_refresh: bool,
    /// Graceful restart; `None` = no capability, no helper mode.
    pub graceful_restart: Option<GracefulRestartConfig>,
    /// IdleHoldTimer back-off.
    pub idle_hold: IdleHoldConfig,
    /// RFC 4271 §10 jitter on the ConnectRetry and Keepalive timers, from this PRNG seed;
    /// `None` = no jitter (exact timers).
    pub jitter_seed: Option<u64>,
}

impl SessionConfig {
    /// A configuration with the defaults: hold 90 s, connect retry 120 s, IPv4 and IPv6 unicast,
    /// 4-octet AS, route refresh, no graceful restart, active.
    pub fn new(local_asn: u32, peer_asn: PeerAs, router_id: Ipv4Addr) -> Self {
        SessionConfig {
            local_asn,
            peer_asn,
            router_id,
            hold_time: 90,
            keepalive_time: None,
            connect_retry: Duration::from_secs(120),
            open_hold_time: Duration::from_secs(240),
            passive: false,
            disable_mp: false,
            families: vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST],
            four_octet_as: true,
            route_refresh: true,
            graceful_restart: None,
            idle_hold: IdleHoldConfig::default(),
            jitter_seed: None,
        }
    }

    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.hold_time == 1 || self.hold_time == 2 {
            return Err(ConfigError::HoldTime(self.hold_time));
        }
        if self.router_id.is_unspecified() {
            return Err(ConfigError::RouterId);
        }
        if self.local_asn == 0 || (!self.four_octet_as && self.local_asn > 0xffff) {
            return Err(ConfigError::LocalAs(self.local_asn));
        }
        if let Some(f) = self.families.iter().find(|f| !f.is_supported()) {
            return Err(ConfigError::Family(*f));
        }
        if let Some(gr) = &self.graceful_restart
            && gr.restart_time > 4095
        {
            return Err(ConfigError::RestartTime(gr.restart_time));
        }
        Ok(())
    }
}

/// A refused configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Hold time 1 or 2.
    #[error("hold time {0} s: must be 0 or at least 3")]
    HoldTime(u16),
    /// Router id 0.0.0.0.
    #[error("router id must not be 0.0.0.0")]
    RouterId,
    /// AS 0, or above 65535 without 4-octet AS support.
    #[error("local AS {0} is not usable")]
    LocalAs(u32),
    /// A family the codec does not support.
    #[error("family {0} is not supported")]
    Family(Family),
    /// Restart time above 4095 s.
    #[error("graceful restart time {0} s exceeds 4095")]
    RestartTime(u16),
}

/// Something the owner tells the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Input {
    /// ManualStart (or ManualStart_with_PassiveTcpEstablishment when configured passive).
    Start,
    /// ManualStop: send Cease with this subcode (e.g. Administrative Shutdown) and stay Idle.
    Stop {
        /// Cease subcode ([`code::cease`]).
        subcode: u8,
    },
    /// AutomaticStop: send Cease with this subcode, then restart after the IdleHoldTimer
    /// (e.g. maximum prefixes reached, administrative reset).
    Reset {
        /// Cease subcode ([`code::cease`]).
        subcode: u8,
    },
    /// A TCP connection to or from the peer is up.
    Connected {
        /// Its id.
        conn: ConnId,
        /// Who opened it.
        direction: Direction,
    },
    /// The outgoing connection attempt failed.
    ConnectFailed,
    /// Bytes read from a connection, in any chunking.
    Bytes {
        /// The connection.
        conn: ConnId,
        /// The bytes.
        data: Vec<u8>,
    },
    /// A connection was closed or failed.
    Closed {
        /// The connection.
        conn: ConnId,
    },
}

/// Why a session went down (or an attempt failed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DownReason {
    /// The owner stopped or reset it (Cease sent).
    Stopped {
        /// The Cease subcode sent.
        subcode: u8,
    },
    /// The HoldTimer expired (NOTIFICATION sent).
    HoldTimerExpired,
    /// We detected an error and sent this NOTIFICATION.
    NotificationSent(Notification),
    /// The peer sent this NOTIFICATION.
    NotificationReceived(Notification),
    /// The TCP connection closed or failed.
    ConnectionClosed,
    /// The outgoing connection attempt failed.
    ConnectFailed,
    /// The only connection lost collision resolution.
    CollisionLost,
    /// An event that cannot happen in the state occurred.
    FsmError,
    /// A graceful-restart-capable peer opened a new connection while Established: it restarted
    /// (RFC 4724 §4.2).
    PeerRestarted,
}

impl std::fmt::Display for DownReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DownReason::Stopped { subcode } => write!(f, "stopped (Cease subcode {subcode} sent)"),
            DownReason::HoldTimerExpired => f.write_str("hold timer expired"),
            DownReason::NotificationSent(n) => write!(f, "sent NOTIFICATION {}", n.describe()),
            DownReason::NotificationReceived(n) => write!(f, "received NOTIFICATION {}", n.describe()),
            DownReason::ConnectionClosed => f.write_str("TCP connection closed"),
            DownReason::ConnectFailed => f.write_str("TCP connection attempt failed"),
            DownReason::CollisionLost => f.write_str("lost connection collision resolution"),
            DownReason::FsmError => f.write_str("finite state machine error"),
            DownReason::PeerRestarted => f.write_str("peer restarted (new connection while Established)"),
        }
    }
}

/// Routes the owner keeps, marked stale, after a graceful-restart-capable peer was lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retained {
    /// Families whose routes are kept (stale).
    pub families: Vec<Family>,
    /// The peer's restart time; the session flushes them ([`Action::FlushStale`]) when it ends.
    pub restart_time: Duration,
}

/// What was negotiated with the peer (in [`Action::Established`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Negotiated {
    /// The connection carrying the session.
    pub conn: ConnId,
    /// Who opened it.
    pub direction: Direction,
    /// The peer's AS (4-octet capability value when present).
    pub peer_asn: u32,
    /// The peer's BGP Identifier.
    pub peer_id: Ipv4Addr,
    /// Whether the peer is in another AS.
    pub ebgp: bool,
    /// Negotiated hold time, seconds (0 = no keepalives, no hold timer).
    pub hold_time: u16,
    /// Keepalive interval, seconds (0 when the hold time is 0).
    pub keepalive_time: u16,
    /// Codec context: 4-octet AS, families.
    pub context: Context,
    /// Both sides support Route Refresh.
    pub route_refresh: bool,
    /// The peer's Graceful Restart capability (when we do graceful restart too).
    pub peer_graceful_restart: Option<GracefulRestartCap>,
    /// The peer's OPEN as received.
    pub peer_open: Open,
}

/// A received UPDATE with its RFC 7606 outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedUpdate {
    /// The update as decoded (AS paths merged to 4 octets).
    pub update: Update,
    /// RFC 7606 outcomes (empty for a clean update).
    pub rfc7606: Vec<Rfc7606Action>,
}

impl ReceivedUpdate {
    /// Whether the update's announcements must be treated as withdrawals.
    pub fn treat_as_withdraw(&self) -> bool {
        self.rfc7606.iter().any(Rfc7606Action::is_treat_as_withdraw)
    }

    /// Prefixes to install with `update.attributes` (none under treat-as-withdraw).
    pub fn announced(&self) -> Vec<IpNet> {
        if self.treat_as_withdraw() { Vec::new() } else { self.update.announced() }
    }

    /// Prefixes to remove: the withdrawn ones, plus the announced ones under treat-as-withdraw.
    pub fn withdrawn(&self) -> Vec<IpNet> {
        let mut v = self.update.withdrawn_prefixes();
        if self.treat_as_withdraw() {
            v.extend(self.update.announced());
        }
        v
    }
}

/// Something the owner must do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// Open a TCP connection to the peer (abandoning any attempt in progress).
    Connect,
    /// Abandon the outgoing connection attempt in progress.
    CancelConnect,
    /// Write bytes to a connection.
    Send {
        /// The connection.
        conn: ConnId,
        /// One or more whole messages.
        bytes: Vec<u8>,
    },
    /// Close a connection (after writing what was sent before).
    Close {
        /// The connection.
        conn: ConnId,
    },
    /// The FSM changed state.
    StateChanged {
        /// Old state.
        from: State,
        /// New state.
        to: State,
    },
    /// The session is Established.
    Established(Box<Negotiated>),
    /// The session (or an attempt) ended.
    Down {
        /// Why.
        reason: DownReason,
        /// Whether it was Established: if so, the peer's routes must go, except `retained`.
        was_established: bool,
        /// Graceful restart: routes to keep as stale instead of deleting.
        retained: Option<Retained>,
    },
    /// An UPDATE arrived.
    Update(Box<ReceivedUpdate>),
    /// The peer finished its initial UPDATEs for a family (RFC 4724 §2); delete what is still
    /// stale in that family.
    EndOfRib(Family),
    /// The peer asked for our Adj-RIB-Out of this family again (RFC 2918).
    RouteRefresh(Family),
    /// Graceful restart is over for these families without the peer refreshing them: delete
    /// the routes still marked stale.
    FlushStale(Vec<Family>),
}

/// A refused owner request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// UPDATEs and ROUTE-REFRESHes need an Established session.
    #[error("session is not established")]
    NotEstablished,
    /// The family was not negotiated.
    #[error("family {0} was not negotiated")]
    FamilyNotNegotiated(Family),
    /// The peer does not support Route Refresh.
    #[error("route refresh was not negotiated")]
    RouteRefreshNotNegotiated,
    /// The update cannot be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

/// One TCP connection of the session.
#[derive(Debug, Clone)]
pub(crate) struct Conn {
    pub(crate) id: ConnId,
    pub(crate) direction: Direction,
    /// Bytes received and not yet framed: `buf[pos..]`.
    buf: Vec<u8>,
    pos: usize,
    /// A second connection's OPEN, held until collision resolution.
    peer_open: Option<Open>,
}

impl Conn {
    fn new(id: ConnId, direction: Direction) -> Self {
        Conn { id, direction, buf: Vec::new(), pos: 0, peer_open: None }
    }
}

/// Graceful-restart helper state.
#[derive(Debug, Clone, Default)]
struct GrHelper {
    /// Families whose routes the owner holds as stale.
    stale: Vec<Family>,
    /// Of those, the ones waiting for End-of-RIB after re-establishment.
    waiting_eor: Vec<Family>,
}

/// One neighbor's BGP session.
#[derive(Debug, Clone)]
pub struct Session {
    pub(crate) config: SessionConfig,
    pub(crate) state: State,
    pub(crate) primary: Option<Conn>,
    pub(crate) secondary: Option<Conn>,
    connecting: bool,
    pub(crate) timers: Timers,
    actions: VecDeque<Action>,
    pub(crate) negotiated: Option<Negotiated>,
    pub(crate) connect_retry_counter: u32,
    idle_hold: Duration,
    pub(crate) established_at: Option<Instant>,
    gr: GrHelper,
    /// Jitter PRNG state (xorshift64*).
    rng: u64,
}

impl Session {
    /// A session in Idle. Nothing happens until [`Input::Start`].
    pub fn new(config: SessionConfig) -> Result<Session, ConfigError> {
        config.validate()?;
        let idle_hold = config.idle_hold.initial;
        let config_seed = config.jitter_seed.unwrap_or(0);
        Ok(Session {
            config,
            state: State::Idle,
            primary: None,
            secondary: None,
            connecting: false,
            timers: Timers::default(),
            actions: VecDeque::new(),
            negotiated: None,
            connect_retry_counter: 0,
            idle_hold,
            established_at: None,
            gr: GrHelper::default(),
            // xorshift needs a non-zero state.
            rng: config_seed | 1,
        })
    }

    /// The current FSM state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// What was negotiated (from OpenConfirm on).
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.negotiated.as_ref()
    }

    /// RFC 4271 ConnectRetryCounter: failures since the last start (the RFC zeroes it on every
    /// start, automatic ones included; the back-off lives in [`Session::next_idle_hold`]).
    pub fn connect_retry_counter(&self) -> u32 {
        self.connect_retry_counter
    }

    /// The delay the next automatic restart will wait (IdleHoldTimer back-off).
    pub fn next_idle_hold(&self) -> Duration {
        self.idle_hold
    }

    /// The deadline of one timer (for diagnostics and tests).
    pub fn timer(&self, timer: Timer) -> Option<Instant> {
        self.timers.get(timer)
    }

    /// Feeds one input.
    pub fn handle(&mut self, now: Instant, input: Input) {
        match input {
            Input::Start => {
                self.idle_hold = self.config.idle_hold.initial;
                let ev = if self.config.passive {
                    Event::ManualStartWithPassiveTcpEstablishment
                } else {
                    Event::ManualStart
                };
                self.event(now, ev);
            }
            Input::Stop { subcode } => self.event(now, Event::ManualStop(subcode)),
            Input::Reset { subcode } => self.event(now, Event::AutomaticStop(subcode)),
            Input::Connected { conn, direction } => self.on_connected(now, conn, direction),
            Input::ConnectFailed => {
                let was = std::mem::replace(&mut self.connecting, false);
                if was && self.state == State::Connect {
                    self.event(now, Event::TcpConnectionFails);
                }
            }
            Input::Bytes { conn, data } => {
                if let Some(c) = self.conn_mut(conn) {
                    // Reclaim what was framed before appending (amortized: at most one move of
                    // the unframed tail per input).
                    if c.pos > 0 {
                        c.buf.drain(..c.pos);
                        c.pos = 0;
                    }
                    c.buf.extend_from_slice(&data);
                    self.process(now, conn);
                }
            }
            Input::Closed { conn } => self.on_closed(now, conn),
        }
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.timers.expired(now) {
            self.timers.stop(timer);
            match timer {
                Timer::ConnectRetry => self.event(now, Event::ConnectRetryTimerExpires),
                Timer::Hold => self.event(now, Event::HoldTimerExpires),
                Timer::Keepalive => self.event(now, Event::KeepaliveTimerExpires),
                Timer::IdleHold => self.event(now, Event::IdleHoldTimerExpires),
                Timer::GracefulRestart => {
                    // The peer did not come back in time.
                    let families = std::mem::take(&mut self.gr.stale);
                    self.gr.waiting_eor.clear();
                    self.timers.stop(Timer::StalePath);
                    if !families.is_empty() {
                        self.push(Action::FlushStale(families));
                    }
                }
                Timer::StalePath => {
                    let families = std::mem::take(&mut self.gr.waiting_eor);
                    self.gr.stale.retain(|f| !families.contains(f));
                    if !families.is_empty() {
                        self.push(Action::FlushStale(families));
                    }
                }
            }
        }
    }

    /// The next action to carry out.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`Session::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.earliest()
    }

    // ------------------------------------------------------------------ outbound API

    /// Sends one UPDATE.
    pub fn send_update(&mut self, now: Instant, update: &Update) -> Result<(), SessionError> {
        let ctx = self.established_context()?;
        let bytes = update.encode(&ctx)?;
        self.send_bytes(bytes);
        self.restart_keepalive(now);
        Ok(())
    }

    /// Packs one attribute set with many prefixes and withdrawals into as few UPDATEs as fit
    /// and sends them ([`pack_updates`] describes the next-hop rules). Returns the number of
    /// UPDATE messages sent.
    pub fn announce(
        &mut self,
        now: Instant,
        attrs: &PathAttributes,
        next_hop: Option<MpNextHop>,
        announce: &[IpNet],
        withdraw: &[IpNet],
    ) -> Result<usize, SessionError> {
        let ctx = self.established_context()?;
        if let Some(p) = announce.iter().chain(withdraw).find(|p| !ctx.has_family(Family::of(p))) {
            return Err(SessionError::FamilyNotNegotiated(Family::of(p)));
        }
        let updates = pack_updates(&ctx, attrs, next_hop, announce, withdraw)?;
        let mut bytes = Vec::new();
        for u in &updates {
            bytes.extend_from_slice(&u.encode(&ctx)?);
        }
        if !updates.is_empty() {
            self.send_bytes(bytes);
            self.restart_keepalive(now);
        }
        Ok(updates.len())
    }

    /// Sends End-of-RIB for a family (after the initial UPDATEs of that family).
    pub fn send_end_of_rib(&mut self, now: Instant, family: Family) -> Result<(), SessionError> {
        let ctx = self.established_context()?;
        if !ctx.has_family(family) {
            return Err(SessionError::FamilyNotNegotiated(family));
        }
        self.send_update(now, &Update::end_of_rib(family))
    }

    /// Sends End-of-RIB for every negotiated family.
    pub fn send_end_of_rib_all(&mut self, now: Instant) -> Result<(), SessionError> {
        let ctx = self.established_context()?;
        for f in ctx.families {
            self.send_end_of_rib(now, f)?;
        }
        Ok(())
    }

    /// Asks the peer to re-send its routes of a family (RFC 2918).
    pub fn request_route_refresh(&mut self, now: Instant, family: Family) -> Result<(), SessionError> {
        let neg = self.negotiated.as_ref().filter(|_| self.state == State::Established);
        let neg = neg.ok_or(SessionError::NotEstablished)?;
        if !neg.route_refresh {
            return Err(SessionError::RouteRefreshNotNegotiated);
        }
        if !neg.context.has_family(family) {
            return Err(SessionError::FamilyNotNegotiated(family));
        }
        let bytes = Message::RouteRefresh(RouteRefresh::new(family)).encode(&neg.context)?;
        self.send_bytes(bytes);
        self.restart_keepalive(now);
        Ok(())
    }

    fn established_context(&self) -> Result<Context, SessionError> {
        match (&self.negotiated, self.state) {
            (Some(n), State::Established) => Ok(n.context.clone()),
            _ => Err(SessionError::NotEstablished),
        }
    }

    // ------------------------------------------------------------------ helpers for the FSM

    pub(crate) fn push(&mut self, action: Action) {
        self.actions.push_back(action);
    }

    pub(crate) fn set_state(&mut self, to: State) {
        if self.state != to {
            let from = self.state;
            self.state = to;
            self.push(Action::StateChanged { from, to });
        }
    }

    pub(crate) fn initiate_connect(&mut self) {
        self.connecting = true;
        self.push(Action::Connect);
    }

    pub(crate) fn cancel_connect(&mut self) {
        if std::mem::replace(&mut self.connecting, false) {
            self.push(Action::CancelConnect);
        }
    }

    fn send_bytes(&mut self, bytes: Vec<u8>) {
        if let Some(conn) = self.primary.as_ref().map(|c| c.id) {
            self.push(Action::Send { conn, bytes });
        }
    }

    fn send_message_on(&mut self, conn: ConnId, msg: &Message) {
        // OPEN, KEEPALIVE and NOTIFICATION are always encodable (bounded sizes); should one
        // not be, nothing is sent and the peer's hold timer resolves the situation.
        if let Ok(bytes) = msg.encode(&Context::default()) {
            self.push(Action::Send { conn, bytes });
        }
    }

    pub(crate) fn send_notification(&mut self, n: Notification) {
        if let Some(conn) = self.primary.as_ref().map(|c| c.id) {
            self.send_message_on(conn, &Message::Notification(n));
        }
    }

    pub(crate) fn send_keepalive(&mut self, now: Instant) {
        if let Some(conn) = self.primary.as_ref().map(|c| c.id) {
            self.send_message_on(conn, &Message::Keepalive);
        }
        self.restart_keepalive(now);
    }

    fn restart_keepalive(&mut self, now: Instant) {
        match self.negotiated.as_ref().map(|n| n.keepalive_time) {
            Some(ka) if ka > 0 => {
                let d = self.jittered(Duration::from_secs(u64::from(ka)));
                self.timers.start(Timer::Keepalive, now + d);
            }
            _ => self.timers.stop(Timer::Keepalive),
        }
    }

    pub(crate) fn start_connect_retry(&mut self, now: Instant) {
        let d = self.jittered(self.config.connect_retry);
        self.timers.start(Timer::ConnectRetry, now + d);
    }

    /// RFC 4271 §10: with a jitter seed configured, a timer runs for a random 75-100 % of its
    /// value (xorshift64* from the seed, so a run replays exactly).
    fn jittered(&mut self, d: Duration) -> Duration {
        if self.config.jitter_seed.is_none() {
            return d;
        }
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        let r = x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11; // 53 random bits
        let factor = 0.75 + 0.25 * (r as f64 / (1u64 << 53) as f64);
        d.mul_f64(factor)
    }

    /// Ends graceful-restart helper mode: the owner drops what it kept.
    pub(crate) fn end_helper_mode(&mut self) {
        self.gr.waiting_eor.clear();
        self.timers.stop(Timer::GracefulRestart);
        self.timers.stop(Timer::StalePath);
        let families = std::mem::take(&mut self.gr.stale);
        if !families.is_empty() {
            self.push(Action::FlushStale(families));
        }
    }

    pub(crate) fn restart_hold(&mut self, now: Instant) {
        match self.negotiated.as_ref().map(|n| n.hold_time) {
            Some(h) if h > 0 => self.timers.start(Timer::Hold, now + Duration::from_secs(u64::from(h))),
            _ => self.timers.stop(Timer::Hold),
        }
    }

    /// Our OPEN.
    pub fn local_open(&self) -> Open {
        let c = &self.config;
        let mut caps = Vec::new();
        if !c.disable_mp {
            caps.extend(c.families.iter().map(|f| Capability::Multiprotocol(*f)));
        }
        if c.route_refresh {
            caps.push(Capability::RouteRefresh);
        }
        if let Some(gr) = &c.graceful_restart {
            let families = if c.disable_mp { vec![Family::IPV4_UNICAST] } else { c.families.clone() };
            caps.push(Capability::GracefulRestart(GracefulRestartCap {
                restart_state: gr.restarting,
                notification: false,
                restart_time: gr.restart_time,
                families: families
                    .iter()
                    .map(|f| GracefulRestartFamily {
                        family: *f,
                        forwarding_preserved: gr.preserve_forwarding.contains(f),
                    })
                    .collect(),
            }));
        }
        if c.four_octet_as {
            caps.push(Capability::FourOctetAs(c.local_asn));
        }
        let my_as = u16::try_from(c.local_asn).unwrap_or(AS_TRANS as u16);
        Open::new(my_as, c.hold_time, c.router_id, caps)
    }

    pub(crate) fn send_open(&mut self) {
        if let Some(conn) = self.primary.as_ref().map(|c| c.id) {
            let open = self.local_open();
            self.send_message_on(conn, &Message::Open(open));
        }
    }

    pub(crate) fn close_primary(&mut self) {
        if let Some(c) = self.primary.take() {
            self.push(Action::Close { conn: c.id });
        }
    }

    /// Leaves for Idle: closes connections, stops the session timers, reports `Down`, and
    /// (unless `manual`) schedules the automatic restart with back-off.
    pub(crate) fn go_idle(&mut self, now: Instant, reason: DownReason, manual: bool) {
        let was_established = self.state == State::Established;
        self.close_primary();
        if let Some(c) = self.secondary.take() {
            self.push(Action::Close { conn: c.id });
        }
        self.cancel_connect();
        for t in [Timer::ConnectRetry, Timer::Hold, Timer::Keepalive, Timer::IdleHold] {
            self.timers.stop(t);
        }
        let mut retained = None;
        if was_established {
            if let Some(since) = self.established_at.take()
                && now.duration_since(since) >= self.config.idle_hold.stable
            {
                self.idle_hold = self.config.idle_hold.initial;
            }
            retained = self.retain_for_graceful_restart(now, &reason);
        }
        self.negotiated = None;
        if self.state != State::Idle {
            self.push(Action::Down { reason, was_established, retained });
        }
        if manual {
            self.connect_retry_counter = 0;
            self.end_helper_mode();
        } else {
            self.connect_retry_counter += 1;
            self.timers.start(Timer::IdleHold, now + self.idle_hold);
            self.idle_hold = (self.idle_hold * 2).min(self.config.idle_hold.max);
        }
        self.set_state(State::Idle);
    }

    /// RFC 4724 helper: decides which routes survive the loss of an Established session.
    fn retain_for_graceful_restart(&mut self, now: Instant, reason: &DownReason) -> Option<Retained> {
        // Stale routes of a previous restart that are still waiting are superseded: the owner
        // deletes everything not retained now.
        self.gr = GrHelper::default();
        self.timers.stop(Timer::GracefulRestart);
        self.timers.stop(Timer::StalePath);
        let graceful_loss =
            matches!(reason, DownReason::ConnectionClosed | DownReason::HoldTimerExpired | DownReason::PeerRestarted);
        let neg = self.negotiated.as_ref()?;
        let peer = neg.peer_graceful_restart.as_ref()?;
        if !graceful_loss || peer.restart_time == 0 {
            return None;
        }
        let families: Vec<Family> =
            peer.families.iter().map(|f| f.family).filter(|f| neg.context.has_family(*f)).collect();
        if families.is_empty() {
            return None;
        }
        let restart_time = Duration::from_secs(u64::from(peer.restart_time));
        self.gr.stale = families.clone();
        self.timers.start(Timer::GracefulRestart, now + restart_time);
        Some(Retained { families, restart_time })
    }

    /// OpenConfirm → Established: announce it, and settle graceful-restart bookkeeping.
    pub(crate) fn on_established(&mut self, now: Instant) {
        let Some(neg) = self.negotiated.clone() else { return };
        self.push(Action::Established(Box::new(neg.clone())));
        if self.gr.stale.is_empty() {
            return;
        }
        self.timers.stop(Timer::GracefulRestart);
        let preserved: Vec<Family> = neg
            .peer_graceful_restart
            .as_ref()
            .map(|gr| gr.families.iter().filter(|f| f.forwarding_preserved).map(|f| f.family).collect())
            .unwrap_or_default();
        let (keep, flush): (Vec<Family>, Vec<Family>) =
            self.gr.stale.iter().partition(|f| preserved.contains(f) && neg.context.has_family(**f));
        if !flush.is_empty() {
            self.push(Action::FlushStale(flush));
        }
        self.gr.stale = keep.clone();
        self.gr.waiting_eor = keep;
        if !self.gr.waiting_eor.is_empty() {
            let stale_time = self.config.graceful_restart.as_ref().map(|g| g.stale_path_time).unwrap_or_default();
            self.timers.start(Timer::StalePath, now + stale_time);
        }
    }

    /// An UPDATE in Established.
    pub(crate) fn on_update(&mut self, _now: Instant, mut update: Update, mut rfc7606: Vec<Rfc7606Action>) {
        if self.negotiated.as_ref().is_some_and(|n| n.ebgp) && update.attributes.local_pref.take().is_some() {
            // RFC 4271 §5.1.5 / RFC 7606 §7.5: LOCAL_PREF from an external peer is discarded.
            rfc7606.push(Rfc7606Action::AttributeDiscard {
                type_code: crate::wire::attrs::attr_type::LOCAL_PREF,
                reason: "LOCAL_PREF from an external peer".into(),
            });
        }
        if rfc7606.is_empty()
            && let Some(family) = update.is_end_of_rib()
        {
            if self.gr.waiting_eor.contains(&family) {
                self.gr.waiting_eor.retain(|f| *f != family);
                self.gr.stale.retain(|f| *f != family);
                if self.gr.waiting_eor.is_empty() {
                    self.timers.stop(Timer::StalePath);
                }
            }
            self.push(Action::EndOfRib(family));
            return;
        }
        self.push(Action::Update(Box::new(ReceivedUpdate { update, rfc7606 })));
    }

    /// Checks the peer's OPEN (RFC 4271 §6.2); `Err` is the NOTIFICATION to send.
    fn validate_open(&self, open: &Open) -> Result<(), Notification> {
        let c = &self.config;
        if open.version != BGP_VERSION {
            return Err(Notification::unsupported_version());
        }
        let asn = self.peer_asn_of(open);
        let as_ok = match c.peer_asn {
            PeerAs::Number(n) => asn == n,
            PeerAs::Internal => asn == c.local_asn,
            PeerAs::External => asn != c.local_asn,
        };
        if !as_ok || asn == 0 {
            return Err(Notification::new(code::OPEN_MESSAGE, code::open::BAD_PEER_AS));
        }
        let id = open.bgp_id;
        if id.is_unspecified() || id.is_multicast() || id.is_broadcast() || (asn == c.local_asn && id == c.router_id) {
            return Err(Notification::new(code::OPEN_MESSAGE, code::open::BAD_BGP_IDENTIFIER));
        }
        if open.hold_time == 1 || open.hold_time == 2 {
            return Err(Notification::new(code::OPEN_MESSAGE, code::open::UNACCEPTABLE_HOLD_TIME));
        }
        Ok(())
    }

    /// The peer's AS: the 4-octet AS capability's value, unless we emulate an old speaker that
    /// does not understand it and sees My AS (AS_TRANS for a 4-octet AS) instead.
    fn peer_asn_of(&self, open: &Open) -> u32 {
        if self.config.four_octet_as { open.asn() } else { u32::from(open.my_as) }
    }

    /// Capability negotiation with a validated OPEN.
    pub(crate) fn negotiate(&self, open: &Open) -> Negotiated {
        let c = &self.config;
        let hold_time = c.hold_time.min(open.hold_time);
        let keepalive_time =
            if hold_time == 0 { 0 } else { c.keepalive_time.unwrap_or(hold_time / 3).min(hold_time / 3).max(1) };
        let theirs = open.multiprotocol();
        let families: Vec<Family> = if c.disable_mp || theirs.is_empty() {
            // Without the Multiprotocol capability on both sides, only IPv4 unicast (RFC 4760 §8).
            if c.disable_mp || c.families.contains(&Family::IPV4_UNICAST) {
                vec![Family::IPV4_UNICAST]
            } else {
                Vec::new()
            }
        } else {
            c.families.iter().copied().filter(|f| theirs.contains(f)).collect()
        };
        let four_octet_as = c.four_octet_as && open.four_octet_as().is_some();
        let peer_asn = self.peer_asn_of(open);
        let (conn, direction) = self.primary.as_ref().map(|p| (p.id, p.direction)).unwrap_or((0, Direction::Active));
        Negotiated {
            conn,
            direction,
            peer_asn,
            peer_id: open.bgp_id,
            ebgp: peer_asn != c.local_asn,
            hold_time,
            keepalive_time,
            context: Context { four_octet_as, families, ipv4_in_mp: false },
            route_refresh: c.route_refresh && open.route_refresh(),
            peer_graceful_restart: c.graceful_restart.as_ref().and(open.graceful_restart().cloned()),
            peer_open: open.clone(),
        }
    }

    // ------------------------------------------------------------------ connections

    fn conn_mut(&mut self, id: ConnId) -> Option<&mut Conn> {
        if let Some(c) = self.primary.as_mut().filter(|c| c.id == id) {
            return Some(c);
        }
        self.secondary.as_mut().filter(|c| c.id == id)
    }

    fn on_connected(&mut self, now: Instant, conn: ConnId, direction: Direction) {
        if direction == Direction::Active {
            if !self.connecting {
                // An attempt we abandoned completed after all.
                self.push(Action::Close { conn });
                return;
            }
            self.connecting = false;
        }
        match self.state {
            State::Idle => self.push(Action::Close { conn }),
            State::Connect | State::Active if self.primary.is_none() => {
                self.primary = Some(Conn::new(conn, direction));
                let ev = match direction {
                    Direction::Active => Event::TcpCrAcked(conn),
                    Direction::Passive => Event::TcpConnectionConfirmed(conn),
                };
                self.event(now, ev);
            }
            State::OpenSent | State::OpenConfirm if self.secondary.is_none() => {
                // A possible collision (§6.8): talk on both until the peer's identifier decides.
                self.secondary = Some(Conn::new(conn, direction));
                let open = self.local_open();
                self.send_message_on(conn, &Message::Open(open));
                self.resolve_collision(now);
            }
            State::Established => match direction {
                // The FSM decides: a graceful-restart peer coming back, or a collision to refuse.
                Direction::Passive => self.event(now, Event::TcpConnectionConfirmed(conn)),
                // Our own attempt, still pending when the peer's connection won: a collision.
                Direction::Active => self.refuse(conn, code::cease::CONNECTION_COLLISION_RESOLUTION),
            },
            _ => self.refuse(conn, code::cease::CONNECTION_REJECTED),
        }
    }

    fn on_closed(&mut self, now: Instant, conn: ConnId) {
        if self.secondary.as_ref().is_some_and(|c| c.id == conn) {
            self.secondary = None;
            return;
        }
        if self.primary.as_ref().is_none_or(|c| c.id != conn) {
            return;
        }
        self.primary = None;
        if self.secondary.is_some() {
            self.promote_secondary(now);
        } else {
            self.event(now, Event::TcpConnectionFails);
        }
    }

    /// Established, a new connection arrives: RFC 4724 §4.2 says a graceful-restart-capable peer
    /// has restarted (the old session is gone, its routes are kept stale); otherwise the new
    /// connection loses (CollisionDetectEstablishedState is off, §6.8). Returns whether the new
    /// connection replaced the session.
    pub(crate) fn new_connection_while_established(&mut self, now: Instant, conn: ConnId) -> bool {
        let direction = Direction::Passive;
        let restarted = self
            .negotiated
            .as_ref()
            .and_then(|n| n.peer_graceful_restart.as_ref())
            .is_some_and(|gr| gr.restart_time > 0);
        if !restarted {
            self.refuse(conn, code::cease::CONNECTION_COLLISION_RESOLUTION);
            return false;
        }
        self.close_primary();
        let retained = self.retain_for_graceful_restart(now, &DownReason::PeerRestarted);
        self.established_at = None;
        self.negotiated = None;
        self.push(Action::Down { reason: DownReason::PeerRestarted, was_established: true, retained });
        self.primary = Some(Conn::new(conn, direction));
        self.timers.stop(Timer::Keepalive);
        self.timers.start(Timer::Hold, now + self.config.open_hold_time);
        self.send_open();
        true
    }

    /// Refuses a connection with a Cease NOTIFICATION.
    fn refuse(&mut self, conn: ConnId, subcode: u8) {
        self.send_message_on(conn, &Message::Notification(Notification::cease(subcode)));
        self.push(Action::Close { conn });
    }

    /// The second connection replaces the primary (collision winner or survivor).
    pub(crate) fn promote_secondary(&mut self, now: Instant) {
        let Some(mut conn) = self.secondary.take() else { return };
        let held_open = conn.peer_open.take();
        self.primary = Some(conn);
        self.negotiated = None;
        self.timers.stop(Timer::Keepalive);
        self.timers.stop(Timer::ConnectRetry);
        self.timers.start(Timer::Hold, now + self.config.open_hold_time);
        self.set_state(State::OpenSent);
        if let Some(open) = held_open {
            self.on_open(now, open);
        }
    }

    /// §6.8: once the peer's identifier is known and two connections exist, keep the one
    /// opened by the side with the higher BGP Identifier.
    fn resolve_collision(&mut self, now: Instant) {
        let (Some(p), Some(s)) = (&self.primary, &self.secondary) else { return };
        let remote = match (&self.negotiated, &s.peer_open) {
            (Some(n), _) => (n.peer_id, n.peer_asn),
            (None, Some(o)) => (o.bgp_id, self.peer_asn_of(o)),
            (None, None) => return,
        };
        let (local, remote) =
            ((u32::from(self.config.router_id), self.config.local_asn), (u32::from(remote.0), remote.1));
        // Higher identifier wins; equal identifiers (possible across ASes, RFC 6286 §2.3): higher AS.
        let keep_ours = local > remote;
        let primary_wins = (p.direction == Direction::Active) == keep_ours;
        if primary_wins {
            if let Some(s) = self.secondary.take() {
                let n = Notification::cease(code::cease::CONNECTION_COLLISION_RESOLUTION);
                self.send_message_on(s.id, &Message::Notification(n));
                self.push(Action::Close { conn: s.id });
            }
        } else {
            self.event(now, Event::OpenCollisionDump);
        }
    }

    /// A valid-or-not OPEN on the primary connection.
    fn on_open(&mut self, now: Instant, open: Open) {
        if self.state != State::OpenSent {
            self.event(now, Event::BgpOpen(Box::new(open)));
            return;
        }
        match self.validate_open(&open) {
            Ok(()) => {
                self.event(now, Event::BgpOpen(Box::new(open)));
                self.resolve_collision(now);
            }
            Err(n) => self.event(now, Event::BgpOpenMsgErr(n)),
        }
    }

    /// Takes whole messages off a connection's buffer and dispatches them.
    fn process(&mut self, now: Instant, id: ConnId) {
        loop {
            let is_primary = self.primary.as_ref().is_some_and(|c| c.id == id);
            let Some(conn) = self.conn_mut(id) else { return };
            let frame = match next_frame(&conn.buf, &mut conn.pos) {
                Ok(Some(frame)) => frame,
                Ok(None) => return,
                Err(e) => {
                    if is_primary {
                        self.event(now, Event::BgpHeaderErr(e.notification()));
                    } else {
                        self.drop_secondary(Some(e.notification()));
                    }
                    return;
                }
            };
            if is_primary {
                self.dispatch_primary(now, &frame);
            } else {
                self.dispatch_secondary(now, &frame);
            }
        }
    }

    fn drop_secondary(&mut self, notify: Option<Notification>) {
        if let Some(s) = self.secondary.take() {
            if let Some(n) = notify {
                self.send_message_on(s.id, &Message::Notification(n));
            }
            self.push(Action::Close { conn: s.id });
        }
    }

    /// Before collision resolution only the OPEN matters on a second connection.
    fn dispatch_secondary(&mut self, now: Instant, frame: &[u8]) {
        match Message::decode(frame, &Context::default()) {
            Ok((Message::Open(open), _)) => {
                if let Some(s) = self.secondary.as_mut() {
                    s.peer_open = Some(open);
                }
                self.resolve_collision(now);
            }
            Ok((Message::Notification(_), _)) => self.drop_secondary(None),
            Ok(_) => self.drop_secondary(Some(Notification::new(code::FSM, code::fsm::UNEXPECTED_IN_OPEN_SENT))),
            Err(e) => self.drop_secondary(Some(e.notification())),
        }
    }

    fn dispatch_primary(&mut self, now: Instant, frame: &[u8]) {
        let ctx = self.negotiated.as_ref().map(|n| n.context.clone()).unwrap_or_default();
        let kind = frame.get(HEADER_LEN - 1).copied().unwrap_or(0);
        let ev = match Message::decode(frame, &ctx) {
            Ok((Message::Open(open), _)) => return self.on_open(now, open),
            Ok((Message::Update(u), actions)) => Event::UpdateMsg(Box::new((u, actions))),
            Ok((Message::Notification(n), _)) if n.is_version_error() => Event::NotifMsgVerErr,
            Ok((Message::Notification(n), _)) => Event::NotifMsg(n),
            Ok((Message::Keepalive, _)) => Event::KeepAliveMsg,
            Ok((Message::RouteRefresh(r), _)) => Event::RouteRefreshMsg(r),
            Err(e) => match kind {
                crate::wire::msg_type::OPEN => Event::BgpOpenMsgErr(e.notification()),
                crate::wire::msg_type::UPDATE => Event::UpdateMsgErr(e.notification()),
                _ => Event::BgpHeaderErr(e.notification()),
            },
        };
        self.event(now, ev);
    }
}

/// Frames one whole message from `buf[*pos..]` and advances `pos` past it (header checks of
/// RFC 4271 §6.1). `Ok(None)`: not enough bytes yet.
fn next_frame(buf: &[u8], pos: &mut usize) -> Result<Option<Vec<u8>>, DecodeError> {
    let rest = buf.get(*pos..).unwrap_or_default();
    let Some(head) = rest.get(..HEADER_LEN) else { return Ok(None) };
    let header = Header::decode(head)?;
    let Some(frame) = rest.get(..usize::from(header.length)) else { return Ok(None) };
    *pos += frame.len();
    Ok(Some(frame.to_vec()))
}
