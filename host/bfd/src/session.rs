//! One BFD session (RFC 5880), sans-IO.
//!
//! Inputs: [`Session::handle_packet`] (a parsed control packet already demultiplexed to this
//! session), [`Session::handle_echo`] (one of our own echo packets, looped back by the peer),
//! [`Session::handle_timeout`], [`Session::set_admin_down`], [`Session::set_params`].
//! Outputs: [`Session::poll_action`] ([`Action`]) and [`Session::poll_timeout`] (when to call
//! `handle_timeout` next). Time is always passed in; jitter comes from the session's seeded
//! [`Prng`].
//!
//! Behaviour, with the RFC sections it follows:
//! - State machine §6.2 / §6.8.6: one `match` over (state, event) in `Session::fsm`.
//! - Transmit interval §6.8.2/§6.8.7: `max(bfd.DesiredMinTxInterval, bfd.RemoteMinRxInterval)`,
//!   reduced per packet by a random 0–25 % (10–25 % when our Detect Mult is 1). While the
//!   session is not Up, bfd.DesiredMinTxInterval is at least 1 s (§6.8.3). A packet is also
//!   sent at once when its contents (other than P/F) differ from the previous one (§6.8.7
//!   SHOULD), so state changes propagate in one trip.
//! - Detection time §6.8.4 (asynchronous mode): the *remote* Detect Mult × `max(bfd.
//!   RequiredMinRxInterval, last received Desired Min TX)`, measured from the last accepted
//!   packet. Expiry in Init/Up: Down with diag 1; in any state it also forgets the remote
//!   discriminator (§6.8.1), which silences a passive session.
//! - Poll/Final §6.5/§6.8.3: a change of the advertised Desired Min TX or Required Min RX while
//!   Up starts a Poll Sequence (P on every packet until an F arrives). A TX *increase* is used
//!   only after the Final; an RX *decrease* keeps the old value for our detection time until the
//!   Final; a TX decrease or RX increase applies at once. A change during a poll waits for it
//!   to end and starts a new one. A received P is answered at once with F (§6.8.6).
//! - Passive role §6.1/§6.8.7: no transmission while bfd.RemoteDiscr is 0.
//! - Remote Demand mode §6.8.7: honoured (no periodic packets while the peer asks for none);
//!   we never ask for Demand mode ourselves.
//! - Echo §6.4/§6.8.9: when configured and the peer advertises Required Min Echo RX > 0 and the
//!   session is Up, echo packets go out every `max(local echo interval, peer's Required Min Echo
//!   RX)` (jittered like control packets); no returned echo for our Detect Mult × that
//!   interval takes the session Down with diag 2. While echo is active we raise the advertised
//!   Required Min RX to at least 1 s (§6.8.3 SHOULD), through a Poll Sequence, so control
//!   packets slow down; a peer advertising Required Min Echo RX 0 stops our echo (§6.8.6).
//! - Administrative control §6.8.16: AdminDown with diag 7; control packets keep flowing (at the
//!   slow rate) so the peer learns it; echo stops.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::rng::Prng;
use crate::wire::{Auth, Diag, EchoRepr, Repr, State};

/// The slow transmit rate while not Up, and the floor of Required Min RX while echo is active
/// (RFC 5880 §6.8.3): one second, in µs.
pub const SLOW_INTERVAL_US: u32 = 1_000_000;

/// The configuration of one session (what a BFD profile resolves to).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionParams {
    /// bfd.DesiredMinTxInterval (when Up).
    pub desired_min_tx: Duration,
    /// bfd.RequiredMinRxInterval.
    pub required_min_rx: Duration,
    /// bfd.DetectMult (0 is treated as 1).
    pub detect_mult: u8,
    /// Passive role: send nothing until the peer has been heard.
    pub passive: bool,
    /// The echo interval when the echo function is enabled; `None` disables it. Also
    /// advertised as our Required Min Echo RX Interval (we loop the peer's echoes back).
    pub echo_interval: Option<Duration>,
}

impl Default for SessionParams {
    /// MetalLB's defaults: 300 ms / 300 ms × 3, active, no echo.
    fn default() -> Self {
        SessionParams {
            desired_min_tx: Duration::from_millis(300),
            required_min_rx: Duration::from_millis(300),
            detect_mult: 3,
            passive: false,
            echo_interval: None,
        }
    }
}

/// Authentication configured on a session (RFC 5880 §6.7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthKey {
    /// Simple Password (§6.7.2): sent in clear, compared on receipt.
    SimplePassword {
        /// Auth Key ID.
        key_id: u8,
        /// 1..=16 bytes.
        password: Vec<u8>,
    },
}

impl AuthKey {
    fn section(&self) -> Auth {
        match self {
            AuthKey::SimplePassword { key_id, password } => {
                Auth::SimplePassword { key_id: *key_id, password: password.clone() }
            }
        }
    }

    fn verify(&self, got: &Auth) -> Result<(), SessionError> {
        match (self, got) {
            (AuthKey::SimplePassword { key_id, password }, Auth::SimplePassword { key_id: k, password: p }) => {
                if k != key_id {
                    return Err(SessionError::AuthKeyIdMismatch { expected: *key_id, got: *k });
                }
                // Not constant-time: the password travels in clear anyway (§6.7.2).
                if p != password {
                    return Err(SessionError::AuthFailed);
                }
                Ok(())
            }
            (key, got) => {
                Err(SessionError::AuthTypeMismatch { expected: key.section().auth_type(), got: got.auth_type() })
            }
        }
    }
}

/// Why a session refused an input.
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize, Deserialize)]
pub enum SessionError {
    /// §6.8.6: the A bit is set but this session uses no authentication.
    #[error("authentication present but none configured")]
    AuthUnexpected,
    /// §6.8.6: the A bit is clear but this session uses authentication.
    #[error("authentication configured but the packet carries none")]
    AuthMissing,
    /// The packet's Auth Type is not the configured one.
    #[error("authentication type {got}, expected {expected}")]
    AuthTypeMismatch {
        /// Configured type.
        expected: u8,
        /// Received type.
        got: u8,
    },
    /// The packet's Auth Key ID is not the configured one.
    #[error("authentication key id {got}, expected {expected}")]
    AuthKeyIdMismatch {
        /// Configured key id.
        expected: u8,
        /// Received key id.
        got: u8,
    },
    /// Wrong password.
    #[error("authentication failed")]
    AuthFailed,
    /// Your Discriminator (or an echo's discriminator) is not this session's.
    #[error("discriminator {got} is not this session's ({expected})")]
    WrongDiscriminator {
        /// Our local discriminator.
        expected: u32,
        /// The packet's.
        got: u32,
    },
    /// An echo packet arrived while the echo function is not active (late or stray).
    #[error("echo packet while the echo function is inactive")]
    EchoInactive,
    /// An echo packet with a sequence number we never sent, or already seen.
    #[error("echo sequence {got} not expected (last sent {sent}, last received {received})")]
    EchoSequence {
        /// The packet's sequence number.
        got: u64,
        /// Last sequence number sent.
        sent: u64,
        /// Last sequence number accepted.
        received: u64,
    },
}

/// What the session asks its owner to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// Send this control packet to the peer.
    Transmit(Repr),
    /// Send this echo packet (to the peer's MAC, with our own address as destination, UDP 3785).
    TransmitEcho(EchoRepr),
    /// The session state changed; `diag` is the new bfd.LocalDiag.
    StateChanged {
        /// Previous state.
        from: State,
        /// New state.
        to: State,
        /// Why.
        diag: Diag,
        /// The peer's state as last heard (AdminDown here means the peer took the session down
        /// administratively: RFC 5882 §3.2 says a client SHOULD NOT tear its routing session
        /// down for that).
        remote: State,
    },
}

/// Every input a session takes, as data: a recorded `(offset from start, Input)` log and the
/// PRNG seed replay a session exactly through [`Session::handle`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Input {
    /// [`Session::handle_packet`].
    Packet(Repr),
    /// [`Session::handle_echo`].
    Echo(EchoRepr),
    /// [`Session::handle_timeout`].
    Timeout,
    /// [`Session::set_admin_down`].
    AdminDown(bool),
    /// [`Session::set_params`].
    Params(SessionParams),
}

/// The events of the state machine (RFC 5880 §6.2 diagram labels).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    /// A packet arrived with State = this.
    Recv(State),
    /// TIMER: the detection time passed without a packet.
    DetectionTimeExpired,
    /// The echo function's detection time passed without a returned echo.
    EchoFailed,
    /// Local administrative disable (§6.8.16).
    LocalAdminDown,
    /// Local administrative enable (§6.8.16: "set bfd.SessionState to Down").
    LocalAdminUp,
}

/// One BFD session. See the module documentation for the behaviour.
#[derive(Debug, Clone)]
pub struct Session {
    local_discr: u32,
    params: SessionParams,
    auth: Option<AuthKey>,
    rng: Prng,

    state: State,
    local_diag: Diag,

    // bfd.Remote* (§6.8.1).
    remote_discr: u32,
    remote_state: State,
    remote_demand: bool,
    remote_min_rx: u32,
    remote_desired_min_tx: u32,
    remote_detect_mult: u8,
    remote_min_echo_rx: u32,

    // Advertised intervals (what our packets carry) and the ones our timers use (§6.8.3).
    adv_tx: u32,
    adv_rx: u32,
    tx_in_use: u32,
    rx_in_use: u32,
    polling: bool,

    next_tx: Option<Instant>,
    last_rx: Option<Instant>,
    detect_deadline: Option<Instant>,
    last_sent: Option<Repr>,

    echo_active: bool,
    echo_next_tx: Option<Instant>,
    echo_deadline: Option<Instant>,
    echo_seq: u64,
    echo_rx_seq: u64,

    actions: VecDeque<Action>,
}

fn us(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

fn dur(us: u64) -> Duration {
    Duration::from_micros(us)
}

impl Session {
    /// A new session in state Down. An active session sends its first packet at `now`.
    pub fn new(
        local_discriminator: NonZeroU32,
        params: SessionParams,
        auth: Option<AuthKey>,
        rng: Prng,
        now: Instant,
    ) -> Session {
        let mut s = Session {
            local_discr: local_discriminator.get(),
            params,
            auth,
            rng,
            state: State::Down,
            local_diag: Diag::NoDiagnostic,
            remote_discr: 0,
            remote_state: State::Down,
            remote_demand: false,
            remote_min_rx: 1,
            remote_desired_min_tx: 0,
            remote_detect_mult: 0,
            remote_min_echo_rx: 0,
            adv_tx: 0,
            adv_rx: 0,
            tx_in_use: 0,
            rx_in_use: 0,
            polling: false,
            next_tx: None,
            last_rx: None,
            detect_deadline: None,
            last_sent: None,
            echo_active: false,
            echo_next_tx: None,
            echo_deadline: None,
            echo_seq: 0,
            echo_rx_seq: 0,
            actions: VecDeque::new(),
        };
        s.settle(now);
        s.transmit_due(now);
        s
    }

    // ----- inputs -----

    /// Dispatches one [`Input`].
    pub fn handle(&mut self, now: Instant, input: Input) -> Result<(), SessionError> {
        match input {
            Input::Packet(r) => self.handle_packet(now, &r),
            Input::Echo(e) => self.handle_echo(now, &e),
            Input::Timeout => {
                self.handle_timeout(now);
                Ok(())
            }
            Input::AdminDown(down) => {
                self.set_admin_down(now, down);
                Ok(())
            }
            Input::Params(p) => {
                self.set_params(now, p);
                Ok(())
            }
        }
    }

    /// A control packet for this session arrived (already parsed, §6.8.6 packet checks done,
    /// demultiplexed, TTL checked). Applies the rest of §6.8.6.
    pub fn handle_packet(&mut self, now: Instant, repr: &Repr) -> Result<(), SessionError> {
        if repr.your_discriminator != 0 && repr.your_discriminator != self.local_discr {
            return Err(SessionError::WrongDiscriminator { expected: self.local_discr, got: repr.your_discriminator });
        }
        // §6.8.6: A bit vs bfd.AuthType, then authentication itself.
        match (&self.auth, &repr.auth) {
            (None, None) => {}
            (None, Some(_)) => return Err(SessionError::AuthUnexpected),
            (Some(_), None) => return Err(SessionError::AuthMissing),
            (Some(key), Some(got)) => key.verify(got)?,
        }
        self.remote_discr = repr.my_discriminator;
        self.remote_state = repr.state;
        self.remote_demand = repr.demand;
        self.remote_min_rx = repr.required_min_rx;
        self.remote_desired_min_tx = repr.desired_min_tx;
        self.remote_detect_mult = repr.detect_mult;
        // "If the Required Min Echo RX Interval field is zero, the transmission of Echo packets,
        // if any, MUST cease" (done by `settle`).
        self.remote_min_echo_rx = repr.required_min_echo_rx;
        // "If a Poll Sequence is being transmitted by the local system and the Final (F) bit in
        // the received packet is set, the Poll Sequence MUST be terminated."
        if self.polling && repr.final_ {
            self.finish_poll();
        }
        // Update the Detection Time (§6.8.4) and restart it.
        self.last_rx = Some(now);
        self.rearm_detection();
        // "If bfd.SessionState is AdminDown: Discard the packet."
        if self.state != State::AdminDown {
            self.fsm(Event::Recv(repr.state));
        }
        self.settle(now);
        // "If the Poll (P) bit is set, send a BFD Control packet to the remote system with the
        // Poll (P) bit clear, and the Final (F) bit set" -- at once, whatever the timers say.
        if repr.poll && self.state != State::AdminDown {
            self.transmit(true);
        }
        self.transmit_due(now);
        Ok(())
    }

    /// One of our echo packets came back.
    pub fn handle_echo(&mut self, now: Instant, echo: &EchoRepr) -> Result<(), SessionError> {
        if echo.discriminator != self.local_discr {
            return Err(SessionError::WrongDiscriminator { expected: self.local_discr, got: echo.discriminator });
        }
        if !self.echo_active {
            return Err(SessionError::EchoInactive);
        }
        if echo.sequence == 0 || echo.sequence > self.echo_seq || echo.sequence <= self.echo_rx_seq {
            return Err(SessionError::EchoSequence {
                got: echo.sequence,
                sent: self.echo_seq,
                received: self.echo_rx_seq,
            });
        }
        self.echo_rx_seq = echo.sequence;
        self.echo_deadline = Some(now + self.echo_detection_time());
        Ok(())
    }

    /// Runs the timers due at `now` (call at [`Session::poll_timeout`], earlier is harmless).
    pub fn handle_timeout(&mut self, now: Instant) {
        // A state change can shorten the detection time (e.g. echo stops, Required Min RX
        // drops back): loop until no deadline at or before `now` is left.
        for _ in 0..4 {
            let mut fired = false;
            if self.detect_deadline.is_some_and(|t| t <= now) {
                // §6.8.1: bfd.RemoteDiscr "MUST be reset to zero if Detection Time passes
                // without the receipt of a valid, authenticated BFD packet from the remote system".
                self.forget_remote();
                self.fsm(Event::DetectionTimeExpired);
                fired = true;
            }
            if self.echo_deadline.is_some_and(|t| t <= now) {
                self.echo_deadline = None;
                self.fsm(Event::EchoFailed);
                fired = true;
            }
            self.settle(now);
            if !fired {
                break;
            }
        }
        self.transmit_due(now);
    }

    /// Takes the session administratively down (`true`, diag 7) or enables it again (`false`).
    pub fn set_admin_down(&mut self, now: Instant, down: bool) {
        self.fsm(if down { Event::LocalAdminDown } else { Event::LocalAdminUp });
        self.settle(now);
        self.transmit_due(now);
    }

    /// Changes the configuration. Interval changes while Up go through a Poll Sequence
    /// (§6.8.3); a Detect Mult change is simply carried by the next packet (§6.8.12).
    pub fn set_params(&mut self, now: Instant, params: SessionParams) {
        self.params = params;
        if self.echo_active {
            // Re-evaluate the echo detection time with the new interval/multiplier.
            self.echo_deadline = Some(now + self.echo_detection_time());
        }
        self.settle(now);
        self.transmit_due(now);
    }

    // ----- outputs -----

    /// The next thing to do, if any.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`Session::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.next_tx, self.detect_deadline, self.echo_next_tx, self.echo_deadline].into_iter().flatten().min()
    }

    // ----- observers -----

    /// bfd.SessionState.
    pub fn state(&self) -> State {
        self.state
    }
    /// bfd.LocalDiag.
    pub fn local_diag(&self) -> Diag {
        self.local_diag
    }
    /// bfd.LocalDiscr.
    pub fn local_discriminator(&self) -> u32 {
        self.local_discr
    }
    /// bfd.RemoteDiscr (0 = not known).
    pub fn remote_discriminator(&self) -> u32 {
        self.remote_discr
    }
    /// bfd.RemoteSessionState.
    pub fn remote_state(&self) -> State {
        self.remote_state
    }
    /// The configuration.
    pub fn params(&self) -> &SessionParams {
        &self.params
    }
    /// Whether a Poll Sequence is in progress.
    pub fn polling(&self) -> bool {
        self.polling
    }
    /// Whether the echo function is active.
    pub fn echo_active(&self) -> bool {
        self.echo_active
    }
    /// The (Desired Min TX, Required Min RX) our packets advertise.
    pub fn advertised_intervals(&self) -> (Duration, Duration) {
        (dur(self.adv_tx.into()), dur(self.adv_rx.into()))
    }
    /// The negotiated transmit interval before jitter (§6.8.2), as currently in use.
    pub fn tx_interval(&self) -> Duration {
        dur(self.tx_interval_us().into())
    }
    /// The detection time (§6.8.4), once a packet from the peer has been seen.
    pub fn detection_time(&self) -> Option<Duration> {
        (self.remote_detect_mult > 0).then(|| {
            dur(u64::from(self.remote_detect_mult) * u64::from(self.rx_in_use.max(self.remote_desired_min_tx)))
        })
    }
    /// The echo transmit interval before jitter, while echo is active.
    pub fn echo_interval(&self) -> Option<Duration> {
        self.echo_active.then(|| dur(self.echo_tx_interval_us().into()))
    }

    // ----- the state machine -----

    /// RFC 5880 §6.2 / §6.8.6 / §6.8.16: one match over (state, event).
    fn fsm(&mut self, event: Event) {
        use Event::*;
        use State::*;
        let next = match (self.state, event) {
            // Administrative control (§6.8.16).
            (AdminDown, LocalAdminUp) => Some((Down, Diag::NoDiagnostic)),
            (AdminDown, _) => None,
            (_, LocalAdminDown) => Some((AdminDown, Diag::AdministrativelyDown)),
            (_, LocalAdminUp) => None,
            // Down: "DOWN" -> Init, "INIT" -> Up; "UP, ADMIN DOWN, TIMER" stay.
            (Down, Recv(Down)) => Some((Init, self.local_diag)),
            (Down, Recv(Init)) => Some((Up, Diag::NoDiagnostic)),
            (Down, Recv(Up | AdminDown) | DetectionTimeExpired | EchoFailed) => None,
            // Init: "INIT, UP" -> Up; "ADMIN DOWN, TIMER" -> Down; "DOWN" stays.
            (Init, Recv(Init | Up)) => Some((Up, Diag::NoDiagnostic)),
            (Init, Recv(AdminDown)) => Some((Down, Diag::NeighborSignaledSessionDown)),
            (Init, DetectionTimeExpired) => Some((Down, Diag::ControlDetectionTimeExpired)),
            (Init, Recv(Down) | EchoFailed) => None,
            // Up: "DOWN, ADMIN DOWN" -> Down (diag 3); "TIMER" -> Down (diag 1); "INIT, UP" stay.
            (Up, Recv(Down | AdminDown)) => Some((Down, Diag::NeighborSignaledSessionDown)),
            (Up, DetectionTimeExpired) => Some((Down, Diag::ControlDetectionTimeExpired)),
            (Up, EchoFailed) => Some((Down, Diag::EchoFunctionFailed)),
            (Up, Recv(Init | Up)) => None,
        };
        if let Some((to, diag)) = next {
            let from = self.state;
            self.state = to;
            self.local_diag = diag;
            if from != to {
                self.actions.push_back(Action::StateChanged { from, to, diag, remote: self.remote_state });
            }
        }
    }

    // ----- timers and parameters -----

    fn forget_remote(&mut self) {
        self.remote_discr = 0;
        self.remote_state = State::Down;
        self.remote_demand = false;
        self.remote_min_rx = 1;
        self.remote_desired_min_tx = 0;
        self.remote_detect_mult = 0;
        self.remote_min_echo_rx = 0;
        self.last_rx = None;
        self.detect_deadline = None;
    }

    fn rearm_detection(&mut self) {
        self.detect_deadline = match (self.last_rx, self.detection_time()) {
            (Some(t), Some(d)) => Some(t + d),
            _ => None,
        };
    }

    fn tx_interval_us(&self) -> u32 {
        self.tx_in_use.max(self.remote_min_rx)
    }

    fn echo_tx_interval_us(&self) -> u32 {
        self.params.echo_interval.map_or(0, us).max(self.remote_min_echo_rx).max(1)
    }

    fn echo_detection_time(&self) -> Duration {
        dur(u64::from(self.params.detect_mult.max(1)) * u64::from(self.echo_tx_interval_us()))
    }

    /// A jittered interval (§6.8.7): 75–100 % of `interval`, 75–90 % when Detect Mult is 1.
    fn jittered(&mut self, interval_us: u32) -> Duration {
        let span = if self.params.detect_mult <= 1 { 150_000 } else { 250_000 };
        let ppm = 750_000 + self.rng.up_to(span);
        Duration::from_nanos(u64::from(interval_us) * 1000 * ppm / 1_000_000)
    }

    /// The intervals we want to advertise now (before Poll rules).
    fn wanted_intervals(&self) -> (u32, u32) {
        let cfg_tx = us(self.params.desired_min_tx).max(1);
        let cfg_rx = us(self.params.required_min_rx);
        let tx = if self.state == State::Up { cfg_tx } else { cfg_tx.max(SLOW_INTERVAL_US) };
        let rx = if self.echo_active { cfg_rx.max(SLOW_INTERVAL_US) } else { cfg_rx };
        (tx, rx)
    }

    /// Brings echo activity and the advertised/in-use intervals in line with state and config.
    fn settle(&mut self, now: Instant) {
        // Echo function (§6.8.9): only while Up, configured, and the peer loops echoes.
        let echo = self.state == State::Up && self.params.echo_interval.is_some() && self.remote_min_echo_rx > 0;
        if echo && !self.echo_active {
            self.echo_active = true;
            self.echo_next_tx = Some(now);
            self.echo_deadline = Some(now + self.echo_detection_time());
        } else if !echo && self.echo_active {
            self.echo_active = false;
            self.echo_next_tx = None;
            self.echo_deadline = None;
        }

        let (tx, rx) = self.wanted_intervals();
        if self.state != State::Up {
            // Not Up: no Poll Sequence, new values apply at once.
            self.polling = false;
            self.adv_tx = tx;
            self.adv_rx = rx;
            self.tx_in_use = tx;
            if self.rx_in_use != rx {
                self.rx_in_use = rx;
                self.rearm_detection();
            }
            return;
        }
        if (tx, rx) == (self.adv_tx, self.adv_rx) {
            return;
        }
        if self.polling {
            // One Poll Sequence at a time: this change follows when the current one ends
            // (`finish_poll`, then the next `settle`).
            return;
        }
        // §6.8.3: start a Poll Sequence carrying the new values.
        self.adv_tx = tx;
        self.adv_rx = rx;
        self.polling = true;
        if tx < self.tx_in_use {
            // Sending faster is safe at once.
            self.tx_in_use = tx;
        }
        if rx > self.rx_in_use {
            // A longer detection time is safe at once.
            self.rx_in_use = rx;
            self.rearm_detection();
        }
    }

    /// The peer answered our Poll: the advertised values now govern the timers (§6.8.3).
    fn finish_poll(&mut self) {
        self.polling = false;
        self.tx_in_use = self.adv_tx;
        if self.rx_in_use != self.adv_rx {
            self.rx_in_use = self.adv_rx;
            self.rearm_detection();
        }
    }

    /// §6.8.7: may periodic control packets be sent?
    fn can_send_periodic(&self) -> bool {
        if self.params.passive && self.remote_discr == 0 {
            return false;
        }
        if self.remote_min_rx == 0 {
            return false;
        }
        if self.remote_demand && self.state == State::Up && self.remote_state == State::Up && !self.polling {
            return false;
        }
        true
    }

    fn build(&self, final_: bool) -> Repr {
        Repr {
            diag: self.local_diag,
            state: self.state,
            // "A system MUST NOT set the Poll (P) bit and the Final (F) bit" together.
            poll: self.polling && !final_,
            final_,
            control_plane_independent: false,
            demand: false,
            detect_mult: self.params.detect_mult.max(1),
            my_discriminator: self.local_discr,
            your_discriminator: self.remote_discr,
            desired_min_tx: self.adv_tx,
            required_min_rx: self.adv_rx,
            required_min_echo_rx: self.params.echo_interval.map_or(0, |d| us(d).max(1)),
            auth: self.auth.as_ref().map(AuthKey::section),
        }
    }

    /// The contents that matter for "differs from the previous packet" (§6.8.7).
    fn content(&self) -> Repr {
        let mut r = self.build(false);
        r.poll = false;
        r.auth = None;
        r
    }

    fn transmit(&mut self, final_: bool) {
        let repr = self.build(final_);
        self.last_sent = Some(self.content());
        self.actions.push_back(Action::Transmit(repr));
    }

    /// Sends the periodic control packet and the echo packet when due, or a control packet at
    /// once when its contents changed; keeps the transmit timer consistent with the interval.
    fn transmit_due(&mut self, now: Instant) {
        if self.can_send_periodic() {
            let interval = self.tx_interval_us();
            let due = self.next_tx.is_none_or(|t| t <= now);
            let changed = self.last_sent.as_ref() != Some(&self.content());
            if due || changed {
                self.transmit(false);
                self.next_tx = Some(now + self.jittered(interval));
            } else if self.next_tx.is_some_and(|t| t > now + dur(interval.into())) {
                // The interval shrank: do not wait out the old, longer one.
                self.next_tx = Some(now + self.jittered(interval));
            }
        } else {
            self.next_tx = None;
        }

        if self.echo_active && self.echo_next_tx.is_some_and(|t| t <= now) {
            self.echo_seq += 1;
            self.actions
                .push_back(Action::TransmitEcho(EchoRepr { discriminator: self.local_discr, sequence: self.echo_seq }));
            let interval = self.echo_tx_interval_us();
            self.echo_next_tx = Some(now + self.jittered(interval));
        }
    }
}
