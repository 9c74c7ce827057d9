//! Codec: byte vectors laid out by hand from the RFC 5880 §4 diagrams, both ways; every
//! §6.8.6 rejection; garbage never panics.
#![allow(clippy::unwrap_used)]

use std::num::NonZeroU32;
use std::time::Instant;

use ferrolb_bfd::rng::Prng;
use ferrolb_bfd::session::{AuthKey, Session, SessionError, SessionParams};
use ferrolb_bfd::wire::{Auth, Diag, EchoRepr, Packet, Repr, State, WireError};

/// Vers 1 Diag 0 | Sta Up, P | mult 3 | len 24 | my 0x11223344 | your 0x55667788 |
/// tx 1 s | rx 300 ms | echo rx 50 ms.
const UP_POLL: [u8; 24] = [
    0x20, 0xE0, 0x03, 0x18, //
    0x11, 0x22, 0x33, 0x44, //
    0x55, 0x66, 0x77, 0x88, //
    0x00, 0x0F, 0x42, 0x40, //
    0x00, 0x04, 0x93, 0xE0, //
    0x00, 0x00, 0xC3, 0x50,
];

fn up_poll() -> Repr {
    Repr {
        diag: Diag::NoDiagnostic,
        state: State::Up,
        poll: true,
        final_: false,
        control_plane_independent: false,
        demand: false,
        detect_mult: 3,
        my_discriminator: 0x1122_3344,
        your_discriminator: 0x5566_7788,
        desired_min_tx: 1_000_000,
        required_min_rx: 300_000,
        required_min_echo_rx: 50_000,
        auth: None,
    }
}

#[test]
fn control_packet_both_ways() {
    let p = Packet::new_checked(&UP_POLL[..]).unwrap();
    assert_eq!(p.version(), 1);
    assert_eq!(p.state(), State::Up);
    assert!(p.poll() && !p.final_() && !p.auth_present() && !p.demand() && !p.multipoint());
    assert_eq!(p.length(), 24);
    assert_eq!(p.my_discriminator(), 0x1122_3344);
    assert_eq!(p.required_min_echo_rx(), 50_000);
    assert_eq!(p.auth_type(), None);
    let r = Repr::parse(&p).unwrap();
    assert_eq!(r, up_poll());
    assert_eq!(r.buffer_len(), 24);
    assert_eq!(r.to_bytes(), UP_POLL.to_vec());

    // AdminDown, diag 7, F, C and D bits, your discriminator 0.
    let bytes = [0x27, 0x1A, 0x01, 0x18, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0x0F, 0x42, 0x40, 0, 0x0F, 0x42, 0x40, 0, 0, 0, 0];
    let r = Repr::from_bytes(&bytes).unwrap();
    assert_eq!((r.state, r.diag), (State::AdminDown, Diag::AdministrativelyDown));
    assert!(r.final_ && r.control_plane_independent && r.demand && !r.poll);
    assert_eq!(r.detect_mult, 1);
    assert_eq!(r.to_bytes(), bytes.to_vec());
    // Reserved diag values survive.
    let mut b = UP_POLL;
    b[0] = 0x20 | 30;
    assert_eq!(Repr::from_bytes(&b).unwrap().diag, Diag::Reserved(30));
    assert_eq!(Repr::from_bytes(&b).unwrap().to_bytes(), b.to_vec());
    // Trailing bytes beyond Length are ignored.
    let mut long = UP_POLL.to_vec();
    long.extend_from_slice(&[0xde, 0xad]);
    assert_eq!(Repr::from_bytes(&long).unwrap(), up_poll());
}

#[test]
fn authentication_sections() {
    // Simple password "secret", key id 5: Auth Len 3 + 6 = 9, Length 33, A bit.
    let mut bytes = UP_POLL.to_vec();
    bytes[1] |= 0x04;
    bytes[3] = 33;
    bytes.extend_from_slice(&[1, 9, 5, b's', b'e', b'c', b'r', b'e', b't']);
    let r = Repr::from_bytes(&bytes).unwrap();
    assert_eq!(r.auth, Some(Auth::SimplePassword { key_id: 5, password: b"secret".to_vec() }));
    assert_eq!(r.buffer_len(), 33);
    assert_eq!(r.to_bytes(), bytes);
    let p = Packet::new_checked(&bytes[..]).unwrap();
    assert_eq!((p.auth_type(), p.auth_len()), (Some(1), Some(9)));

    // Keyed MD5 (type 2): key id 1, reserved, sequence 0x01020304, 16-byte digest. Length 48.
    let mut bytes = UP_POLL.to_vec();
    bytes[1] |= 0x04;
    bytes[3] = 48;
    bytes.extend_from_slice(&[2, 24, 1, 0, 1, 2, 3, 4]);
    bytes.extend(0xA0..0xB0u8);
    let r = Repr::from_bytes(&bytes).unwrap();
    let mut digest = [0; 16];
    digest.copy_from_slice(&bytes[32..48]);
    assert_eq!(r.auth, Some(Auth::KeyedMd5 { key_id: 1, meticulous: false, sequence: 0x0102_0304, digest }));
    assert_eq!(r.to_bytes(), bytes);

    // Meticulous Keyed SHA1 (type 5): Auth Len 28, Length 52.
    let mut bytes = UP_POLL.to_vec();
    bytes[1] |= 0x04;
    bytes[3] = 52;
    bytes.extend_from_slice(&[5, 28, 9, 0, 0, 0, 0, 7]);
    bytes.extend(0..20u8);
    let r = Repr::from_bytes(&bytes).unwrap();
    match &r.auth {
        Some(Auth::KeyedSha1 { key_id: 9, meticulous: true, sequence: 7, hash }) => assert_eq!(hash[19], 19),
        other => panic!("{other:?}"),
    }
    assert_eq!(r.to_bytes(), bytes);

    // Structural errors.
    let with_auth = |section: &[u8]| {
        let mut b = UP_POLL.to_vec();
        b[1] |= 0x04;
        b[3] = (24 + section.len()) as u8;
        b.extend_from_slice(section);
        Repr::from_bytes(&b)
    };
    assert_eq!(with_auth(&[1, 3, 5]), Err(WireError::BadAuthSection { auth_type: 1, auth_len: 3 }), "empty pw");
    assert_eq!(with_auth(&[1, 20, 5, 1, 2]), Err(WireError::BadAuthSection { auth_type: 1, auth_len: 20 }));
    assert_eq!(with_auth(&[2, 20, 1, 0]), Err(WireError::BadAuthSection { auth_type: 2, auth_len: 20 }));
    assert_eq!(with_auth(&[0, 4, 1, 1]), Err(WireError::UnknownAuthType(0)));
    assert_eq!(with_auth(&[6, 4, 1, 1]), Err(WireError::UnknownAuthType(6)));
}

#[test]
fn reception_checks_in_rfc_order() {
    let ok = UP_POLL;
    let with = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = ok.to_vec();
        f(&mut b);
        Repr::from_bytes(&b)
    };
    assert_eq!(with(&|b| b.truncate(23)), Err(WireError::Truncated { len: 23 }));
    assert_eq!(Repr::from_bytes(&[]), Err(WireError::Truncated { len: 0 }));
    assert_eq!(with(&|b| b[0] = 0x40), Err(WireError::BadVersion(2)));
    assert_eq!(with(&|b| b[0] = 0x00), Err(WireError::BadVersion(0)));
    assert_eq!(with(&|b| b[3] = 23), Err(WireError::BadLength { length: 23, auth: false }));
    assert_eq!(
        with(&|b| {
            b[1] |= 0x04;
            b[3] = 25;
            b.extend_from_slice(&[1, 4]);
        }),
        Err(WireError::BadLength { length: 25, auth: true })
    );
    assert_eq!(with(&|b| b[3] = 30), Err(WireError::LengthExceedsPayload { length: 30, payload: 24 }));
    assert_eq!(with(&|b| b[2] = 0), Err(WireError::ZeroDetectMult));
    assert_eq!(with(&|b| b[1] |= 0x01), Err(WireError::Multipoint));
    assert_eq!(with(&|b| b[4..8].fill(0)), Err(WireError::ZeroMyDiscriminator));
    assert_eq!(with(&|b| b[8..12].fill(0)), Err(WireError::ZeroYourDiscriminator { state: State::Up }));
    assert_eq!(
        with(&|b| {
            b[8..12].fill(0);
            b[1] = 0x80; // Init
        }),
        Err(WireError::ZeroYourDiscriminator { state: State::Init })
    );
    // Your Discriminator 0 is fine in Down and AdminDown.
    for sta in [0x00u8, 0x40] {
        let r = with(&|b| {
            b[8..12].fill(0);
            b[1] = sta;
        })
        .unwrap();
        assert_eq!(r.your_discriminator, 0);
    }
    // Several faults: the first in RFC order wins.
    assert_eq!(
        with(&|b| {
            b[0] = 0x60;
            b[2] = 0;
            b[1] |= 1;
        }),
        Err(WireError::BadVersion(3))
    );
    assert_eq!(
        with(&|b| {
            b[2] = 0;
            b[1] |= 1;
            b[4..8].fill(0);
        }),
        Err(WireError::ZeroDetectMult)
    );
    assert_eq!(
        with(&|b| {
            b[1] |= 1;
            b[4..12].fill(0);
        }),
        Err(WireError::Multipoint)
    );
}

fn session(auth: Option<AuthKey>) -> Session {
    Session::new(NonZeroU32::new(0x5566_7788).unwrap(), SessionParams::default(), auth, Prng::new(1), Instant::now())
}

#[test]
fn session_reception_checks() {
    let now = Instant::now();
    let pw = |id, p: &[u8]| Some(Auth::SimplePassword { key_id: id, password: p.to_vec() });
    let key = AuthKey::SimplePassword { key_id: 5, password: b"secret".to_vec() };

    // A bit set, no authentication in use.
    let mut r = up_poll();
    r.auth = pw(5, b"secret");
    assert_eq!(session(None).handle_packet(now, &r), Err(SessionError::AuthUnexpected));
    // A bit clear, authentication in use.
    assert_eq!(session(Some(key.clone())).handle_packet(now, &up_poll()), Err(SessionError::AuthMissing));
    // Wrong key id, wrong password, wrong type.
    r.auth = pw(6, b"secret");
    assert_eq!(
        session(Some(key.clone())).handle_packet(now, &r),
        Err(SessionError::AuthKeyIdMismatch { expected: 5, got: 6 })
    );
    r.auth = pw(5, b"secreT");
    assert_eq!(session(Some(key.clone())).handle_packet(now, &r), Err(SessionError::AuthFailed));
    r.auth = Some(Auth::KeyedMd5 { key_id: 5, meticulous: false, sequence: 1, digest: [0; 16] });
    assert_eq!(
        session(Some(key.clone())).handle_packet(now, &r),
        Err(SessionError::AuthTypeMismatch { expected: 1, got: 2 })
    );
    // The right password is accepted, and our packets carry it.
    let mut s = session(Some(key));
    let mut down = up_poll();
    down.state = State::Down;
    down.your_discriminator = 0;
    down.poll = false;
    down.auth = pw(5, b"secret");
    assert_eq!(s.handle_packet(now, &down), Ok(()));
    assert_eq!(s.state(), State::Init);
    let mut sent = None;
    while let Some(a) = s.poll_action() {
        if let ferrolb_bfd::Action::Transmit(r) = a {
            sent = Some(r);
        }
    }
    assert_eq!(sent.unwrap().auth, pw(5, b"secret"));
    // A Your Discriminator that is not ours.
    let mut other = up_poll();
    other.your_discriminator = 1;
    assert_eq!(
        session(None).handle_packet(now, &other),
        Err(SessionError::WrongDiscriminator { expected: 0x5566_7788, got: 1 })
    );
}

#[test]
fn echo_packet_round_trip() {
    let e = EchoRepr { discriminator: 0xCAFE_F00D, sequence: 0x0102_0304_0506_0708 };
    let b = e.to_bytes();
    assert_eq!(&b[..4], b"FLBE");
    assert_eq!(&b[4..8], &[0xCA, 0xFE, 0xF0, 0x0D]);
    assert_eq!(&b[8..], &[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(EchoRepr::parse(&b), Ok(e));
    assert_eq!(EchoRepr::parse(&b[..15]), Err(WireError::BadEcho));
    let mut bad = b;
    bad[0] = b'X';
    assert_eq!(EchoRepr::parse(&bad), Err(WireError::BadEcho));
    // A control packet is not an echo packet.
    assert_eq!(EchoRepr::parse(&UP_POLL), Err(WireError::BadEcho));
}

#[test]
fn garbage_never_panics() {
    let mut rng = Prng::new(0xBFD);
    let mut parsed = 0;
    let seeds: Vec<Vec<u8>> = vec![UP_POLL.to_vec(), {
        let mut b = UP_POLL.to_vec();
        b[1] |= 0x04;
        b[3] = 52;
        b.extend_from_slice(&[5, 28, 9, 0, 0, 0, 0, 7]);
        b.extend(0..20u8);
        b
    }];
    for i in 0..200_000 {
        let buf: Vec<u8> = if i % 2 == 0 {
            let len = rng.up_to(64) as usize;
            (0..len).map(|_| rng.next_u64() as u8).collect()
        } else {
            // Mutate a valid packet: flip a few bytes, maybe cut it.
            let mut b = seeds[i % seeds.len()].clone();
            for _ in 0..=rng.up_to(3) {
                let at = rng.up_to(b.len() as u64 - 1) as usize;
                b[at] = rng.next_u64() as u8;
            }
            if rng.up_to(4) == 0 {
                b.truncate(rng.up_to(b.len() as u64) as usize);
            }
            b
        };
        let _ = EchoRepr::parse(&buf);
        if let Ok(p) = Packet::new_checked(&buf[..]) {
            // Accessors are total on a checked view.
            let _ = (p.auth_section(), p.auth_type(), p.auth_len(), p.diag(), p.state());
        }
        if let Ok(r) = Repr::from_bytes(&buf) {
            parsed += 1;
            // Whatever parses re-encodes to something that parses to the same thing.
            assert_eq!(Repr::from_bytes(&r.to_bytes()), Ok(r.clone()));
            // And a session fed with it does not panic either.
            let mut s = session(None);
            let _ = s.handle_packet(Instant::now(), &r);
            while s.poll_action().is_some() {}
        }
    }
    assert!(parsed > 10_000, "mutations exercised the accept path too: {parsed}");
}
