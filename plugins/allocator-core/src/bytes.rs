//! String comparison without `memcmp`, and the ordered string key built on it.
//!
//! A `no_std` WebAssembly component has no libc. Rust lowers `==` and `Ord` on `str`/`[u8]` to
//! a call of the C function `memcmp`, which a component must then define itself (`ferrolb-guest`
//! now does, with a byte loop) or import — and ferrolb's default plugins import nothing. The
//! allocator compares strings only through [`eq`] and [`cmp`] (eight bytes at a time, as
//! big-endian integers, which orders exactly like `memcmp`) and keys its maps with [`Key`], so
//! it neither depends on that symbol nor pays a byte loop on every B-tree comparison. (A
//! `match` on a string literal also calls `memcmp`: none is used.)

use alloc::rc::Rc;
use core::cmp::Ordering;
use core::ops::Deref;

/// `a.cmp(b)` for strings (byte-wise, like `str::cmp`).
pub(crate) fn cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    while let (Some((x, ra)), Some((y, rb))) = (a.split_first_chunk::<8>(), b.split_first_chunk::<8>()) {
        let (x, y) = (u64::from_be_bytes(*x), u64::from_be_bytes(*y));
        if x != y {
            return x.cmp(&y);
        }
        a = ra;
        b = rb;
    }
    for (x, y) in a.iter().zip(b) {
        if x != y {
            return x.cmp(y);
        }
    }
    a.len().cmp(&b.len())
}

/// `a == b` for strings.
pub(crate) fn eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && cmp(a, b) == Ordering::Equal
}

/// Whether `s` contains a NUL character.
pub(crate) fn has_nul(s: &str) -> bool {
    s.bytes().any(|b| b == 0)
}

/// `s.split_once('\0')` (the `char` pattern searcher calls `memcmp`).
pub(crate) fn split_nul(s: &str) -> Option<(&str, &str)> {
    let i = s.bytes().position(|b| b == 0)?;
    Some((s.get(..i)?, s.get(i + 1..)?))
}

/// A shared, immutable string ordered with [`cmp`]: the key of the allocator's maps.
#[derive(Clone, Debug)]
pub(crate) struct Key(Rc<str>);

impl Key {
    /// A key holding a copy of `s`.
    pub fn new(s: &str) -> Key {
        Key(Rc::from(s))
    }
}

impl Deref for Key {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        eq(&self.0, &other.0)
    }
}

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Key) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Key) -> Ordering {
        cmp(&self.0, &other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_like_str() {
        let words = [
            "",
            "a",
            "ab",
            "abc",
            "abcdefgh",
            "abcdefghi",
            "abcdefgh\0",
            "abcdefgi",
            "b",
            "\u{0}",
            "zzzzzzzzzzzzzzzzz",
            "default\0web",
            "default-x\0web",
            "déjà",
            "deja",
        ];
        for x in words {
            for y in words {
                assert_eq!(cmp(x, y), x.cmp(y), "{x:?} vs {y:?}");
                assert_eq!(eq(x, y), x == y);
            }
        }
    }

    #[test]
    fn nul_helpers() {
        assert_eq!(split_nul("a\0b\0c"), Some(("a", "b\0c")));
        assert_eq!(split_nul("\0"), Some(("", "")));
        assert_eq!(split_nul("abc"), None);
        assert!(has_nul("x\0"));
        assert!(!has_nul("x"));
    }

    #[test]
    fn keys_order_and_compare() {
        assert!(Key::new("a\0b") < Key::new("a-b\0a"));
        assert_eq!(Key::new("x"), Key::new("x"));
        assert_eq!(&*Key::new("hello"), "hello");
    }
}
