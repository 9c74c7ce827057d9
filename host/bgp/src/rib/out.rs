//! Adj-RIB-Out: per peer, the routes we want the peer to have against the routes it has been
//! sent, and the minimal UPDATE plan between the two.
//!
//! Every prefix whose desired state may differ from its sent state sits in a pending queue (once);
//! [`AdjRibOut::take_plan`] walks only that queue, so a plan costs O(changes · log changes)
//! whatever the table size. A prefix whose attributes end up as they were sent produces nothing;
//! a prefix with new attributes is re-announced without a prior withdrawal (RFC 4271 §9.1.3: a
//! new announcement implicitly replaces the old route).

use std::hash::Hash;
use std::mem;
use std::sync::Arc;

use foldhash::HashMap;
use foldhash::HashMapExt;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::attrs::{AttrId, Interner};
use super::{Family, FamilyPrefix};

/// What to send to one peer for one address family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FamilyPlan<A> {
    /// Prefixes to withdraw, sorted.
    pub withdrawn: Vec<IpNet>,
    /// Prefixes to announce, grouped by identical attributes: groups sorted by `A`'s order,
    /// prefixes sorted within a group. Each group can be packed into as many UPDATEs as needed.
    pub announced: Vec<(Arc<A>, Vec<IpNet>)>,
}

impl<A> Default for FamilyPlan<A> {
    fn default() -> Self {
        Self { withdrawn: Vec::new(), announced: Vec::new() }
    }
}

impl<A> FamilyPlan<A> {
    /// Nothing to send.
    pub fn is_empty(&self) -> bool {
        self.withdrawn.is_empty() && self.announced.is_empty()
    }

    /// The number of prefixes announced, all groups together.
    pub fn announced_count(&self) -> usize {
        self.announced.iter().map(|(_, p)| p.len()).sum()
    }
}

/// The UPDATEs to send to one peer, split per address family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdatePlan<A> {
    /// IPv4 unicast.
    pub ipv4: FamilyPlan<A>,
    /// IPv6 unicast.
    pub ipv6: FamilyPlan<A>,
}

impl<A> Default for UpdatePlan<A> {
    fn default() -> Self {
        Self { ipv4: FamilyPlan::default(), ipv6: FamilyPlan::default() }
    }
}

impl<A> UpdatePlan<A> {
    /// Nothing to send.
    pub fn is_empty(&self) -> bool {
        self.ipv4.is_empty() && self.ipv6.is_empty()
    }

    /// One family's part.
    pub fn family(&self, family: Family) -> &FamilyPlan<A> {
        match family {
            Family::Ipv4 => &self.ipv4,
            Family::Ipv6 => &self.ipv6,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    desired: Option<AttrId>,
    sent: Option<AttrId>,
    /// In the pending queue.
    queued: bool,
    /// Announce even if `desired == sent` (route refresh).
    force: bool,
    /// Stamp of the last `replace_*` that set it.
    epoch: u32,
}

impl Entry {
    const EMPTY: Entry = Entry { desired: None, sent: None, queued: false, force: false, epoch: 0 };
}

#[derive(Debug, Clone)]
struct Table<P> {
    entries: HashMap<P, Entry>,
    queue: Vec<P>,
    desired: usize,
    sent: usize,
    epoch: u32,
    /// Entries stamped with `epoch` (during a `replace_*`).
    stamped: usize,
}

impl<P> Default for Table<P> {
    fn default() -> Self {
        Self { entries: HashMap::new(), queue: Vec::new(), desired: 0, sent: 0, epoch: 0, stamped: 0 }
    }
}

impl<P: FamilyPrefix> Table<P> {
    /// Sets the desired attributes; `id` carries one reference that is kept or released here.
    fn set<A: Eq + Hash>(&mut self, interner: &mut Interner<A>, prefix: P, id: AttrId) {
        let epoch = self.epoch;
        let e = self.entries.entry(prefix).or_insert(Entry { epoch: epoch.wrapping_sub(1), ..Entry::EMPTY });
        if e.epoch != epoch {
            e.epoch = epoch;
            self.stamped += 1;
        }
        match e.desired {
            Some(old) if old == id => {
                interner.release(id);
                return;
            }
            Some(old) => interner.release(old),
            None => self.desired += 1,
        }
        e.desired = Some(id);
        if !e.queued {
            e.queued = true;
            self.queue.push(prefix);
        }
    }

    fn remove<A: Eq + Hash>(&mut self, interner: &mut Interner<A>, prefix: &P) -> bool {
        let Some(e) = self.entries.get_mut(prefix) else { return false };
        let Some(old) = e.desired.take() else { return false };
        interner.release(old);
        self.desired -= 1;
        if e.sent.is_none() && !e.queued {
            self.entries.remove(prefix);
        } else if !e.queued {
            e.queued = true;
            self.queue.push(*prefix);
        }
        true
    }

    /// Removes the desired state of every entry not stamped with the current epoch.
    fn drop_unstamped<A: Eq + Hash>(&mut self, interner: &mut Interner<A>) {
        if self.stamped == self.entries.len() {
            // Everything was stamped (e.g. the first fill): nothing to drop, skip the pass.
            return;
        }
        let epoch = self.epoch;
        let queue = &mut self.queue;
        let mut removed = 0;
        self.entries.retain(|p, e| {
            if e.epoch == epoch {
                return true;
            }
            if let Some(old) = e.desired.take() {
                interner.release(old);
                removed += 1;
            }
            if e.sent.is_none() && !e.queued {
                return false;
            }
            if !e.queued {
                e.queued = true;
                queue.push(*p);
            }
            true
        });
        self.desired -= removed;
    }

    fn mark_all_for_resend(&mut self) {
        for (p, e) in &mut self.entries {
            if e.desired.is_some() {
                e.force = true;
                if !e.queued {
                    e.queued = true;
                    self.queue.push(*p);
                }
            }
        }
    }

    fn session_down<A: Eq + Hash>(&mut self, interner: &mut Interner<A>) {
        let queue = &mut self.queue;
        self.entries.retain(|p, e| {
            if let Some(s) = e.sent.take() {
                interner.release(s);
            }
            e.force = false;
            if e.desired.is_none() {
                // Queued entries are skipped by take_plan once gone.
                return false;
            }
            if !e.queued {
                e.queued = true;
                queue.push(*p);
            }
            true
        });
        self.queue.retain(|p| self.entries.contains_key(p));
        self.sent = 0;
    }

    fn take_plan<A: Eq + Hash + Ord>(&mut self, interner: &mut Interner<A>) -> FamilyPlan<A> {
        let mut withdrawn: Vec<P> = Vec::new();
        let mut groups: Vec<(AttrId, Vec<P>)> = Vec::new();
        let mut group_of: HashMap<AttrId, usize> = HashMap::new();
        let mut last: Option<(AttrId, usize)> = None;
        let queue = mem::take(&mut self.queue);
        for p in &queue {
            let Some(e) = self.entries.get_mut(p) else { continue };
            e.queued = false;
            let force = mem::replace(&mut e.force, false);
            match (e.desired, e.sent) {
                (Some(d), s) if force || s != Some(d) => {
                    interner.acquire(d);
                    match s {
                        Some(old) => interner.release(old),
                        None => self.sent += 1,
                    }
                    e.sent = Some(d);
                    let g = match last {
                        Some((id, g)) if id == d => g,
                        _ => {
                            let g = *group_of.entry(d).or_insert_with(|| {
                                groups.push((d, Vec::new()));
                                groups.len() - 1
                            });
                            last = Some((d, g));
                            g
                        }
                    };
                    groups[g].1.push(*p);
                }
                (Some(_), _) => {}
                (None, Some(old)) => {
                    interner.release(old);
                    self.sent -= 1;
                    self.entries.remove(p);
                    withdrawn.push(*p);
                }
                (None, None) => {
                    self.entries.remove(p);
                }
            }
        }
        // Keep the queue's allocation for next time.
        let mut queue = queue;
        queue.clear();
        self.queue = queue;

        withdrawn.sort_unstable();
        let mut announced: Vec<(Arc<A>, Vec<IpNet>)> = groups
            .into_iter()
            .map(|(id, mut prefixes)| {
                prefixes.sort_unstable();
                (interner.get(id).clone(), prefixes.into_iter().map(Into::into).collect())
            })
            .collect();
        announced.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        FamilyPlan { withdrawn: withdrawn.into_iter().map(Into::into).collect(), announced }
    }
}

/// The Adj-RIB-Out of one peer.
///
/// The daemon states what the peer should have ([`set`](Self::set), [`remove`](Self::remove),
/// [`replace_desired`](Self::replace_desired)); the session, when Established, calls
/// [`take_plan`](Self::take_plan) and sends the plan — from then on the plan's routes count as
/// sent. [`session_down`](Self::session_down) forgets what was sent, so the next session starts
/// with a full announcement; [`mark_all_for_resend`](Self::mark_all_for_resend) answers a
/// ROUTE-REFRESH (RFC 2918).
#[derive(Debug, Clone)]
pub struct AdjRibOut<A> {
    interner: Interner<A>,
    v4: Table<Ipv4Net>,
    v6: Table<Ipv6Net>,
}

impl<A> Default for AdjRibOut<A> {
    fn default() -> Self {
        Self { interner: Interner::default(), v4: Table::default(), v6: Table::default() }
    }
}

impl<A: Clone + Eq + Hash + Ord> AdjRibOut<A> {
    /// An empty RIB: nothing desired, nothing sent.
    pub fn new() -> Self {
        Self::default()
    }

    /// Wants `prefix` announced with `attrs` (host bits of `prefix` are cleared). Cost: one
    /// hash of `attrs`, one table lookup.
    pub fn set(&mut self, prefix: IpNet, attrs: A) {
        let id = self.interner.intern(attrs);
        self.set_id(prefix, id);
    }

    /// Like [`set`](Self::set) with shared attributes.
    pub fn set_arc(&mut self, prefix: IpNet, attrs: Arc<A>) {
        let id = self.interner.intern_arc(attrs);
        self.set_id(prefix, id);
    }

    fn set_id(&mut self, prefix: IpNet, id: AttrId) {
        match prefix.trunc() {
            IpNet::V4(p) => self.v4.set(&mut self.interner, p, id),
            IpNet::V6(p) => self.v6.set(&mut self.interner, p, id),
        }
    }

    /// Wants `prefix` no longer announced. Returns whether it was desired.
    pub fn remove(&mut self, prefix: &IpNet) -> bool {
        match prefix.trunc() {
            IpNet::V4(p) => self.v4.remove(&mut self.interner, &p),
            IpNet::V6(p) => self.v6.remove(&mut self.interner, &p),
        }
    }

    /// Replaces the whole desired set. Prefixes whose attributes do not change are not queued;
    /// cost O(old + new) table operations.
    pub fn replace_desired<I: IntoIterator<Item = (IpNet, A)>>(&mut self, routes: I) {
        self.begin_replace();
        // Consecutive routes very often share attributes: reuse the last id instead of hashing.
        let mut last: Option<(A, AttrId)> = None;
        for (prefix, attrs) in routes {
            let id = match &last {
                Some((a, id)) if *a == attrs => {
                    self.interner.acquire(*id);
                    *id
                }
                _ => {
                    let id = self.interner.intern(attrs.clone());
                    last = Some((attrs, id));
                    id
                }
            };
            self.set_id(prefix, id);
        }
        self.end_replace();
    }

    /// Replaces the whole desired set, given as groups of prefixes sharing attributes (the shape
    /// the daemon usually has): one attribute hash per group.
    pub fn replace_desired_grouped<I, J>(&mut self, groups: I)
    where
        I: IntoIterator<Item = (A, J)>,
        J: IntoIterator<Item = IpNet>,
    {
        self.begin_replace();
        for (attrs, prefixes) in groups {
            let id = self.interner.intern(attrs);
            for prefix in prefixes {
                self.interner.acquire(id);
                self.set_id(prefix, id);
            }
            self.interner.release(id);
        }
        self.end_replace();
    }

    fn begin_replace(&mut self) {
        for (epoch, stamped) in [(&mut self.v4.epoch, &mut self.v4.stamped), (&mut self.v6.epoch, &mut self.v6.stamped)]
        {
            *epoch = epoch.wrapping_add(1);
            *stamped = 0;
        }
    }

    fn end_replace(&mut self) {
        self.v4.drop_unstamped(&mut self.interner);
        self.v6.drop_unstamped(&mut self.interner);
    }

    /// Wants nothing announced any more (everything sent will be withdrawn).
    pub fn clear_desired(&mut self) {
        self.replace_desired(std::iter::empty());
    }

    /// Route refresh: everything desired is announced again by the next plan, even if unchanged.
    /// Pending withdrawals stay pending.
    pub fn mark_all_for_resend(&mut self) {
        self.v4.mark_all_for_resend();
        self.v6.mark_all_for_resend();
    }

    /// The session went down: the peer has nothing from us any more. Everything desired is
    /// pending again (announced in full by the first plan of the next session).
    pub fn session_down(&mut self) {
        self.v4.session_down(&mut self.interner);
        self.v6.session_down(&mut self.interner);
    }

    /// Whether a plan could contain something (some prefix is pending; it may still turn out to
    /// be a no-op, e.g. set back to what was sent).
    pub fn has_pending(&self) -> bool {
        !self.v4.queue.is_empty() || !self.v6.queue.is_empty()
    }

    /// The number of pending prefixes (an upper bound of the next plan's size).
    pub fn pending_len(&self) -> usize {
        self.v4.queue.len() + self.v6.queue.len()
    }

    /// Computes the UPDATEs that bring the peer from what it was sent to what is desired, and
    /// records them as sent. Call only while the session is Established, and send the whole plan.
    #[must_use = "the plan is recorded as sent: send it"]
    pub fn take_plan(&mut self) -> UpdatePlan<A> {
        UpdatePlan { ipv4: self.v4.take_plan(&mut self.interner), ipv6: self.v6.take_plan(&mut self.interner) }
    }

    /// The desired attributes of `prefix`.
    pub fn desired(&self, prefix: &IpNet) -> Option<&A> {
        let id = match prefix.trunc() {
            IpNet::V4(p) => self.v4.entries.get(&p)?.desired?,
            IpNet::V6(p) => self.v6.entries.get(&p)?.desired?,
        };
        Some(self.interner.get(id))
    }

    /// The attributes last sent for `prefix` (as recorded by [`take_plan`](Self::take_plan)).
    pub fn sent(&self, prefix: &IpNet) -> Option<&A> {
        let id = match prefix.trunc() {
            IpNet::V4(p) => self.v4.entries.get(&p)?.sent?,
            IpNet::V6(p) => self.v6.entries.get(&p)?.sent?,
        };
        Some(self.interner.get(id))
    }

    /// The number of desired prefixes in `family`.
    pub fn desired_len(&self, family: Family) -> usize {
        match family {
            Family::Ipv4 => self.v4.desired,
            Family::Ipv6 => self.v6.desired,
        }
    }

    /// The number of prefixes the peer has from us in `family`.
    pub fn sent_len(&self, family: Family) -> usize {
        match family {
            Family::Ipv4 => self.v4.sent,
            Family::Ipv6 => self.v6.sent,
        }
    }

    /// The number of distinct attribute sets referenced (desired or sent).
    pub fn attribute_sets(&self) -> usize {
        self.interner.len()
    }

    /// All desired routes, sorted by prefix (IPv4 first). O(n log n): for inspection, not the
    /// data path.
    pub fn desired_routes(&self) -> Vec<(IpNet, Arc<A>)> {
        let mut v4: Vec<_> =
            self.v4.entries.iter().filter_map(|(p, e)| Some((*p, self.interner.get(e.desired?).clone()))).collect();
        v4.sort_unstable_by_key(|(p, _)| *p);
        let mut v6: Vec<_> =
            self.v6.entries.iter().filter_map(|(p, e)| Some((*p, self.interner.get(e.desired?).clone()))).collect();
        v6.sort_unstable_by_key(|(p, _)| *p);
        v4.into_iter().map(|(p, a)| (IpNet::V4(p), a)).chain(v6.into_iter().map(|(p, a)| (IpNet::V6(p), a))).collect()
    }
}
