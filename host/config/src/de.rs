//! A serde `Deserializer` over the located YAML tree that never gives up.
//!
//! Kubernetes objects are deserialised into the structs of `raw.rs` through this deserializer.
//! It differs from a usual one in three ways:
//! - **Unknown fields** (keys of a struct that the struct does not declare) are recorded with their
//!   path, line and a "did you mean" suggestion, then skipped — kubectl's `--validate=warn`.
//! - **Type errors are recorded, not returned**: the offending value is replaced by the zero value
//!   of the expected type (`""`, `0`, `false`, an empty list) and deserialisation goes on, so that
//!   every problem of an object is reported at once. The raw structs make every field optional,
//!   so serde itself never fails on a missing field.
//! - `null` deserialises to the zero value of any type, as Go's `encoding/json` does.

use crate::yaml::{Entry, Node, Value, push_key};
use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;

/// A problem found while deserialising one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    /// Whether it is an error (a type error) or a warning (an unknown field).
    pub is_error: bool,
    /// The field path, e.g. `spec.addresses[1]`.
    pub path: String,
    /// The line of the field.
    pub line: u32,
    /// The explanation.
    pub message: String,
}

/// Collects the problems of one deserialisation.
#[derive(Debug, Default)]
pub(crate) struct Problems {
    list: RefCell<Vec<Problem>>,
}

impl Problems {
    /// The problems found, in document order.
    pub fn into_vec(self) -> Vec<Problem> {
        self.list.into_inner()
    }

    fn push(&self, p: Problem) {
        self.list.borrow_mut().push(p);
    }
}

/// An error returned by a visitor (only custom visitors can produce one; it is recorded too).
#[derive(Debug)]
pub(crate) struct DeError(String);

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError(msg.to_string())
    }
}

/// A path as a linked list of steps (rendered only when a problem is recorded).
#[derive(Clone, Copy)]
pub(crate) enum Path<'a> {
    Root(&'a str),
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl Path<'_> {
    fn render(&self) -> String {
        let mut out = String::new();
        self.render_into(&mut out);
        out
    }

    fn render_into(&self, out: &mut String) {
        match self {
            Path::Root(prefix) => out.push_str(prefix),
            Path::Key(parent, key) => {
                parent.render_into(out);
                push_key(out, key);
            }
            Path::Index(parent, i) => {
                parent.render_into(out);
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
        }
    }
}

/// Deserialise `T` from `node`; problems are collected in `problems`.
///
/// `prefix` is the path of `node` itself (empty for a document root, `items[3]` for an item of a
/// `List`).
pub(crate) fn from_node<T: de::DeserializeOwned>(node: Node<'_>, prefix: &str, problems: &Problems) -> Option<T> {
    let line = node.line;
    let de = NodeDe { node, path: Path::Root(prefix), problems, field_of: None };
    match T::deserialize(de) {
        Ok(v) => Some(v),
        Err(e) => {
            problems.push(Problem { is_error: true, path: prefix.to_string(), line, message: e.0 });
            None
        }
    }
}

/// Deserialises a node it owns: strings are moved out of the tree, not copied.
struct NodeDe<'a> {
    node: Node<'a>,
    path: Path<'a>,
    problems: &'a Problems,
    /// For the value of a struct field: the line of its key and the struct's field names (an
    /// unknown field is one serde skips with `deserialize_ignored_any`).
    field_of: Option<(u32, &'static [&'static str])>,
}

impl NodeDe<'_> {
    fn type_error(&self, expected: &str) {
        let found = match &self.node.value {
            Value::Str(s) => format!("string \"{}\"", truncate(s)),
            Value::Int(i) => format!("integer {i}"),
            Value::Float(f) => format!("number {f}"),
            Value::Bool(b) => format!("boolean {b}"),
            _ => self.node.type_name().to_string(),
        };
        self.problems.push(Problem {
            is_error: true,
            path: self.path.render(),
            line: self.node.line,
            message: format!("expected {expected}, found {found}"),
        });
    }

    fn int(&self, min: i128, max: i128) -> i128 {
        match self.node.value {
            Value::Int(i) if (min..=max).contains(&i) => i,
            Value::Int(i) => {
                self.problems.push(Problem {
                    is_error: true,
                    path: self.path.render(),
                    line: self.node.line,
                    message: format!("{i} is out of range: must be {min}..={max}"),
                });
                0
            }
            Value::Null => 0,
            _ => {
                self.type_error("an integer");
                0
            }
        }
    }
}

fn truncate(s: &str) -> String {
    if s.chars().count() > 40 {
        let mut t: String = s.chars().take(37).collect();
        t.push_str("...");
        t
    } else {
        s.to_string()
    }
}

macro_rules! de_int {
    ($method:ident, $ty:ty, $visit:ident) => {
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            let i = self.int(i128::from(<$ty>::MIN), i128::from(<$ty>::MAX));
            // The value is within the range of the target type (checked above, else 0).
            visitor.$visit(<$ty>::try_from(i).unwrap_or_default())
        }
    };
}

impl<'de> Deserializer<'de> for NodeDe<'_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let NodeDe { node, path, problems, .. } = self;
        match node.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(b),
            Value::Int(i) => match u64::try_from(i) {
                Ok(u) => visitor.visit_u64(u),
                Err(_) => visitor.visit_i64(i64::try_from(i).unwrap_or(i64::MIN)),
            },
            Value::Float(f) => visitor.visit_f64(f),
            Value::Str(Cow::Borrowed(s)) => visitor.visit_str(s),
            Value::Str(Cow::Owned(s)) => visitor.visit_string(s),
            Value::Seq(items) => visitor.visit_seq(SeqDe::new(items, &path, problems)),
            Value::Map(entries) => visitor.visit_map(MapDe::new(entries, None, &path, problems)),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.node.value {
            Value::Bool(b) => visitor.visit_bool(b),
            Value::Null => visitor.visit_bool(false),
            _ => {
                self.type_error("a boolean");
                visitor.visit_bool(false)
            }
        }
    }

    de_int!(deserialize_i8, i8, visit_i8);
    de_int!(deserialize_i16, i16, visit_i16);
    de_int!(deserialize_i32, i32, visit_i32);
    de_int!(deserialize_i64, i64, visit_i64);
    de_int!(deserialize_u8, u8, visit_u8);
    de_int!(deserialize_u16, u16, visit_u16);
    de_int!(deserialize_u32, u32, visit_u32);
    de_int!(deserialize_u64, u64, visit_u64);

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.node.value {
            Value::Float(f) => visitor.visit_f64(f),
            #[allow(clippy::cast_precision_loss)]
            Value::Int(i) => visitor.visit_f64(i as f64),
            Value::Null => visitor.visit_f64(0.0),
            _ => {
                self.type_error("a number");
                visitor.visit_f64(0.0)
            }
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.node.value {
            Value::Str(Cow::Borrowed(s)) => visitor.visit_str(s),
            Value::Str(Cow::Owned(s)) => visitor.visit_string(s),
            Value::Null => visitor.visit_str(""),
            _ => {
                self.type_error("a string");
                visitor.visit_str("")
            }
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.node.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if !matches!(self.node.value, Value::Seq(_) | Value::Null) {
            self.type_error("a list");
        }
        let NodeDe { node, path, problems, .. } = self;
        let items = match node.value {
            Value::Seq(items) => items,
            _ => Vec::new(),
        };
        visitor.visit_seq(SeqDe::new(items, &path, problems))
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.map(None, visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.map(Some(fields), visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let chosen = match &self.node.value {
            Value::Str(s) if variants.contains(&s.as_ref()) => {
                variants.iter().find(|v| **v == s).copied().unwrap_or_default()
            }
            Value::Str(s) => {
                let mut message = format!("unsupported value \"{}\": supported values: ", truncate(s));
                message.push_str(&variants.iter().map(|v| format!("\"{v}\"")).collect::<Vec<_>>().join(", "));
                self.problems.push(Problem { is_error: true, path: self.path.render(), line: self.node.line, message });
                variants.first().copied().unwrap_or_default()
            }
            _ => {
                self.type_error("a string");
                variants.first().copied().unwrap_or_default()
            }
        };
        visitor.visit_enum(IntoDeserializer::<DeError>::into_deserializer(chosen))
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        // serde skips the value of a key the struct does not declare this way (fields ferrolb
        // knows but does not use are `Ignored`, which does not come here): an unknown field.
        let (line, message) = match self.field_of {
            Some((line, fields)) => {
                let mut message = "unknown field (ignored, as Kubernetes prunes it)".to_string();
                let key = match self.path {
                    Path::Key(_, k) => k,
                    _ => "",
                };
                if let Some(s) = suggest(key, fields) {
                    message.push_str(&format!("; did you mean \"{s}\"?"));
                }
                (line, message)
            }
            None => (self.node.line, "unknown field (ignored)".to_string()),
        };
        self.problems.push(Problem { is_error: false, path: self.path.render(), line, message });
        visitor.visit_unit()
    }
}

impl NodeDe<'_> {
    fn map<'de, V: Visitor<'de>>(
        self,
        fields: Option<&'static [&'static str]>,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        if !matches!(self.node.value, Value::Map(_) | Value::Null) {
            self.type_error("an object");
        }
        let NodeDe { node, path, problems, .. } = self;
        let entries = match node.value {
            Value::Map(entries) => entries,
            _ => Vec::new(),
        };
        visitor.visit_map(MapDe::new(entries, fields, &path, problems))
    }
}

struct SeqDe<'a> {
    items: std::vec::IntoIter<Node<'a>>,
    next: usize,
    path: &'a Path<'a>,
    problems: &'a Problems,
}

impl<'a> SeqDe<'a> {
    fn new(items: Vec<Node<'a>>, path: &'a Path<'a>, problems: &'a Problems) -> Self {
        SeqDe { items: items.into_iter(), next: 0, path, problems }
    }
}

impl<'de> SeqAccess<'de> for SeqDe<'_> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, DeError> {
        let Some(node) = self.items.next() else {
            return Ok(None);
        };
        let path = Path::Index(self.path, self.next);
        self.next += 1;
        seed.deserialize(NodeDe { node, path, problems: self.problems, field_of: None }).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapDe<'a> {
    entries: std::vec::IntoIter<Entry<'a>>,
    fields: Option<&'static [&'static str]>,
    /// The key, its line and the value of the entry whose key was just handed out.
    key: Cow<'a, str>,
    key_line: u32,
    value: Option<Node<'a>>,
    path: &'a Path<'a>,
    problems: &'a Problems,
}

impl<'a> MapDe<'a> {
    fn new(
        entries: Vec<Entry<'a>>,
        fields: Option<&'static [&'static str]>,
        path: &'a Path<'a>,
        problems: &'a Problems,
    ) -> Self {
        MapDe { entries: entries.into_iter(), fields, key: Cow::Borrowed(""), key_line: 0, value: None, path, problems }
    }
}

impl<'de> MapAccess<'de> for MapDe<'_> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DeError> {
        let Some(entry) = self.entries.next() else { return Ok(None) };
        self.key = entry.key;
        self.key_line = entry.key_line;
        self.value = Some(entry.value);
        seed.deserialize(self.key.as_ref().into_deserializer()).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let node = self.value.take().ok_or_else(|| DeError("value requested before key".into()))?;
        let path = Path::Key(self.path, &self.key);
        let field_of = self.fields.map(|f| (self.key_line, f));
        seed.deserialize(NodeDe { node, path, problems: self.problems, field_of })
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// The closest known field name, if `key` looks like a typo of one.
pub(crate) fn suggest(key: &str, fields: &[&'static str]) -> Option<&'static str> {
    // Misspellings found in published documentation (the OpenShift FRRConfiguration table).
    let documented = match key {
        "transmissionInterval" => Some("transmitInterval"),
        "detectionMultiplier" => Some("detectMultiplier"),
        _ => None,
    };
    if let Some(d) = documented.and_then(|d| fields.iter().find(|f| **f == d)) {
        return Some(d);
    }
    let lower = key.to_ascii_lowercase();
    let mut best: Option<(usize, &'static str)> = None;
    for f in fields {
        let d = if f.to_ascii_lowercase() == lower { 0 } else { levenshtein(&lower, &f.to_ascii_lowercase()) };
        let limit = if f.len() > 6 { 3 } else { 1 };
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, f));
        }
    }
    best.map(|(_, f)| f)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Accepts any value and throws it away without reporting it (for fields Kubernetes defines but
/// ferrolb does not use: `metadata.uid`, `status.nodeInfo`, ...).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ignored;

impl<'de> de::Deserialize<'de> for Ignored {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(IgnoredVisitor)
    }
}

struct IgnoredVisitor;

impl<'de> Visitor<'de> for IgnoredVisitor {
    type Value = Ignored;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("anything")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Ignored, E> {
        Ok(Ignored)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Ignored, E> {
        Ok(Ignored)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Ignored, E> {
        Ok(Ignored)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Ignored, E> {
        Ok(Ignored)
    }
    fn visit_str<E>(self, _: &str) -> Result<Ignored, E> {
        Ok(Ignored)
    }
    fn visit_unit<E>(self) -> Result<Ignored, E> {
        Ok(Ignored)
    }
    fn visit_none<E>(self) -> Result<Ignored, E> {
        Ok(Ignored)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Ignored, D::Error> {
        d.deserialize_any(IgnoredVisitor)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Ignored, A::Error> {
        while seq.next_element::<Ignored>()?.is_some() {}
        Ok(Ignored)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ignored, A::Error> {
        while map.next_entry::<Ignored, Ignored>()?.is_some() {}
        Ok(Ignored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse_documents;
    use serde::Deserialize;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(rename_all = "camelCase")]
    struct Spec {
        #[serde(default)]
        addresses: Vec<String>,
        auto_assign: Option<bool>,
        port: Option<u16>,
        mode: Option<Mode>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum Mode {
        All,
        Filtered,
    }

    #[test]
    fn records_every_problem_and_goes_on() {
        let text = "addresses: [a, 7]\nautoAssign: maybe\nport: 70000\nmode: some\nnodeSelectr: x\n";
        let node = parse_documents(text, 1).expect("parses").remove(0);
        let problems = Problems::default();
        let spec: Spec = from_node(node, "spec", &problems).expect("recovers");
        assert_eq!(spec.addresses, vec!["a".to_string(), String::new()]);
        assert_eq!(spec.auto_assign, Some(false));
        assert_eq!(spec.port, Some(0));
        assert_eq!(spec.mode, Some(Mode::All));
        let p = problems.into_vec();
        let rendered: Vec<String> = p.iter().map(|p| format!("{}:{}:{}", p.line, p.path, p.message)).collect();
        assert_eq!(
            rendered,
            vec![
                "1:spec.addresses[1]:expected a string, found integer 7",
                "2:spec.autoAssign:expected a boolean, found string \"maybe\"",
                "3:spec.port:70000 is out of range: must be 0..=65535",
                "4:spec.mode:unsupported value \"some\": supported values: \"all\", \"filtered\"",
                "5:spec.nodeSelectr:unknown field (ignored, as Kubernetes prunes it)",
            ]
        );
    }

    #[test]
    fn suggests_close_names() {
        assert_eq!(suggest("nodeSelector", &["nodeSelectors", "peers"]), Some("nodeSelectors"));
        assert_eq!(suggest("transmissionInterval", &["transmitInterval"]), Some("transmitInterval"));
        assert_eq!(suggest("color", &["addresses"]), None);
        assert_eq!(suggest("PeerAddress", &["peerAddress"]), Some("peerAddress"));
    }
}
