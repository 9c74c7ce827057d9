//! Helpers shared by the codec and session tests: hex vectors, a deterministic PRNG, and a
//! back-to-back harness of two sessions with a fake clock.
#![allow(dead_code, clippy::unwrap_used)]

pub mod driver;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ferrolb_bgp::fsm::State;
use ferrolb_bgp::session::{Action, ConnId, Direction, Input, Session, SessionConfig};
use ferrolb_bgp::wire::{Context, Message};

/// The all-ones marker in hex.
pub const MARKER_HEX: &str = "ffffffffffffffffffffffffffffffff";

/// Bytes from whitespace-separated hex (`"ff ff 00"` or `"ffff00"`).
pub fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(digits.len().is_multiple_of(2), "odd hex length in {s}");
    digits
        .chunks(2)
        .map(|c| u8::from_str_radix(std::str::from_utf8(c).expect("ascii"), 16).expect("hex digit"))
        .collect()
}

/// A whole message: marker, length and type in front of `body`.
pub fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![0xff; 16];
    v.extend_from_slice(&((body.len() + 19) as u16).to_be_bytes());
    v.push(kind);
    v.extend_from_slice(body);
    v
}

/// xorshift64*: a small deterministic PRNG.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Which side of the pair.
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

/// One TCP connection between the two sessions: each side's id for it.
#[derive(Debug, Clone, Copy)]
struct Link {
    a: ConnId,
    b: ConnId,
    open: bool,
}

/// Two sessions wired back to back, a fake clock, and a record of every action.
pub struct Pair {
    pub a: Session,
    pub b: Session,
    pub now: Instant,
    pub start: Instant,
    links: Vec<Link>,
    next_id: ConnId,
    /// Actions each side produced, with the time.
    pub log_a: Vec<(Duration, Action)>,
    pub log_b: Vec<(Duration, Action)>,
    /// Pending outgoing connection attempts per side.
    connecting_a: bool,
    connecting_b: bool,
    /// When false, connection attempts from that side fail (peer unreachable).
    pub reachable: HashMap<&'static str, bool>,
    /// When true, bytes from that side are dropped (a silent peer).
    pub mute_a: bool,
    pub mute_b: bool,
    /// Whether to complete connection attempts automatically.
    pub auto_connect: bool,
    /// Deliver bytes in chunks of this size (0: as sent).
    pub chunk: usize,
}

impl Pair {
    pub fn new(a: SessionConfig, b: SessionConfig) -> Pair {
        let start = Instant::now();
        Pair {
            a: Session::new(a).expect("valid config a"),
            b: Session::new(b).expect("valid config b"),
            now: start,
            start,
            links: Vec::new(),
            next_id: 1,
            log_a: Vec::new(),
            log_b: Vec::new(),
            connecting_a: false,
            connecting_b: false,
            reachable: HashMap::new(),
            mute_a: false,
            mute_b: false,
            auto_connect: true,
            chunk: 0,
        }
    }

    pub fn session(&mut self, side: Side) -> &mut Session {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    pub fn log(&self, side: Side) -> &Vec<(Duration, Action)> {
        match side {
            Side::A => &self.log_a,
            Side::B => &self.log_b,
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    pub fn input(&mut self, side: Side, input: Input) {
        let now = self.now;
        self.session(side).handle(now, input);
        self.pump();
    }

    /// Completes a pending connection attempt of `side`: both sessions learn the connection.
    pub fn complete_connect(&mut self, side: Side) {
        let (ida, idb) = (self.next_id, self.next_id + 1);
        self.next_id += 2;
        self.links.push(Link { a: ida, b: idb, open: true });
        let now = self.now;
        match side {
            Side::A => {
                self.connecting_a = false;
                self.a.handle(now, Input::Connected { conn: ida, direction: Direction::Active });
                self.b.handle(now, Input::Connected { conn: idb, direction: Direction::Passive });
            }
            Side::B => {
                self.connecting_b = false;
                self.b.handle(now, Input::Connected { conn: idb, direction: Direction::Active });
                self.a.handle(now, Input::Connected { conn: ida, direction: Direction::Passive });
            }
        }
    }

    pub fn connecting(&self, side: Side) -> bool {
        match side {
            Side::A => self.connecting_a,
            Side::B => self.connecting_b,
        }
    }

    /// Drains both sessions' actions, delivering bytes and closes, until quiet.
    pub fn pump(&mut self) {
        loop {
            let mut progressed = false;
            for side in [Side::A, Side::B] {
                while let Some(action) = self.session(side).poll_action() {
                    progressed = true;
                    let t = self.elapsed();
                    match side {
                        Side::A => self.log_a.push((t, action.clone())),
                        Side::B => self.log_b.push((t, action.clone())),
                    }
                    self.carry_out(side, action);
                }
            }
            if !progressed {
                break;
            }
        }
    }

    fn carry_out(&mut self, side: Side, action: Action) {
        let now = self.now;
        match action {
            Action::Connect => {
                let reachable = *self.reachable.get(if side == Side::A { "a" } else { "b" }).unwrap_or(&true);
                if !reachable {
                    self.session(side).handle(now, Input::ConnectFailed);
                    return;
                }
                match side {
                    Side::A => self.connecting_a = true,
                    Side::B => self.connecting_b = true,
                }
                if self.auto_connect {
                    self.complete_connect(side);
                }
            }
            Action::CancelConnect => match side {
                Side::A => self.connecting_a = false,
                Side::B => self.connecting_b = false,
            },
            Action::Send { conn, bytes } => {
                if (side == Side::A && self.mute_a) || (side == Side::B && self.mute_b) {
                    return;
                }
                if let Some(l) = self.links.iter().find(|l| l.open && (if side == Side::A { l.a } else { l.b }) == conn)
                {
                    let peer_conn = if side == Side::A { l.b } else { l.a };
                    let chunk = if self.chunk == 0 { bytes.len().max(1) } else { self.chunk };
                    for piece in bytes.chunks(chunk) {
                        self.session(side.other()).handle(now, Input::Bytes { conn: peer_conn, data: piece.to_vec() });
                    }
                }
            }
            Action::Close { conn } => {
                if let Some(l) =
                    self.links.iter_mut().find(|l| l.open && (if side == Side::A { l.a } else { l.b }) == conn)
                {
                    l.open = false;
                    let peer_conn = if side == Side::A { l.b } else { l.a };
                    self.session(side.other()).handle(now, Input::Closed { conn: peer_conn });
                }
            }
            _ => {}
        }
    }

    /// Jumps the clock to the earliest timer of either session (not past `limit`) and fires it.
    /// Returns false when no timer is due before `limit`.
    pub fn step(&mut self, limit: Instant) -> bool {
        let next = [self.a.poll_timeout(), self.b.poll_timeout()].into_iter().flatten().min();
        match next {
            Some(t) if t <= limit => {
                self.now = self.now.max(t);
                let now = self.now;
                self.a.handle_timeout(now);
                self.b.handle_timeout(now);
                self.pump();
                true
            }
            _ => {
                self.now = self.now.max(limit);
                false
            }
        }
    }

    /// Runs the simulation for `d` of fake time.
    pub fn run_for(&mut self, d: Duration) {
        let limit = self.now + d;
        while self.step(limit) {}
    }

    /// Runs until `cond` holds or `d` of fake time passed; returns whether it held.
    pub fn run_until(&mut self, d: Duration, mut cond: impl FnMut(&Pair) -> bool) -> bool {
        let limit = self.now + d;
        loop {
            if cond(self) {
                return true;
            }
            if !self.step(limit) {
                return cond(self);
            }
        }
    }

    /// Breaks every open link silently (TCP reset on both ends, no NOTIFICATION).
    pub fn break_links(&mut self) {
        let now = self.now;
        for i in 0..self.links.len() {
            if self.links[i].open {
                self.links[i].open = false;
                let (a, b) = (self.links[i].a, self.links[i].b);
                self.a.handle(now, Input::Closed { conn: a });
                self.b.handle(now, Input::Closed { conn: b });
            }
        }
        self.pump();
    }

    /// The connection id `side` uses for its established session.
    pub fn conn_of(&self, side: Side) -> ConnId {
        let s = match side {
            Side::A => &self.a,
            Side::B => &self.b,
        };
        s.negotiated().expect("negotiated").conn
    }

    /// Actions of `side` logged from index `from` on.
    pub fn actions_since(&self, side: Side, from: usize) -> Vec<Action> {
        self.log(side)[from..].iter().map(|(_, a)| a.clone()).collect()
    }

    pub fn start_both(&mut self) {
        self.input(Side::A, Input::Start);
        self.input(Side::B, Input::Start);
    }

    pub fn both_established(&self) -> bool {
        self.a.state() == State::Established && self.b.state() == State::Established
    }

    /// Every message a side sent, decoded (with a default context), with the time.
    pub fn sent_messages(&self, side: Side) -> Vec<(Duration, Message)> {
        let mut out = Vec::new();
        for (t, a) in self.log(side) {
            if let Action::Send { bytes, .. } = a {
                out.extend(split_messages(bytes).into_iter().map(|m| (*t, m)));
            }
        }
        out
    }
}

/// Splits concatenated messages and decodes each (4-octet AS, v4+v6 context).
pub fn split_messages(bytes: &[u8]) -> Vec<Message> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 19 {
        let len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
        let (one, tail) = rest.split_at(len);
        out.push(Message::decode(one, &Context::default()).expect("our own messages decode").0);
        rest = tail;
    }
    out
}
