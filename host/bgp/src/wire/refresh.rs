//! ROUTE-REFRESH message (RFC 2918; the reserved octet is the RFC 7313 message subtype).
//!
//! ```text
//!  0       7      15      23      31
//! +-------+-------+-------+-------+
//! |      AFI      | Res.  | SAFI  |
//! +-------+-------+-------+-------+
//! ```

use serde::{Deserialize, Serialize};

use super::{DecodeError, Family, code};

/// A request to re-advertise the Adj-RIB-Out of one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RouteRefresh {
    /// The family to refresh.
    pub family: Family,
    /// The reserved octet: 0 = normal request (RFC 2918), 1 = BoRR, 2 = EoRR (RFC 7313).
    pub subtype: u8,
}

impl RouteRefresh {
    /// A plain route refresh request for a family.
    pub fn new(family: Family) -> Self {
        RouteRefresh { family, subtype: 0 }
    }

    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.family.afi.to_be_bytes());
        out.push(self.subtype);
        out.push(self.family.safi);
    }

    /// Decodes the body (after the header); anything but 4 octets is a
    /// ROUTE-REFRESH Message Error / Invalid Message Length (RFC 7313 §5) carrying the message.
    pub fn decode_body(body: &[u8]) -> Result<RouteRefresh, DecodeError> {
        match body {
            [a0, a1, subtype, safi] => Ok(RouteRefresh {
                family: Family { afi: u16::from_be_bytes([*a0, *a1]), safi: *safi },
                subtype: *subtype,
            }),
            _ => Err(DecodeError::new(
                code::ROUTE_REFRESH_MESSAGE,
                code::route_refresh::INVALID_MESSAGE_LENGTH,
                body.iter().copied().take(super::MAX_MESSAGE_LEN).collect(),
                format!("ROUTE-REFRESH body of {} octets, expected 4", body.len()),
            )),
        }
    }
}
