//! OPEN message (RFC 4271 §4.2) and capabilities (RFC 5492).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+
//! |    Version    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     My Autonomous System      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Hold Time           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         BGP Identifier                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Opt Parm Len  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |             Optional Parameters (variable)                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!
//! Optional parameter:                 Capability (parameter type 2, RFC 5492):
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+   +------------------------------+
//! |  Parm. Type   | Parm. Length  |   | Capability Code (1 octet)    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+   +------------------------------+
//! ~        Parameter Value        ~   | Capability Length (1 octet)  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+   +------------------------------+
//!                                     | Capability Value (variable)  |
//!                                     +------------------------------+
//! ```
//!
//! Only the Capabilities parameter is supported; any other parameter type is an
//! OPEN Message Error / Unsupported Optional Parameter. Unknown capabilities are kept.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::{BGP_VERSION, DecodeError, EncodeError, Family, Reader, code};

/// Optional parameter type: Capabilities (RFC 5492).
pub const PARAM_CAPABILITIES: u8 = 2;

/// Capability codes (IANA).
pub mod cap_code {
    /// Multiprotocol Extensions (RFC 4760).
    pub const MULTIPROTOCOL: u8 = 1;
    /// Route Refresh (RFC 2918).
    pub const ROUTE_REFRESH: u8 = 2;
    /// Graceful Restart (RFC 4724).
    pub const GRACEFUL_RESTART: u8 = 64;
    /// Support for 4-octet AS numbers (RFC 6793).
    pub const FOUR_OCTET_AS: u8 = 65;
}

/// Per-family entry of the Graceful Restart capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GracefulRestartFamily {
    /// The family.
    pub family: Family,
    /// F bit: forwarding state for this family was preserved across the restart.
    pub forwarding_preserved: bool,
}

/// The Graceful Restart capability (RFC 4724 §3).
///
/// ```text
/// +--------------------------------------------------+
/// | Restart Flags (4 bits)                           |
/// +--------------------------------------------------+
/// | Restart Time in seconds (12 bits)                |
/// +--------------------------------------------------+
/// | Address Family Identifier (16 bits)              |
/// +--------------------------------------------------+
/// | Subsequent Address Family Identifier (8 bits)    |
/// +--------------------------------------------------+
/// | Flags for Address Family (8 bits)                |
/// +--------------------------------------------------+
/// | ...                                              |
/// +--------------------------------------------------+
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GracefulRestartCap {
    /// R bit: the sender has restarted.
    pub restart_state: bool,
    /// N bit (RFC 8538): the sender supports graceful NOTIFICATION.
    pub notification: bool,
    /// Restart time in seconds (12 bits, at most 4095).
    pub restart_time: u16,
    /// Families the sender can preserve state for.
    pub families: Vec<GracefulRestartFamily>,
}

/// One capability (RFC 5492).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Capability {
    /// Multiprotocol Extensions for one family (RFC 4760 §8): AFI(2) reserved(1) SAFI(1).
    Multiprotocol(Family),
    /// Route Refresh (RFC 2918), empty value.
    RouteRefresh,
    /// 4-octet AS number (RFC 6793 §3): the speaker's AS in 4 octets.
    FourOctetAs(u32),
    /// Graceful Restart (RFC 4724).
    GracefulRestart(GracefulRestartCap),
    /// Any other capability, kept verbatim.
    Unknown {
        /// Capability code.
        code: u8,
        /// Capability value.
        value: Vec<u8>,
    },
}

impl Capability {
    /// The capability code.
    pub fn code(&self) -> u8 {
        match self {
            Capability::Multiprotocol(_) => cap_code::MULTIPROTOCOL,
            Capability::RouteRefresh => cap_code::ROUTE_REFRESH,
            Capability::FourOctetAs(_) => cap_code::FOUR_OCTET_AS,
            Capability::GracefulRestart(_) => cap_code::GRACEFUL_RESTART,
            Capability::Unknown { code, .. } => *code,
        }
    }

    fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let mut value = Vec::new();
        match self {
            Capability::Multiprotocol(f) => {
                value.extend_from_slice(&f.afi.to_be_bytes());
                value.push(0);
                value.push(f.safi);
            }
            Capability::RouteRefresh => {}
            Capability::FourOctetAs(asn) => value.extend_from_slice(&asn.to_be_bytes()),
            Capability::GracefulRestart(gr) => {
                let flags: u16 = (u16::from(gr.restart_state) << 15) | (u16::from(gr.notification) << 14);
                value.extend_from_slice(&(flags | (gr.restart_time & 0x0fff)).to_be_bytes());
                for f in &gr.families {
                    value.extend_from_slice(&f.family.afi.to_be_bytes());
                    value.push(f.family.safi);
                    value.push(if f.forwarding_preserved { 0x80 } else { 0 });
                }
            }
            Capability::Unknown { value: v, .. } => value.extend_from_slice(v),
        }
        let len = u8::try_from(value.len()).map_err(|_| EncodeError::CapabilityTooLong(self.code()))?;
        out.push(self.code());
        out.push(len);
        out.extend_from_slice(&value);
        Ok(())
    }

    /// Decodes one capability value. A known capability with a malformed value is kept as
    /// [`Capability::Unknown`] rather than failing the OPEN (RFC 5492 asks for tolerance).
    fn decode(code: u8, value: &[u8]) -> Capability {
        let unknown = || Capability::Unknown { code, value: value.to_vec() };
        match code {
            cap_code::MULTIPROTOCOL => match value {
                [a0, a1, _, safi] => {
                    Capability::Multiprotocol(Family { afi: u16::from_be_bytes([*a0, *a1]), safi: *safi })
                }
                _ => unknown(),
            },
            cap_code::ROUTE_REFRESH if value.is_empty() => Capability::RouteRefresh,
            cap_code::FOUR_OCTET_AS => match value {
                [a, b, c, d] => Capability::FourOctetAs(u32::from_be_bytes([*a, *b, *c, *d])),
                _ => unknown(),
            },
            cap_code::GRACEFUL_RESTART if value.len() >= 2 && (value.len() - 2).is_multiple_of(4) => {
                let head = u16::from_be_bytes([value[0], value[1]]);
                let families = value[2..]
                    .chunks_exact(4)
                    .map(|c| GracefulRestartFamily {
                        family: Family { afi: u16::from_be_bytes([c[0], c[1]]), safi: c[2] },
                        forwarding_preserved: c[3] & 0x80 != 0,
                    })
                    .collect();
                Capability::GracefulRestart(GracefulRestartCap {
                    restart_state: head & 0x8000 != 0,
                    notification: head & 0x4000 != 0,
                    restart_time: head & 0x0fff,
                    families,
                })
            }
            _ => unknown(),
        }
    }
}

/// An OPEN message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Open {
    /// Protocol version (4).
    pub version: u8,
    /// The 2-octet My Autonomous System field (AS_TRANS when the real AS needs 4 octets).
    pub my_as: u16,
    /// Proposed hold time in seconds (0 or at least 3).
    pub hold_time: u16,
    /// BGP Identifier.
    pub bgp_id: Ipv4Addr,
    /// Capabilities, in order of appearance (all Capabilities parameters flattened).
    pub capabilities: Vec<Capability>,
}

impl Open {
    /// An OPEN for version 4 with the given fields.
    pub fn new(my_as: u16, hold_time: u16, bgp_id: Ipv4Addr, capabilities: Vec<Capability>) -> Self {
        Open { version: BGP_VERSION, my_as, hold_time, bgp_id, capabilities }
    }

    /// The sender's real AS: the 4-octet AS capability if present, else My AS.
    pub fn asn(&self) -> u32 {
        self.four_octet_as().unwrap_or(u32::from(self.my_as))
    }

    /// The 4-octet AS capability's value, if advertised.
    pub fn four_octet_as(&self) -> Option<u32> {
        self.capabilities.iter().find_map(|c| match c {
            Capability::FourOctetAs(asn) => Some(*asn),
            _ => None,
        })
    }

    /// The families advertised with the Multiprotocol capability.
    pub fn multiprotocol(&self) -> Vec<Family> {
        self.capabilities
            .iter()
            .filter_map(|c| match c {
                Capability::Multiprotocol(f) => Some(*f),
                _ => None,
            })
            .collect()
    }

    /// Whether Route Refresh was advertised.
    pub fn route_refresh(&self) -> bool {
        self.capabilities.iter().any(|c| matches!(c, Capability::RouteRefresh))
    }

    /// The Graceful Restart capability, if advertised.
    pub fn graceful_restart(&self) -> Option<&GracefulRestartCap> {
        self.capabilities.iter().find_map(|c| match c {
            Capability::GracefulRestart(gr) => Some(gr),
            _ => None,
        })
    }

    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.push(self.version);
        out.extend_from_slice(&self.my_as.to_be_bytes());
        out.extend_from_slice(&self.hold_time.to_be_bytes());
        out.extend_from_slice(&self.bgp_id.octets());
        // Capabilities packed into as few parameters as fit 255 octets each.
        let mut params: Vec<u8> = Vec::new();
        let mut current: Vec<u8> = Vec::new();
        for cap in &self.capabilities {
            let mut one = Vec::new();
            cap.encode(&mut one)?;
            if current.len() + one.len() > 255 {
                params.push(PARAM_CAPABILITIES);
                params.push(current.len() as u8);
                params.append(&mut current);
            }
            current.extend_from_slice(&one);
        }
        if !current.is_empty() {
            params.push(PARAM_CAPABILITIES);
            params.push(current.len() as u8);
            params.append(&mut current);
        }
        let len = u8::try_from(params.len()).map_err(|_| EncodeError::OptionalParametersTooLong)?;
        out.push(len);
        out.extend_from_slice(&params);
        Ok(())
    }

    /// Decodes the body (after the header). Semantic checks (version, AS, identifier, hold
    /// time) are the session's job, except that the structure must parse.
    pub fn decode_body(body: &[u8]) -> Result<Open, DecodeError> {
        let bad_len = || {
            DecodeError::new(
                code::MESSAGE_HEADER,
                code::header::BAD_MESSAGE_LENGTH,
                ((body.len() + super::HEADER_LEN) as u16).to_be_bytes().to_vec(),
                "OPEN shorter than 29 octets",
            )
        };
        let mut r = Reader::new(body);
        let version = r.u8().ok_or_else(bad_len)?;
        let my_as = r.u16().ok_or_else(bad_len)?;
        let hold_time = r.u16().ok_or_else(bad_len)?;
        let bgp_id = r.ipv4().ok_or_else(bad_len)?;
        let opt_len = r.u8().ok_or_else(bad_len)?;
        // Subcode 0 ("unspecific") for structural OPEN errors, as RFC 4271 §6.2 allows.
        let malformed = |why: &str| DecodeError::open(0, format!("malformed optional parameters: {why}"));
        if usize::from(opt_len) != r.remaining() {
            return Err(malformed("length does not match the message"));
        }
        let mut capabilities = Vec::new();
        while !r.is_empty() {
            let ptype = r.u8().ok_or_else(|| malformed("truncated parameter"))?;
            let plen = r.u8().ok_or_else(|| malformed("truncated parameter"))?;
            let value = r.take(usize::from(plen)).ok_or_else(|| malformed("parameter overruns"))?;
            if ptype != PARAM_CAPABILITIES {
                return Err(DecodeError::open(
                    code::open::UNSUPPORTED_OPTIONAL_PARAMETER,
                    format!("unsupported optional parameter type {ptype}"),
                ));
            }
            let mut c = Reader::new(value);
            while !c.is_empty() {
                let ccode = c.u8().ok_or_else(|| malformed("truncated capability"))?;
                let clen = c.u8().ok_or_else(|| malformed("truncated capability"))?;
                let cval = c.take(usize::from(clen)).ok_or_else(|| malformed("capability overruns"))?;
                capabilities.push(Capability::decode(ccode, cval));
            }
        }
        Ok(Open { version, my_as, hold_time, bgp_id, capabilities })
    }
}
