//! Many BFD sessions behind one pair of sockets: demultiplexing, discriminators, timers,
//! counters.
//!
//! Received control packets are demultiplexed as RFC 5880 §6.8.6 / RFC 5881 §3 / RFC 5883 say:
//! a nonzero Your Discriminator selects the session whose local discriminator it is; a zero
//! one selects by [`PeerKey`] (peer address, local address, interface, VRF, hop mode), falling
//! back to a session configured without an interface. The TTL is checked against the session's
//! hop mode (RFC 5881 §5 GTSM: 255; RFC 5883: ≥ `minimumTtl`) before the session sees the packet.
//!
//! Timers: [`Manager::poll_timeout`] is the earliest of all sessions' (a linear scan: fine for
//! the hundreds of sessions a node has; a heap is the upgrade path). Actions come out of
//! [`Manager::poll_action`] tagged with the session and its [`PeerKey`], so the driver knows
//! where to send. Counters follow the frr-k8s/MetalLB BFD metrics (control packets in/out, echo
//! packets in/out, session up/down events, session-up gauge), per session and in total.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::profile::{HopMode, TtlError, check_ttl};
use crate::rng::Prng;
use crate::session::{Action, AuthKey, Session, SessionError, SessionParams};
use crate::wire::{EchoRepr, Repr, State, WireError};

/// A session's identity: its local discriminator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SessionId(pub NonZeroU32);

impl SessionId {
    /// The local discriminator.
    pub fn discriminator(self) -> u32 {
        self.0.get()
    }
}

/// Where a session runs: what selects it when Your Discriminator is zero, and where the
/// driver sends its packets.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PeerKey {
    /// The peer's address (destination of our packets, source of its packets).
    pub peer: IpAddr,
    /// Our address (source of our packets, destination of the peer's).
    pub local: IpAddr,
    /// Interface for single-hop sessions (`None`: any).
    pub interface: Option<String>,
    /// VRF (`None`: the default one).
    pub vrf: Option<String>,
    /// Single or multi-hop.
    pub hop: HopMode,
}

/// How a control packet arrived (filled in by the driver from IP_PKTINFO / IP_RECVTTL).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RxMeta {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Receiving interface.
    pub interface: Option<String>,
    /// VRF of the receiving socket.
    pub vrf: Option<String>,
    /// Received TTL / Hop Limit.
    pub ttl: u8,
    /// Which port it came in on (3784: single hop, 4784: multi-hop).
    pub hop: HopMode,
}

/// Per-session (and total) counters, after the frr-k8s BFD metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// `frrk8s_bfd_control_packets_input`: control packets accepted by the session.
    pub control_in: u64,
    /// `frrk8s_bfd_control_packet_output`.
    pub control_out: u64,
    /// `frrk8s_bfd_echo_packet_input`: our echo packets that came back and were accepted.
    pub echo_in: u64,
    /// `frrk8s_bfd_echo_packet_output`.
    pub echo_out: u64,
    /// `frrk8s_bfd_session_up_events`: transitions into Up.
    pub up_events: u64,
    /// `frrk8s_bfd_session_down_events`: transitions from Up to Down or AdminDown.
    pub down_events: u64,
    /// `frrk8s_bfd_session_up`: sessions currently Up (0/1 per session).
    pub session_up: u64,
    /// Packets refused (bad wire format, no session, TTL, authentication, echo mismatches).
    pub rx_errors: u64,
}

/// Why a received packet was not taken.
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize, Deserialize)]
pub enum ManagerError {
    /// Malformed (§6.8.6 packet checks).
    #[error("malformed: {0}")]
    Wire(#[from] WireError),
    /// §6.8.6: nonzero Your Discriminator that is no session's.
    #[error("no session with discriminator {0}")]
    UnknownDiscriminator(u32),
    /// Zero Your Discriminator and no session for this peer.
    #[error("no session for peer {peer} (local {local}, {hop:?})")]
    NoSession {
        /// Source address.
        peer: IpAddr,
        /// Destination address.
        local: IpAddr,
        /// Port it arrived on.
        hop: HopMode,
    },
    /// Selected by discriminator, but from another peer or over the other hop mode.
    #[error("session {0:?} belongs to another peer or hop mode")]
    PeerMismatch(SessionId),
    /// TTL not acceptable (GTSM / minimumTtl).
    #[error("{0}")]
    Ttl(#[from] TtlError),
    /// The session refused it (authentication, echo sequence, ...).
    #[error("session {id:?}: {error}")]
    Session {
        /// The session.
        id: SessionId,
        /// Why.
        error: SessionError,
    },
    /// A session already exists for this key.
    #[error("a session already exists for this peer: {0:?}")]
    Duplicate(SessionId),
}

/// An action of one session, with where it goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Output {
    /// The session.
    pub id: SessionId,
    /// Its addressing.
    pub key: PeerKey,
    /// What to do.
    pub action: Action,
}

#[derive(Debug)]
struct Entry {
    key: PeerKey,
    minimum_ttl: u8,
    session: Session,
    counters: Counters,
    /// The session's timer as entered in [`Manager::timers`].
    scheduled: Option<Instant>,
}

/// All BFD sessions of one daemon.
#[derive(Debug)]
pub struct Manager {
    rng: Prng,
    sessions: BTreeMap<u32, Entry>,
    by_key: HashMap<PeerKey, u32>,
    ready: VecDeque<u32>,
    totals: Counters,
    /// Every session's next timer, earliest first: the manager never scans all sessions
    /// (1,000 sessions at 50 ms mean 20,000 timer events a second).
    timers: BTreeSet<(Instant, u32)>,
}

impl Manager {
    /// An empty manager; `seed` drives discriminators and every session's jitter.
    pub fn new(seed: u64) -> Manager {
        Manager {
            rng: Prng::new(seed),
            sessions: BTreeMap::new(),
            by_key: HashMap::new(),
            ready: VecDeque::new(),
            totals: Counters::default(),
            timers: BTreeSet::new(),
        }
    }

    /// Re-files session `d`'s timer after anything that may have changed it.
    fn resched(&mut self, d: u32) {
        let Some(e) = self.sessions.get_mut(&d) else { return };
        let next = e.session.poll_timeout();
        if next == e.scheduled {
            return;
        }
        if let Some(old) = e.scheduled.take() {
            self.timers.remove(&(old, d));
        }
        if let Some(t) = next {
            self.timers.insert((t, d));
        }
        e.scheduled = next;
    }

    /// Creates a session with a fresh random, unique, nonzero local discriminator.
    /// `minimum_ttl` matters for multi-hop sessions only.
    pub fn add_session(
        &mut self,
        now: Instant,
        key: PeerKey,
        params: SessionParams,
        minimum_ttl: u8,
        auth: Option<AuthKey>,
    ) -> Result<SessionId, ManagerError> {
        if let Some(id) = self.find(&key) {
            return Err(ManagerError::Duplicate(id));
        }
        let discr = loop {
            let d = (self.rng.next_u64() >> 32) as u32;
            if let Some(nz) = NonZeroU32::new(d)
                && !self.sessions.contains_key(&d)
            {
                break nz;
            }
        };
        let mut params = params;
        if key.hop == HopMode::MultiHop {
            // Echo is single-hop only (RFC 5883 §3).
            params.echo_interval = None;
        }
        let session = Session::new(discr, params, auth, self.rng.fork(), now);
        self.by_key.insert(key.clone(), discr.get());
        self.sessions
            .insert(discr.get(), Entry { key, minimum_ttl, session, counters: Counters::default(), scheduled: None });
        self.resched(discr.get());
        self.ready.push_back(discr.get());
        Ok(SessionId(discr))
    }

    /// Removes a session. If it had been heard from, the returned packet (State AdminDown,
    /// diag 7) tells the peer not to wait for a detection timeout; send it once.
    pub fn remove_session(&mut self, now: Instant, id: SessionId) -> Option<Output> {
        let mut e = self.sessions.remove(&id.discriminator())?;
        if let Some(t) = e.scheduled.take() {
            self.timers.remove(&(t, id.discriminator()));
        }
        self.by_key.remove(&e.key);
        self.totals.session_up = self.totals.session_up.saturating_sub(e.counters.session_up);
        e.session.set_admin_down(now, true);
        let mut last = None;
        while let Some(a) = e.session.poll_action() {
            if let Action::Transmit(r) = a {
                last = Some(r);
            }
        }
        let repr = last?;
        (repr.your_discriminator != 0).then(|| {
            self.totals.control_out += 1;
            Output { id, key: e.key, action: Action::Transmit(repr) }
        })
    }

    /// Changes a session's configuration.
    pub fn set_params(&mut self, now: Instant, id: SessionId, params: SessionParams) -> bool {
        let Some(e) = self.sessions.get_mut(&id.discriminator()) else { return false };
        let mut params = params;
        if e.key.hop == HopMode::MultiHop {
            params.echo_interval = None;
        }
        e.session.set_params(now, params);
        self.resched(id.discriminator());
        self.ready.push_back(id.discriminator());
        true
    }

    /// Takes a session administratively down or back up.
    pub fn set_admin_down(&mut self, now: Instant, id: SessionId, down: bool) -> bool {
        let Some(e) = self.sessions.get_mut(&id.discriminator()) else { return false };
        e.session.set_admin_down(now, down);
        self.resched(id.discriminator());
        self.ready.push_back(id.discriminator());
        true
    }

    /// A control packet arrived (`bytes` is the UDP payload).
    pub fn handle_control(&mut self, now: Instant, meta: &RxMeta, bytes: &[u8]) -> Result<SessionId, ManagerError> {
        let r = self.dispatch_control(now, meta, bytes);
        if r.is_err() {
            self.totals.rx_errors += 1;
        }
        r
    }

    fn dispatch_control(&mut self, now: Instant, meta: &RxMeta, bytes: &[u8]) -> Result<SessionId, ManagerError> {
        let repr = Repr::from_bytes(bytes)?;
        let discr = if repr.your_discriminator != 0 {
            let d = repr.your_discriminator;
            let e = self.sessions.get(&d).ok_or(ManagerError::UnknownDiscriminator(d))?;
            if e.key.peer != meta.src || e.key.hop != meta.hop {
                let id = SessionId(NonZeroU32::new(d).ok_or(ManagerError::UnknownDiscriminator(d))?);
                self.count_error(d);
                return Err(ManagerError::PeerMismatch(id));
            }
            d
        } else {
            self.lookup(meta).ok_or(ManagerError::NoSession { peer: meta.src, local: meta.dst, hop: meta.hop })?
        };
        let id = SessionId(NonZeroU32::new(discr).ok_or(ManagerError::UnknownDiscriminator(discr))?);
        let e = self.sessions.get_mut(&discr).ok_or(ManagerError::UnknownDiscriminator(discr))?;
        if let Err(t) = check_ttl(e.key.hop, e.minimum_ttl, meta.ttl) {
            e.counters.rx_errors += 1;
            return Err(t.into());
        }
        let r = match e.session.handle_packet(now, &repr) {
            Ok(()) => {
                e.counters.control_in += 1;
                self.totals.control_in += 1;
                self.ready.push_back(discr);
                Ok(id)
            }
            Err(error) => {
                e.counters.rx_errors += 1;
                Err(ManagerError::Session { id, error })
            }
        };
        self.resched(discr);
        r
    }

    fn count_error(&mut self, discr: u32) {
        if let Some(e) = self.sessions.get_mut(&discr) {
            e.counters.rx_errors += 1;
        }
    }

    fn lookup(&self, meta: &RxMeta) -> Option<u32> {
        let mut key = PeerKey {
            peer: meta.src,
            local: meta.dst,
            interface: if meta.hop == HopMode::SingleHop { meta.interface.clone() } else { None },
            vrf: meta.vrf.clone(),
            hop: meta.hop,
        };
        if let Some(d) = self.by_key.get(&key) {
            return Some(*d);
        }
        key.interface = None;
        self.by_key.get(&key).copied()
    }

    /// One of our echo packets came back (`bytes` is the UDP payload on port 3785).
    pub fn handle_echo(&mut self, now: Instant, bytes: &[u8]) -> Result<SessionId, ManagerError> {
        let r = self.dispatch_echo(now, bytes);
        if r.is_err() {
            self.totals.rx_errors += 1;
        }
        r
    }

    fn dispatch_echo(&mut self, now: Instant, bytes: &[u8]) -> Result<SessionId, ManagerError> {
        let echo = EchoRepr::parse(bytes)?;
        let d = echo.discriminator;
        let e = self.sessions.get_mut(&d).ok_or(ManagerError::UnknownDiscriminator(d))?;
        let id = SessionId(NonZeroU32::new(d).ok_or(ManagerError::UnknownDiscriminator(d))?);
        let r = match e.session.handle_echo(now, &echo) {
            Ok(()) => {
                e.counters.echo_in += 1;
                self.totals.echo_in += 1;
                Ok(id)
            }
            Err(error) => {
                e.counters.rx_errors += 1;
                Err(ManagerError::Session { id, error })
            }
        };
        self.resched(d);
        r
    }

    /// Runs every session's timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        // The due sessions first, then each once (as before: a timer re-armed at or before
        // `now` waits for the next call).
        let mut due = Vec::new();
        while let Some(&(t, d)) = self.timers.first() {
            if t > now {
                break;
            }
            self.timers.pop_first();
            if let Some(e) = self.sessions.get_mut(&d) {
                e.scheduled = None;
            }
            due.push(d);
        }
        for d in due {
            if let Some(e) = self.sessions.get_mut(&d) {
                e.session.handle_timeout(now);
                self.ready.push_back(d);
            }
            self.resched(d);
        }
    }

    /// The earliest timer of all sessions.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|(t, _)| *t)
    }

    /// The next action of any session, counters updated.
    pub fn poll_action(&mut self) -> Option<Output> {
        while let Some(&d) = self.ready.front() {
            let Some(e) = self.sessions.get_mut(&d) else {
                self.ready.pop_front();
                continue;
            };
            let Some(action) = e.session.poll_action() else {
                self.ready.pop_front();
                self.resched(d);
                continue;
            };
            let c = &mut e.counters;
            let t = &mut self.totals;
            match &action {
                Action::Transmit(_) => {
                    c.control_out += 1;
                    t.control_out += 1;
                }
                Action::TransmitEcho(_) => {
                    c.echo_out += 1;
                    t.echo_out += 1;
                }
                Action::StateChanged { from, to, .. } => {
                    if *to == State::Up {
                        c.up_events += 1;
                        t.up_events += 1;
                        c.session_up = 1;
                        t.session_up += 1;
                    } else if *from == State::Up {
                        c.down_events += 1;
                        t.down_events += 1;
                        c.session_up = 0;
                        t.session_up = t.session_up.saturating_sub(1);
                    }
                }
            }
            let id = SessionId(NonZeroU32::new(d)?);
            return Some(Output { id, key: e.key.clone(), action });
        }
        None
    }

    /// A session.
    pub fn session(&self, id: SessionId) -> Option<&Session> {
        self.sessions.get(&id.discriminator()).map(|e| &e.session)
    }

    /// A session's key.
    pub fn key(&self, id: SessionId) -> Option<&PeerKey> {
        self.sessions.get(&id.discriminator()).map(|e| &e.key)
    }

    /// The session for a key.
    pub fn find(&self, key: &PeerKey) -> Option<SessionId> {
        self.by_key.get(key).and_then(|d| NonZeroU32::new(*d)).map(SessionId)
    }

    /// A session's counters.
    pub fn counters(&self, id: SessionId) -> Option<Counters> {
        self.sessions.get(&id.discriminator()).map(|e| e.counters)
    }

    /// Totals over all sessions (removed sessions' packet counts included).
    pub fn totals(&self) -> Counters {
        self.totals
    }

    /// All session ids, in discriminator order.
    pub fn ids(&self) -> impl Iterator<Item = SessionId> + '_ {
        self.sessions.keys().filter_map(|d| NonZeroU32::new(*d)).map(SessionId)
    }
}
