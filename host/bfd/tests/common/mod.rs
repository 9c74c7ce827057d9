//! A deterministic two-endpoint simulator: two sessions, a fake clock jumped to the earliest
//! timer or delivery, and a link that delays, drops (seeded) or is cut per direction. Control
//! packets cross the link as bytes (emit → parse), so the codec is exercised on every hop.
#![allow(dead_code, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use ferrolb_bfd::rng::Prng;
use ferrolb_bfd::session::{Action, Session, SessionParams};
use ferrolb_bfd::wire::{EchoRepr, Repr};

/// Which endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    A,
    B,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
}

#[derive(Debug, Clone)]
enum Msg {
    Control(Vec<u8>),
    Echo(EchoRepr),
}

/// One thing that happened, for assertions.
#[derive(Debug, Clone, PartialEq)]
pub enum Ev {
    /// `side` emitted this action.
    Out(Side, Action),
    /// `side` received this control packet.
    In(Side, Repr),
    /// `side` got one of its echoes back.
    EchoBack(Side, u64),
}

pub struct Sim {
    pub t0: Instant,
    pub now: Instant,
    pub a: Session,
    pub b: Session,
    pub delay: Duration,
    /// Per-mille loss probability, both directions.
    pub loss_permille: u64,
    /// Drop everything A→B / B→A.
    pub cut_ab: bool,
    pub cut_ba: bool,
    /// Drop A's / B's echo packets only (the peer's forwarding plane stops looping them).
    pub cut_echo_a: bool,
    pub cut_echo_b: bool,
    rng: Prng,
    inflight: Vec<(Instant, u64, Side, Msg)>,
    seq: u64,
    pub log: Vec<(Instant, Ev)>,
}

impl Sim {
    pub fn new(pa: SessionParams, pb: SessionParams, seed: u64) -> Sim {
        let t0 = Instant::now();
        let a = Session::new(std::num::NonZeroU32::new(0xA).unwrap(), pa, None, Prng::new(seed), t0);
        let b = Session::new(std::num::NonZeroU32::new(0xB).unwrap(), pb, None, Prng::new(seed ^ 0xFFFF), t0);
        Sim::with(a, b, t0, seed)
    }

    pub fn with(a: Session, b: Session, t0: Instant, seed: u64) -> Sim {
        // Initial packets go out on the first step, so a test can set up the link first.
        Sim {
            t0,
            now: t0,
            a,
            b,
            delay: Duration::from_millis(1),
            loss_permille: 0,
            cut_ab: false,
            cut_ba: false,
            cut_echo_a: false,
            cut_echo_b: false,
            rng: Prng::new(seed.wrapping_mul(31)),
            inflight: Vec::new(),
            seq: 0,
            log: Vec::new(),
        }
    }

    pub fn session(&mut self, side: Side) -> &mut Session {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    /// Milliseconds since start (for messages).
    pub fn ms(&self, t: Instant) -> f64 {
        (t - self.t0).as_secs_f64() * 1000.0
    }

    fn dropped(&mut self, from: Side) -> bool {
        let cut = match from {
            Side::A => self.cut_ab,
            Side::B => self.cut_ba,
        };
        cut || (self.loss_permille > 0 && self.rng.up_to(999) < self.loss_permille)
    }

    /// Moves every pending action of both sessions onto the link / into the log.
    pub fn drain(&mut self) {
        for side in [Side::A, Side::B] {
            while let Some(action) = self.session(side).poll_action() {
                match &action {
                    Action::Transmit(repr) => {
                        if !self.dropped(side) {
                            let at = self.now + self.delay;
                            self.seq += 1;
                            self.inflight.push((at, self.seq, side.other(), Msg::Control(repr.to_bytes())));
                        }
                    }
                    Action::TransmitEcho(e) => {
                        // Out to the peer's forwarding plane and back: both directions must work.
                        let cut = if side == Side::A { self.cut_echo_a } else { self.cut_echo_b };
                        if !cut && !self.dropped(side) && !self.dropped(side.other()) {
                            let at = self.now + self.delay * 2;
                            self.seq += 1;
                            self.inflight.push((at, self.seq, side, Msg::Echo(*e)));
                        }
                    }
                    Action::StateChanged { .. } => {}
                }
                self.log.push((self.now, Ev::Out(side, action)));
            }
        }
    }

    /// The next instant anything happens.
    pub fn next_event(&self) -> Option<Instant> {
        let deliveries = self.inflight.iter().map(|m| m.0);
        [self.a.poll_timeout(), self.b.poll_timeout()].into_iter().flatten().chain(deliveries).min()
    }

    /// Advances to the next event and processes everything due then.
    pub fn step(&mut self) -> bool {
        self.drain();
        let Some(t) = self.next_event() else { return false };
        assert!(t >= self.now, "time went backwards");
        self.now = t;
        let now = t;
        self.inflight.sort_by_key(|m| (m.0, m.1));
        let due: Vec<_> = self.inflight.iter().filter(|m| m.0 <= now).cloned().collect();
        self.inflight.retain(|m| m.0 > now);
        for (_, _, to, msg) in due {
            match msg {
                Msg::Control(bytes) => {
                    let repr = Repr::from_bytes(&bytes).expect("our own packets parse");
                    self.session(to).handle_packet(now, &repr).expect("accepted");
                    self.log.push((now, Ev::In(to, repr)));
                }
                Msg::Echo(e) => {
                    if self.session(to).handle_echo(now, &e).is_ok() {
                        self.log.push((now, Ev::EchoBack(to, e.sequence)));
                    }
                }
            }
            self.drain();
        }
        for side in [Side::A, Side::B] {
            if self.session(side).poll_timeout().is_some_and(|x| x <= now) {
                self.session(side).handle_timeout(now);
            }
        }
        self.drain();
        true
    }

    /// Runs until `until` (absolute), or until nothing is left to happen.
    pub fn run_until(&mut self, until: Instant) {
        self.drain();
        while self.next_event().is_some_and(|t| t <= until) {
            self.step();
        }
        self.now = self.now.max(until);
    }

    /// Runs for `d` from now.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    /// The log with times relative to the start (comparable across runs).
    pub fn rel_log(&self) -> Vec<(Duration, Ev)> {
        self.log.iter().map(|(t, e)| (*t - self.t0, e.clone())).collect()
    }

    /// Log entries since `since`.
    pub fn since(&self, since: Instant) -> impl Iterator<Item = &(Instant, Ev)> {
        self.log.iter().filter(move |(t, _)| *t >= since)
    }

    /// State changes of `side`: (time, from, to, diag).
    pub fn changes(&self, side: Side) -> Vec<(Instant, ferrolb_bfd::State, ferrolb_bfd::State, ferrolb_bfd::Diag)> {
        self.log
            .iter()
            .filter_map(|(t, e)| match e {
                Ev::Out(s, Action::StateChanged { from, to, diag, .. }) if *s == side => Some((*t, *from, *to, *diag)),
                _ => None,
            })
            .collect()
    }

    /// Control packets `side` sent: (time, repr).
    pub fn sent(&self, side: Side) -> Vec<(Instant, Repr)> {
        self.log
            .iter()
            .filter_map(|(t, e)| match e {
                Ev::Out(s, Action::Transmit(r)) if *s == side => Some((*t, r.clone())),
                _ => None,
            })
            .collect()
    }

    /// Control packets `side` received: (time, repr).
    pub fn received(&self, side: Side) -> Vec<(Instant, Repr)> {
        self.log
            .iter()
            .filter_map(|(t, e)| match e {
                Ev::In(s, r) if *s == side => Some((*t, r.clone())),
                _ => None,
            })
            .collect()
    }
}

pub fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

pub fn params(tx: u64, rx: u64, mult: u8) -> SessionParams {
    SessionParams { desired_min_tx: ms(tx), required_min_rx: ms(rx), detect_mult: mult, ..SessionParams::default() }
}
