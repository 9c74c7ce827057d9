//! Interning of attribute sets: each distinct `A` is stored once, behind an [`Arc`], under a small
//! reference-counted id, so grouping prefixes by attributes compares integers, not attribute sets.

use std::hash::Hash;
use std::num::NonZeroU32;
use std::sync::Arc;

use foldhash::{HashMap, HashMapExt};

/// The id of an interned attribute set. Valid while its reference count is above zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct AttrId(NonZeroU32);

impl AttrId {
    fn index(self) -> usize {
        (self.0.get() - 1) as usize
    }
}

#[derive(Debug, Clone)]
struct Slot<A> {
    attrs: Option<Arc<A>>,
    refs: u32,
}

/// A reference-counted table of distinct attribute sets.
#[derive(Debug, Clone)]
pub(crate) struct Interner<A> {
    slots: Vec<Slot<A>>,
    free: Vec<AttrId>,
    index: HashMap<Arc<A>, AttrId>,
}

impl<A> Default for Interner<A> {
    fn default() -> Self {
        Self { slots: Vec::new(), free: Vec::new(), index: HashMap::new() }
    }
}

impl<A: Eq + Hash> Interner<A> {
    /// The id of `attrs`, with one reference taken for the caller.
    pub(crate) fn intern(&mut self, attrs: A) -> AttrId {
        if let Some(&id) = self.index.get(&attrs) {
            self.acquire(id);
            return id;
        }
        self.insert_new(Arc::new(attrs))
    }

    /// Like [`Self::intern`], reusing the caller's allocation when the set is new.
    pub(crate) fn intern_arc(&mut self, attrs: Arc<A>) -> AttrId {
        if let Some(&id) = self.index.get(&*attrs) {
            self.acquire(id);
            return id;
        }
        self.insert_new(attrs)
    }

    fn insert_new(&mut self, attrs: Arc<A>) -> AttrId {
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id.index()] = Slot { attrs: Some(attrs.clone()), refs: 1 };
                id
            }
            None => {
                self.slots.push(Slot { attrs: Some(attrs.clone()), refs: 1 });
                let n = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
                AttrId(NonZeroU32::MIN.saturating_add(n - 1))
            }
        };
        self.index.insert(attrs, id);
        id
    }

    /// Takes one more reference on a live id.
    pub(crate) fn acquire(&mut self, id: AttrId) {
        self.slots[id.index()].refs += 1;
    }

    /// Drops one reference; the set is forgotten when none is left.
    pub(crate) fn release(&mut self, id: AttrId) {
        let slot = &mut self.slots[id.index()];
        slot.refs -= 1;
        if slot.refs == 0
            && let Some(attrs) = slot.attrs.take()
        {
            self.index.remove(&*attrs);
            self.free.push(id);
        }
    }

    /// The attribute set of a live id.
    pub(crate) fn get(&self, id: AttrId) -> &Arc<A> {
        match &self.slots[id.index()].attrs {
            Some(a) => a,
            // Every id handed out holds a reference until released; a dead id is a bug here.
            None => unreachable!("attribute id {id:?} used after release"),
        }
    }

    /// The number of distinct live attribute sets.
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }
}
