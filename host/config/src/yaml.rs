//! YAML text → a small located tree ([`Node`]), one document at a time.
//!
//! Manifests are split into documents on `---` lines before parsing (so that a syntax error in
//! one document does not hide the others, and so that documents can be parsed in parallel); each
//! document is then parsed with `saphyr-parser` into a tree where every node and every mapping
//! key carries its line. Plain scalars are resolved the way Kubernetes resolves them (its YAML
//! reader is go-yaml v2, YAML 1.1 flavoured): `yes`/`no`/`on`/`off` are booleans, `0x1F` and `010`
//! are integers, and so on; quoted scalars are always strings.

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};
use std::borrow::Cow;
use std::collections::HashMap;

/// A YAML node with the (1-based) line it starts on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node<'a> {
    /// The value.
    pub value: Value<'a>,
    /// 1-based line in the source file.
    pub line: u32,
}

/// The value of a [`Node`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value<'a> {
    /// `~`, `null`, or nothing.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i128),
    /// A floating-point number.
    Float(f64),
    /// A string (borrowed from the text when it can be).
    Str(Cow<'a, str>),
    /// A sequence.
    Seq(Vec<Node<'a>>),
    /// A mapping, in document order (duplicate keys are refused while parsing).
    Map(Vec<Entry<'a>>),
}

/// One entry of a mapping.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry<'a> {
    /// The key as written (keys are always read as text, as Kubernetes' YAML-to-JSON step does).
    pub key: Cow<'a, str>,
    /// The line of the key.
    pub key_line: u32,
    /// The value.
    pub value: Node<'a>,
}

impl<'a> Node<'a> {
    /// The entry `key` of a mapping node.
    pub fn get(&self, key: &str) -> Option<&Node<'a>> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|e| e.key == key).map(|e| &e.value),
            _ => None,
        }
    }

    /// The string value of the entry `key`, if it is a string.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        match self.get(key).map(|n| &n.value) {
            Some(Value::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// A short name of the node's type, for messages.
    pub fn type_name(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "number",
            Value::Str(_) => "string",
            Value::Seq(_) => "list",
            Value::Map(_) => "object",
        }
    }
}

/// The deepest nesting of collections accepted (Kubernetes objects stay far below it; beyond it,
/// recursive code over the tree could exhaust the stack).
pub(crate) const MAX_DEPTH: usize = 128;

/// A YAML syntax error.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SyntaxError {
    /// 1-based line.
    pub line: u32,
    /// The parser's explanation.
    pub message: String,
}

/// A chunk of a source text holding (at most) one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Chunk {
    /// Byte offset of the chunk's first byte.
    pub start: usize,
    /// Byte offset one past the chunk's last byte.
    pub end: usize,
    /// 1-based line of the chunk's first line.
    pub first_line: u32,
}

/// Split a multi-document YAML text into chunks on `---` document markers.
///
/// A `---` (or `...`) at the start of a line always ends the previous document in YAML (it may not
/// appear inside a block scalar), so a textual split is exact. Directive lines (`%YAML ...`) stay
/// with the document they introduce.
pub(crate) fn split_documents(text: &str) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    let mut start = 0usize;
    let mut first_line = 1u32;
    // Whether the current chunk holds anything but blank lines, comments and directives.
    let mut has_content = false;
    let mut in_directives = false;
    let mut offset = 0usize;
    let mut line_no = 1u32;
    let bytes = text.as_bytes();
    while offset < bytes.len() {
        let end = bytes[offset..].iter().position(|b| *b == b'\n').map_or(bytes.len(), |p| offset + p + 1);
        let line = &bytes[offset..end];
        // Only lines starting with `-`, `.` or `%` can be markers or directives.
        let is_marker =
            |m: &[u8]| line.starts_with(m) && matches!(line.get(3), None | Some(b' ' | b'\t' | b'\n' | b'\r'));
        match line.first() {
            Some(b'-') if is_marker(b"---") => {
                if (has_content || !in_directives) && offset > start {
                    chunks.push(Chunk { start, end: offset, first_line });
                    start = offset;
                    first_line = line_no;
                }
                has_content = true;
                in_directives = false;
            }
            Some(b'.') if is_marker(b"...") => {
                // Document end: the next document starts after this line.
                chunks.push(Chunk { start, end, first_line });
                start = end;
                first_line = line_no + 1;
                has_content = false;
                in_directives = false;
            }
            Some(b'%') => {
                if has_content && offset > start {
                    chunks.push(Chunk { start, end: offset, first_line });
                    start = offset;
                    first_line = line_no;
                    has_content = false;
                }
                in_directives = true;
            }
            _ => {
                if !has_content {
                    let first = line.iter().find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
                    if first.is_some_and(|b| *b != b'#') {
                        has_content = true;
                    }
                }
            }
        }
        offset = end;
        line_no += 1;
    }
    if offset > start {
        chunks.push(Chunk { start, end: offset, first_line });
    }
    chunks
}

/// Parse one chunk into its documents (normally one; none for a chunk of comments only).
///
/// `first_line` is the line of the chunk in its file: node lines are file lines. The common
/// shapes of manifests take a fast path (`fastyaml`); everything else, and every error, goes
/// through the general parser.
pub(crate) fn parse_documents(text: &str, first_line: u32) -> Result<Vec<Node<'_>>, SyntaxError> {
    match crate::fastyaml::parse(text, first_line) {
        Some(docs) => Ok(docs),
        None => parse_documents_general(text, first_line),
    }
}

/// [`parse_documents`] with the general parser only.
pub(crate) fn parse_documents_general(text: &str, first_line: u32) -> Result<Vec<Node<'_>>, SyntaxError> {
    let mut builder = Builder::new(first_line);
    let mut parser = Parser::new_from_str(text);
    while let Some(event) = parser.next_event() {
        match event {
            Ok((event, span)) => builder.event(event, span)?,
            Err(e) => {
                return Err(SyntaxError {
                    line: line_of(first_line, e.marker().line()),
                    message: e.info().to_string(),
                });
            }
        }
    }
    Ok(builder.docs)
}

fn line_of(first_line: u32, parser_line: usize) -> u32 {
    let l = u32::try_from(parser_line).unwrap_or(u32::MAX);
    first_line.saturating_add(l.saturating_sub(1))
}

/// An open collection. Its children wait on the builder's shared `items` / `entries` stacks from
/// `start` on, and move into a Vec of exactly the right size when the collection ends (one
/// allocation per collection, no regrowth).
enum Frame<'a> {
    Seq { line: u32, anchor: usize, start: usize },
    Map { line: u32, anchor: usize, start: usize, key: Option<(Cow<'a, str>, u32)> },
}

struct Builder<'a> {
    first_line: u32,
    stack: Vec<Frame<'a>>,
    items: Vec<Node<'a>>,
    entries: Vec<Entry<'a>>,
    anchors: HashMap<usize, Node<'a>>,
    docs: Vec<Node<'a>>,
}

impl<'a> Builder<'a> {
    fn new(first_line: u32) -> Self {
        Builder {
            first_line,
            stack: Vec::new(),
            items: Vec::new(),
            entries: Vec::new(),
            anchors: HashMap::new(),
            docs: Vec::new(),
        }
    }

    fn event(&mut self, event: Event<'a>, span: Span) -> Result<(), SyntaxError> {
        let line = line_of(self.first_line, span.start.line());
        match event {
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => Ok(()),
            Event::DocumentStart(_) => {
                self.stack.clear();
                self.items.clear();
                self.entries.clear();
                self.anchors.clear();
                Ok(())
            }
            Event::Scalar(text, style, anchor, tag) => {
                // A scalar in key position is kept as text.
                if let Some(Frame::Map { key: key @ None, .. }) = self.stack.last_mut() {
                    *key = Some((text, line));
                    return Ok(());
                }
                let node = Node { value: resolve_scalar(text, style, tag.as_deref()), line };
                if anchor != 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                self.complete(node)
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(node) => {
                    let mut node = node.clone();
                    node.line = line;
                    if let Some(Frame::Map { key: key @ None, .. }) = self.stack.last_mut() {
                        match node.value {
                            Value::Str(s) => *key = Some((s, line)),
                            _ => return Err(complex_key(line)),
                        }
                        return Ok(());
                    }
                    self.complete(node)
                }
                None => Err(SyntaxError { line, message: "alias to an unknown anchor".into() }),
            },
            Event::SequenceStart(anchor, _) => {
                self.refuse_complex_key(line)?;
                self.stack.push(Frame::Seq { line, anchor, start: self.items.len() });
                Ok(())
            }
            Event::MappingStart(anchor, _) => {
                self.refuse_complex_key(line)?;
                self.stack.push(Frame::Map { line, anchor, start: self.entries.len(), key: None });
                Ok(())
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Frame::Seq { line, anchor, start }) => {
                        let items: Vec<Node<'a>> = self.items.drain(start..).collect();
                        (Node { value: Value::Seq(items), line }, anchor)
                    }
                    Some(Frame::Map { line, anchor, start, .. }) => {
                        let entries: Vec<Entry<'a>> = self.entries.drain(start..).collect();
                        (Node { value: Value::Map(entries), line }, anchor)
                    }
                    None => return Err(SyntaxError { line, message: "unbalanced collection end".into() }),
                };
                if anchor != 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                self.complete(node)
            }
        }
    }

    fn refuse_complex_key(&self, line: u32) -> Result<(), SyntaxError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(SyntaxError { line, message: format!("collections nested deeper than {MAX_DEPTH} levels") });
        }
        match self.stack.last() {
            Some(Frame::Map { key: None, .. }) => Err(complex_key(line)),
            _ => Ok(()),
        }
    }

    fn complete(&mut self, node: Node<'a>) -> Result<(), SyntaxError> {
        match self.stack.last_mut() {
            None => {
                if node.value != Value::Null {
                    self.docs.push(node);
                }
                Ok(())
            }
            Some(Frame::Seq { .. }) => {
                self.items.push(node);
                Ok(())
            }
            Some(Frame::Map { key, start, .. }) => match key.take() {
                Some((key, key_line)) => {
                    let entries = &mut self.entries;
                    if let Some(first) = entries.get(*start..).unwrap_or_default().iter().find(|e| e.key == key) {
                        return Err(SyntaxError {
                            line: key_line,
                            message: format!("mapping key \"{key}\" already defined at line {}", first.key_line),
                        });
                    }
                    entries.push(Entry { key, key_line, value: node });
                    Ok(())
                }
                None => Err(complex_key(node.line)),
            },
        }
    }
}

fn complex_key(line: u32) -> SyntaxError {
    SyntaxError { line, message: "only scalar mapping keys are supported".into() }
}

/// Resolve a scalar as Kubernetes' go-yaml v2 does.
fn resolve_scalar<'a>(text: Cow<'a, str>, style: ScalarStyle, tag: Option<&Tag>) -> Value<'a> {
    if let Some(tag) = tag
        && (tag.is_yaml_core_schema() || tag.handle == "!!")
    {
        match tag.suffix.as_str() {
            "str" => return Value::Str(text),
            "null" => return Value::Null,
            _ => {}
        }
    }
    if style != ScalarStyle::Plain {
        return Value::Str(text);
    }
    resolve_plain(text)
}

/// The YAML 1.1 resolution of a plain scalar (go-yaml v2's `resolve`).
pub(crate) fn resolve_plain(text: Cow<'_, str>) -> Value<'_> {
    let s: &str = &text;
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Value::Bool(true);
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Value::Bool(false);
        }
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Value::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    let first = s.as_bytes()[0];
    if first.is_ascii_digit() || first == b'-' || first == b'+' || first == b'.' {
        if let Some(i) = parse_go_int(s) {
            return Value::Int(i);
        }
        if is_yaml_float(s)
            && let Ok(f) = s.replace('_', "").parse::<f64>()
        {
            return Value::Float(f);
        }
    }
    Value::Str(text)
}

/// `strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 0, 64)` (go-yaml v2 also tries ParseUint).
fn parse_go_int(s: &str) -> Option<i128> {
    let plain: Cow<'_, str> = if s.contains('_') { Cow::Owned(s.replace('_', "")) } else { Cow::Borrowed(s) };
    let (neg, digits) = match plain.as_bytes().first()? {
        b'-' => (true, &plain[1..]),
        b'+' => (false, &plain[1..]),
        _ => (false, &plain[..]),
    };
    if digits.is_empty() {
        return None;
    }
    let (radix, body) = if let Some(h) = digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
        (16, h)
    } else if let Some(b) = digits.strip_prefix("0b").or_else(|| digits.strip_prefix("0B")) {
        (2, b)
    } else if let Some(o) = digits.strip_prefix("0o").or_else(|| digits.strip_prefix("0O")) {
        (8, o)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let v = u64::from_str_radix(body, radix).ok()?;
    let v = i128::from(v);
    let v = if neg { -v } else { v };
    (i128::from(i64::MIN)..=i128::from(u64::MAX)).contains(&v).then_some(v)
}

/// go-yaml v2's float pattern: `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            digits(&mut i);
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// Parse a field path as rendered in diagnostics: `spec.addresses[1]`,
/// `metadata.annotations["metallb.io/address-pool"]`.
pub(crate) fn parse_path(path: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    let b = path.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'.' => i += 1,
            b'[' if b.get(i + 1) == Some(&b'"') => {
                let rest = &path[i + 2..];
                let end = rest.find("\"]").unwrap_or(rest.len());
                steps.push(Step::Key(rest[..end].replace("\\\"", "\"")));
                i += 2 + end + 2;
            }
            b'[' => {
                let rest = &path[i + 1..];
                let end = rest.find(']').unwrap_or(rest.len());
                match rest[..end].parse() {
                    Ok(n) => steps.push(Step::Index(n)),
                    Err(_) => steps.push(Step::Key(rest[..end].to_string())),
                }
                i += 1 + end + 1;
            }
            _ => {
                let rest = &path[i..];
                let end = rest.find(['.', '[']).unwrap_or(rest.len());
                steps.push(Step::Key(rest[..end].to_string()));
                i += end;
            }
        }
    }
    steps
}

/// Render one key of a path: `name`, or `["metallb.io/address-pool"]` when it needs quoting.
pub(crate) fn push_key(out: &mut String, key: &str) {
    let plain = !key.is_empty() && key.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-');
    if plain {
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(key);
    } else {
        out.push_str("[\"");
        out.push_str(&key.replace('"', "\\\""));
        out.push_str("\"]");
    }
}

/// The line of the deepest node of `path` that exists (the key's line for a mapping entry).
pub(crate) fn line_of_path(root: &Node<'_>, path: &[Step]) -> u32 {
    let mut node = root;
    let mut line = root.line;
    for step in path {
        match (step, &node.value) {
            (Step::Key(k), Value::Map(entries)) => match entries.iter().find(|e| e.key == k.as_str()) {
                Some(e) => {
                    line = e.key_line;
                    node = &e.value;
                }
                None => return line,
            },
            (Step::Index(i), Value::Seq(items)) => match items.get(*i) {
                Some(n) => {
                    line = n.line;
                    node = n;
                }
                None => return line,
            },
            _ => return line,
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse1(text: &str) -> Node<'_> {
        let mut docs = parse_documents(text, 1).expect("test YAML parses");
        assert_eq!(docs.len(), 1);
        docs.remove(0)
    }

    #[test]
    fn resolves_like_go_yaml_v2() {
        assert_eq!(resolve_plain("yes".into()), Value::Bool(true));
        assert_eq!(resolve_plain("Off".into()), Value::Bool(false));
        assert_eq!(resolve_plain("010".into()), Value::Int(8));
        assert_eq!(resolve_plain("0x1F".into()), Value::Int(31));
        assert_eq!(resolve_plain("1_000".into()), Value::Int(1000));
        assert_eq!(resolve_plain("4294967295".into()), Value::Int(4_294_967_295));
        assert_eq!(resolve_plain("1.5".into()), Value::Float(1.5));
        assert_eq!(resolve_plain("8000:800".into()), Value::Str("8000:800".into()));
        assert_eq!(resolve_plain("10s".into()), Value::Str("10s".into()));
        assert_eq!(resolve_plain("192.168.1.1".into()), Value::Str("192.168.1.1".into()));
        assert_eq!(resolve_plain("~".into()), Value::Null);
    }

    #[test]
    fn lines_of_keys_and_items() {
        let n = parse1("a: 1\nspec:\n  addresses:\n  - x\n  - y\n");
        assert_eq!(line_of_path(&n, &parse_path("spec.addresses[1]")), 5);
        assert_eq!(line_of_path(&n, &parse_path("spec.addresses")), 3);
        assert_eq!(line_of_path(&n, &parse_path("spec.nothing")), 2);
    }

    #[test]
    fn paths_round_trip() {
        let mut s = String::new();
        push_key(&mut s, "metadata");
        push_key(&mut s, "annotations");
        push_key(&mut s, "metallb.io/address-pool");
        assert_eq!(s, "metadata.annotations[\"metallb.io/address-pool\"]");
        assert_eq!(
            parse_path(&s),
            vec![
                Step::Key("metadata".into()),
                Step::Key("annotations".into()),
                Step::Key("metallb.io/address-pool".into())
            ]
        );
    }

    #[test]
    fn splits_documents() {
        let text = "a: 1\n---\nb: 2\n--- \nc: 3\n...\n# only a comment\n";
        let chunks = split_documents(text);
        let lines: Vec<u32> = chunks.iter().map(|c| c.first_line).collect();
        assert_eq!(lines, vec![1, 2, 4, 7]);
        let docs: usize = chunks
            .iter()
            .map(|c| parse_documents(&text[c.start..c.end], c.first_line).map(|d| d.len()).unwrap_or(99))
            .sum();
        assert_eq!(docs, 3);
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let e = parse_documents("a: 1\nb: 2\na: 3\n", 10).expect_err("duplicate");
        assert_eq!(e.line, 12);
        assert!(e.message.contains("already defined at line 10"), "{}", e.message);
    }
}
