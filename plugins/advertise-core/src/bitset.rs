//! A fixed-size set of node indices, one bit per node: the eligible nodes of each
//! L2Advertisement are kept this way so that a service's candidate set is a few word-wise ORs and
//! ANDs.

use alloc::vec;
use alloc::vec::Vec;

/// A set of indices below the size it was created with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Bitset {
    words: Vec<u64>,
}

impl Bitset {
    /// The empty set over `n` indices.
    pub fn new(n: usize) -> Bitset {
        Bitset { words: vec![0; n.div_ceil(64)] }
    }

    /// Adds `i` (ignored when out of range).
    pub fn insert(&mut self, i: usize) {
        if let Some(w) = self.words.get_mut(i / 64) {
            *w |= 1u64 << (i % 64);
        }
    }

    /// Whether `i` is in the set.
    pub fn contains(&self, i: usize) -> bool {
        self.words.get(i / 64).is_some_and(|w| w & (1u64 << (i % 64)) != 0)
    }

    /// `self |= other`.
    pub fn union_with(&mut self, other: &Bitset) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a |= *b;
        }
    }

    /// `self &= other`.
    pub fn intersect_with(&mut self, other: &Bitset) {
        for (i, a) in self.words.iter_mut().enumerate() {
            *a &= other.words.get(i).copied().unwrap_or(0);
        }
    }

    /// The members, ascending.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(wi, &w)| {
            let mut w = w;
            core::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let b = w.trailing_zeros() as usize;
                w &= w - 1;
                Some(wi * 64 + b)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_operations() {
        let mut a = Bitset::new(130);
        let mut b = Bitset::new(130);
        assert_eq!(a.iter().count(), 0);
        for i in [0, 63, 64, 129] {
            a.insert(i);
        }
        a.insert(1000);
        b.insert(64);
        b.insert(100);
        assert!(a.contains(63) && a.contains(129) && !a.contains(1) && !a.contains(1000));
        assert_eq!(a.iter().collect::<Vec<_>>(), [0, 63, 64, 129]);
        let mut u = a.clone();
        u.union_with(&b);
        assert_eq!(u.iter().collect::<Vec<_>>(), [0, 63, 64, 100, 129]);
        a.intersect_with(&b);
        assert_eq!(a.iter().collect::<Vec<_>>(), [64]);
    }
}
