//! A session fed random (valid) packets, timeouts, admin and parameter changes in random order,
//! seeded: nothing panics, and the RFC's invariants on what we send hold throughout.
#![allow(clippy::unwrap_used)]

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use ferrolb_bfd::rng::Prng;
use ferrolb_bfd::session::{Action, Session, SessionParams};
use ferrolb_bfd::wire::{Diag, Repr, State};

fn random_repr(rng: &mut Prng, ours: u32) -> Repr {
    let state = State::from_bits(rng.up_to(3) as u8);
    let your = match rng.up_to(3) {
        0 => 0,
        1 => rng.next_u64() as u32,
        _ => ours,
    };
    let interval = |rng: &mut Prng| match rng.up_to(4) {
        0 => 0,
        1 => u32::MAX,
        _ => (rng.up_to(2_000) as u32 + 1) * 1000,
    };
    Repr {
        diag: Diag::from_bits(rng.up_to(31) as u8),
        state,
        poll: rng.up_to(3) == 0,
        final_: rng.up_to(3) == 0,
        control_plane_independent: rng.up_to(1) == 0,
        demand: rng.up_to(5) == 0,
        detect_mult: rng.up_to(254) as u8 + 1,
        my_discriminator: rng.up_to(3) as u32 + 1,
        your_discriminator: if your == 0 && !matches!(state, State::Down | State::AdminDown) { ours } else { your },
        desired_min_tx: interval(rng),
        required_min_rx: interval(rng),
        required_min_echo_rx: if rng.up_to(1) == 0 { 0 } else { interval(rng) },
        auth: None,
    }
}

fn legal(from: State, to: State) -> bool {
    use State::*;
    matches!(
        (from, to),
        (Down, Init) | (Down, Up) | (Init, Up) | (Init, Down) | (Up, Down) | (_, AdminDown) | (AdminDown, Down)
    )
}

#[test]
fn random_inputs_keep_the_invariants() {
    for seed in 0..40u64 {
        let mut rng = Prng::new(seed);
        let t0 = Instant::now();
        let mut now = t0;
        let ours = 0x1234;
        let p = |rng: &mut Prng| SessionParams {
            desired_min_tx: Duration::from_millis(rng.up_to(1000) + 10),
            required_min_rx: Duration::from_millis(rng.up_to(1000) + 10),
            detect_mult: rng.up_to(4) as u8 + 1,
            passive: rng.up_to(3) == 0,
            echo_interval: (rng.up_to(1) == 0).then(|| Duration::from_millis(rng.up_to(100) + 10)),
        };
        let mut s = Session::new(NonZeroU32::new(ours).unwrap(), p(&mut rng), None, Prng::new(seed), now);
        let mut state = State::Down;
        let mut sent = 0;
        for _ in 0..5_000 {
            match rng.up_to(9) {
                0..=4 => {
                    let _ = s.handle_packet(now, &random_repr(&mut rng, ours));
                }
                5 | 6 => {
                    if let Some(t) = s.poll_timeout() {
                        assert!(t >= now - Duration::from_secs(3600));
                        now = now.max(t);
                    } else {
                        now += Duration::from_millis(rng.up_to(2000));
                    }
                    s.handle_timeout(now);
                    if let Some(t) = s.poll_timeout() {
                        assert!(t > now, "a timer at or before now was left behind");
                    }
                }
                7 => s.set_admin_down(now, rng.up_to(3) == 0),
                _ => s.set_params(now, p(&mut rng)),
            }
            while let Some(a) = s.poll_action() {
                match a {
                    Action::Transmit(r) => {
                        sent += 1;
                        // What we send passes every §6.8.6 check on the other side.
                        assert_eq!(Repr::from_bytes(&r.to_bytes()), Ok(r.clone()));
                        assert!(!(r.poll && r.final_), "P and F together");
                        assert_eq!(r.state, state, "a packet carries the state of its moment");
                        assert_eq!(r.my_discriminator, ours);
                        if r.state != State::Up {
                            assert!(r.desired_min_tx >= 1_000_000, "slow rate when not Up: {r:?}");
                        }
                        assert!(!r.demand, "we never ask for Demand mode");
                    }
                    Action::TransmitEcho(e) => {
                        assert_eq!(state, State::Up, "echo only while Up");
                        assert_eq!(e.discriminator, ours);
                    }
                    Action::StateChanged { from, to, diag, .. } => {
                        assert_eq!(from, state);
                        assert!(legal(from, to), "{from:?} -> {to:?}");
                        if to == State::AdminDown {
                            assert_eq!(diag, Diag::AdministrativelyDown);
                        }
                        state = to;
                    }
                }
            }
            assert_eq!(s.state(), state);
        }
        assert!(sent > 0 || s.params().passive);
    }
}

#[test]
fn a_recorded_input_log_replays_exactly() {
    use ferrolb_bfd::session::Input;
    let mut rng = Prng::new(99);
    let t0 = Instant::now();
    let mut now = t0;
    let params = SessionParams { echo_interval: Some(Duration::from_millis(50)), ..SessionParams::default() };
    let mut s = Session::new(NonZeroU32::new(7).unwrap(), params.clone(), None, Prng::new(5), t0);
    let mut log: Vec<(Duration, Input)> = Vec::new();
    let mut actions = Vec::new();
    for _ in 0..3000 {
        let input = match rng.up_to(5) {
            0..=2 => Input::Packet(random_repr(&mut rng, 7)),
            3 => {
                now = s.poll_timeout().unwrap_or(now + Duration::from_millis(100)).max(now);
                Input::Timeout
            }
            _ => Input::AdminDown(rng.up_to(4) == 0),
        };
        // Through JSON and back, as a recorded log would be.
        let input: Input = serde_json::from_str(&serde_json::to_string(&input).unwrap()).unwrap();
        let _ = s.handle(now, input.clone());
        log.push((now - t0, input));
        while let Some(a) = s.poll_action() {
            actions.push(a);
        }
    }
    assert!(actions.len() > 1000);
    // Replay on another clock origin.
    let t1 = Instant::now() + Duration::from_secs(1000);
    let mut r = Session::new(NonZeroU32::new(7).unwrap(), params, None, Prng::new(5), t1);
    let mut replayed = Vec::new();
    for (at, input) in log {
        let _ = r.handle(t1 + at, input);
        while let Some(a) = r.poll_action() {
            replayed.push(a);
        }
    }
    assert!(replayed == actions, "the replay diverged");
    assert_eq!((r.state(), r.local_diag()), (s.state(), s.local_diag()));
}
