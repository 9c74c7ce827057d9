//! A fast path for the YAML that manifests are made of: block mappings and sequences, plain and
//! simply quoted scalars, one-line flow collections of scalars, comments.
//!
//! It parses a document about ten times faster than the general parser, and it is strict: on
//! anything outside that subset (anchors, tags, block scalars, multi-line scalars, escapes, tabs,
//! complex keys, duplicate keys, anything it is unsure about) it gives up and returns `None`, and
//! the document is parsed by `saphyr-parser` instead. When it does return a tree, the tree is the
//! one the general parser builds, lines included: `tests` below and `tests/fastyaml.rs` compare the
//! two on every corpus file and on many thousands of mutated documents.

use crate::yaml::{Entry, Node, Value, resolve_plain};
use std::borrow::Cow;

#[derive(Clone, Copy)]
struct Line<'a> {
    /// Columns of leading spaces.
    indent: usize,
    /// The text after the indentation (never empty, never a comment line).
    text: &'a str,
    /// 1-based line in the file.
    no: u32,
}

/// Parse one chunk (see `yaml::split_documents`), or give up.
pub(crate) fn parse(text: &str, first_line: u32) -> Option<Vec<Node<'_>>> {
    if text.contains(['\r', '\t', '\\']) {
        return None;
    }
    let mut lines: Vec<Line<'_>> = Vec::with_capacity(text.len() / 16);
    let mut started = false;
    let mut ended = false;
    for (i, raw) in text.split('\n').enumerate() {
        let no = first_line + u32::try_from(i).ok()?;
        let trimmed = raw.trim_start_matches(' ');
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = raw.len() - trimmed.len();
        if indent == 0 && (trimmed.starts_with("---") || trimmed.starts_with("...")) {
            let rest = &trimmed[3..];
            let marker_only = rest.is_empty()
                || (rest.starts_with(' ') && {
                    let t = rest.trim_start_matches(' ');
                    t.is_empty() || t.starts_with('#')
                });
            if !marker_only {
                return None;
            }
            if trimmed.starts_with("---") {
                if started || !lines.is_empty() {
                    return None;
                }
                started = true;
            } else {
                ended = true;
            }
            continue;
        }
        if ended || trimmed.starts_with('%') {
            return None;
        }
        lines.push(Line { indent, text: trimmed, no });
    }
    if lines.is_empty() {
        return Some(Vec::new());
    }
    let mut p = P { lines, pos: 0, items: Vec::new(), entries: Vec::new(), depth: 0 };
    let first = p.lines[0];
    if first.indent != 0 {
        return None;
    }
    let root = if is_item(first.text) { p.seq(0)? } else { p.map(0)? };
    (p.pos == p.lines.len()).then(|| vec![root])
}

struct P<'a> {
    lines: Vec<Line<'a>>,
    pos: usize,
    /// Scratch stacks: the children of the open collections, moved into exact-size Vecs when a
    /// collection ends.
    items: Vec<Node<'a>>,
    entries: Vec<Entry<'a>>,
    /// Open collections (deeper than `MAX_DEPTH`: the general parser reports it).
    depth: usize,
}

fn is_item(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

impl<'a> P<'a> {
    fn peek(&self) -> Option<Line<'a>> {
        self.lines.get(self.pos).copied()
    }

    /// A block mapping whose keys are at column `indent` (the current line is its first key).
    fn map(&mut self, indent: usize) -> Option<Node<'a>> {
        self.depth += 1;
        let node = self.map_inner(indent);
        self.depth -= 1;
        node
    }

    fn map_inner(&mut self, indent: usize) -> Option<Node<'a>> {
        if self.depth >= crate::yaml::MAX_DEPTH {
            return None;
        }
        let line0 = self.peek()?.no;
        let start = self.entries.len();
        while let Some(l) = self.peek() {
            if l.indent < indent {
                break;
            }
            if l.indent > indent || is_item(l.text) {
                return None;
            }
            let (key, rest) = split_key(l.text)?;
            if self.entries[start..].iter().any(|e| e.key == key) {
                return None;
            }
            self.pos += 1;
            let value = self.value_after_indicator(rest, l, indent, true)?;
            self.entries.push(Entry { key, key_line: l.no, value });
        }
        let entries: Vec<Entry<'a>> = self.entries.drain(start..).collect();
        Some(Node { value: Value::Map(entries), line: line0 })
    }

    /// A block sequence whose dashes are at column `indent` (the current line is its first item).
    fn seq(&mut self, indent: usize) -> Option<Node<'a>> {
        self.depth += 1;
        let node = self.seq_inner(indent);
        self.depth -= 1;
        node
    }

    fn seq_inner(&mut self, indent: usize) -> Option<Node<'a>> {
        if self.depth >= crate::yaml::MAX_DEPTH {
            return None;
        }
        let line0 = self.peek()?.no;
        let start = self.items.len();
        while let Some(l) = self.peek() {
            if l.indent < indent || (l.indent == indent && !is_item(l.text)) {
                break;
            }
            if l.indent > indent {
                return None;
            }
            let after = &l.text[1..];
            let content = after.trim_start_matches(' ');
            if content.is_empty() || content.starts_with('#') {
                self.pos += 1;
                let node = self.value_after_indicator("", l, indent, false)?;
                self.items.push(node);
                continue;
            }
            if is_item(content) || content.starts_with('?') {
                return None;
            }
            let column = indent + 1 + (after.len() - content.len());
            if split_key(content).is_some() {
                // `- key: value`: a mapping whose keys are at the column of `key`.
                self.lines[self.pos] = Line { indent: column, text: content, no: l.no };
                let node = self.map(column)?;
                self.items.push(node);
                continue;
            }
            self.pos += 1;
            let node = inline_value(content, l.no)?;
            if self.peek().is_some_and(|n| n.indent > indent) {
                return None; // a multi-line scalar
            }
            self.items.push(node);
        }
        let items: Vec<Node<'a>> = self.items.drain(start..).collect();
        Some(Node { value: Value::Seq(items), line: line0 })
    }

    /// The value after `key:` (`in_map`) or after a lone `-`: inline text, or a block below.
    fn value_after_indicator(&mut self, rest: &'a str, l: Line<'a>, indent: usize, in_map: bool) -> Option<Node<'a>> {
        let rest = rest.trim_start_matches(' ');
        if !rest.is_empty() && !rest.starts_with('#') {
            let node = inline_value(rest, l.no)?;
            if self.peek().is_some_and(|n| n.indent > indent) {
                return None; // a multi-line scalar, or something stranger
            }
            return Some(node);
        }
        match self.peek() {
            Some(n) if n.indent > indent => {
                if is_item(n.text) {
                    self.seq(n.indent)
                } else {
                    self.map(n.indent)
                }
            }
            // A sequence may sit at the indentation of the key that holds it.
            Some(n) if in_map && n.indent == indent && is_item(n.text) => self.seq(indent),
            _ => Some(Node { value: Value::Null, line: l.no }),
        }
    }
}

/// `key: rest` or `key:` at the start of `text`; the key plain or quoted.
fn split_key(text: &str) -> Option<(Cow<'_, str>, &str)> {
    let b = text.as_bytes();
    match b.first()? {
        q @ (b'"' | b'\'') => {
            let (value, used) = quoted(text, *q)?;
            let rest = &text[used..];
            let rest = rest.trim_start_matches(' ');
            let after = rest.strip_prefix(':')?;
            (after.is_empty() || after.starts_with(' ')).then_some((value, after))
        }
        _ => {
            let colon = text.find(": ").or_else(|| text.strip_suffix(':').map(|k| k.len()))?;
            let key = text[..colon].trim_end_matches(' ');
            if key.is_empty() || !plain_ok(key, false) || key.contains(':') {
                return None;
            }
            Some((Cow::Borrowed(key), &text[colon + 1..]))
        }
    }
}

/// Whether `s` is a plain scalar the fast path reads exactly as YAML does.
fn plain_ok(s: &str, in_flow: bool) -> bool {
    let Some(first) = s.bytes().next() else { return false };
    if matches!(
        first,
        b'[' | b']'
            | b'{'
            | b'}'
            | b','
            | b'#'
            | b'&'
            | b'*'
            | b'!'
            | b'|'
            | b'>'
            | b'\''
            | b'"'
            | b'%'
            | b'@'
            | b'`'
            | b'?'
            | b':'
    ) {
        return false;
    }
    if first == b'-' && (s.len() == 1 || s.as_bytes().get(1) == Some(&b' ')) {
        return false;
    }
    if s.ends_with(':') || s.ends_with(' ') {
        return false;
    }
    // No " #" (a comment) and no ": " (a mapping) inside.
    let b = s.as_bytes();
    if b.windows(2).any(|w| (w[0] == b' ' && w[1] == b'#') || (w[0] == b':' && w[1] == b' ')) {
        return false;
    }
    if in_flow {
        // In a flow collection `:` may appear only between two characters that are not
        // separators (`fc00::/120`).
        let b = s.as_bytes();
        for (i, c) in b.iter().enumerate() {
            match c {
                b'[' | b']' | b'{' | b'}' | b',' | b'#' => return false,
                b':' if matches!(b.get(i + 1), None | Some(b' ' | b',' | b']' | b'}')) => return false,
                _ => {}
            }
        }
    }
    true
}

/// A quoted scalar at the start of `text` (no escapes, on one line): its value and the bytes used.
fn quoted(text: &str, q: u8) -> Option<(Cow<'_, str>, usize)> {
    let body = &text[1..];
    if q == b'"' {
        let end = body.find('"')?;
        return Some((Cow::Borrowed(&body[..end]), end + 2));
    }
    let first = body.find('\'')?;
    if body.as_bytes().get(first + 1) != Some(&b'\'') {
        return Some((Cow::Borrowed(&body[..first]), first + 2));
    }
    // '' is a quote inside a single-quoted scalar.
    let mut out = String::new();
    let mut i = 0;
    let bytes = body.as_bytes();
    loop {
        let j = body[i..].find('\'')? + i;
        out.push_str(&body[i..j]);
        if bytes.get(j + 1) == Some(&b'\'') {
            out.push('\'');
            i = j + 2;
        } else {
            return Some((Cow::Owned(out), j + 2));
        }
    }
}

/// Nothing, or spaces and maybe a comment (a comment needs a space before it).
fn only_comment(rest: &str) -> bool {
    rest.is_empty()
        || (rest.starts_with(' ') && {
            let t = rest.trim_start_matches(' ');
            t.is_empty() || t.starts_with('#')
        })
}

/// A value written on the line: a scalar or a one-line flow collection.
fn inline_value(text: &str, no: u32) -> Option<Node<'_>> {
    match text.as_bytes().first()? {
        q @ (b'"' | b'\'') => {
            let (value, used) = quoted(text, *q)?;
            only_comment(&text[used..]).then_some(Node { value: Value::Str(value), line: no })
        }
        b'[' => flow_seq(text, no),
        b'{' => flow_map(text, no),
        _ => {
            let end = text.find(" #").unwrap_or(text.len());
            let plain = text[..end].trim_end_matches(' ');
            plain_ok(plain, false).then(|| Node { value: resolve_plain(Cow::Borrowed(plain)), line: no })
        }
    }
}

/// One scalar of a flow collection, up to `,` / the closing bracket: (node, rest after it).
fn flow_scalar(text: &str, no: u32, close: char) -> Option<(Node<'_>, &str)> {
    let t = text.trim_start_matches(' ');
    match t.as_bytes().first()? {
        q @ (b'"' | b'\'') => {
            let (value, used) = quoted(t, *q)?;
            Some((Node { value: Value::Str(value), line: no }, &t[used..]))
        }
        _ => {
            let end = t.find([',', close])?;
            let plain = t[..end].trim_end_matches(' ');
            plain_ok(plain, true).then(|| (Node { value: resolve_plain(Cow::Borrowed(plain)), line: no }, &t[end..]))
        }
    }
}

fn flow_seq(text: &str, no: u32) -> Option<Node<'_>> {
    let mut rest = text[1..].trim_start_matches(' ');
    let mut items = Vec::new();
    loop {
        if let Some(r) = rest.strip_prefix(']') {
            return only_comment(r).then_some(Node { value: Value::Seq(items), line: no });
        }
        let (node, r) = flow_scalar(rest, no, ']')?;
        items.push(node);
        let r = r.trim_start_matches(' ');
        rest = match r.as_bytes().first()? {
            b',' => r[1..].trim_start_matches(' '),
            b']' => r,
            _ => return None,
        };
    }
}

fn flow_map(text: &str, no: u32) -> Option<Node<'_>> {
    let mut rest = text[1..].trim_start_matches(' ');
    let mut entries: Vec<Entry<'_>> = Vec::new();
    loop {
        if let Some(r) = rest.strip_prefix('}') {
            return only_comment(r).then_some(Node { value: Value::Map(entries), line: no });
        }
        let colon = rest.find(": ")?;
        let key = rest[..colon].trim_end_matches(' ');
        if !plain_ok(key, true) || entries.iter().any(|e| e.key == key) {
            return None;
        }
        let (value, r) = flow_scalar(&rest[colon + 2..], no, '}')?;
        entries.push(Entry { key: Cow::Borrowed(key), key_line: no, value });
        let r = r.trim_start_matches(' ');
        rest = match r.as_bytes().first()? {
            b',' => r[1..].trim_start_matches(' '),
            b'}' => r,
            _ => return None,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse_documents_general;

    /// The fast path either gives up or builds exactly what the general parser builds.
    pub(crate) fn agree(text: &str) -> bool {
        match parse(text, 7) {
            None => true,
            Some(fast) => match parse_documents_general(text, 7) {
                Ok(slow) => {
                    assert_eq!(fast, slow, "fast and general parsers disagree on {text:?}");
                    true
                }
                Err(e) => panic!("fast parser accepted {text:?}, which is invalid: {}", e.message),
            },
        }
    }

    #[test]
    fn takes_the_common_shapes() {
        let samples = [
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  labels:\n    app: web\nspec:\n  ports:\n  - port: 80\n    protocol: TCP\n  - name: https\n    port: 443\n",
            "a:\n- x\n-\n- k: v\n  k2: w\ne:\n",
            "x: [a, b, \"c\", 'd''e']\ny: {}\nz: 'q'  # comment\nw: {port: 80, name: x}\n",
            "---\n# comment\nspec:\n  addresses:\n  - 10.0.0.0/24   # trailing\n  - fc00::/120\n  autoAssign: no\n...\n",
            "- a\n- b:\n  c: d\n",
            "\"quoted key\": 1\n'other': [ ]\nk:   # c\n\n  # c2\n  b: 1\n",
            "values: [compute-1.example.com, compute-2.example.com]\nempty: []\nnull: ~\n",
        ];
        for s in samples {
            assert!(parse(s, 7).is_some(), "fast path should take {s:?}");
            assert!(agree(s));
        }
    }

    /// Every document of the corpora, and 40 mutations of each (characters YAML cares about
    /// inserted, characters and lines deleted or duplicated, indentation changed): the fast path
    /// gives up or agrees, and it takes most of the unmutated documents.
    #[test]
    fn agrees_with_the_general_parser_on_the_corpora_and_their_mutations() {
        let mut docs = Vec::new();
        for dir in ["good", "bad"] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(dir);
            let mut files: Vec<_> =
                std::fs::read_dir(&path).expect("corpus").map(|e| e.expect("entry").path()).collect();
            files.sort();
            for f in files.iter().filter(|f| f.extension().is_some_and(|e| e == "yaml")) {
                let text = std::fs::read_to_string(f).expect("corpus file");
                for c in crate::yaml::split_documents(&text) {
                    docs.push(text[c.start..c.end].to_string());
                }
            }
        }
        let taken = docs.iter().filter(|d| parse(d, 1).is_some()).count();
        assert!(taken * 10 >= docs.len() * 9, "the fast path takes {taken} of {} documents", docs.len());

        // FERROLB_FUZZ_SEED and FERROLB_FUZZ_ROUNDS allow longer runs by hand.
        let env = |k: &str, d: u64| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
        let mut seed = env("FERROLB_FUZZ_SEED", 0x9e37_79b9_7f4a_7c15) | 1;
        let rounds = env("FERROLB_FUZZ_ROUNDS", 40);
        let mut rand = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            usize::try_from(seed % n.max(1) as u64).unwrap_or(0)
        };
        const CHARS: &[char] = &[
            ' ', ' ', ':', '-', '#', '\'', '"', '[', ']', '{', '}', ',', '\n', 'a', '0', '.', '&', '*', '!', '|', '>',
            '?', '%', '~', '/',
        ];
        let (mut mutated, mut accepted) = (0, 0);
        for doc in &docs {
            assert!(agree(doc));
            for _ in 0..rounds {
                let mut m: Vec<char> = doc.chars().collect();
                for _ in 0..=rand(3) {
                    let at = rand(m.len() + 1);
                    match rand(4) {
                        0 => m.insert(at.min(m.len()), CHARS[rand(CHARS.len())]),
                        1 if !m.is_empty() => {
                            m.remove(at.min(m.len() - 1));
                        }
                        2 => {
                            // Duplicate or drop a line.
                            let text: String = m.iter().collect();
                            let mut lines: Vec<&str> = text.split('\n').collect();
                            let i = rand(lines.len());
                            if rand(2) == 0 {
                                lines.insert(i, lines[i])
                            } else {
                                lines.remove(i);
                            }
                            m = lines.join("\n").chars().collect();
                        }
                        _ => {
                            // Indent or dedent a line.
                            let text: String = m.iter().collect();
                            let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
                            let i = rand(lines.len());
                            if rand(2) == 0 {
                                lines[i].insert(0, ' ')
                            } else if lines[i].starts_with(' ') {
                                lines[i].remove(0);
                            }
                            m = lines.join("\n").chars().collect();
                        }
                    }
                }
                let text: String = m.into_iter().collect();
                mutated += 1;
                if parse(&text, 7).is_some() {
                    accepted += 1;
                }
                assert!(agree(&text));
            }
        }
        assert!(accepted * 4 >= mutated, "the mutations exercise the fast path ({accepted} of {mutated} taken)");
    }

    #[test]
    fn gives_up_on_the_rest() {
        let samples = [
            "a: |\n  text\n",
            "a: &x 1\nb: *x\n",
            "a: !!str 1\n",
            "a: multi\n  line\n",
            "a: \"esc\\n\"\n",
            "a:\tb\n",
            "? complex\n: key\n",
            "a: [nested, [x]]\n",
            "a: [open\n",
            "a: 1\na: 2\n",
            "just a scalar\n",
            "a: b: c\n",
            "- - nested\n",
            "a:\n  - x\n b: 1\n",
            "%YAML 1.2\n---\na: 1\n",
            "--- {a: 1}\n",
        ];
        for s in samples {
            assert!(parse(s, 1).is_none(), "fast path should give up on {s:?}");
        }
    }
}
