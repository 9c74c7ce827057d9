//! NOTIFICATION message (RFC 4271 §4.5).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Error code    | Error subcode |   Data (variable)             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The codes and subcodes are in [`super::code`].

use serde::{Deserialize, Serialize};

use super::{DecodeError, code};

/// A NOTIFICATION: why the sender is closing the session.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Notification {
    /// Error code ([`code`]).
    pub code: u8,
    /// Error subcode (0 when the code defines none).
    pub subcode: u8,
    /// Diagnostic data, meaning defined per code/subcode.
    pub data: Vec<u8>,
}

impl Notification {
    /// A NOTIFICATION without data.
    pub fn new(code: u8, subcode: u8) -> Self {
        Notification { code, subcode, data: Vec::new() }
    }

    /// A Cease NOTIFICATION with the given subcode ([`code::cease`]).
    pub fn cease(subcode: u8) -> Self {
        Notification::new(code::CEASE, subcode)
    }

    /// OPEN Message Error / Unsupported Version Number: carries the version we speak.
    pub fn unsupported_version() -> Self {
        Notification {
            code: code::OPEN_MESSAGE,
            subcode: code::open::UNSUPPORTED_VERSION,
            data: u16::from(super::BGP_VERSION).to_be_bytes().to_vec(),
        }
    }

    /// Whether this is an OPEN Message Error / Unsupported Version Number (event NotifMsgVerErr).
    pub fn is_version_error(&self) -> bool {
        self.code == code::OPEN_MESSAGE && self.subcode == code::open::UNSUPPORTED_VERSION
    }

    /// A short description of the code and subcode, for logs.
    pub fn describe(&self) -> String {
        let c = match self.code {
            code::MESSAGE_HEADER => "Message Header Error",
            code::OPEN_MESSAGE => "OPEN Message Error",
            code::UPDATE_MESSAGE => "UPDATE Message Error",
            code::HOLD_TIMER_EXPIRED => "Hold Timer Expired",
            code::FSM => "Finite State Machine Error",
            code::CEASE => "Cease",
            code::ROUTE_REFRESH_MESSAGE => "ROUTE-REFRESH Message Error",
            _ => "unknown error code",
        };
        format!("{c} ({}/{})", self.code, self.subcode)
    }

    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) {
        out.push(self.code);
        out.push(self.subcode);
        out.extend_from_slice(&self.data);
    }

    /// Decodes the body (after the header).
    pub fn decode_body(body: &[u8]) -> Result<Notification, DecodeError> {
        match body {
            [code, subcode, data @ ..] => Ok(Notification { code: *code, subcode: *subcode, data: data.to_vec() }),
            _ => Err(DecodeError::new(
                code::MESSAGE_HEADER,
                code::header::BAD_MESSAGE_LENGTH,
                ((body.len() + super::HEADER_LEN) as u16).to_be_bytes().to_vec(),
                "NOTIFICATION shorter than 21 octets",
            )),
        }
    }
}
