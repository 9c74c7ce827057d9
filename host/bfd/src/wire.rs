//! BFD wire formats: the RFC 5880 §4 control packet and ferrolb's echo packet.
//!
//! smoltcp's split: [`Packet`] is a zero-copy view over a byte buffer with field accessors
//! (and setters for `AsMut` buffers); [`Repr`] is the validated, owned representation with
//! [`Repr::parse`], [`Repr::emit`] and [`Repr::buffer_len`]. [`Repr::parse`] performs the
//! packet-only reception checks of RFC 5880 §6.8.6 in the RFC's order, one [`WireError`]
//! variant each; the checks that need session state (authentication in use or not, which
//! session) live in [`crate::session`] and [`crate::manager`].

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The only BFD protocol version (RFC 5880 §4.1).
pub const VERSION: u8 = 1;
/// Length of the mandatory section of a control packet.
pub const HEADER_LEN: usize = 24;
/// Minimum length of a control packet whose A bit is set (RFC 5880 §6.8.6).
pub const MIN_LEN_WITH_AUTH: usize = 26;
/// Longest simple password (RFC 5880 §4.2).
pub const MAX_PASSWORD_LEN: usize = 16;
/// Auth Len of a Keyed MD5 / Meticulous Keyed MD5 section (RFC 5880 §4.3).
pub const MD5_AUTH_LEN: u8 = 24;
/// Auth Len of a Keyed SHA1 / Meticulous Keyed SHA1 section (RFC 5880 §4.4).
pub const SHA1_AUTH_LEN: u8 = 28;

/// Errors found while decoding a packet. The first eight are RFC 5880 §6.8.6's discard rules
/// in the RFC's order; the rest are structural problems of the authentication section or of
/// an echo packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error, Serialize, Deserialize)]
pub enum WireError {
    /// The buffer is shorter than the 24-byte mandatory section.
    #[error("truncated packet: {len} bytes, need at least {HEADER_LEN}")]
    Truncated {
        /// Bytes received.
        len: usize,
    },
    /// §6.8.6: "If the version number is not correct (1), the packet MUST be discarded."
    #[error("unsupported BFD version {0}")]
    BadVersion(u8),
    /// §6.8.6: Length below 24 (A clear) or 26 (A set).
    #[error("length field {length} too small (A bit {auth})")]
    BadLength {
        /// The Length field.
        length: u8,
        /// The A bit.
        auth: bool,
    },
    /// §6.8.6: Length greater than the payload of the encapsulating protocol.
    #[error("length field {length} exceeds the {payload}-byte payload")]
    LengthExceedsPayload {
        /// The Length field.
        length: u8,
        /// Bytes received.
        payload: usize,
    },
    /// §6.8.6: "If the Detect Mult field is zero, the packet MUST be discarded."
    #[error("detect multiplier is zero")]
    ZeroDetectMult,
    /// §6.8.6: "If the Multipoint (M) bit is nonzero, the packet MUST be discarded."
    #[error("multipoint bit set")]
    Multipoint,
    /// §6.8.6: "If the My Discriminator field is zero, the packet MUST be discarded."
    #[error("my discriminator is zero")]
    ZeroMyDiscriminator,
    /// §6.8.6: Your Discriminator zero while State is neither Down nor AdminDown.
    #[error("your discriminator is zero in state {state:?}")]
    ZeroYourDiscriminator {
        /// The State field.
        state: State,
    },
    /// The A bit is set but the section's Auth Len is inconsistent with its type or with Length.
    #[error("bad authentication section: type {auth_type}, auth len {auth_len}")]
    BadAuthSection {
        /// Auth Type.
        auth_type: u8,
        /// Auth Len.
        auth_len: u8,
    },
    /// Auth Type 0 or 6..=255 (reserved).
    #[error("unknown authentication type {0}")]
    UnknownAuthType(u8),
    /// Not a ferrolb echo packet (wrong size or magic).
    #[error("not a ferrolb echo packet")]
    BadEcho,
}

/// Session state (RFC 5880 §4.1 "Sta", §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum State {
    /// 0: administratively down.
    AdminDown,
    /// 1.
    Down,
    /// 2.
    Init,
    /// 3.
    Up,
}

impl State {
    /// From the 2-bit field.
    pub fn from_bits(v: u8) -> State {
        match v & 0b11 {
            0 => State::AdminDown,
            1 => State::Down,
            2 => State::Init,
            _ => State::Up,
        }
    }

    /// The 2-bit field.
    pub fn bits(self) -> u8 {
        match self {
            State::AdminDown => 0,
            State::Down => 1,
            State::Init => 2,
            State::Up => 3,
        }
    }
}

/// Diagnostic code (RFC 5880 §4.1 "Diag").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Diag {
    /// 0.
    NoDiagnostic,
    /// 1.
    ControlDetectionTimeExpired,
    /// 2.
    EchoFunctionFailed,
    /// 3.
    NeighborSignaledSessionDown,
    /// 4.
    ForwardingPlaneReset,
    /// 5.
    PathDown,
    /// 6.
    ConcatenatedPathDown,
    /// 7.
    AdministrativelyDown,
    /// 8.
    ReverseConcatenatedPathDown,
    /// 9..=31, reserved: carried through unchanged.
    Reserved(u8),
}

impl Diag {
    /// From the 5-bit field.
    pub fn from_bits(v: u8) -> Diag {
        match v & 0x1f {
            0 => Diag::NoDiagnostic,
            1 => Diag::ControlDetectionTimeExpired,
            2 => Diag::EchoFunctionFailed,
            3 => Diag::NeighborSignaledSessionDown,
            4 => Diag::ForwardingPlaneReset,
            5 => Diag::PathDown,
            6 => Diag::ConcatenatedPathDown,
            7 => Diag::AdministrativelyDown,
            8 => Diag::ReverseConcatenatedPathDown,
            v => Diag::Reserved(v),
        }
    }

    /// The 5-bit field.
    pub fn bits(self) -> u8 {
        match self {
            Diag::NoDiagnostic => 0,
            Diag::ControlDetectionTimeExpired => 1,
            Diag::EchoFunctionFailed => 2,
            Diag::NeighborSignaledSessionDown => 3,
            Diag::ForwardingPlaneReset => 4,
            Diag::PathDown => 5,
            Diag::ConcatenatedPathDown => 6,
            Diag::AdministrativelyDown => 7,
            Diag::ReverseConcatenatedPathDown => 8,
            Diag::Reserved(v) => v & 0x1f,
        }
    }
}

mod field {
    use core::ops::Range;
    pub const VERS_DIAG: usize = 0;
    pub const FLAGS: usize = 1;
    pub const DETECT_MULT: usize = 2;
    pub const LENGTH: usize = 3;
    pub const MY_DISCR: Range<usize> = 4..8;
    pub const YOUR_DISCR: Range<usize> = 8..12;
    pub const DESIRED_MIN_TX: Range<usize> = 12..16;
    pub const REQUIRED_MIN_RX: Range<usize> = 16..20;
    pub const REQUIRED_MIN_ECHO_RX: Range<usize> = 20..24;
    pub const AUTH_TYPE: usize = 24;
    pub const AUTH_LEN: usize = 25;

    pub const P: u8 = 0x20;
    pub const F: u8 = 0x10;
    pub const C: u8 = 0x08;
    pub const A: u8 = 0x04;
    pub const D: u8 = 0x02;
    pub const M: u8 = 0x01;
}

/// A zero-copy view of a BFD control packet (RFC 5880 §4.1).
///
/// ```text
///     0                   1                   2                   3
///     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
///    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///    |Vers |  Diag   |Sta|P|F|C|A|D|M|  Detect Mult  |    Length     |
///    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///    |                       My Discriminator                        |
///    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///    |                      Your Discriminator                       |
///    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///    |                    Desired Min TX Interval                    |
///    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///    |                   Required Min RX Interval                    |
///    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///    |                 Required Min Echo RX Interval                 |
///    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///
///    An optional Authentication Section MAY be present:
///
///     0                   1                   2                   3
///     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
///    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///    |   Auth Type   |   Auth Len    |    Authentication Data...     |
///    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// Intervals are in microseconds. Accessors for the mandatory section are valid once
/// [`Packet::new_checked`] succeeded (the buffer holds at least 24 bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking its length (accessors may panic on short buffers).
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer after checking it holds the 24-byte mandatory section.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, WireError> {
        let packet = Packet::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks the buffer holds the mandatory section (the Length field is judged by
    /// [`Repr::parse`], in §6.8.6 order).
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN { Err(WireError::Truncated { len }) } else { Ok(()) }
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn byte(&self, i: usize) -> u8 {
        self.buffer.as_ref()[i]
    }

    fn u32_at(&self, r: core::ops::Range<usize>) -> u32 {
        let b = &self.buffer.as_ref()[r];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    /// Vers.
    pub fn version(&self) -> u8 {
        self.byte(field::VERS_DIAG) >> 5
    }
    /// Diag.
    pub fn diag(&self) -> Diag {
        Diag::from_bits(self.byte(field::VERS_DIAG))
    }
    /// Sta.
    pub fn state(&self) -> State {
        State::from_bits(self.byte(field::FLAGS) >> 6)
    }
    /// P (Poll).
    pub fn poll(&self) -> bool {
        self.byte(field::FLAGS) & field::P != 0
    }
    /// F (Final).
    pub fn final_(&self) -> bool {
        self.byte(field::FLAGS) & field::F != 0
    }
    /// C (Control Plane Independent).
    pub fn control_plane_independent(&self) -> bool {
        self.byte(field::FLAGS) & field::C != 0
    }
    /// A (Authentication Present).
    pub fn auth_present(&self) -> bool {
        self.byte(field::FLAGS) & field::A != 0
    }
    /// D (Demand).
    pub fn demand(&self) -> bool {
        self.byte(field::FLAGS) & field::D != 0
    }
    /// M (Multipoint).
    pub fn multipoint(&self) -> bool {
        self.byte(field::FLAGS) & field::M != 0
    }
    /// Detect Mult.
    pub fn detect_mult(&self) -> u8 {
        self.byte(field::DETECT_MULT)
    }
    /// Length (of the whole BFD packet, authentication included).
    pub fn length(&self) -> u8 {
        self.byte(field::LENGTH)
    }
    /// My Discriminator.
    pub fn my_discriminator(&self) -> u32 {
        self.u32_at(field::MY_DISCR)
    }
    /// Your Discriminator.
    pub fn your_discriminator(&self) -> u32 {
        self.u32_at(field::YOUR_DISCR)
    }
    /// Desired Min TX Interval (µs).
    pub fn desired_min_tx(&self) -> u32 {
        self.u32_at(field::DESIRED_MIN_TX)
    }
    /// Required Min RX Interval (µs).
    pub fn required_min_rx(&self) -> u32 {
        self.u32_at(field::REQUIRED_MIN_RX)
    }
    /// Required Min Echo RX Interval (µs).
    pub fn required_min_echo_rx(&self) -> u32 {
        self.u32_at(field::REQUIRED_MIN_ECHO_RX)
    }
    /// Auth Type, if the A bit is set and the buffer holds it.
    pub fn auth_type(&self) -> Option<u8> {
        self.auth_present().then(|| self.buffer.as_ref().get(field::AUTH_TYPE).copied()).flatten()
    }
    /// Auth Len, if the A bit is set and the buffer holds it.
    pub fn auth_len(&self) -> Option<u8> {
        self.auth_present().then(|| self.buffer.as_ref().get(field::AUTH_LEN).copied()).flatten()
    }
    /// The authentication section (from Auth Type to Length), if the A bit is set and the
    /// buffer holds it; `None` otherwise.
    pub fn auth_section(&self) -> Option<&[u8]> {
        if !self.auth_present() {
            return None;
        }
        self.buffer.as_ref().get(HEADER_LEN..usize::from(self.length()))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn set_flag(&mut self, flag: u8, on: bool) {
        let b = &mut self.buffer.as_mut()[field::FLAGS];
        if on {
            *b |= flag;
        } else {
            *b &= !flag;
        }
    }
    fn set_u32(&mut self, r: core::ops::Range<usize>, v: u32) {
        self.buffer.as_mut()[r].copy_from_slice(&v.to_be_bytes());
    }
    /// Sets Vers.
    pub fn set_version(&mut self, v: u8) {
        let b = &mut self.buffer.as_mut()[field::VERS_DIAG];
        *b = (*b & 0x1f) | (v << 5);
    }
    /// Sets Diag.
    pub fn set_diag(&mut self, d: Diag) {
        let b = &mut self.buffer.as_mut()[field::VERS_DIAG];
        *b = (*b & 0xe0) | d.bits();
    }
    /// Sets Sta.
    pub fn set_state(&mut self, s: State) {
        let b = &mut self.buffer.as_mut()[field::FLAGS];
        *b = (*b & 0x3f) | (s.bits() << 6);
    }
    /// Sets P.
    pub fn set_poll(&mut self, v: bool) {
        self.set_flag(field::P, v);
    }
    /// Sets F.
    pub fn set_final(&mut self, v: bool) {
        self.set_flag(field::F, v);
    }
    /// Sets C.
    pub fn set_control_plane_independent(&mut self, v: bool) {
        self.set_flag(field::C, v);
    }
    /// Sets A.
    pub fn set_auth_present(&mut self, v: bool) {
        self.set_flag(field::A, v);
    }
    /// Sets D.
    pub fn set_demand(&mut self, v: bool) {
        self.set_flag(field::D, v);
    }
    /// Sets M.
    pub fn set_multipoint(&mut self, v: bool) {
        self.set_flag(field::M, v);
    }
    /// Sets Detect Mult.
    pub fn set_detect_mult(&mut self, v: u8) {
        self.buffer.as_mut()[field::DETECT_MULT] = v;
    }
    /// Sets Length.
    pub fn set_length(&mut self, v: u8) {
        self.buffer.as_mut()[field::LENGTH] = v;
    }
    /// Sets My Discriminator.
    pub fn set_my_discriminator(&mut self, v: u32) {
        self.set_u32(field::MY_DISCR, v);
    }
    /// Sets Your Discriminator.
    pub fn set_your_discriminator(&mut self, v: u32) {
        self.set_u32(field::YOUR_DISCR, v);
    }
    /// Sets Desired Min TX Interval (µs).
    pub fn set_desired_min_tx(&mut self, v: u32) {
        self.set_u32(field::DESIRED_MIN_TX, v);
    }
    /// Sets Required Min RX Interval (µs).
    pub fn set_required_min_rx(&mut self, v: u32) {
        self.set_u32(field::REQUIRED_MIN_RX, v);
    }
    /// Sets Required Min Echo RX Interval (µs).
    pub fn set_required_min_echo_rx(&mut self, v: u32) {
        self.set_u32(field::REQUIRED_MIN_ECHO_RX, v);
    }
}

/// Authentication type codes (RFC 5880 §4.1).
pub mod auth_type {
    /// Simple Password.
    pub const SIMPLE_PASSWORD: u8 = 1;
    /// Keyed MD5.
    pub const KEYED_MD5: u8 = 2;
    /// Meticulous Keyed MD5.
    pub const METICULOUS_KEYED_MD5: u8 = 3;
    /// Keyed SHA1.
    pub const KEYED_SHA1: u8 = 4;
    /// Meticulous Keyed SHA1.
    pub const METICULOUS_KEYED_SHA1: u8 = 5;
}

/// The authentication section of a control packet (RFC 5880 §4.2–§4.4).
///
/// Simple Password (§4.2), Auth Len = 3 + password length (1..=16):
/// ```text
///     0                   1                   2                   3
///     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
///    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///    |   Auth Type   |   Auth Len    |  Auth Key ID  |  Password...  |
///    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///    |                              ...                              |
///    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
/// Keyed MD5 / Meticulous Keyed MD5 (§4.3, Auth Len 24, 16-byte digest) and Keyed SHA1 /
/// Meticulous Keyed SHA1 (§4.4, Auth Len 28, 20-byte hash):
/// ```text
///     0                   1                   2                   3
///     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
///    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///    |   Auth Type   |   Auth Len    |  Auth Key ID  |   Reserved    |
///    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///    |                        Sequence Number                        |
///    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///    |                  Auth Key/Digest (or Hash)...                 |
///    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///    |                              ...                              |
///    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Auth {
    /// Type 1. `password` is 1..=16 bytes (longer values are truncated on emit).
    SimplePassword {
        /// Auth Key ID.
        key_id: u8,
        /// The password.
        password: Vec<u8>,
    },
    /// Type 2 (Keyed MD5) or 3 (`meticulous`).
    KeyedMd5 {
        /// Auth Key ID.
        key_id: u8,
        /// Meticulous Keyed MD5 (type 3) rather than Keyed MD5 (type 2).
        meticulous: bool,
        /// Sequence Number.
        sequence: u32,
        /// Auth Key/Digest.
        digest: [u8; 16],
    },
    /// Type 4 (Keyed SHA1) or 5 (`meticulous`).
    KeyedSha1 {
        /// Auth Key ID.
        key_id: u8,
        /// Meticulous Keyed SHA1 (type 5) rather than Keyed SHA1 (type 4).
        meticulous: bool,
        /// Sequence Number.
        sequence: u32,
        /// Auth Key/Hash.
        hash: [u8; 20],
    },
}

impl Auth {
    /// The Auth Type code.
    pub fn auth_type(&self) -> u8 {
        match self {
            Auth::SimplePassword { .. } => auth_type::SIMPLE_PASSWORD,
            Auth::KeyedMd5 { meticulous: false, .. } => auth_type::KEYED_MD5,
            Auth::KeyedMd5 { meticulous: true, .. } => auth_type::METICULOUS_KEYED_MD5,
            Auth::KeyedSha1 { meticulous: false, .. } => auth_type::KEYED_SHA1,
            Auth::KeyedSha1 { meticulous: true, .. } => auth_type::METICULOUS_KEYED_SHA1,
        }
    }

    /// Auth Key ID.
    pub fn key_id(&self) -> u8 {
        match self {
            Auth::SimplePassword { key_id, .. } | Auth::KeyedMd5 { key_id, .. } | Auth::KeyedSha1 { key_id, .. } => {
                *key_id
            }
        }
    }

    /// The Auth Len field (length of the whole section).
    pub fn auth_len(&self) -> u8 {
        match self {
            // 3 + at most 16: fits.
            Auth::SimplePassword { password, .. } => 3 + password.len().clamp(1, MAX_PASSWORD_LEN) as u8,
            Auth::KeyedMd5 { .. } => MD5_AUTH_LEN,
            Auth::KeyedSha1 { .. } => SHA1_AUTH_LEN,
        }
    }

    /// Decodes a section (`section` starts at Auth Type and ends at the packet's Length).
    pub fn parse(section: &[u8]) -> Result<Auth, WireError> {
        let (Some(&ty), Some(&len)) = (section.first(), section.get(1)) else {
            return Err(WireError::BadAuthSection { auth_type: section.first().copied().unwrap_or(0), auth_len: 0 });
        };
        let bad = WireError::BadAuthSection { auth_type: ty, auth_len: len };
        // Auth Len must not exceed the section that Length leaves for it.
        let body = section.get(..usize::from(len)).ok_or(bad)?;
        match ty {
            auth_type::SIMPLE_PASSWORD => {
                if !(4..=3 + MAX_PASSWORD_LEN as u8).contains(&len) {
                    return Err(bad);
                }
                Ok(Auth::SimplePassword { key_id: body[2], password: body[3..].to_vec() })
            }
            auth_type::KEYED_MD5 | auth_type::METICULOUS_KEYED_MD5 => {
                if len != MD5_AUTH_LEN {
                    return Err(bad);
                }
                let mut digest = [0; 16];
                digest.copy_from_slice(&body[8..24]);
                Ok(Auth::KeyedMd5 {
                    key_id: body[2],
                    meticulous: ty == auth_type::METICULOUS_KEYED_MD5,
                    sequence: u32::from_be_bytes([body[4], body[5], body[6], body[7]]),
                    digest,
                })
            }
            auth_type::KEYED_SHA1 | auth_type::METICULOUS_KEYED_SHA1 => {
                if len != SHA1_AUTH_LEN {
                    return Err(bad);
                }
                let mut hash = [0; 20];
                hash.copy_from_slice(&body[8..28]);
                Ok(Auth::KeyedSha1 {
                    key_id: body[2],
                    meticulous: ty == auth_type::METICULOUS_KEYED_SHA1,
                    sequence: u32::from_be_bytes([body[4], body[5], body[6], body[7]]),
                    hash,
                })
            }
            other => Err(WireError::UnknownAuthType(other)),
        }
    }

    /// Writes the section into `buf` (at least [`Auth::auth_len`] bytes).
    ///
    /// # Panics
    /// If `buf` is shorter than [`Auth::auth_len`] (a caller bug, never input-driven).
    pub fn emit(&self, buf: &mut [u8]) {
        let len = usize::from(self.auth_len());
        let buf = &mut buf[..len];
        buf[0] = self.auth_type();
        buf[1] = self.auth_len();
        buf[2] = self.key_id();
        match self {
            Auth::SimplePassword { password, .. } => {
                let n = len - 3;
                let pw = password.get(..n).unwrap_or(password);
                buf[3..3 + pw.len()].copy_from_slice(pw);
                // An empty password (invalid) is emitted as one zero byte.
                buf[3 + pw.len()..].fill(0);
            }
            Auth::KeyedMd5 { sequence, digest, .. } => {
                buf[3] = 0;
                buf[4..8].copy_from_slice(&sequence.to_be_bytes());
                buf[8..24].copy_from_slice(digest);
            }
            Auth::KeyedSha1 { sequence, hash, .. } => {
                buf[3] = 0;
                buf[4..8].copy_from_slice(&sequence.to_be_bytes());
                buf[8..28].copy_from_slice(hash);
            }
        }
    }
}

/// A validated BFD control packet (RFC 5880 §4.1; layout on [`Packet`]).
///
/// The M bit is not represented (a packet with M set does not parse, and we never send it);
/// the A bit and the Length field are derived from [`Repr::auth`]. Intervals in µs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Repr {
    /// Diag.
    pub diag: Diag,
    /// Sta.
    pub state: State,
    /// P.
    pub poll: bool,
    /// F.
    pub final_: bool,
    /// C.
    pub control_plane_independent: bool,
    /// D.
    pub demand: bool,
    /// Detect Mult (nonzero).
    pub detect_mult: u8,
    /// My Discriminator (nonzero).
    pub my_discriminator: u32,
    /// Your Discriminator.
    pub your_discriminator: u32,
    /// Desired Min TX Interval (µs).
    pub desired_min_tx: u32,
    /// Required Min RX Interval (µs).
    pub required_min_rx: u32,
    /// Required Min Echo RX Interval (µs).
    pub required_min_echo_rx: u32,
    /// The authentication section (A bit set iff present).
    pub auth: Option<Auth>,
}

impl Repr {
    /// Decodes and validates a packet: RFC 5880 §6.8.6's packet-only checks, in order
    /// (version, Length vs the A bit, Length vs payload, Detect Mult, M bit, My Discriminator,
    /// Your Discriminator vs State), then the authentication section's structure.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr, WireError> {
        packet.check_len()?;
        if packet.version() != VERSION {
            return Err(WireError::BadVersion(packet.version()));
        }
        let auth_bit = packet.auth_present();
        let length = packet.length();
        let min = if auth_bit { MIN_LEN_WITH_AUTH } else { HEADER_LEN };
        if usize::from(length) < min {
            return Err(WireError::BadLength { length, auth: auth_bit });
        }
        let payload = packet.buffer.as_ref().len();
        if usize::from(length) > payload {
            return Err(WireError::LengthExceedsPayload { length, payload });
        }
        if packet.detect_mult() == 0 {
            return Err(WireError::ZeroDetectMult);
        }
        if packet.multipoint() {
            return Err(WireError::Multipoint);
        }
        if packet.my_discriminator() == 0 {
            return Err(WireError::ZeroMyDiscriminator);
        }
        let state = packet.state();
        if packet.your_discriminator() == 0 && !matches!(state, State::Down | State::AdminDown) {
            return Err(WireError::ZeroYourDiscriminator { state });
        }
        let auth = match packet.auth_section() {
            Some(section) => Some(Auth::parse(section)?),
            None => None,
        };
        Ok(Repr {
            diag: packet.diag(),
            state,
            poll: packet.poll(),
            final_: packet.final_(),
            control_plane_independent: packet.control_plane_independent(),
            demand: packet.demand(),
            detect_mult: packet.detect_mult(),
            my_discriminator: packet.my_discriminator(),
            your_discriminator: packet.your_discriminator(),
            desired_min_tx: packet.desired_min_tx(),
            required_min_rx: packet.required_min_rx(),
            required_min_echo_rx: packet.required_min_echo_rx(),
            auth,
        })
    }

    /// Checks and parses raw bytes (the UDP payload).
    pub fn from_bytes(bytes: &[u8]) -> Result<Repr, WireError> {
        Repr::parse(&Packet::new_checked(bytes)?)
    }

    /// Bytes needed by [`Repr::emit`] (the Length field).
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.auth.as_ref().map_or(0, |a| usize::from(a.auth_len()))
    }

    /// Writes the packet into the start of the view's buffer.
    ///
    /// # Panics
    /// If the buffer is shorter than [`Repr::buffer_len`] (a caller bug, never input-driven).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        let len = self.buffer_len();
        packet.buffer.as_mut()[..len].fill(0);
        packet.set_version(VERSION);
        packet.set_diag(self.diag);
        packet.set_state(self.state);
        packet.set_poll(self.poll);
        packet.set_final(self.final_);
        packet.set_control_plane_independent(self.control_plane_independent);
        packet.set_auth_present(self.auth.is_some());
        packet.set_demand(self.demand);
        packet.set_multipoint(false);
        packet.set_detect_mult(self.detect_mult);
        // At most 24 + 28.
        packet.set_length(len as u8);
        packet.set_my_discriminator(self.my_discriminator);
        packet.set_your_discriminator(self.your_discriminator);
        packet.set_desired_min_tx(self.desired_min_tx);
        packet.set_required_min_rx(self.required_min_rx);
        packet.set_required_min_echo_rx(self.required_min_echo_rx);
        if let Some(auth) = &self.auth {
            auth.emit(&mut packet.buffer.as_mut()[HEADER_LEN..len]);
        }
    }

    /// The encoded packet.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut buf = vec![0; self.buffer_len()];
        self.emit(&mut Packet::new_unchecked(&mut buf[..]));
        buf
    }
}

/// ferrolb's echo packet (RFC 5880 §6.4 leaves the format to the sender; UDP port 3785).
///
/// The peer's forwarding plane loops it back unchanged, so only ferrolb ever parses it:
/// ```text
///     0                   1                   2                   3
///     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
///    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///    |      'F'      |      'L'      |      'B'      |      'E'      |
///    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///    |              My Discriminator (of the sending session)        |
///    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///    |                    Sequence Number (64 bits)                  |
///    +                                                               +
///    |                                                               |
///    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EchoRepr {
    /// The local discriminator of the session that sent it.
    pub discriminator: u32,
    /// Per-session sequence number, starting at 1.
    pub sequence: u64,
}

impl EchoRepr {
    /// Magic bytes at the start of every ferrolb echo packet.
    pub const MAGIC: [u8; 4] = *b"FLBE";
    /// Encoded length.
    pub const LEN: usize = 16;

    /// Decodes an echo packet (exact length, magic checked).
    pub fn parse(bytes: &[u8]) -> Result<EchoRepr, WireError> {
        if bytes.len() != Self::LEN || bytes[..4] != Self::MAGIC {
            return Err(WireError::BadEcho);
        }
        let mut seq = [0; 8];
        seq.copy_from_slice(&bytes[8..16]);
        Ok(EchoRepr {
            discriminator: u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
            sequence: u64::from_be_bytes(seq),
        })
    }

    /// Writes the packet into `buf[..16]`.
    ///
    /// # Panics
    /// If `buf` is shorter than [`EchoRepr::LEN`] (a caller bug).
    pub fn emit(&self, buf: &mut [u8]) {
        buf[..4].copy_from_slice(&Self::MAGIC);
        buf[4..8].copy_from_slice(&self.discriminator.to_be_bytes());
        buf[8..16].copy_from_slice(&self.sequence.to_be_bytes());
    }

    /// The encoded packet.
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut b = [0; Self::LEN];
        self.emit(&mut b);
        b
    }
}
