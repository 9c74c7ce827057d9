//! Deterministic simulation of two BFD sessions (GUIDE §6.2): bring-up, negotiation,
//! detection timing, Poll/Final, AdminDown, jitter, loss, echo.
#![allow(clippy::unwrap_used)]

mod common;

use std::num::NonZeroU32;
use std::time::Duration;

use common::{Ev, Side, Sim, ms, params};
use ferrolb_bfd::rng::Prng;
use ferrolb_bfd::session::{Action, Session, SessionParams};
use ferrolb_bfd::wire::{Diag, Repr, State};

fn up_both(sim: &mut Sim) {
    sim.run_for(ms(5000));
    assert_eq!(sim.a.state(), State::Up, "A up");
    assert_eq!(sim.b.state(), State::Up, "B up");
}

#[test]
fn both_active_come_up_through_init() {
    let mut sim = Sim::new(SessionParams::default(), SessionParams::default(), 1);
    sim.run_for(ms(100));
    assert_eq!(sim.a.state(), State::Up);
    assert_eq!(sim.b.state(), State::Up);
    for side in [Side::A, Side::B] {
        let states: Vec<_> = sim.changes(side).iter().map(|c| (c.1, c.2)).collect();
        assert_eq!(states, vec![(State::Down, State::Init), (State::Init, State::Up)], "{side:?}");
        assert_eq!(sim.changes(side)[1].3, Diag::NoDiagnostic);
    }
    // Triggered updates: Up within a few link delays, not after a 1 s slow-rate interval.
    assert!(sim.changes(Side::A)[1].0 - sim.t0 <= ms(5));
    assert_eq!(sim.a.remote_discriminator(), 0xB);
    assert_eq!(sim.b.remote_discriminator(), 0xA);
    // The first packets (not Up) advertise the 1 s slow rate (§6.8.3).
    let first = &sim.sent(Side::A)[0].1;
    assert_eq!(first.state, State::Down);
    assert_eq!(first.desired_min_tx, 1_000_000);
    assert_eq!(first.your_discriminator, 0);
    // Once Up, a Poll Sequence moved to the configured 300 ms, and it completed.
    sim.run_for(ms(2000));
    assert!(!sim.a.polling() && !sim.b.polling());
    assert_eq!(sim.a.advertised_intervals(), (ms(300), ms(300)));
    assert_eq!(sim.a.tx_interval(), ms(300));
    assert_eq!(sim.a.detection_time(), Some(ms(900)));
    let polls = sim.sent(Side::A).iter().filter(|(_, r)| r.poll).count();
    assert!(polls >= 1, "A polled for the new intervals");
    assert!(sim.received(Side::A).iter().any(|(_, r)| r.final_), "B answered with Final");
}

#[test]
fn passive_waits_for_the_active_side() {
    let passive = SessionParams { passive: true, ..SessionParams::default() };
    let mut sim = Sim::new(SessionParams::default(), passive.clone(), 2);
    sim.cut_ab = true; // A's packets do not arrive yet.
    sim.run_for(ms(3500));
    assert!(sim.sent(Side::B).is_empty(), "passive B sent nothing before hearing A: {:?}", sim.sent(Side::B).first());
    assert!(sim.sent(Side::A).len() >= 3, "active A keeps trying at the slow rate");
    let gaps: Vec<_> = sim.sent(Side::A).windows(2).map(|w| w[1].0 - w[0].0).collect();
    assert!(gaps.iter().all(|g| *g >= ms(750) && *g <= ms(1000)), "slow rate with jitter: {gaps:?}");
    sim.cut_ab = false;
    let heal = sim.now;
    sim.run_for(ms(3000));
    assert_eq!(sim.a.state(), State::Up);
    assert_eq!(sim.b.state(), State::Up);
    let first_b = sim.sent(Side::B)[0].0;
    let first_rx = sim.received(Side::B)[0].0;
    assert!(first_b >= first_rx && first_rx >= heal, "B spoke only after hearing A");

    // Both passive: silence forever.
    let mut sim = Sim::new(passive.clone(), passive, 3);
    sim.run_for(ms(10_000));
    assert!(sim.log.is_empty(), "{:?}", sim.log);
    assert_eq!(sim.a.poll_timeout(), None);
}

#[test]
fn intervals_negotiate_to_the_slower_side() {
    // A: wants to send every 100 ms, can receive every 100 ms, mult 3.
    // B: wants to send every 500 ms, needs ≥ 200 ms between packets, mult 5.
    let mut sim = Sim::new(params(100, 100, 3), params(500, 200, 5), 4);
    up_both(&mut sim);
    assert_eq!(sim.a.tx_interval(), ms(200), "A: max(own 100, B's required 200)");
    assert_eq!(sim.b.tx_interval(), ms(500), "B: max(own 500, A's required 100)");
    // Detection times use the REMOTE multiplier (§6.8.4).
    assert_eq!(sim.a.detection_time(), Some(ms(2500)), "A: B's mult 5 × max(100, 500)");
    assert_eq!(sim.b.detection_time(), Some(ms(600)), "B: A's mult 3 × max(200, 100)");
    // Observed gaps over 20 s of steady state are within the jitter window of the interval.
    let from = sim.now;
    sim.run_for(ms(20_000));
    for (side, lo, hi) in [(Side::A, 150, 200), (Side::B, 375, 500)] {
        let times: Vec<_> = sim.sent(side).into_iter().filter(|(t, _)| *t >= from).map(|(t, _)| t).collect();
        assert!(times.len() > 20);
        for w in times.windows(2) {
            let g = w[1] - w[0];
            assert!(g >= ms(lo) && g <= ms(hi), "{side:?} gap {g:?} outside {lo}..={hi} ms");
        }
    }
    assert_eq!(sim.a.state(), State::Up);
    assert_eq!(sim.b.state(), State::Up);
}

#[test]
fn detection_is_exact_after_packets_stop() {
    for seed in 0..20 {
        let mut sim = Sim::new(params(100, 100, 3), params(300, 50, 4), 100 + seed);
        up_both(&mut sim);
        // A stops reaching B.
        sim.cut_ab = true;
        let cut = sim.now;
        let last_rx_b = sim.received(Side::B).last().unwrap().0;
        let detect_b = sim.b.detection_time().unwrap();
        assert_eq!(detect_b, ms(300), "A's mult 3 × max(B's rx 50, A's tx 100)");
        sim.run_for(ms(2000));
        let down = sim.changes(Side::B).into_iter().find(|c| c.2 == State::Down).expect("B detected");
        assert_eq!(down.1, State::Up);
        assert_eq!(down.3, Diag::ControlDetectionTimeExpired);
        let remote = sim.log.iter().find_map(|(_, e)| match e {
            Ev::Out(Side::B, Action::StateChanged { to: State::Down, remote, .. }) => Some(*remote),
            _ => None,
        });
        assert_eq!(remote, Some(State::Down), "a silent peer is not an administrative one");
        assert_eq!(down.0, last_rx_b + detect_b, "exactly mult × interval after the last packet");
        // Relative to the cut, within one (jittered) transmit interval of A plus the link delay.
        let after_cut = down.0 - cut;
        assert!(after_cut <= detect_b && after_cut + ms(100) + sim.delay >= detect_b, "{after_cut:?}");
        // B forgot A's discriminator (§6.8.1) and tells A it is Down; A then goes Down with
        // diag 3 (neighbor signaled).
        assert_eq!(sim.b.remote_discriminator(), 0);
        let a_down = sim.changes(Side::A).into_iter().find(|c| c.2 == State::Down).expect("A down");
        assert_eq!(a_down.3, Diag::NeighborSignaledSessionDown);
    }
}

#[test]
fn poll_sequence_tx_increase_waits_for_final() {
    let mut sim = Sim::new(params(300, 300, 3), params(300, 300, 3), 5);
    up_both(&mut sim);
    sim.delay = ms(20); // make the round trip visible
    let change = sim.now;
    let mut p = sim.b.params().clone();
    p.desired_min_tx = ms(1000);
    sim.b.set_params(change, p);
    assert!(sim.b.polling());
    assert_eq!(sim.b.advertised_intervals().0, ms(1000), "the poll carries the new value");
    assert_eq!(sim.b.tx_interval(), ms(300), "TX increase not in use before the Final (§6.8.3)");
    sim.drain();
    // The first packet with P leaves at once (its contents changed).
    let p_pkt = sim.sent(Side::B).into_iter().find(|(t, r)| *t >= change && r.poll).expect("P sent");
    assert_eq!(p_pkt.0, change);
    assert_eq!(p_pkt.1.desired_min_tx, 1_000_000);
    assert!(!p_pkt.1.final_);
    // Step until B sees the Final; the interval must stay 300 ms until exactly then.
    let mut final_at = None;
    while final_at.is_none() {
        sim.step();
        if let Some((t, _)) = sim.received(Side::B).into_iter().find(|(t, r)| *t >= change && r.final_) {
            final_at = Some(t);
        } else {
            assert_eq!(sim.b.tx_interval(), ms(300));
            assert!(sim.b.polling());
        }
    }
    let final_at = final_at.unwrap();
    assert_eq!(final_at, change + ms(40), "A answered at once: one round trip");
    let f_pkt = sim.sent(Side::A).into_iter().find(|(t, r)| *t >= change && r.final_ && !r.poll).expect("F");
    assert_eq!(f_pkt.0, change + ms(20));
    assert!(!sim.b.polling());
    assert_eq!(sim.b.tx_interval(), ms(1000));
    // A's detection time follows B's new Desired Min TX as soon as the poll arrived.
    assert_eq!(sim.a.detection_time(), Some(ms(3000)));
    // From now on B sends every 750..=1000 ms, and the session stays Up.
    let from = sim.now;
    sim.run_for(ms(10_000));
    let times: Vec<_> = sim.sent(Side::B).into_iter().filter(|(t, _)| *t > from).map(|(t, _)| t).collect();
    for w in times.windows(2) {
        assert!(w[1] - w[0] >= ms(750) && w[1] - w[0] <= ms(1000), "{:?}", w[1] - w[0]);
    }
    assert_eq!(sim.a.state(), State::Up);
    assert_eq!(sim.b.state(), State::Up);
}

#[test]
fn poll_sequence_rx_decrease_keeps_old_detection_until_final() {
    // A sends fast (50 ms) but B only accepts every 300 ms; then B lowers its RX to 100 ms.
    let mut sim = Sim::new(params(50, 300, 3), params(300, 300, 3), 6);
    up_both(&mut sim);
    assert_eq!(sim.a.tx_interval(), ms(300));
    assert_eq!(sim.b.detection_time(), Some(ms(900)));
    sim.delay = ms(10);
    let change = sim.now;
    let mut p = sim.b.params().clone();
    p.required_min_rx = ms(100);
    sim.b.set_params(change, p);
    sim.drain();
    assert!(sim.b.polling());
    assert_eq!(sim.b.advertised_intervals().1, ms(100));
    while sim.b.polling() {
        assert_eq!(sim.b.detection_time(), Some(ms(900)), "old RX until the Final (§6.8.3)");
        sim.step();
    }
    assert_eq!(sim.now, change + ms(20));
    assert_eq!(sim.b.detection_time(), Some(ms(300)), "3 × max(100, A's 50)");
    // A sped up as soon as it saw B's new Required Min RX (in the Poll packet).
    assert_eq!(sim.a.tx_interval(), ms(100));
    sim.run_for(ms(5000));
    assert_eq!(sim.b.state(), State::Up);
}

#[test]
fn change_during_poll_runs_a_second_poll() {
    let mut sim = Sim::new(params(300, 300, 3), params(300, 300, 3), 7);
    up_both(&mut sim);
    sim.delay = ms(20);
    let t = sim.now;
    let mut p = sim.b.params().clone();
    p.desired_min_tx = ms(500);
    sim.b.set_params(t, p.clone());
    sim.drain();
    p.desired_min_tx = ms(700);
    sim.b.set_params(t + ms(5), p);
    assert_eq!(sim.b.advertised_intervals().0, ms(500), "first poll still in progress");
    sim.run_for(ms(3000));
    assert!(!sim.b.polling());
    assert_eq!(sim.b.advertised_intervals().0, ms(700));
    assert_eq!(sim.b.tx_interval(), ms(700));
    let polled: Vec<u32> =
        sim.sent(Side::B).iter().filter(|(x, r)| *x >= t && r.poll).map(|(_, r)| r.desired_min_tx).collect();
    assert!(polled.contains(&500_000) && polled.contains(&700_000), "{polled:?}");
}

#[test]
fn admin_down_propagates_with_diag_7() {
    let mut sim = Sim::new(SessionParams::default(), SessionParams::default(), 8);
    up_both(&mut sim);
    let t = sim.now;
    sim.a.set_admin_down(t, true);
    sim.drain();
    sim.run_for(ms(3000));
    assert_eq!(sim.a.state(), State::AdminDown);
    assert_eq!(sim.a.local_diag(), Diag::AdministrativelyDown);
    let a = sim.changes(Side::A);
    assert_eq!(a.last().map(|c| (c.1, c.2, c.3)), Some((State::Up, State::AdminDown, Diag::AdministrativelyDown)));
    let pkt = sim.sent(Side::A).into_iter().find(|(x, _)| *x >= t).expect("A told B").1;
    assert_eq!((pkt.state, pkt.diag), (State::AdminDown, Diag::AdministrativelyDown));
    let b = sim.changes(Side::B);
    assert_eq!(b.last().map(|c| (c.1, c.2, c.3)), Some((State::Up, State::Down, Diag::NeighborSignaledSessionDown)));
    assert_eq!(b.last().unwrap().0, t + sim.delay, "B reacted to the first AdminDown packet");
    // The action tells B's client the peer went AdminDown (RFC 5882 §3.2: keep BGP up).
    let remote = sim.log.iter().rev().find_map(|(_, e)| match e {
        Ev::Out(Side::B, Action::StateChanged { to: State::Down, remote, .. }) => Some(*remote),
        _ => None,
    });
    assert_eq!(remote, Some(State::AdminDown));
    // B stays Down (a received AdminDown does not move Down to Init) while A keeps sending
    // AdminDown packets at the slow rate.
    assert_eq!(sim.b.state(), State::Down);
    let later = sim.sent(Side::A).into_iter().filter(|(x, _)| *x > t + ms(100)).count();
    assert!(later >= 2, "AdminDown packets keep flowing");
    // Enable again: both come back Up.
    let t2 = sim.now;
    sim.a.set_admin_down(t2, false);
    sim.drain();
    sim.run_for(ms(5000));
    assert_eq!(sim.a.state(), State::Up);
    assert_eq!(sim.b.state(), State::Up);
}

fn gaps(mult: u8, n: usize, seed: u64) -> Vec<Duration> {
    let t0 = std::time::Instant::now();
    let p = params(300, 300, mult);
    let mut s = Session::new(NonZeroU32::new(1).unwrap(), p, None, Prng::new(seed), t0);
    let mut times = Vec::new();
    let mut now = t0;
    while times.len() < n {
        while let Some(a) = s.poll_action() {
            if matches!(a, Action::Transmit(_)) {
                times.push(now);
            }
        }
        now = s.poll_timeout().unwrap();
        s.handle_timeout(now);
    }
    times.windows(2).map(|w| w[1] - w[0]).collect()
}

#[test]
fn jitter_distribution_10k() {
    // Not Up: 1 s slow rate. 0–25 % reduction for mult ≥ 2, 10–25 % for mult 1 (§6.8.7).
    for (mult, lo, hi) in [(3u8, 750.0, 1000.0), (1, 750.0, 900.0)] {
        let g = gaps(mult, 10_001, 9);
        assert_eq!(g.len(), 10_000);
        let v: Vec<f64> = g.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        let min = v.iter().cloned().fold(f64::MAX, f64::min);
        let max = v.iter().cloned().fold(0.0, f64::max);
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        assert!(min >= lo && max <= hi, "mult {mult}: {min}..{max}");
        // The whole window is used, uniformly.
        assert!(min < lo + 1.0 && max > hi - 1.0, "mult {mult}: {min}..{max}");
        let mid = (lo + hi) / 2.0;
        assert!((mean - mid).abs() < 2.0, "mult {mult}: mean {mean}, expected ~{mid}");
        let below = v.iter().filter(|x| **x < mid).count();
        assert!((4800..=5200).contains(&below), "mult {mult}: {below} below the middle");
    }
}

#[test]
fn jitter_in_up_state() {
    let mut sim = Sim::new(params(50, 50, 1), params(50, 50, 3), 10);
    up_both(&mut sim);
    let from = sim.now;
    sim.run_for(ms(30_000));
    for (side, lo, hi) in [(Side::A, 37.5, 45.0), (Side::B, 37.5, 50.0)] {
        let t: Vec<_> = sim.sent(side).into_iter().filter(|(x, _)| *x > from).map(|(x, _)| x).collect();
        assert!(t.len() > 500);
        for w in t.windows(2) {
            let g = (w[1] - w[0]).as_secs_f64() * 1000.0;
            assert!(g >= lo && g <= hi, "{side:?}: {g}");
        }
    }
}

#[test]
fn lossy_link_is_deterministic_and_recovers() {
    let run = |seed| {
        let mut sim = Sim::new(params(100, 100, 3), params(100, 100, 3), seed);
        sim.loss_permille = 150;
        sim.delay = ms(3);
        sim.run_for(ms(60_000));
        sim
    };
    let s1 = run(11);
    let s2 = run(11);
    assert!(s1.rel_log() == s2.rel_log(), "same seed, same history");
    assert!(s1.log.len() > 1000);
    for side in [Side::A, Side::B] {
        let ch = s1.changes(side);
        assert!(ch.iter().any(|c| c.2 == State::Up), "{side:?} came up despite 15% loss");
        for c in &ch {
            if c.2 == State::Down {
                assert!(matches!(c.3, Diag::ControlDetectionTimeExpired | Diag::NeighborSignaledSessionDown), "{c:?}");
            }
        }
    }
    // Heal the link: both end Up.
    let mut s = run(12);
    s.loss_permille = 0;
    s.run_for(ms(10_000));
    assert_eq!((s.a.state(), s.b.state()), (State::Up, State::Up));
}

fn echo_params(echo: Option<u64>) -> SessionParams {
    SessionParams { echo_interval: echo.map(ms), ..params(300, 300, 3) }
}

#[test]
fn echo_runs_and_slows_control_packets() {
    let mut sim = Sim::new(echo_params(Some(50)), echo_params(Some(50)), 13);
    up_both(&mut sim);
    assert!(sim.a.echo_active() && sim.b.echo_active());
    assert_eq!(sim.a.echo_interval(), Some(ms(50)));
    // With echo active, control packets slow down: Required Min RX ≥ 1 s, applied by a poll.
    assert_eq!(sim.a.advertised_intervals().1, ms(1000));
    assert!(!sim.a.polling());
    assert_eq!(sim.b.tx_interval(), ms(1000));
    assert_eq!(sim.a.detection_time(), Some(ms(3000)));
    let from = sim.now;
    sim.run_for(ms(10_000));
    let echoes_out = sim.since(from).filter(|(_, e)| matches!(e, Ev::Out(Side::A, Action::TransmitEcho(_)))).count();
    let echoes_back = sim.since(from).filter(|(_, e)| matches!(e, Ev::EchoBack(Side::A, _))).count();
    assert!((200..=267).contains(&echoes_out), "one echo per 37.5..50 ms: {echoes_out}");
    assert!(echoes_back + 2 >= echoes_out);
    let ctl = sim.sent(Side::A).into_iter().filter(|(t, _)| *t > from).count();
    assert!((10..=14).contains(&ctl), "control every 0.75..1 s: {ctl}");
    // The forwarding plane stops looping echoes (control still fine): diag 2 after
    // mult × echo interval from the last returned echo.
    sim.cut_echo_a = true;
    let cut = sim.now;
    sim.run_for(ms(1000));
    let last_back = sim.log.iter().rev().find(|(_, e)| matches!(e, Ev::EchoBack(Side::A, _))).unwrap().0;
    let down = sim.changes(Side::A).into_iter().find(|c| c.0 > cut && c.2 == State::Down).expect("echo failure");
    assert_eq!(down.3, Diag::EchoFunctionFailed);
    assert_eq!(down.0, last_back + ms(150));
    // Control packets still flow, so the session comes back Up (and echo fails again).
    assert!(sim.changes(Side::A).iter().any(|c| c.0 > down.0 && c.2 == State::Up));
}

#[test]
fn no_echo_when_peer_does_not_loop() {
    // B does not advertise Required Min Echo RX: A must not send echoes (§6.8.9).
    let mut sim = Sim::new(echo_params(Some(50)), echo_params(None), 14);
    up_both(&mut sim);
    sim.run_for(ms(2000));
    assert!(!sim.a.echo_active());
    assert!(!sim.log.iter().any(|(_, e)| matches!(e, Ev::Out(_, Action::TransmitEcho(_)))));
    // B advertises echo RX 50 ms because A does: B has no echo configured, so B sends none either.
    assert_eq!(sim.a.advertised_intervals().1, ms(300), "no slow-down without echo");
    // Echo turned on at B later: A starts echoing; turned off again: A stops (§6.8.6).
    let t = sim.now;
    sim.b.set_params(t, echo_params(Some(20)));
    sim.drain();
    sim.run_for(ms(3000));
    assert!(sim.a.echo_active());
    assert_eq!(sim.a.echo_interval(), Some(ms(50)), "max(own 50, B's 20)");
    let t = sim.now;
    sim.b.set_params(t, echo_params(None));
    sim.drain();
    sim.run_for(ms(3000));
    assert!(!sim.a.echo_active());
    assert_eq!((sim.a.state(), sim.b.state()), (State::Up, State::Up));
}

#[test]
fn detection_in_down_forgets_the_peer_and_silences_passive() {
    let passive = SessionParams { passive: true, ..SessionParams::default() };
    let mut sim = Sim::new(SessionParams::default(), passive, 15);
    up_both(&mut sim);
    // A disappears entirely.
    sim.cut_ab = true;
    sim.cut_ba = true;
    sim.run_for(ms(10_000));
    assert_eq!(sim.b.state(), State::Down);
    assert_eq!(sim.b.remote_discriminator(), 0);
    let quiet_from = sim.now - ms(5000);
    assert_eq!(sim.sent(Side::B).into_iter().filter(|(t, _)| *t > quiet_from).count(), 0, "passive B went quiet");
    assert_eq!(sim.b.poll_timeout(), None);
}

#[test]
fn remote_demand_mode_is_honoured() {
    let t0 = std::time::Instant::now();
    let mut s = Session::new(NonZeroU32::new(7).unwrap(), params(100, 100, 3), None, Prng::new(1), t0);
    let peer = |state, demand, poll| Repr {
        diag: Diag::NoDiagnostic,
        state,
        poll,
        final_: false,
        control_plane_independent: false,
        demand,
        detect_mult: 3,
        my_discriminator: 99,
        your_discriminator: if state == State::Down { 0 } else { 7 },
        desired_min_tx: 100_000,
        required_min_rx: 100_000,
        required_min_echo_rx: 0,
        auth: None,
    };
    s.handle_packet(t0, &peer(State::Init, false, false)).unwrap();
    assert_eq!(s.state(), State::Up);
    // Answer the poll our own Up transition started.
    let mut t = t0 + ms(1);
    let mut f = peer(State::Up, false, false);
    f.final_ = true;
    s.handle_packet(t, &f).unwrap();
    assert!(!s.polling());
    while s.poll_action().is_some() {}
    // The peer switches to Demand mode: we stop periodic transmission...
    s.handle_packet(t, &peer(State::Up, true, false)).unwrap();
    while s.poll_action().is_some() {}
    for _ in 0..20 {
        t += ms(50);
        s.handle_timeout(t);
        assert!(!matches!(s.poll_action(), Some(Action::Transmit(_))), "no periodic packets in remote Demand mode");
        s.handle_packet(t, &peer(State::Up, true, false)).unwrap(); // keep detection happy
    }
    // ...but still answer its Poll with a Final at once.
    s.handle_packet(t, &peer(State::Up, true, true)).unwrap();
    match s.poll_action() {
        Some(Action::Transmit(r)) => assert!(r.final_ && !r.poll),
        other => panic!("expected a Final, got {other:?}"),
    }
}
