//! A set of free addresses inside one address block, kept as disjoint inclusive intervals in a
//! `BTreeMap` (start → end).
//!
//! Every operation is `O(log k)` where `k` is the number of intervals (the number of "holes"
//! the allocations punched in the block), never a scan of the addresses or allocations: the
//! lowest free address is the start of the first interval, taking an address splits at most one
//! interval, and freeing one merges with at most its two neighbours. A `/64` costs one entry.

use alloc::collections::BTreeMap;

/// Free addresses of one block as disjoint inclusive intervals.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FreeSet {
    iv: BTreeMap<u128, u128>,
}

impl FreeSet {
    /// Every address of `first..=last` free.
    pub fn full(first: u128, last: u128) -> FreeSet {
        let mut iv = BTreeMap::new();
        if first <= last {
            iv.insert(first, last);
        }
        FreeSet { iv }
    }

    /// The lowest free address.
    pub fn first(&self) -> Option<u128> {
        self.iv.first_key_value().map(|(s, _)| *s)
    }

    /// No free address left.
    pub fn is_empty(&self) -> bool {
        self.iv.is_empty()
    }

    /// Whether `a` is free.
    #[cfg(test)]
    pub fn contains(&self, a: u128) -> bool {
        self.iv.range(..=a).next_back().is_some_and(|(_, e)| a <= *e)
    }

    /// Marks `a` used; false if it was not free.
    pub fn remove(&mut self, a: u128) -> bool {
        let Some((s, e)) = self.iv.range(..=a).next_back().map(|(s, e)| (*s, *e)) else { return false };
        if a > e {
            return false;
        }
        self.iv.remove(&s);
        if s < a {
            self.iv.insert(s, a - 1);
        }
        if a < e {
            self.iv.insert(a + 1, e);
        }
        true
    }

    /// Marks `a` free again; false if it already was.
    pub fn insert(&mut self, a: u128) -> bool {
        let mut start = a;
        let mut end = a;
        if let Some((s, e)) = self.iv.range(..=a).next_back().map(|(s, e)| (*s, *e)) {
            if a <= e {
                return false;
            }
            if a.checked_sub(1) == Some(e) {
                self.iv.remove(&s);
                start = s;
            }
        }
        if let Some(next) = a.checked_add(1)
            && let Some(e) = self.iv.remove(&next)
        {
            end = e;
        }
        self.iv.insert(start, end);
        true
    }

    /// The number of intervals (for tests).
    #[cfg(test)]
    pub fn intervals(&self) -> usize {
        self.iv.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_then_take_lowest() {
        let mut f = FreeSet::full(10, 13);
        assert_eq!(f.first(), Some(10));
        assert!(f.remove(10));
        assert_eq!(f.first(), Some(11));
        assert!(f.remove(12));
        assert_eq!(f.first(), Some(11));
        assert!(f.remove(11));
        assert_eq!(f.first(), Some(13));
        assert!(f.remove(13));
        assert!(f.is_empty());
        assert!(!f.remove(13));
    }

    #[test]
    fn insert_merges_neighbours() {
        let mut f = FreeSet::full(0, 9);
        for a in [3, 4, 5] {
            assert!(f.remove(a));
        }
        assert_eq!(f.intervals(), 2);
        assert!(f.insert(4));
        assert_eq!(f.intervals(), 3);
        assert!(f.insert(3));
        assert_eq!(f.intervals(), 2);
        assert!(f.insert(5));
        assert_eq!(f.intervals(), 1);
        assert!(!f.insert(5));
        assert!((0..10).all(|a| f.contains(a)));
    }

    #[test]
    fn extremes_do_not_overflow() {
        let mut f = FreeSet::full(u128::MAX - 1, u128::MAX);
        assert!(f.remove(u128::MAX));
        assert!(f.insert(u128::MAX));
        assert_eq!(f.intervals(), 1);
        let mut g = FreeSet::full(0, 1);
        assert!(g.remove(0));
        assert!(g.insert(0));
        assert_eq!(g.first(), Some(0));
        assert_eq!(g.intervals(), 1);
    }

    #[test]
    fn removing_outside_is_refused() {
        let mut f = FreeSet::full(5, 6);
        assert!(!f.remove(4));
        assert!(!f.remove(7));
        assert!(!f.contains(7));
        assert_eq!(FreeSet::full(3, 2).first(), None);
    }

    #[test]
    fn a_huge_block_is_one_interval() {
        let mut f = FreeSet::full(0, u128::from(u64::MAX));
        for a in 0..1000 {
            assert!(f.remove(a));
        }
        assert_eq!(f.intervals(), 1);
        assert_eq!(f.first(), Some(1000));
    }
}
