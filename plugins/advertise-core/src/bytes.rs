//! String comparison and splitting without `memcmp`.
//!
//! A `no_std` WebAssembly component has no libc. Rust lowers `==` and `Ord` on `str`/`[u8]` (and
//! the `char` pattern searcher behind `str::split`) to the C function `memcmp`, which then becomes
//! an *import* of the component — and ferrolb's default plugins import nothing. This crate
//! therefore compares strings only through [`eq`] and [`cmp`] (eight bytes at a time, as
//! big-endian integers, which orders exactly like `memcmp`) and splits them with [`split_byte`].

use core::cmp::Ordering;

/// `a.cmp(b)` for strings (byte-wise, like `str::cmp`).
pub(crate) fn cmp(a: &str, b: &str) -> Ordering {
    cmp_bytes(a.as_bytes(), b.as_bytes())
}

/// `a.cmp(b)` for byte strings (like `<[u8]>::cmp`).
pub(crate) fn cmp_bytes(mut a: &[u8], mut b: &[u8]) -> Ordering {
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

/// Whether `list` contains `s`.
pub(crate) fn contains(list: &[impl AsRef<str>], s: &str) -> bool {
    list.iter().any(|x| eq(x.as_ref(), s))
}

/// The pieces of `s` between the bytes `sep` (an ASCII byte), like `s.split(sep as char)`.
pub(crate) fn split_byte(s: &str, sep: u8) -> impl Iterator<Item = &str> {
    let mut rest = Some(s);
    core::iter::from_fn(move || {
        let r = rest?;
        match r.bytes().position(|b| b == sep) {
            Some(i) => {
                rest = r.get(i + 1..);
                r.get(..i)
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

/// Sorts strings (byte order) and removes duplicates.
pub(crate) fn sort_dedup(v: &mut alloc::vec::Vec<alloc::string::String>) {
    v.sort_unstable_by(|a, b| cmp(a, b));
    v.dedup_by(|a, b| eq(a, b));
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;
    use alloc::vec;
    use alloc::vec::Vec;

    #[test]
    fn orders_like_str() {
        let words = ["", "a", "ab", "abcdefgh", "abcdefghi", "abcdefgi", "b", "\u{0}", "worker-10", "worker-2", "déjà"];
        for x in words {
            for y in words {
                assert_eq!(cmp(x, y), x.cmp(y), "{x:?} vs {y:?}");
                assert_eq!(eq(x, y), x == y);
            }
        }
    }

    #[test]
    fn splits_like_str_split() {
        for s in ["", ":", "a:b", "large:1:2:3", "::x:", "abc"] {
            let ours: Vec<&str> = split_byte(s, b':').collect();
            let std: Vec<&str> = s.split(':').collect();
            assert_eq!(ours, std, "{s:?}");
        }
    }

    #[test]
    fn sort_dedup_and_contains() {
        let mut v: Vec<String> = vec!["eth1".into(), "eth0".into(), "eth1".into()];
        sort_dedup(&mut v);
        assert_eq!(v, ["eth0", "eth1"]);
        assert!(contains(&v, "eth0"));
        assert!(!contains(&v, "eth2"));
    }
}
