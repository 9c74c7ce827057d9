//! The RFC 4271 §8 finite state machine of one BGP session.
//!
//! [`State`], [`Event`] (with the RFC's event numbers and names) and [`Timer`], and the one
//! `match` over (state, event) in `Session::event`. The [`Session`] turns inputs (bytes,
//! connection changes, owner commands) and timer expiries into events; the FSM turns events
//! into state changes, timer changes and actions. Optional RFC attributes used: none of
//! DelayOpen/SendNOTIFICATIONwithoutOPEN; DampPeerOscillations is on (IdleHoldTimer with
//! exponential back-off); CollisionDetectEstablishedState is off (a new connection while
//! Established is refused).

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::session::{Action, ConnId, DownReason, Session};
use crate::wire::{Notification, Open, Rfc7606Action, RouteRefresh, Update, code};

/// Session states (RFC 4271 §8.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum State {
    /// Refuses connections; waits for a start (or the IdleHoldTimer).
    Idle,
    /// Waiting for our outgoing TCP connection to complete.
    Connect,
    /// Listening for the peer's connection; ConnectRetryTimer running.
    Active,
    /// OPEN sent, waiting for the peer's OPEN.
    OpenSent,
    /// OPENs exchanged, waiting for the peer's KEEPALIVE.
    OpenConfirm,
    /// Exchanging UPDATEs.
    Established,
}

/// FSM events (RFC 4271 §8.1), with the RFC numbers. Events 6, 7 (automatic start with
/// DampPeerOscillations variants are folded into 3/5), 12 (DelayOpenTimer), 14/15
/// (TcpConnection_Valid / Tcp_CR_Invalid: connection validation is the driver's) and 20
/// (BGPOpen with DelayOpenTimer running) are not used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// Event 1: ManualStart.
    ManualStart,
    /// Event 2: ManualStop, with the Cease subcode to send.
    ManualStop(u8),
    /// Event 3: AutomaticStart.
    AutomaticStart,
    /// Event 4: ManualStart_with_PassiveTcpEstablishment.
    ManualStartWithPassiveTcpEstablishment,
    /// Event 5: AutomaticStart_with_PassiveTcpEstablishment.
    AutomaticStartWithPassiveTcpEstablishment,
    /// Event 8: AutomaticStop, with the Cease subcode to send.
    AutomaticStop(u8),
    /// Event 9: ConnectRetryTimer_Expires.
    ConnectRetryTimerExpires,
    /// Event 10: HoldTimer_Expires.
    HoldTimerExpires,
    /// Event 11: KeepaliveTimer_Expires.
    KeepaliveTimerExpires,
    /// Event 13: IdleHoldTimer_Expires.
    IdleHoldTimerExpires,
    /// Event 16: Tcp_CR_Acked (our outgoing connection completed).
    TcpCrAcked(ConnId),
    /// Event 17: TcpConnectionConfirmed (the peer's connection was accepted).
    TcpConnectionConfirmed(ConnId),
    /// Event 18: TcpConnectionFails.
    TcpConnectionFails,
    /// Event 19: BGPOpen (a valid OPEN).
    BgpOpen(Box<Open>),
    /// Event 21: BGPHeaderErr (also used for other message errors that reset in every state,
    /// e.g. a bad ROUTE-REFRESH length).
    BgpHeaderErr(Notification),
    /// Event 22: BGPOpenMsgErr.
    BgpOpenMsgErr(Notification),
    /// Event 23: OpenCollisionDump (this connection lost collision resolution, §6.8).
    OpenCollisionDump,
    /// Event 24: NotifMsgVerErr (NOTIFICATION with a version error).
    NotifMsgVerErr,
    /// Event 25: NotifMsg.
    NotifMsg(Notification),
    /// Event 26: KeepAliveMsg.
    KeepAliveMsg,
    /// Event 27: UpdateMsg, with its RFC 7606 outcome.
    UpdateMsg(Box<(Update, Vec<Rfc7606Action>)>),
    /// Event 28: UpdateMsgErr.
    UpdateMsgErr(Notification),
    /// ROUTE-REFRESH received (RFC 2918; no RFC 4271 number).
    RouteRefreshMsg(RouteRefresh),
}

/// The session's timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Timer {
    /// ConnectRetryTimer (default 120 s).
    ConnectRetry,
    /// HoldTimer (4 minutes in OpenSent, then the negotiated hold time).
    Hold,
    /// KeepaliveTimer.
    Keepalive,
    /// IdleHoldTimer: the back-off before an automatic restart.
    IdleHold,
    /// RFC 4724 helper: the peer's restart time, started when a GR-capable session is lost.
    GracefulRestart,
    /// RFC 4724 helper: after re-establishment, how long stale routes wait for End-of-RIB.
    StalePath,
}

impl Timer {
    /// Every timer, in the order simultaneous expiries are handled.
    pub const ALL: [Timer; 6] =
        [Timer::Hold, Timer::Keepalive, Timer::ConnectRetry, Timer::IdleHold, Timer::GracefulRestart, Timer::StalePath];

    fn index(self) -> usize {
        match self {
            Timer::ConnectRetry => 0,
            Timer::Hold => 1,
            Timer::Keepalive => 2,
            Timer::IdleHold => 3,
            Timer::GracefulRestart => 4,
            Timer::StalePath => 5,
        }
    }
}

/// Deadlines of the running timers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timers {
    deadlines: [Option<Instant>; 6],
}

impl Timers {
    /// Starts (or restarts) a timer.
    pub fn start(&mut self, timer: Timer, deadline: Instant) {
        self.deadlines[timer.index()] = Some(deadline);
    }
    /// Stops a timer.
    pub fn stop(&mut self, timer: Timer) {
        self.deadlines[timer.index()] = None;
    }
    /// The deadline of a timer, if running.
    pub fn get(&self, timer: Timer) -> Option<Instant> {
        self.deadlines[timer.index()]
    }
    /// The earliest deadline.
    pub fn earliest(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }
    /// The first expired timer at `now` (earliest deadline, ties in [`Timer::ALL`] order).
    pub fn expired(&self, now: Instant) -> Option<Timer> {
        Timer::ALL
            .iter()
            .filter_map(|&t| self.get(t).filter(|&d| d <= now).map(|d| (d, t)))
            .min_by_key(|&(d, t)| (d, Timer::ALL.iter().position(|&x| x == t)))
            .map(|(_, t)| t)
    }
}

impl Session {
    /// Feeds one event to the state machine: the single `match` over (state, event).
    pub(crate) fn event(&mut self, now: Instant, ev: Event) {
        use Event as E;
        use State::*;
        match (self.state, ev) {
            // ---------------------------------------------------------------- Idle
            (Idle, E::ManualStart | E::AutomaticStart) => {
                self.connect_retry_counter = 0;
                self.timers.stop(Timer::IdleHold);
                self.start_connect_retry(now);
                self.initiate_connect();
                self.set_state(Connect);
            }
            (Idle, E::ManualStartWithPassiveTcpEstablishment | E::AutomaticStartWithPassiveTcpEstablishment) => {
                self.connect_retry_counter = 0;
                self.timers.stop(Timer::IdleHold);
                self.start_connect_retry(now);
                self.set_state(Active);
            }
            (Idle, E::IdleHoldTimerExpires) => {
                let start =
                    if self.config.passive { E::AutomaticStartWithPassiveTcpEstablishment } else { E::AutomaticStart };
                self.event(now, start);
            }
            (Idle, E::ManualStop(_)) => {
                // Already idle: cancel a pending automatic restart, end graceful-restart help.
                self.timers.stop(Timer::IdleHold);
                self.connect_retry_counter = 0;
                self.end_helper_mode();
            }
            // Every other event is ignored in Idle (connections are refused by the session).
            (Idle, _) => {}

            // ------------------------------------------------------- Connect, Active
            (
                Connect | Active,
                E::ManualStart
                | E::AutomaticStart
                | E::ManualStartWithPassiveTcpEstablishment
                | E::AutomaticStartWithPassiveTcpEstablishment,
            ) => {}
            (Connect | Active, E::ManualStop(sub)) => self.go_idle(now, DownReason::Stopped { subcode: sub }, true),
            (Connect | Active, E::AutomaticStop(sub)) => self.go_idle(now, DownReason::Stopped { subcode: sub }, false),
            (Connect, E::ConnectRetryTimerExpires) => {
                // Drop the attempt in progress and try again.
                self.cancel_connect();
                self.start_connect_retry(now);
                self.initiate_connect();
            }
            (Active, E::ConnectRetryTimerExpires) => {
                self.start_connect_retry(now);
                if !self.config.passive {
                    self.initiate_connect();
                    self.set_state(Connect);
                }
            }
            (Connect | Active, E::TcpCrAcked(_) | E::TcpConnectionConfirmed(_)) => {
                // The session has made the connection primary; send OPEN, wait for the peer's.
                self.timers.stop(Timer::ConnectRetry);
                self.send_open();
                self.timers.start(Timer::Hold, now + self.config.open_hold_time);
                self.set_state(OpenSent);
            }
            (Connect | Active, E::TcpConnectionFails) => self.go_idle(now, DownReason::ConnectFailed, false),
            // No connection exists in these states, so message events cannot occur; a stray
            // timer is an FSM error: restart from Idle.
            (Connect | Active, _) => self.go_idle(now, DownReason::FsmError, false),

            // ----------------------------------------------------- OpenSent, OpenConfirm
            (
                OpenSent | OpenConfirm | Established,
                E::ManualStart
                | E::AutomaticStart
                | E::ManualStartWithPassiveTcpEstablishment
                | E::AutomaticStartWithPassiveTcpEstablishment,
            ) => {}
            (OpenSent | OpenConfirm | Established, E::ManualStop(sub)) => {
                self.send_notification(Notification::cease(sub));
                self.go_idle(now, DownReason::Stopped { subcode: sub }, true);
            }
            (OpenSent | OpenConfirm | Established, E::AutomaticStop(sub)) => {
                self.send_notification(Notification::cease(sub));
                self.go_idle(now, DownReason::Stopped { subcode: sub }, false);
            }
            (OpenSent | OpenConfirm | Established, E::HoldTimerExpires) => {
                self.send_notification(Notification::new(code::HOLD_TIMER_EXPIRED, 0));
                self.go_idle(now, DownReason::HoldTimerExpired, false);
            }
            (OpenSent, E::TcpConnectionFails) => {
                // RFC 4271: back to Active, listening, ConnectRetryTimer restarted.
                self.close_primary();
                self.timers.stop(Timer::Hold);
                self.start_connect_retry(now);
                self.push(Action::Down {
                    reason: DownReason::ConnectionClosed,
                    was_established: false,
                    retained: None,
                });
                self.set_state(Active);
            }
            (OpenConfirm | Established, E::TcpConnectionFails) => {
                self.go_idle(now, DownReason::ConnectionClosed, false)
            }
            (OpenSent, E::BgpOpen(open)) => {
                let negotiated = self.negotiate(&open);
                let hold = negotiated.hold_time;
                self.negotiated = Some(negotiated);
                self.timers.stop(Timer::ConnectRetry);
                // Sends KEEPALIVE and starts the KeepaliveTimer (not when the hold time is 0).
                self.send_keepalive(now);
                if hold == 0 {
                    self.timers.stop(Timer::Hold);
                } else {
                    self.timers.start(Timer::Hold, now + Duration::from_secs(u64::from(hold)));
                }
                self.set_state(OpenConfirm);
            }
            // RFC 4271 §8.2.2 lists header and OPEN errors in Established among the FSM errors;
            // the codes of §6.1/§6.2 are sent instead, as they say more (and as others do).
            (OpenSent | OpenConfirm | Established, E::BgpHeaderErr(n) | E::BgpOpenMsgErr(n))
            | (Established, E::UpdateMsgErr(n)) => {
                self.send_notification(n.clone());
                self.go_idle(now, DownReason::NotificationSent(n), false);
            }
            (OpenSent | OpenConfirm, E::OpenCollisionDump) => {
                self.send_notification(Notification::cease(code::cease::CONNECTION_COLLISION_RESOLUTION));
                if self.secondary.is_some() {
                    self.close_primary();
                    self.promote_secondary(now);
                } else {
                    self.go_idle(now, DownReason::CollisionLost, false);
                }
            }
            (OpenSent | OpenConfirm | Established, E::NotifMsgVerErr) => {
                self.go_idle(now, DownReason::NotificationReceived(Notification::unsupported_version()), false)
            }
            (OpenSent | OpenConfirm | Established, E::NotifMsg(n)) => {
                self.go_idle(now, DownReason::NotificationReceived(n), false)
            }
            (OpenConfirm | Established, E::KeepaliveTimerExpires) => self.send_keepalive(now),
            (OpenConfirm, E::KeepAliveMsg) => {
                self.restart_hold(now);
                self.established_at = Some(now);
                self.set_state(Established);
                self.on_established(now);
            }
            (OpenSent, _) => self.fsm_error(now, code::fsm::UNEXPECTED_IN_OPEN_SENT),
            (OpenConfirm, _) => self.fsm_error(now, code::fsm::UNEXPECTED_IN_OPEN_CONFIRM),

            // ---------------------------------------------------------- Established
            (Established, E::TcpConnectionConfirmed(conn)) => {
                // The peer connected again: RFC 4724 §4.2 (it restarted: the new connection takes
                // over, OpenSent) or §6.8 with CollisionDetectEstablishedState off (refused).
                if self.new_connection_while_established(now, conn) {
                    self.set_state(OpenSent);
                }
            }
            (Established, E::KeepAliveMsg) => self.restart_hold(now),
            (Established, E::UpdateMsg(update)) => {
                self.restart_hold(now);
                let (update, actions) = *update;
                self.on_update(now, update, actions);
            }
            (Established, E::RouteRefreshMsg(rr)) => {
                self.restart_hold(now);
                let known = self.negotiated.as_ref().is_some_and(|n| n.context.has_family(rr.family));
                // RFC 2918 §4: a family not negotiated is ignored; RFC 7313 BoRR/EoRR markers
                // (subtypes 1 and 2) need no action from the owner.
                if known && rr.subtype == 0 {
                    self.push(Action::RouteRefresh(rr.family));
                }
            }
            (Established, _) => self.fsm_error(now, code::fsm::UNEXPECTED_IN_ESTABLISHED),
        }
    }

    fn fsm_error(&mut self, now: Instant, subcode: u8) {
        let n = Notification::new(code::FSM, subcode);
        self.send_notification(n.clone());
        self.go_idle(now, DownReason::NotificationSent(n), false);
    }
}
