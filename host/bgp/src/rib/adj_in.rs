//! Adj-RIB-In: the routes one peer gave us that passed its [`ReceivePolicy`], with graceful-restart
//! stale marking (RFC 4724 §4.2, receiving speaker) and maximum-prefix accounting.
//!
//! Every change returns an [`InDelta`] (added / changed / removed) to feed the
//! [`LocRib`](super::LocRib). Routes refused by the policy are not kept (no soft-reconfiguration
//! inbound): after a policy change, [`AdjRibIn::reapply_policy`] drops what is no longer accepted and a
//! ROUTE-REFRESH brings back what now is.

use std::collections::hash_map::Entry as MapEntry;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::{Family, FamilyPrefix};
use crate::filter::{PrefixLimitEvent, ReceivePolicy, Verdict};

/// One received UPDATE, as the RIB needs it.
///
/// RFC 7606 "treat-as-withdraw" arrives here as withdrawals: the codec puts the NLRI of such an
/// UPDATE into `withdrawn` and leaves `announced` empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InUpdate<A> {
    /// Withdrawn prefixes (WITHDRAWN ROUTES and MP_UNREACH_NLRI).
    pub withdrawn: Vec<IpNet>,
    /// Announced prefixes (NLRI and MP_REACH_NLRI) with their attributes.
    pub announced: Option<(A, Vec<IpNet>)>,
}

impl<A> InUpdate<A> {
    /// An UPDATE that only withdraws.
    pub fn withdraw(prefixes: Vec<IpNet>) -> Self {
        Self { withdrawn: prefixes, announced: None }
    }

    /// An UPDATE that only announces.
    pub fn announce(attrs: A, prefixes: Vec<IpNet>) -> Self {
        Self { withdrawn: Vec::new(), announced: Some((attrs, prefixes)) }
    }
}

/// Changes to the accepted routes of one peer, for the Loc-RIB / kernel installer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InDelta<A> {
    /// New prefixes.
    pub added: Vec<(IpNet, Arc<A>)>,
    /// Prefixes whose attributes changed (the new ones).
    pub changed: Vec<(IpNet, Arc<A>)>,
    /// Prefixes gone.
    pub removed: Vec<IpNet>,
}

impl<A> Default for InDelta<A> {
    fn default() -> Self {
        Self { added: Vec::new(), changed: Vec::new(), removed: Vec::new() }
    }
}

impl<A> InDelta<A> {
    /// No change.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }

    /// The number of prefixes touched.
    pub fn len(&self) -> usize {
        self.added.len() + self.changed.len() + self.removed.len()
    }
}

/// The result of [`AdjRibIn::apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InOutcome<A> {
    /// What changed.
    pub delta: InDelta<A>,
    /// Announced prefixes refused because an `alwaysBlock` prefix covers them.
    pub blocked: usize,
    /// Announced prefixes refused because no `toReceive` selector allows them.
    pub not_allowed: usize,
    /// Maximum-prefix events (a warning or the limit exceeded), at most one per family.
    pub limit_events: Vec<PrefixLimitEvent>,
}

impl<A> InOutcome<A> {
    /// The event that requires closing the session with Cease / Maximum Number of Prefixes
    /// Reached, if any.
    pub fn cease(&self) -> Option<&PrefixLimitEvent> {
        self.limit_events.iter().find(|e| e.requires_cease())
    }
}

#[derive(Debug, Clone)]
struct InEntry<A> {
    attrs: Arc<A>,
    stale: bool,
}

/// Keys come from the peer: the std map's SipHash with a random key keeps hash flooding out.
#[derive(Debug, Clone)]
struct Table<P, A> {
    routes: HashMap<P, InEntry<A>>,
    stale: usize,
    warned: bool,
    exceeded: bool,
}

impl<P, A> Default for Table<P, A> {
    fn default() -> Self {
        Self { routes: HashMap::new(), stale: 0, warned: false, exceeded: false }
    }
}

impl<P: FamilyPrefix, A: Eq> Table<P, A> {
    fn withdraw(&mut self, p: P, delta: &mut InDelta<A>) {
        if let Some(e) = self.routes.remove(&p) {
            if e.stale {
                self.stale -= 1;
            }
            delta.removed.push(p.into());
        }
    }

    /// Returns false when the prefix is new and the limit refuses it.
    fn announce(&mut self, p: P, attrs: &Arc<A>, room: Option<usize>, delta: &mut InDelta<A>) -> bool {
        let len = self.routes.len();
        match self.routes.entry(p) {
            MapEntry::Occupied(mut o) => {
                let e = o.get_mut();
                if e.stale {
                    e.stale = false;
                    self.stale -= 1;
                }
                if !Arc::ptr_eq(&e.attrs, attrs) && *e.attrs != **attrs {
                    delta.changed.push((p.into(), attrs.clone()));
                }
                // Equal attributes: still share the newest allocation so older ones can be freed.
                e.attrs = attrs.clone();
                true
            }
            MapEntry::Vacant(v) => {
                if room.is_some_and(|room| len >= room) {
                    return false;
                }
                v.insert(InEntry { attrs: attrs.clone(), stale: false });
                delta.added.push((p.into(), attrs.clone()));
                true
            }
        }
    }

    fn mark_stale(&mut self) -> usize {
        for e in self.routes.values_mut() {
            e.stale = true;
        }
        self.stale = self.routes.len();
        self.stale
    }

    fn sweep_stale(&mut self) -> Vec<P> {
        if self.stale == 0 {
            return Vec::new();
        }
        let mut removed = Vec::with_capacity(self.stale);
        self.routes.retain(|p, e| {
            if e.stale {
                removed.push(*p);
            }
            !e.stale
        });
        self.stale = 0;
        removed.sort_unstable();
        removed
    }

    fn clear(&mut self) -> Vec<P> {
        let mut removed: Vec<P> = self.routes.drain().map(|(p, _)| p).collect();
        removed.sort_unstable();
        self.stale = 0;
        self.warned = false;
        self.exceeded = false;
        removed
    }

    /// Updates the warning/exceeded latches and reports crossings.
    fn limit_check(&mut self, family: Family, policy: &ReceivePolicy, over: u64, events: &mut Vec<PrefixLimitEvent>) {
        let Some(max) = policy.max_prefix else { return };
        let count = self.routes.len() as u64;
        let attempted = count + over;
        if attempted > u64::from(max.limit) {
            if !self.exceeded {
                self.exceeded = true;
                events.push(PrefixLimitEvent::Exceeded {
                    family,
                    limit: max.limit,
                    count: attempted,
                    enforced: !max.warning_only,
                });
            }
            return;
        }
        self.exceeded = false;
        if count > max.warning_count() {
            if !self.warned {
                self.warned = true;
                events.push(PrefixLimitEvent::Warning {
                    family,
                    limit: max.limit,
                    threshold_percent: max.warning_threshold_percent,
                    count,
                });
            }
        } else {
            self.warned = false;
        }
    }
}

/// The Adj-RIB-In of one peer (post-policy).
#[derive(Debug, Clone)]
pub struct AdjRibIn<A> {
    v4: Table<Ipv4Net, A>,
    v6: Table<Ipv6Net, A>,
}

impl<A> Default for AdjRibIn<A> {
    fn default() -> Self {
        Self { v4: Table::default(), v6: Table::default() }
    }
}

impl<A: Eq> AdjRibIn<A> {
    /// An empty RIB.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one received UPDATE under `policy`.
    ///
    /// Withdrawals are applied first, then announcements (RFC 4271 §4.3 / §9: a prefix both
    /// withdrawn and announced in the same UPDATE counts as announced). Announced prefixes the
    /// filter refuses are treated as withdrawn, so a route accepted earlier and now refused
    /// leaves. With an enforced maximum, new prefixes beyond the limit are not stored and an
    /// [`PrefixLimitEvent::Exceeded`] is reported (see [`InOutcome::cease`]). The delta lists
    /// prefixes in the UPDATE's order.
    pub fn apply(&mut self, update: InUpdate<A>, policy: &ReceivePolicy) -> InOutcome<A> {
        let mut delta = InDelta::default();
        let mut blocked = 0;
        let mut not_allowed = 0;
        let (mut over4, mut over6) = (0u64, 0u64);
        let InUpdate { withdrawn, announced } = update;

        let also_announced: HashSet<IpNet> = match &announced {
            Some((_, nlri)) if !withdrawn.is_empty() => nlri.iter().map(IpNet::trunc).collect(),
            _ => HashSet::new(),
        };
        for p in withdrawn {
            let p = p.trunc();
            if also_announced.contains(&p) {
                continue;
            }
            match p {
                IpNet::V4(p) => self.v4.withdraw(p, &mut delta),
                IpNet::V6(p) => self.v6.withdraw(p, &mut delta),
            }
        }

        if let Some((attrs, nlri)) = announced {
            let attrs = Arc::new(attrs);
            let room = match policy.max_prefix {
                Some(m) if !m.warning_only => Some(m.limit as usize),
                _ => None,
            };
            for p in nlri {
                let p = p.trunc();
                match policy.filter.check(&p) {
                    Verdict::Accept => {}
                    verdict => {
                        if matches!(verdict, Verdict::Blocked { .. }) {
                            blocked += 1;
                        } else {
                            not_allowed += 1;
                        }
                        match p {
                            IpNet::V4(p) => self.v4.withdraw(p, &mut delta),
                            IpNet::V6(p) => self.v6.withdraw(p, &mut delta),
                        }
                        continue;
                    }
                }
                match p {
                    IpNet::V4(p) => {
                        if !self.v4.announce(p, &attrs, room, &mut delta) {
                            over4 += 1;
                        }
                    }
                    IpNet::V6(p) => {
                        if !self.v6.announce(p, &attrs, room, &mut delta) {
                            over6 += 1;
                        }
                    }
                }
            }
        }

        let mut limit_events = Vec::new();
        self.v4.limit_check(Family::Ipv4, policy, over4, &mut limit_events);
        self.v6.limit_check(Family::Ipv6, policy, over6, &mut limit_events);
        InOutcome { delta, blocked, not_allowed, limit_events }
    }

    /// Drops the routes `policy`'s filter no longer accepts (after a configuration change).
    /// Removed prefixes are sorted. Routes it now accepts but refused before must be asked for
    /// again with a ROUTE-REFRESH.
    pub fn reapply_policy(&mut self, policy: &ReceivePolicy) -> InDelta<A> {
        let mut delta = InDelta::default();
        let mut gone4: Vec<Ipv4Net> =
            self.v4.routes.keys().filter(|p| !policy.filter.accepts(&IpNet::V4(**p))).copied().collect();
        gone4.sort_unstable();
        for p in gone4 {
            self.v4.withdraw(p, &mut delta);
        }
        let mut gone6: Vec<Ipv6Net> =
            self.v6.routes.keys().filter(|p| !policy.filter.accepts(&IpNet::V6(**p))).copied().collect();
        gone6.sort_unstable();
        for p in gone6 {
            self.v6.withdraw(p, &mut delta);
        }
        delta
    }

    /// Graceful restart, helper side: the session of a GR-capable peer dropped, keep its routes of
    /// `family` as stale until End-of-RIB or the restart timer. Returns how many were marked.
    pub fn mark_stale(&mut self, family: Family) -> usize {
        match family {
            Family::Ipv4 => self.v4.mark_stale(),
            Family::Ipv6 => self.v6.mark_stale(),
        }
    }

    /// Removes the routes of `family` still stale (End-of-RIB received, or the restart / stale
    /// timer expired). The delta's `removed` is sorted.
    pub fn sweep_stale(&mut self, family: Family) -> InDelta<A> {
        let removed = match family {
            Family::Ipv4 => self.v4.sweep_stale().into_iter().map(IpNet::V4).collect(),
            Family::Ipv6 => self.v6.sweep_stale().into_iter().map(IpNet::V6).collect(),
        };
        InDelta { removed, ..InDelta::default() }
    }

    /// Removes every route of `family` (session down without graceful restart for it).
    pub fn clear_family(&mut self, family: Family) -> InDelta<A> {
        let removed = match family {
            Family::Ipv4 => self.v4.clear().into_iter().map(IpNet::V4).collect(),
            Family::Ipv6 => self.v6.clear().into_iter().map(IpNet::V6).collect(),
        };
        InDelta { removed, ..InDelta::default() }
    }

    /// Removes every route (session down without graceful restart). Removed prefixes sorted,
    /// IPv4 first.
    pub fn clear(&mut self) -> InDelta<A> {
        let mut d = self.clear_family(Family::Ipv4);
        d.removed.extend(self.clear_family(Family::Ipv6).removed);
        d
    }

    /// The route for `prefix`: its attributes and whether it is stale.
    pub fn get(&self, prefix: &IpNet) -> Option<(&Arc<A>, bool)> {
        let e = match prefix.trunc() {
            IpNet::V4(p) => self.v4.routes.get(&p)?,
            IpNet::V6(p) => self.v6.routes.get(&p)?,
        };
        Some((&e.attrs, e.stale))
    }

    /// The number of accepted prefixes in `family` (what the maximum counts).
    pub fn len(&self, family: Family) -> usize {
        match family {
            Family::Ipv4 => self.v4.routes.len(),
            Family::Ipv6 => self.v6.routes.len(),
        }
    }

    /// No route at all.
    pub fn is_empty(&self) -> bool {
        self.v4.routes.is_empty() && self.v6.routes.is_empty()
    }

    /// The number of stale prefixes in `family`.
    pub fn stale_len(&self, family: Family) -> usize {
        match family {
            Family::Ipv4 => self.v4.stale,
            Family::Ipv6 => self.v6.stale,
        }
    }

    /// All routes, sorted by prefix (IPv4 first), with their stale flag. For inspection.
    pub fn routes(&self) -> Vec<(IpNet, Arc<A>, bool)> {
        let mut v4: Vec<_> = self.v4.routes.iter().map(|(p, e)| (*p, e.attrs.clone(), e.stale)).collect();
        v4.sort_unstable_by_key(|r| r.0);
        let mut v6: Vec<_> = self.v6.routes.iter().map(|(p, e)| (*p, e.attrs.clone(), e.stale)).collect();
        v6.sort_unstable_by_key(|r| r.0);
        v4.into_iter()
            .map(|(p, a, s)| (IpNet::V4(p), a, s))
            .chain(v6.into_iter().map(|(p, a, s)| (IpNet::V6(p), a, s)))
            .collect()
    }
}
