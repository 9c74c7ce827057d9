//! BGP communities as MetalLB writes them (`internal/bgp/community/community.go`) and the
//! aliases of Community objects (`communitiesFromCrs`, `getCommunityValue` in
//! `internal/config/config.go`).
//!
//! - `a:b`: a standard community, each part a decimal number of at most 16 bits. The well-known
//!   values are written as numbers like any other (NO_EXPORT `65535:65281`, NO_ADVERTISE
//!   `65535:65282`, NO_EXPORT_SUBCONFED `65535:65283`).
//! - `large:a:b:c`: a large community, each part a decimal number of at most 32 bits.
//! - Anything else with two or four `:`-separated parts is a malformed *value*; any other shape
//!   is not a community at all, so an advertisement's entry of that shape must be an alias.
//!
//! An advertisement's entry is looked up as an alias first, then parsed (MetalLB's order).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::bytes::{cmp, eq, split_byte};
use crate::types::{Community, CommunityAlias, ConfigError, ObjectRef};

/// Why a text is not a community.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ParseError {
    /// The shape of a community (`a:b`, `large:a:b:c`) with a bad part; the message says which.
    Value(String),
    /// Not the shape of a community (so, for an advertisement, it can only be an alias).
    Format,
}

/// A decimal number of at most `bits` bits: digits only (no sign, no spaces), not empty.
fn number(part: &str, whole: &str, bits: u32) -> Result<u32, ParseError> {
    if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::Value(format!("\"{part}\" of \"{whole}\" is not an unsigned {bits}-bit number")));
    }
    match part.parse::<u64>() {
        Ok(v) if v < (1u64 << bits) => u32::try_from(v).map_err(|_| ParseError::Format),
        _ => Err(ParseError::Value(format!("\"{part}\" of \"{whole}\" does not fit in {bits} bits"))),
    }
}

/// Parses `a:b` or `large:a:b:c`.
pub(crate) fn parse(s: &str) -> Result<Community, ParseError> {
    let mut parts: [&str; 4] = [""; 4];
    let mut n = 0usize;
    for p in split_byte(s, b':') {
        if n == 4 {
            return Err(ParseError::Format);
        }
        if let Some(slot) = parts.get_mut(n) {
            *slot = p;
        }
        n += 1;
    }
    match n {
        2 => {
            let hi = number(parts[0], s, 16)?;
            let lo = number(parts[1], s, 16)?;
            Ok(Community::Standard((hi << 16) | lo))
        }
        4 => {
            if !eq(parts[0], "large") {
                return Err(ParseError::Value(format!(
                    "\"{s}\" has four parts but does not start with \"large\": a large community is written large:<uint32>:<uint32>:<uint32>"
                )));
            }
            Ok(Community::Large(number(parts[1], s, 32)?, number(parts[2], s, 32)?, number(parts[3], s, 32)?))
        }
        _ => Err(ParseError::Format),
    }
}

/// One usable alias.
struct Alias {
    name: String,
    value: Community,
}

/// The aliases of every Community object, resolved.
pub(crate) struct Aliases {
    /// Sorted by name (byte order), unique.
    good: Vec<Alias>,
    /// Names that are defined but unusable (bad value, or defined twice): references to them are
    /// not reported again.
    broken: Vec<String>,
}

/// The field path of the `j`-th alias of its Community object.
fn alias_field(all: &[CommunityAlias], i: usize, suffix: &str) -> String {
    let Some(me) = all.get(i) else { return String::from("spec.communities") };
    let j = all.iter().take(i).filter(|a| same_object(&a.defined_by, &me.defined_by)).count();
    format!("spec.communities[{j}].{suffix}")
}

fn same_object(a: &ObjectRef, b: &ObjectRef) -> bool {
    eq(&a.namespace, &b.namespace) && eq(&a.name, &b.name)
}

impl Aliases {
    /// Resolves every alias; malformed values and names defined more than once are reported
    /// (the latter naming both Community objects), and those names become unusable.
    pub fn resolve(all: &[CommunityAlias], errors: &mut Vec<ConfigError>) -> Aliases {
        let mut parsed: Vec<(usize, Option<Community>)> = Vec::with_capacity(all.len());
        for (i, a) in all.iter().enumerate() {
            let value = match parse(&a.value) {
                Ok(v) => Some(v),
                Err(e) => {
                    let why = match e {
                        ParseError::Value(m) => m,
                        ParseError::Format => String::from("write a:b (16-bit parts) or large:a:b:c (32-bit parts)"),
                    };
                    errors.push(ConfigError {
                        objects: alloc::vec![a.defined_by.clone()],
                        field: alias_field(all, i, "value"),
                        reason: format!("alias \"{}\" has an invalid community value \"{}\": {why}", a.name, a.value),
                    });
                    None
                }
            };
            parsed.push((i, value));
        }
        // Stable sort by name keeps the definitions of one name in input order.
        parsed.sort_by(|x, y| cmp(&all[x.0].name, &all[y.0].name));
        let mut good = Vec::new();
        let mut broken = Vec::new();
        let mut k = 0;
        while k < parsed.len() {
            let first = parsed[k].0;
            let name = &all[first].name;
            let mut end = k + 1;
            while end < parsed.len() && eq(&all[parsed[end].0].name, name) {
                end += 1;
            }
            if end - k > 1 {
                for &(other, _) in &parsed[k + 1..end] {
                    let (a, b) = (&all[first], &all[other]);
                    let mut objects = alloc::vec![a.defined_by.clone()];
                    if !same_object(&a.defined_by, &b.defined_by) {
                        objects.push(b.defined_by.clone());
                    }
                    let values = if eq(&a.value, &b.value) {
                        format!("both as \"{}\"", a.value)
                    } else {
                        format!("as \"{}\" by {} and as \"{}\" by {}", a.value, a.defined_by, b.value, b.defined_by)
                    };
                    errors.push(ConfigError {
                        objects,
                        field: alias_field(all, other, "name"),
                        reason: format!(
                            "community alias \"{name}\" is defined twice ({values}); an alias may be defined once"
                        ),
                    });
                }
                broken.push(name.clone());
            } else if let Some(value) = parsed[k].1 {
                good.push(Alias { name: name.clone(), value });
            } else {
                broken.push(name.clone());
            }
            k = end;
        }
        Aliases { good, broken }
    }

    fn find(&self, name: &str) -> Option<Community> {
        self.good.binary_search_by(|a| cmp(&a.name, name)).ok().and_then(|i| self.good.get(i)).map(|a| a.value)
    }

    fn is_broken(&self, name: &str) -> bool {
        self.broken.iter().any(|b| eq(b, name))
    }

    /// Resolves an advertisement's `communities` (alias first, then a literal value) into a
    /// sorted, deduplicated list; each bad entry is reported against the advertisement.
    pub fn resolve_list(&self, adv: &ObjectRef, written: &[String], errors: &mut Vec<ConfigError>) -> Vec<Community> {
        let mut out = Vec::with_capacity(written.len());
        for (i, c) in written.iter().enumerate() {
            if let Some(v) = self.find(c) {
                out.push(v);
                continue;
            }
            if self.is_broken(c) {
                continue;
            }
            let reason = match parse(c) {
                Ok(v) => {
                    out.push(v);
                    continue;
                }
                Err(ParseError::Value(m)) => format!("invalid community \"{c}\": {m}"),
                Err(ParseError::Format) => format!(
                    "\"{c}\" is neither a community (a:b with 16-bit parts, or large:a:b:c with 32-bit parts) nor an alias defined by a Community object"
                ),
            };
            errors.push(ConfigError {
                objects: alloc::vec![adv.clone()],
                field: format!("spec.communities[{i}]"),
                reason,
            });
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    fn alias(ns: &str, obj: &str, name: &str, value: &str) -> CommunityAlias {
        CommunityAlias { defined_by: ObjectRef::new(ns, obj), name: name.into(), value: value.into() }
    }

    #[test]
    fn parses_standard_and_large() {
        assert_eq!(parse("65535:65282"), Ok(Community::NO_ADVERTISE));
        assert_eq!(parse("65535:65281"), Ok(Community::NO_EXPORT));
        assert_eq!(parse("65535:65283"), Ok(Community::NO_EXPORT_SUBCONFED));
        assert_eq!(parse("8000:800"), Ok(Community::Standard((8000 << 16) | 800)));
        assert_eq!(parse("0:0"), Ok(Community::Standard(0)));
        assert_eq!(parse("large:1:2:3"), Ok(Community::Large(1, 2, 3)));
        assert_eq!(parse("large:4294967295:0:007"), Ok(Community::Large(u32::MAX, 0, 7)));
    }

    #[test]
    fn rejects_malformed_values_like_metallb() {
        for bad in ["65536:1", "1:65536", "-1:2", "+1:2", " 1:2", "a:b", ":1", "1:", "larg:1:2:3", "large:1:x:3"] {
            assert!(matches!(parse(bad), Err(ParseError::Value(_))), "{bad}");
        }
        assert!(matches!(parse("large:4294967296:0:0"), Err(ParseError::Value(_))));
        for not_a_community in ["NO_ADVERTISE", "12345", "1:2:3", "1:2:3:4:5", ""] {
            assert_eq!(parse(not_a_community), Err(ParseError::Format), "{not_a_community}");
        }
    }

    #[test]
    fn orders_like_metallb_less_than() {
        let mut v = vec![Community::Large(123, 456, 789), Community::Standard(1234), Community::Large(0, 0, 1)];
        v.sort();
        assert_eq!(v, [Community::Large(0, 0, 1), Community::Large(123, 456, 789), Community::Standard(1234)]);
        assert!(Community::Standard(5) < Community::Large(5, 0, 0));
        assert_eq!(Community::NO_EXPORT.to_string(), "65535:65281");
        assert_eq!(Community::Large(1, 2, 3).to_string(), "large:1:2:3");
    }

    #[test]
    fn aliases_resolve_before_literals() {
        let mut errors = vec![];
        let a = Aliases::resolve(
            &[alias("m", "c1", "NO_ADVERTISE", "65535:65282"), alias("m", "c1", "big", "large:1:2:3")],
            &mut errors,
        );
        assert!(errors.is_empty());
        let adv = ObjectRef::new("m", "adv");
        let written = vec!["big".to_string(), "NO_ADVERTISE".into(), "8000:800".into(), "65535:65282".into()];
        let got = a.resolve_list(&adv, &written, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(got, [Community::Large(1, 2, 3), Community::Standard((8000 << 16) | 800), Community::NO_ADVERTISE]);
    }

    #[test]
    fn unknown_alias_names_the_advertisement() {
        let mut errors = vec![];
        let a = Aliases::resolve(&[], &mut errors);
        let adv = ObjectRef::new("m", "adv");
        let got = a.resolve_list(&adv, &["1:1".into(), "NO_SUCH".into(), "70000:1".into()], &mut errors);
        assert_eq!(got, [Community::Standard((1 << 16) | 1)]);
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].objects, core::slice::from_ref(&adv));
        assert_eq!(errors[0].field, "spec.communities[1]");
        assert!(errors[0].reason.contains("NO_SUCH"));
        assert_eq!(errors[1].field, "spec.communities[2]");
        assert!(errors[1].reason.contains("16 bits"), "{}", errors[1].reason);
    }

    #[test]
    fn conflicting_definitions_name_both_objects() {
        let mut errors = vec![];
        let all = [alias("m", "c1", "x", "1:1"), alias("m", "c2", "y", "2:2"), alias("m", "c2", "x", "1:2")];
        let a = Aliases::resolve(&all, &mut errors);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].objects, [ObjectRef::new("m", "c1"), ObjectRef::new("m", "c2")]);
        assert_eq!(errors[0].field, "spec.communities[1].name");
        assert!(errors[0].reason.contains("\"1:1\" by m/c1"), "{}", errors[0].reason);
        // References to the broken alias are not reported a second time; y still works.
        let got = a.resolve_list(&ObjectRef::new("m", "adv"), &["x".into(), "y".into()], &mut errors);
        assert_eq!(errors.len(), 1);
        assert_eq!(got, [Community::Standard((2 << 16) | 2)]);
    }

    #[test]
    fn duplicate_definitions_with_equal_values_are_refused_too() {
        let mut errors = vec![];
        Aliases::resolve(&[alias("m", "c1", "x", "1:1"), alias("m", "c2", "x", "1:1")], &mut errors);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].reason.contains("both as \"1:1\""));
    }

    #[test]
    fn malformed_alias_value_names_its_object() {
        let mut errors = vec![];
        Aliases::resolve(&[alias("m", "c1", "ok", "1:1"), alias("m", "c1", "bad", "1:99999")], &mut errors);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].objects, [ObjectRef::new("m", "c1")]);
        assert_eq!(errors[0].field, "spec.communities[1].value");
    }
}
