//! MetalLB `BFDProfile` semantics and the IP transport rules of RFC 5881 (single hop) and
//! RFC 5883 (multi-hop).
//!
//! [`BfdProfile`] is the spec as written (every field optional, MetalLB's JSON names);
//! [`BfdProfile::resolve`] applies MetalLB's defaults and CRD ranges and yields a [`Profile`],
//! which turns into [`SessionParams`] for a session and decides TTL acceptance.
//!
//! | field | default | range |
//! |---|---|---|
//! | `receiveInterval` (ms) | 300 | 10..=60000 |
//! | `transmitInterval` (ms) | 300 | 10..=60000 |
//! | `detectMultiplier` | 3 | 2..=255 |
//! | `echoInterval` (ms) | 50 | 10..=60000 |
//! | `echoMode` | false | |
//! | `passiveMode` | false | |
//! | `minimumTtl` (multi-hop only) | 254 | 1..=254 |
//!
//! Echo mode is single-hop only (MetalLB: "not supported on multi hops setups"; RFC 5883 §3).

use std::ops::RangeInclusive;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::session::SessionParams;

/// UDP destination port of single-hop control packets (RFC 5881 §4).
pub const CONTROL_PORT: u16 = 3784;
/// UDP destination port of echo packets (RFC 5881 §4).
pub const ECHO_PORT: u16 = 3785;
/// UDP destination port of multi-hop control packets (RFC 5883 §5).
pub const MULTIHOP_CONTROL_PORT: u16 = 4784;
/// Source ports for control packets: "MUST be in the range 49152 through 65535" (RFC 5881 §4),
/// and unique per session.
pub const SOURCE_PORTS: RangeInclusive<u16> = 49152..=65535;
/// TTL / Hop Limit of every control packet we send (RFC 5881 §5, GTSM).
pub const TX_TTL: u8 = 255;

/// Whether a session runs over a directly connected link or across routers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum HopMode {
    /// RFC 5881: port 3784, TTL 255 both ways, echo allowed.
    SingleHop,
    /// RFC 5883: port 4784, received TTL ≥ `minimumTtl`, no echo.
    MultiHop,
}

impl HopMode {
    /// The UDP destination port of control packets.
    pub fn control_port(self) -> u16 {
        match self {
            HopMode::SingleHop => CONTROL_PORT,
            HopMode::MultiHop => MULTIHOP_CONTROL_PORT,
        }
    }
}

/// Whether `port` may be used as the source port of control packets.
pub fn is_valid_source_port(port: u16) -> bool {
    SOURCE_PORTS.contains(&port)
}

/// A received control packet's TTL is not acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error, Serialize, Deserialize)]
pub enum TtlError {
    /// RFC 5881 §5: single-hop packets "MUST be discarded if the received TTL or Hop Limit is
    /// not equal to 255".
    #[error("single-hop control packet with TTL {got}, must be 255")]
    SingleHop {
        /// Received TTL.
        got: u8,
    },
    /// RFC 5883 §5 / MetalLB `minimumTtl`: multi-hop packet from too far away.
    #[error("multi-hop control packet with TTL {got}, below the minimum {minimum}")]
    BelowMinimum {
        /// Received TTL.
        got: u8,
        /// Configured minimum.
        minimum: u8,
    },
}

/// Decides whether a control packet received with `ttl` is accepted.
pub fn check_ttl(hop: HopMode, minimum_ttl: u8, ttl: u8) -> Result<(), TtlError> {
    match hop {
        HopMode::SingleHop if ttl == TX_TTL => Ok(()),
        HopMode::SingleHop => Err(TtlError::SingleHop { got: ttl }),
        HopMode::MultiHop if ttl >= minimum_ttl => Ok(()),
        HopMode::MultiHop => Err(TtlError::BelowMinimum { got: ttl, minimum: minimum_ttl }),
    }
}

/// A field of a BFD profile is outside its documented range.
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize, Deserialize)]
#[error("{field}: {value} is out of range {min}..={max}")]
pub struct ProfileError {
    /// The field's name as written in the manifest (`receiveInterval`, ...).
    pub field: &'static str,
    /// The value given.
    pub value: u32,
    /// Smallest accepted value.
    pub min: u32,
    /// Largest accepted value.
    pub max: u32,
}

/// A MetalLB `BFDProfile` spec (also frr-k8s `bfdProfiles[]`), as written: intervals in ms.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BfdProfile {
    /// `receiveInterval`: the minimum interval at which we can receive control packets.
    pub receive_interval: Option<u32>,
    /// `transmitInterval`: the minimum transmission interval, less jitter.
    pub transmit_interval: Option<u32>,
    /// `detectMultiplier`.
    pub detect_multiplier: Option<u32>,
    /// `echoInterval`: the minimum echo transmit/receive interval, less jitter.
    pub echo_interval: Option<u32>,
    /// `echoMode`.
    pub echo_mode: Option<bool>,
    /// `passiveMode`.
    pub passive_mode: Option<bool>,
    /// `minimumTtl` (multi-hop only).
    pub minimum_ttl: Option<u32>,
}

/// A resolved BFD profile: defaults applied, ranges checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// `receiveInterval`.
    pub receive_interval: Duration,
    /// `transmitInterval`.
    pub transmit_interval: Duration,
    /// `detectMultiplier`.
    pub detect_multiplier: u8,
    /// `echoInterval`.
    pub echo_interval: Duration,
    /// `echoMode`.
    pub echo_mode: bool,
    /// `passiveMode`.
    pub passive_mode: bool,
    /// `minimumTtl`.
    pub minimum_ttl: u8,
}

/// Default `receiveInterval` / `transmitInterval` (ms).
pub const DEFAULT_INTERVAL_MS: u32 = 300;
/// Range of `receiveInterval`, `transmitInterval` and `echoInterval` (ms).
pub const INTERVAL_RANGE_MS: RangeInclusive<u32> = 10..=60000;
/// Default `detectMultiplier`.
pub const DEFAULT_DETECT_MULTIPLIER: u8 = 3;
/// Range of `detectMultiplier`.
pub const DETECT_MULTIPLIER_RANGE: RangeInclusive<u32> = 2..=255;
/// Default `echoInterval` (ms).
pub const DEFAULT_ECHO_INTERVAL_MS: u32 = 50;
/// Default `minimumTtl`.
pub const DEFAULT_MINIMUM_TTL: u8 = 254;
/// Range of `minimumTtl`.
pub const MINIMUM_TTL_RANGE: RangeInclusive<u32> = 1..=254;

impl Default for Profile {
    fn default() -> Self {
        Profile {
            receive_interval: Duration::from_millis(DEFAULT_INTERVAL_MS.into()),
            transmit_interval: Duration::from_millis(DEFAULT_INTERVAL_MS.into()),
            detect_multiplier: DEFAULT_DETECT_MULTIPLIER,
            echo_interval: Duration::from_millis(DEFAULT_ECHO_INTERVAL_MS.into()),
            echo_mode: false,
            passive_mode: false,
            minimum_ttl: DEFAULT_MINIMUM_TTL,
        }
    }
}

fn ranged(field: &'static str, v: Option<u32>, default: u32, range: &RangeInclusive<u32>) -> Result<u32, ProfileError> {
    let v = v.unwrap_or(default);
    if range.contains(&v) {
        Ok(v)
    } else {
        Err(ProfileError { field, value: v, min: *range.start(), max: *range.end() })
    }
}

impl BfdProfile {
    /// Every out-of-range field, in declaration order (empty when valid).
    pub fn errors(&self) -> Vec<ProfileError> {
        let ms = |f, v| ranged(f, v, 0, &INTERVAL_RANGE_MS).err().filter(|_| v.is_some());
        [
            ms("receiveInterval", self.receive_interval),
            ms("transmitInterval", self.transmit_interval),
            ranged("detectMultiplier", self.detect_multiplier, 3, &DETECT_MULTIPLIER_RANGE).err(),
            ms("echoInterval", self.echo_interval),
            ranged("minimumTtl", self.minimum_ttl, 254, &MINIMUM_TTL_RANGE).err(),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// Applies defaults and checks ranges; the first bad field is the error.
    pub fn resolve(&self) -> Result<Profile, ProfileError> {
        let ms = |f, v| ranged(f, v, DEFAULT_INTERVAL_MS, &INTERVAL_RANGE_MS).map(|v| Duration::from_millis(v.into()));
        let receive_interval = ms("receiveInterval", self.receive_interval)?;
        let transmit_interval = ms("transmitInterval", self.transmit_interval)?;
        let detect_multiplier = ranged(
            "detectMultiplier",
            self.detect_multiplier,
            DEFAULT_DETECT_MULTIPLIER.into(),
            &DETECT_MULTIPLIER_RANGE,
        )?;
        let echo_interval = ranged("echoInterval", self.echo_interval, DEFAULT_ECHO_INTERVAL_MS, &INTERVAL_RANGE_MS)?;
        let minimum_ttl = ranged("minimumTtl", self.minimum_ttl, DEFAULT_MINIMUM_TTL.into(), &MINIMUM_TTL_RANGE)?;
        Ok(Profile {
            receive_interval,
            transmit_interval,
            // Both ranges end at 255 / 254: the conversions cannot fail.
            detect_multiplier: u8::try_from(detect_multiplier).unwrap_or(u8::MAX),
            echo_interval: Duration::from_millis(echo_interval.into()),
            echo_mode: self.echo_mode.unwrap_or(false),
            passive_mode: self.passive_mode.unwrap_or(false),
            minimum_ttl: u8::try_from(minimum_ttl).unwrap_or(DEFAULT_MINIMUM_TTL),
        })
    }
}

impl Profile {
    /// The session configuration for a session of kind `hop` (echo only on single hop).
    pub fn session_params(&self, hop: HopMode) -> SessionParams {
        SessionParams {
            desired_min_tx: self.transmit_interval,
            required_min_rx: self.receive_interval,
            detect_mult: self.detect_multiplier,
            passive: self.passive_mode,
            echo_interval: (self.echo_mode && hop == HopMode::SingleHop).then_some(self.echo_interval),
        }
    }

    /// Whether a control packet received with `ttl` is accepted for a session of kind `hop`.
    pub fn check_ttl(&self, hop: HopMode, ttl: u8) -> Result<(), TtlError> {
        check_ttl(hop, self.minimum_ttl, ttl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_metallb() {
        let p = BfdProfile::default().resolve().expect("empty spec is valid");
        assert_eq!(p, Profile::default());
        assert_eq!(p.receive_interval, Duration::from_millis(300));
        assert_eq!(p.transmit_interval, Duration::from_millis(300));
        assert_eq!(p.detect_multiplier, 3);
        assert_eq!(p.echo_interval, Duration::from_millis(50));
        assert!(!p.echo_mode && !p.passive_mode);
        assert_eq!(p.minimum_ttl, 254);
    }

    #[test]
    fn parses_metallb_json_names() {
        let spec: BfdProfile = serde_json::from_str(
            r#"{"detectMultiplier":37,"echoMode":true,"minimumTtl":10,"passiveMode":true,
                "receiveInterval":35,"transmitInterval":35}"#,
        )
        .expect("valid json");
        let p = spec.resolve().expect("in range");
        assert_eq!(p.detect_multiplier, 37);
        assert_eq!(p.minimum_ttl, 10);
        assert!(p.echo_mode && p.passive_mode);
        assert_eq!(p.receive_interval, Duration::from_millis(35));
        let sp = p.session_params(HopMode::SingleHop);
        assert_eq!(sp.echo_interval, Some(Duration::from_millis(50)));
        assert!(sp.passive);
        assert_eq!(p.session_params(HopMode::MultiHop).echo_interval, None, "no echo on multi-hop");
    }

    #[test]
    fn ranges_name_the_field() {
        let cases: [(BfdProfile, &str, u32); 8] = [
            (BfdProfile { receive_interval: Some(9), ..Default::default() }, "receiveInterval", 9),
            (BfdProfile { receive_interval: Some(60001), ..Default::default() }, "receiveInterval", 60001),
            (BfdProfile { transmit_interval: Some(0), ..Default::default() }, "transmitInterval", 0),
            (BfdProfile { detect_multiplier: Some(1), ..Default::default() }, "detectMultiplier", 1),
            (BfdProfile { detect_multiplier: Some(256), ..Default::default() }, "detectMultiplier", 256),
            (BfdProfile { echo_interval: Some(5), ..Default::default() }, "echoInterval", 5),
            (BfdProfile { minimum_ttl: Some(0), ..Default::default() }, "minimumTtl", 0),
            (BfdProfile { minimum_ttl: Some(255), ..Default::default() }, "minimumTtl", 255),
        ];
        for (spec, field, value) in cases {
            let e = spec.resolve().expect_err("out of range");
            assert_eq!((e.field, e.value), (field, value));
            assert!(e.to_string().starts_with(field), "{e}");
            assert_eq!(spec.errors(), vec![e]);
        }
        // Bounds are inclusive.
        let edge = BfdProfile {
            receive_interval: Some(10),
            transmit_interval: Some(60000),
            detect_multiplier: Some(255),
            echo_interval: Some(10),
            minimum_ttl: Some(1),
            ..Default::default()
        };
        assert!(edge.resolve().is_ok());
        assert!(edge.errors().is_empty());
        let many = BfdProfile { receive_interval: Some(1), minimum_ttl: Some(300), ..Default::default() };
        assert_eq!(many.errors().len(), 2);
    }

    #[test]
    fn ttl_rules() {
        assert_eq!(check_ttl(HopMode::SingleHop, 254, 255), Ok(()));
        assert_eq!(check_ttl(HopMode::SingleHop, 1, 254), Err(TtlError::SingleHop { got: 254 }));
        assert_eq!(check_ttl(HopMode::MultiHop, 254, 254), Ok(()));
        assert_eq!(check_ttl(HopMode::MultiHop, 254, 255), Ok(()));
        assert_eq!(check_ttl(HopMode::MultiHop, 254, 253), Err(TtlError::BelowMinimum { got: 253, minimum: 254 }));
        assert_eq!(check_ttl(HopMode::MultiHop, 10, 10), Ok(()));
        assert_eq!(HopMode::SingleHop.control_port(), 3784);
        assert_eq!(HopMode::MultiHop.control_port(), 4784);
        assert!(is_valid_source_port(49152) && is_valid_source_port(65535));
        assert!(!is_valid_source_port(49151) && !is_valid_source_port(3784));
    }
}
