//! A minimal blocking driver for the interop tests: carries out a session's actions on real
//! TCP (`std::net`), feeds it bytes and the real clock. It plays the role of the tokio driver.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use ferrolb_bgp::session::{Action, Direction, Input, Negotiated, ReceivedUpdate, Session, SessionConfig};
use ipnet::IpNet;

/// Carries out a session's actions on one real TCP connection at a time.
pub struct Driver {
    pub session: Session,
    /// Where `Action::Connect` connects.
    pub peer: SocketAddr,
    /// Accepts the peer's connections when set (passive side).
    pub listener: Option<TcpListener>,
    pub stream: Option<TcpStream>,
    pub conn: u64,
    /// Every action seen, in order.
    pub actions: Vec<Action>,
    /// When each action was carried out.
    pub action_times: Vec<Instant>,
    /// Every byte received from the peer, in order (for captured vectors).
    pub received: Vec<u8>,
    /// When bytes last arrived.
    pub last_rx: Option<Instant>,
}

impl Driver {
    pub fn new(config: SessionConfig, peer: SocketAddr) -> Driver {
        Driver {
            session: Session::new(config).expect("config"),
            peer,
            listener: None,
            stream: None,
            conn: 0,
            actions: Vec::new(),
            action_times: Vec::new(),
            received: Vec::new(),
            last_rx: None,
        }
    }

    /// Listens on `addr` (port 0: any) for the peer; returns the bound address.
    pub fn listen(&mut self, addr: SocketAddr) -> SocketAddr {
        let l = TcpListener::bind(addr).expect("bind");
        l.set_nonblocking(true).expect("nonblocking");
        let local = l.local_addr().expect("local addr");
        self.listener = Some(l);
        local
    }

    pub fn input(&mut self, input: Input) {
        self.session.handle(Instant::now(), input);
        self.carry_out();
    }

    fn adopt(&mut self, s: TcpStream, direction: Direction) {
        s.set_nonblocking(false).expect("blocking");
        s.set_read_timeout(Some(Duration::from_millis(20))).expect("timeout");
        s.set_nodelay(true).expect("nodelay");
        self.conn += 1;
        self.stream = Some(s);
        self.session.handle(Instant::now(), Input::Connected { conn: self.conn, direction });
    }

    pub fn carry_out(&mut self) {
        while let Some(action) = self.session.poll_action() {
            match &action {
                Action::Connect => match TcpStream::connect_timeout(&self.peer, Duration::from_secs(3)) {
                    Ok(s) => self.adopt(s, Direction::Active),
                    Err(_) => self.session.handle(Instant::now(), Input::ConnectFailed),
                },
                Action::Send { conn, bytes } if *conn == self.conn => {
                    if let Some(s) = self.stream.as_mut() {
                        s.write_all(bytes).expect("write");
                    }
                }
                Action::Close { conn } if *conn == self.conn => {
                    if let Some(s) = self.stream.take() {
                        let _ = s.shutdown(Shutdown::Both);
                    }
                }
                _ => {}
            }
            self.actions.push(action);
            self.action_times.push(Instant::now());
        }
    }

    /// One round: accept, read what is there (20 ms at most), fire due timers, carry out actions.
    pub fn turn(&mut self) {
        if self.stream.is_none()
            && let Some(Ok((s, _))) = self.listener.as_ref().map(TcpListener::accept)
        {
            self.adopt(s, Direction::Passive);
            self.carry_out();
        }
        let mut buf = [0u8; 65536];
        let read = self.stream.as_mut().map(|s| s.read(&mut buf));
        match read {
            Some(Ok(0)) => {
                self.stream = None;
                self.session.handle(Instant::now(), Input::Closed { conn: self.conn });
            }
            Some(Ok(n)) => {
                self.last_rx = Some(Instant::now());
                self.received.extend_from_slice(&buf[..n]);
                self.session.handle(Instant::now(), Input::Bytes { conn: self.conn, data: buf[..n].to_vec() });
            }
            Some(Err(e)) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Some(Err(_)) => {
                self.stream = None;
                self.session.handle(Instant::now(), Input::Closed { conn: self.conn });
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
        let now = Instant::now();
        if self.session.poll_timeout().is_some_and(|t| t <= now) {
            self.session.handle_timeout(now);
        }
        self.carry_out();
    }

    pub fn run_until(&mut self, timeout: Duration, what: &str, mut cond: impl FnMut(&Driver) -> bool) {
        let end = Instant::now() + timeout;
        while !cond(self) {
            assert!(Instant::now() < end, "timed out waiting for {what}; last actions: {:#?}", self.tail());
            self.turn();
        }
    }

    pub fn run_for(&mut self, d: Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end {
            self.turn();
        }
    }

    /// The last actions, without the bulky ones.
    fn tail(&self) -> Vec<&Action> {
        let interesting: Vec<&Action> =
            self.actions.iter().filter(|a| !matches!(a, Action::Send { .. } | Action::Update(_))).collect();
        interesting[interesting.len().saturating_sub(20)..].to_vec()
    }

    pub fn updates(&self) -> Vec<ReceivedUpdate> {
        self.actions
            .iter()
            .filter_map(|a| match a {
                Action::Update(u) => Some((**u).clone()),
                _ => None,
            })
            .collect()
    }

    pub fn announced(&self) -> Vec<IpNet> {
        self.updates().iter().flat_map(ReceivedUpdate::announced).collect()
    }

    /// How many prefixes were announced so far (cheaper than [`Driver::announced`]).
    pub fn announced_count(&self) -> usize {
        self.actions
            .iter()
            .map(|a| match a {
                Action::Update(u) => u.announced().len(),
                _ => 0,
            })
            .sum()
    }

    pub fn negotiated(&self) -> Negotiated {
        self.actions
            .iter()
            .find_map(|a| match a {
                Action::Established(n) => Some((**n).clone()),
                _ => None,
            })
            .expect("established")
    }
}
